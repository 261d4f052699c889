import assert from 'node:assert/strict'

import {RecordingReporter} from '../../src/engine/events.js'
import {planChanges} from '../../src/engine/planner.js'
import {applyPlan} from '../../src/engine/apply.js'
import {planAndApply} from '../../src/engine/run.js'
import type {Session} from '../../src/engine/session.js'
import type {StateDocument} from '../../src/state/types.js'
import {makeHarness, override, type Harness} from './harness.js'
import {kindOps, VM_MISSING} from '../../src/providers/provider.js'
import {ProviderError} from '../../src/errors/index.js'

const PROFILE = {credentials: 'laptop', runtime: 'process', spot: true, outputBucket: 'out', syncIntervalSeconds: 1, command: ['train.sh']}

/** Records every state write the session's store makes, and whether two ever overlapped. */
function spyOnWrites(session: Session): {docs: StateDocument[]; overlapped: () => boolean} {
  const docs: StateDocument[] = []
  let active = 0
  let overlap = false
  const store = session.store
  const write = store.write.bind(store)
  store.write = async (doc) => {
    active++
    if (active > 1) overlap = true
    try {
      await new Promise((r) => setImmediate(r))
      await write(doc)
      docs.push(structuredClone(doc))
    } finally {
      active--
    }
  }
  return {docs, overlapped: () => overlap}
}

async function plan(session: Session, options: {destroy?: boolean} = {}) {
  return planChanges({config: session.config, profiles: session.profiles, state: session.state, providers: session.providers, reporter: new RecordingReporter(), stateDir: session.store.localDir, ...options})
}

