/**
 * watch's recovery of a preempted GCE spot VM when its zone has no capacity left, under the real
 * engine (one plan-and-apply, as each watch reconcile does) against the fake GCE/IAM and the GCS
 * fake: the new VM lands in the next zone, and that zone, not the plan's, is what state records for
 * the deployment, so the next plan has nothing to change. The machine steps are stubbed (they are
 * end to end in test/e2e/notice-gce.test.ts).
 */
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {stringify} from 'yaml'

import {RecordingReporter, type EngineEvent} from '../../../src/engine/events.js'
import {outcomeOf, planAndApply} from '../../../src/engine/run.js'
import {openSession, type Session} from '../../../src/engine/session.js'
import {providersOf, stubMachine} from '../../engine/harness.js'
import {FAKE_GCP_PROJECT} from '../../helpers/fake-gcp/index.js'
import {makeProvider, startRigs, stopRigs, type Rigs} from './helpers.js'

describe('gcp under the engine: a preempted spot VM recovered in the next zone on a stockout', function () {
  this.timeout(90_000)
  let rigs: Rigs
  let dir: string
  const sessions: Session[] = []

  before(async () => {
    rigs = await startRigs()
    dir = mkdtempSync(join(tmpdir(), 'anycloud-gcp-recovery-'))
    mkdirSync(join(dir, '.home'))
    writeFileSync(join(dir, 'anycloud.yaml'), stringify({
      version: 1,
      project: 'rec',
      credentials: {gcp: {provider: 'gcp', project: FAKE_GCP_PROJECT, region: 'us-central1', apiEndpoint: rigs.fake.url, accessToken: '${env:GCP_TOKEN}'}},
      profiles: {job: {credentials: 'gcp', vmType: 'e2-small', runtime: 'process', spot: true, command: ['sleep', '60']}},
    }))
  })
  after(async () => {
    try {
      rigs.fake.faults.clear()
      for (const x of sessions.splice(0)) await x.release()
      await planAndApply({session: await open('destroy'), reporter: new RecordingReporter(), destroy: true}).catch(() => undefined)
      for (const x of sessions.splice(0)) await x.release()
      assert.deepEqual(rigs.fake.liveInstances(), [], 'destroy left an instance')
    } finally {
      await stopRigs(rigs)
      rmSync(dir, {recursive: true, force: true})
    }
  })

  async function open(lock?: string): Promise<Session> {
    const session = await openSession({file: join(dir, 'anycloud.yaml'), env: {...process.env, ANYCLOUD_HOME: join(dir, '.home'), GCP_TOKEN: rigs.token}, lock})
    sessions.push(session)
    session.providers = providersOf((name) => stubMachine(makeProvider(session.config.credentials[name], {credentials: session.config.credentials})))
    return session
  }
  /** One reconcile, as watch makes it: plan and apply under the lock, then release. */
  async function reconcile(): Promise<{changes: string[]; attempts: string[][]; failed: string[]}> {
    const reporter = new RecordingReporter()
    const session = await open('watch')
    try {
      const r = await planAndApply({session, reporter})
      const attempts = reporter.events.filter((e): e is Extract<EngineEvent, {type: 'attempt'}> => e.type === 'attempt' && Boolean(e.zone)).map((e) => [e.zone!, e.outcome])
      return {changes: r.plan.changes.filter((c) => c.action !== 'no-op' && c.action !== 'read').map((c) => `${c.action} ${c.address}`), attempts, failed: outcomeOf(r.results).failed.map((f) => f.message)}
    } finally {
      await session.release()
      sessions.splice(sessions.indexOf(session), 1)
    }
  }
  const recorded = async () => {
    const s = await open()
    const d = s.state!.deployments.job
    await s.release()
    sessions.splice(sessions.indexOf(s), 1)
    return {placement: d.placement?.zone, vm: d.resources['job.vm'].attributes.zone, id: d.resources['job.vm'].id}
  }

  it('preempted in us-central1-a, which then has no capacity: the recovery lands in us-central1-b, recorded; the next reconcile has nothing to do', async () => {
    const first = await reconcile()
    assert.deepEqual(first.failed, [])
    const landed = await recorded()
    assert.equal(landed.placement, 'us-central1-a')
    const [vm] = rigs.fake.liveInstances()
    assert.equal(vm.zone, 'us-central1-a')

    await rigs.fake.preempt(vm.name)
    rigs.fake.faults.stockout('us-central1-a')
    const recovery = await reconcile()
    assert.deepEqual(recovery.failed, [])
    assert.ok(recovery.changes.includes('replace job.vm'), recovery.changes.join('\n'))
    assert.deepEqual(recovery.attempts, [['us-central1-a', 'no-capacity'], ['us-central1-b', 'ok']], 'the zone it was in first, then the next')
    assert.deepEqual(rigs.fake.liveInstances().map((i) => i.zone), ['us-central1-b'])
    const now = await recorded()
    assert.notEqual(now.id, landed.id)
    assert.deepEqual([now.placement, now.vm], ['us-central1-b', 'us-central1-b'], 'the deployment records the zone the new VM is in, not the one the plan had')

    const steady = await reconcile()
    assert.deepEqual(steady.changes, [], 'the recovered VM stays where it landed')
  })
})
