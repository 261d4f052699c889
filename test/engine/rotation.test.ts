import assert from 'node:assert/strict'
import {join} from 'node:path'

import {AuthError} from '../../src/errors/index.js'
import {RecordingReporter} from '../../src/engine/events.js'
import {outcomeOf, planAndApply} from '../../src/engine/run.js'
import {applySavedPlan} from '../../src/engine/saved-plan.js'
import {planChanges} from '../../src/engine/planner.js'
import {savePlan} from '../../src/engine/plan-file.js'
import {makeHarness, override, type Harness} from './harness.js'
import {kindOps} from '../../src/providers/provider.js'


describe('engine: credential rotation at apply time', function () {
  this.timeout(60_000)
  let h: Harness
  const vms = (root: string) => [...h.clouds[root].resources.values()].filter((r) => r.kind === 'vm')

  beforeEach(() => {
    h = makeHarness({job: {credentials: ['a', 'b'], runtime: 'process', spot: true, outputBucket: 'out', syncIntervalSeconds: 1, command: ['train.sh']}}, {a: 'ca', b: 'cb'})
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

  it('an AuthError from a create fails that credential over to the next listed one, and leaves nothing on the first', async () => {
    const session = await h.open({lock: 'apply'})
    let calls = 0
    h.wrap(session, (name, p) =>
      name === 'a'
        ? override(p, {
            create: async (r, ctx) => {
              if (r.kind === 'vm') {
                calls++
                throw new AuthError(`local credential 'a': the token expired during apply`, 'local', 'a')
              }
              return kindOps(p).create(r, ctx)
            },
          })
        : p,
    )
    const reporter = new RecordingReporter()
    const r = await planAndApply({session, reporter})
    await session.release()
    assert.equal(calls, 1, 'the failing credential is not retried')
    assert.equal(r.results.length, 2, 'one apply per credential')
    const outcome = outcomeOf(r.results)
    assert.deepEqual(outcome.failed.map((f) => f.address), [], 'the rotated-away failure is not the outcome')
    const events = reporter.events
    assert.ok(events.some((e) => e.type === 'change-failed' && e.address === 'job.vm' && /expired during apply/.test(e.message)), 'the auth failure is reported')
    assert.ok(events.some((e) => e.type === 'diagnostic' && /rotating to the next listed credential for job/.test(e.message)))
    const state = session.state!
    assert.equal(state.deployments.job.placement?.credential, 'b')
    for (const res of Object.values(state.deployments.job.resources)) assert.equal(res.credential, 'b', `${res.address} on b`)
    assert.equal(vms('cb').length, 1)
    assert.deepEqual([...h.clouds.ca.resources.values()].map((r) => r.id), [], 'nothing made on a before the failure is left there')
    assert.ok(h.clouds.ca.calls.includes('create bucket out'), 'a had made its buckets before the VM failed')
    assert.deepEqual([...h.clouds.ca.buckets.keys()], [], 'buckets created on a before the failure do not leak')
    // Converged: the next plan has nothing to do.
    const again = await h.open()
    const plan = await planChanges({config: again.config, profiles: again.profiles, state: again.state, providers: again.providers, reporter, stateDir: again.store.localDir})
    assert.deepEqual(plan.summary, {create: 0, update: 0, replace: 0, delete: 0})
  })

  it('a saved plan is applied exactly: an AuthError fails it (no rotation)', async () => {
    const planning = await h.open()
    const plan = await planChanges({config: planning.config, profiles: planning.profiles, state: planning.state, providers: planning.providers, reporter: new RecordingReporter(), stateDir: planning.store.localDir})
    const file = join(h.dir, 'p.json')
    savePlan(file, plan)
    const session = await h.open({lock: 'apply'})
    h.wrap(session, (name, p) => (name === 'a' ? override(p, {create: async () => Promise.reject(new AuthError('expired', 'local', 'a'))}) : p))
    const r = await applySavedPlan({session, planFile: file, reporter: new RecordingReporter()})
    await session.release()
    const outcome = outcomeOf(r.results)
    assert.equal(r.results.length, 1)
    assert.ok(outcome.failed.length > 0)
    assert.ok(outcome.failed.every((f) => f.error instanceof AuthError))
    assert.deepEqual(vms('cb'), [])
    assert.deepEqual(h.clouds.cb.calls, [], 'b was never touched')
  })
})