describe('engine: applyPlan', function () {
  this.timeout(60_000)
  let h: Harness

  beforeEach(() => {
    h = makeHarness({job: PROFILE, other: {...PROFILE, outputBucket: 'out-2'}})
  })
  afterEach(async () => {
    // Tear down with plain providers; whatever happens, kill what is left and remove the dir.
    try {
      await h.releaseAll()
      const s = await h.open({lock: 'destroy'})
      await planAndApply({session: s, reporter: new RecordingReporter(), destroy: true}).catch(() => undefined)
    } finally {
      await h.cleanup()
    }
  })

  it('saves state after every operation, intent first, one write at a time, serial +1 each', async () => {
    const session = await h.open({lock: 'apply'})
    const writes = spyOnWrites(session)
    const p = await plan(session)
    const result = await applyPlan({plan: p, config: session.config, store: session.store, state: session.state, providers: session.providers, reporter: new RecordingReporter()})
    assert.deepEqual(result.failed, [])
    assert.equal(writes.overlapped(), false, 'writes never interleave')
    assert.deepEqual(writes.docs.map((d) => d.serial), writes.docs.map((_, i) => i + 1))
    const created = p.changes.filter((c) => c.action === 'create').map((c) => c.address)
    assert.equal(writes.docs.length, 2 * created.length, 'an intent and a result per create')
    for (const address of created) {
      const seen = writes.docs.map((d) => Object.values(d.deployments).flatMap((dep) => Object.values(dep.resources)).find((r) => r.address === address)?.status)
      const first = seen.findIndex((s) => s !== undefined)
      assert.equal(seen[first], 'pending', `${address}: the intent is saved before the call`)
      assert.equal(seen.at(-1), 'created')
      const r = writes.docs.at(-1)!.deployments[address.split('.')[0]].resources[address]
      assert.ok(r.token && r.token.length >= 16, `${address}: the idempotency token is recorded`)
    }
    assert.deepEqual(await session.store.read(), writes.docs.at(-1))
  })

  it('destroy goes in reverse dependency order, per deployment: workload, bootstrap, vm, then buckets', async () => {
    const setup = await h.open({lock: 'apply'})
    await planAndApply({session: setup, reporter: new RecordingReporter()})
    await setup.release()

    const session = await h.open({lock: 'destroy'})
    const calls: string[] = []
    h.wrap(session, (_name, p) =>
      override(p, {
        delete: async (record, ctx) => {
          calls.push(`start ${record.address}`)
          await kindOps(p).delete(record, ctx)
          calls.push(`end ${record.address}`)
        },
        deleteBucket: async (record, options) => {
          calls.push(`start ${record.address}`)
          const r = await p.deleteBucket(record, options)
          calls.push(`end ${record.address}`)
          return r
        },
      }),
    )
    const r = await planAndApply({session, reporter: new RecordingReporter(), destroy: true})
    assert.ok(r.plan.destroy)
    for (const profile of ['job', 'other']) {
      const order = ['workload', 'bootstrap', 'vm', 'bucket.checkpoint'].map((k) => `${profile}.${k}`)
      for (let i = 1; i < order.length; i++) {
        assert.ok(calls.indexOf(`end ${order[i - 1]}`) < calls.indexOf(`start ${order[i]}`), `${order[i - 1]} is gone before ${order[i]} starts: ${calls.join(', ')}`)
      }
    }
    assert.deepEqual(session.state!.deployments, {})
  })

  it('destroy of a machine some cloud reports gone (VM_MISSING) saves no output and warns nothing', async () => {
    const setup = await h.open({lock: 'apply'})
    await planAndApply({session: setup, reporter: new RecordingReporter()})
    await setup.release()

    const session = await h.open({lock: 'destroy'})
    h.wrap(session, (_name, p) =>
      override(p, {
        logs: async () => {
          throw new ProviderError('the VM of job is not running: no logs to read', VM_MISSING, 'gcp', 'laptop')
        },
      }),
    )
    const reporter = new RecordingReporter()
    await planAndApply({session, reporter, destroy: true})
    const warnings = reporter.events.filter((e) => e.type === 'diagnostic' && e.severity === 'warning').map((e) => (e as {message: string}).message)
    assert.deepEqual(warnings.filter((m) => /could not save the workload's output/.test(m)), [])
    assert.deepEqual(session.state!.deployments, {})
  })

  it('an abort stops new work: what ran is recorded, the rest is skipped as interrupted', async () => {
    const session = await h.open({lock: 'apply'})
    const controller = new AbortController()
    h.wrap(session, (_name, p) =>
      override(p, {
        create: async (r, ctx) => {
          const out = await kindOps(p).create(r, ctx)
          if (r.kind === 'vm') controller.abort()
          return out
        },
      }),
    )
    const p = await plan(session)
    const reporter = new RecordingReporter()
    const result = await applyPlan({plan: p, config: session.config, store: session.store, state: session.state, providers: session.providers, reporter, signal: controller.signal, concurrency: 1})
    assert.equal(result.interrupted, true)
    assert.deepEqual(result.failed, [])
    assert.ok(result.skipped.some((s) => s.reason === 'skipped: interrupted'))
    const saved = (await session.store.read())!
    for (const dep of Object.values(saved.deployments)) for (const rec of Object.values(dep.resources)) assert.equal(rec.status, 'created', rec.address)
    const started = reporter.events.filter((e) => e.type === 'change-start').map((e) => (e as {address: string}).address)
    const vmAt = started.findIndex((a) => a.endsWith('.vm'))
    assert.equal(started.length, vmAt + 1, `nothing started after the abort: ${started.join(', ')}`)
  })

  it('respects the concurrency bound across profiles', async () => {
    const session = await h.open({lock: 'apply'})
    let running = 0
    let peak = 0
    const track = async <T>(fn: () => Promise<T>): Promise<T> => {
      running++
      peak = Math.max(peak, running)
      try {
        await new Promise((r) => setTimeout(r, 5))
        return await fn()
      } finally {
        running--
      }
    }
    h.wrap(session, (_name, p) => override(p, {create: (r, ctx) => track(() => kindOps(p).create(r, ctx)), createBucket: (r, ctx) => track(() => p.createBucket(r, ctx))}))
    const p = await plan(session)
    const result = await applyPlan({plan: p, config: session.config, store: session.store, state: session.state, providers: session.providers, reporter: new RecordingReporter(), concurrency: 2})
    assert.deepEqual(result.failed, [])
    assert.equal(peak, 2)
  })
})
