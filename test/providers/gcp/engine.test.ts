/**
 * The gcp provider under the real engine (plan → apply → plan), against the fake GCE/IAM and the
 * GCS fake, through the real Google clients: zone and region failover on stockouts. The machine
 * steps (bootstrap, workload) need SSH to a VM and are covered end to end in test/e2e/gcp.test.ts;
 * here they are stubbed so these tests stay about the cloud side.
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
import {FAKE_GCP_PROJECT, FAKE_GCP_ZONES} from '../../helpers/fake-gcp/index.js'
import {makeProvider, startRigs, stopRigs, type Rigs} from './helpers.js'

type Attempt = Extract<EngineEvent, {type: 'attempt'}>

describe('gcp provider under the engine (fake GCE/IAM + GCS fake): stockouts', function () {
  this.timeout(60_000)
  let rigs: Rigs
  let dir: string
  const sessions: Session[] = []

  before(async () => {
    rigs = await startRigs()
  })
  after(async () => {
    await stopRigs(rigs)
  })
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'anycloud-gcp-engine-'))
    mkdirSync(join(dir, '.home'))
  })
  afterEach(async () => {
    rigs.fake.faults.clear()
    for (const x of sessions.splice(0)) await x.release()
    const s = await open('destroy')
    await planAndApply({session: s, reporter: new RecordingReporter(), destroy: true}).catch(() => undefined)
    for (const x of sessions.splice(0)) await x.release()
    assert.deepEqual(rigs.fake.liveInstances().map((i) => i.name), [], 'destroy left an instance')
    await rigs.fake.reset()
    rmSync(dir, {recursive: true, force: true})
  })

  function writeConfig(profile: Record<string, unknown> = {}): void {
    writeFileSync(join(dir, 'anycloud.yaml'), stringify({
      version: 1,
      project: 'eng',
      credentials: {gcp: {provider: 'gcp', project: FAKE_GCP_PROJECT, region: 'us-central1', apiEndpoint: rigs.fake.url, accessToken: '${env:GCP_TOKEN}'}},
      profiles: {job: {credentials: 'gcp', vmType: 'e2-small', runtime: 'process', command: ['sleep', '60'], ...profile}},
    }))
  }

  /** A session whose providers are gcp providers with fast waits and stubbed machine steps. */
  async function open(lock?: string): Promise<Session> {
    const env = {...process.env, ANYCLOUD_HOME: join(dir, '.home'), GCP_TOKEN: rigs.token}
    const session = await openSession({file: join(dir, 'anycloud.yaml'), env, lock})
    sessions.push(session)
    session.providers = providersOf((name) => stubMachine(makeProvider(session.config.credentials[name], {credentials: session.config.credentials})))
    return session
  }

  const attempts = (reporter: RecordingReporter) => reporter.events.filter((e): e is Attempt => e.type === 'attempt' && Boolean(e.zone)).map((e) => [e.region, e.zone, e.outcome])

  it('a stockout in every zone of the region: the VM lands in the next region of its continent, recorded; the next plan has no changes', async () => {
    writeConfig()
    for (const zone of FAKE_GCP_ZONES['us-central1']) rigs.fake.faults.stockout(zone)
    const reporter = new RecordingReporter()
    const r = await planAndApply({session: await open('apply'), reporter})
    assert.deepEqual(outcomeOf(r.results).failed.map((f) => f.message), [])
    assert.deepEqual(attempts(reporter), [
      ...FAKE_GCP_ZONES['us-central1'].map((z) => ['us-central1', z, 'no-capacity']),
      ['us-east1', 'us-east1-b', 'ok'],
    ])
    assert.deepEqual(rigs.fake.liveInstances().map((i) => i.zone), ['us-east1-b'], 'one VM, in the next region; none left in the stocked-out zones')
    const inserts = rigs.fake.calls('POST', /\/zones\/[^/]+\/instances$/).map((q) => q.path.split('/zones/')[1]!.split('/')[0])
    assert.deepEqual(inserts, [...FAKE_GCP_ZONES['us-central1'], 'us-east1-b'])
    for (const x of sessions.splice(0)) await x.release()

    const session = await open('apply')
    assert.equal(session.state!.deployments.job.placement?.zone, 'us-east1-b')
    assert.equal(session.state!.deployments.job.resources['job.vm'].attributes.zone, 'us-east1-b')
    const again = await planAndApply({session, reporter: new RecordingReporter()})
    assert.deepEqual(again.plan.changes.filter((c) => c.action !== 'no-op').map((c) => `${c.action} ${c.address}: ${c.reason}`), [], 'the VM stays where it landed')
  })

  it('a region pinned by the profile is the only one: every zone stocked out fails, naming them, and nothing is left', async () => {
    writeConfig({region: 'us-central1'})
    for (const zone of FAKE_GCP_ZONES['us-central1']) rigs.fake.faults.stockout(zone)
    const reporter = new RecordingReporter()
    const r = await planAndApply({session: await open('apply'), reporter})
    const failed = outcomeOf(r.results).failed
    assert.equal(failed.length, 1, JSON.stringify(failed.map((f) => f.message)))
    assert.match(failed[0]!.message, new RegExp(`no capacity for job\\.vm in ${FAKE_GCP_ZONES['us-central1'].join(', ')}: no e2-small in us-central1-f: .*does not have enough resources`))
    assert.deepEqual(attempts(reporter).map((a) => a[1]), FAKE_GCP_ZONES['us-central1'])
    assert.deepEqual(rigs.fake.liveInstances(), [])
  })

  it('a regional quota moves on to the next region at once (the other zones of that region are not tried)', async () => {
    writeConfig()
    rigs.fake.faults.quota({zonePrefix: 'us-central1-', metric: 'CPUS'})
    rigs.fake.faults.stockout('us-east1-b')
    const reporter = new RecordingReporter()
    const r = await planAndApply({session: await open('apply'), reporter})
    assert.deepEqual(outcomeOf(r.results).failed.map((f) => f.message), [])
    assert.deepEqual(attempts(reporter), [
      ['us-central1', 'us-central1-a', 'no-capacity'],
      ['us-east1', 'us-east1-b', 'no-capacity'],
      ['us-east1', 'us-east1-c', 'ok'],
    ])
    assert.deepEqual(rigs.fake.liveInstances().map((i) => i.zone), ['us-east1-c'])
  })

  it('fallback regions: the other regions of the continent in table order, never another continent or a restricted region', () => {
    writeConfig()
    const p = makeProvider({name: 'gcp', origin: 'file', spec: {provider: 'gcp', project: FAKE_GCP_PROJECT, region: 'us-central1', apiEndpoint: rigs.fake.url, accessToken: rigs.token}})
    assert.deepEqual(p.fallbackRegions('us-central1').slice(0, 2), ['us-east1', 'us-east4'])
    assert.ok(p.fallbackRegions('us-central1').every((r) => r.startsWith('us-')))
    assert.ok(!p.fallbackRegions('europe-west4').includes('europe-west4'))
    assert.ok(p.fallbackRegions('europe-west4').every((r) => r.startsWith('europe-')))
    assert.deepEqual(p.fallbackRegions('me-west1'), ['me-central1', 'africa-south1'], 'me-central2 needs access on request')
    assert.deepEqual(p.fallbackRegions('nowhere-1'), [])
  })
})
