import assert from 'node:assert/strict'

import {type GraphNode, walkGraph} from '../../src/engine/graph.js'

/** A node that records its start and finish and resolves when told to (or at once). */
function node(id: string, dependsOn: string[], log: string[], options: {fail?: boolean; gate?: Promise<void>; onStart?: () => void} = {}): GraphNode {
  return {
    id,
    dependsOn,
    async run() {
      log.push(`start ${id}`)
      options.onStart?.()
      await (options.gate ?? Promise.resolve())
      await new Promise((r) => setImmediate(r))
      log.push(`end ${id}`)
      if (options.fail) throw new Error(`${id} broke`)
    },
  }
}

describe('engine: walkGraph', () => {
  it('runs dependencies first and independent nodes concurrently', async () => {
    const log: string[] = []
    const outcomes = await walkGraph([node('c', ['a', 'b'], log), node('a', [], log), node('b', [], log)], {concurrency: 8})
    assert.deepEqual([...outcomes.values()].map((o) => o.status), ['done', 'done', 'done'])
    assert.deepEqual(log.slice(0, 2).sort(), ['start a', 'start b'], 'a and b start together')
    assert.ok(log.indexOf('start c') > log.indexOf('end a') && log.indexOf('start c') > log.indexOf('end b'))
  })

  it('never runs more than `concurrency` nodes at once', async () => {
    for (const concurrency of [1, 2, 3, 7]) {
      let running = 0
      let peak = 0
      const nodes: GraphNode[] = Array.from({length: 20}, (_, i) => ({
        id: `n${i}`,
        dependsOn: i >= 10 ? [`n${i - 10}`] : [],
        async run() {
          running++
          peak = Math.max(peak, running)
          await new Promise((r) => setTimeout(r, 1 + (i % 3)))
          running--
        },
      }))
      const outcomes = await walkGraph(nodes, {concurrency})
      assert.equal(peak, concurrency, `peak at concurrency ${concurrency}`)
      assert.ok([...outcomes.values()].every((o) => o.status === 'done'))
    }
  })

  it('a failure skips its dependents (transitively), reports only the root cause as failed, and lets the rest finish', async () => {
    const log: string[] = []
    const skipped: Array<[string, string]> = []
    const outcomes = await walkGraph(
      [node('vm', [], log, {fail: true}), node('bootstrap', ['vm'], log), node('workload', ['bootstrap'], log), node('bucket', [], log), node('other', ['bucket'], log)],
      {concurrency: 4, onSkip: (id, reason) => skipped.push([id, reason])},
    )
    assert.equal(outcomes.get('vm')!.status, 'failed')
    assert.match(String((outcomes.get('vm') as {error: Error}).error.message), /vm broke/)
    assert.deepEqual(outcomes.get('bootstrap'), {status: 'skipped', reason: 'skipped: vm failed'})
    assert.deepEqual(outcomes.get('workload'), {status: 'skipped', reason: 'skipped: bootstrap was skipped'})
    assert.equal(outcomes.get('bucket')!.status, 'done')
    assert.equal(outcomes.get('other')!.status, 'done')
    assert.deepEqual([...outcomes.values()].filter((o) => o.status === 'failed').length, 1)
    assert.deepEqual(skipped.map(([id]) => id).sort(), ['bootstrap', 'workload'])
    assert.ok(!log.includes('start bootstrap') && !log.includes('start workload'))
  })

  it('an abort starts nothing new, lets in-flight nodes finish, and skips the rest as interrupted', async () => {
    const log: string[] = []
    const controller = new AbortController()
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const pending = walkGraph(
      [node('a', [], log, {gate, onStart: () => controller.abort()}), node('b', ['a'], log), node('c', [], log, {gate})],
      {concurrency: 1, signal: controller.signal},
    )
    release()
    const outcomes = await pending
    assert.equal(outcomes.get('a')!.status, 'done', 'in flight: finished')
    assert.deepEqual(outcomes.get('b'), {status: 'skipped', reason: 'skipped: interrupted'})
    assert.deepEqual(outcomes.get('c'), {status: 'skipped', reason: 'skipped: interrupted'})
    assert.deepEqual(log, ['start a', 'end a'])
  })

  it('an already aborted signal runs nothing', async () => {
    const controller = new AbortController()
    controller.abort()
    const log: string[] = []
    const outcomes = await walkGraph([node('a', [], log)], {concurrency: 2, signal: controller.signal})
    assert.deepEqual(outcomes.get('a'), {status: 'skipped', reason: 'skipped: interrupted'})
    assert.deepEqual(log, [])
  })

  it('dependencies outside the graph are ignored; a cycle is reported, not hung on', async () => {
    const log: string[] = []
    const outcomes = await walkGraph([node('a', ['not-in-plan', 'a'], log), node('x', ['y'], log), node('y', ['x'], log)], {concurrency: 2})
    assert.equal(outcomes.get('a')!.status, 'done')
    assert.deepEqual(outcomes.get('x'), {status: 'skipped', reason: 'skipped: dependency cycle'})
    assert.deepEqual(outcomes.get('y'), {status: 'skipped', reason: 'skipped: dependency cycle'})
  })

  it('an empty graph resolves at once', async () => {
    assert.equal((await walkGraph([], {concurrency: 1})).size, 0)
  })
})
