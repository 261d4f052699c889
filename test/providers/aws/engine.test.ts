/**
 * The aws provider under the real engine (plan → apply with intents, rotation, zone failover),
 * against the fake EC2/IAM/STS and the S3 emulator. The machine steps (bootstrap, workload) need
 * SSH to a VM and are covered end to end in test/e2e/aws.test.ts; here they are stubbed so these
 * tests stay about the cloud side.
 */
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {stringify} from 'yaml'

import {RecordingReporter} from '../../../src/engine/events.js'
import {outcomeOf, planAndApply} from '../../../src/engine/run.js'
import {openSession, type Session} from '../../../src/engine/session.js'
import type {Provider} from '../../../src/providers/provider.js'
import {providersOf, stubMachine, type Overrides} from '../../engine/harness.js'
import {KEYS, makeProvider, startRigs, stopRigs, type Rigs} from './helpers.js'
import {kindOps} from '../../../src/providers/provider.js'

describe('aws provider under the engine (fake EC2/IAM/STS + S3 emulator)', function () {
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
    rigs.fake.addUser({accessKeyId: 'AKIAEXPIRES000000001', secretAccessKey: 'expires-soon'})
    dir = mkdtempSync(join(tmpdir(), 'anycloud-aws-engine-'))
    mkdirSync(join(dir, '.home'))
  })
  afterEach(async () => {
    // Tear down what the test made, with unbroken credentials.
    for (const k of [...rigs.fake.state.credentials.values()]) {
      k.expired = false
      k.revoked = false
    }
    rigs.fake.faults.clearAll()
    for (const x of sessions.splice(0)) await x.release()
    const s = await open(['first', 'second'], 'destroy')
    await planAndApply({session: s, reporter: new RecordingReporter(), destroy: true}).catch(() => undefined)
    for (const x of sessions.splice(0)) await x.release()
    assert.equal([...rigs.fake.state.instances.values()].filter((i) => i.state !== 'terminated').length, 0, 'destroy left an instance')
    await rigs.fake.reset()
    await rigs.s3.reset()
    rmSync(dir, {recursive: true, force: true})
  })

  function writeConfig(credentials: string[], profile: Record<string, unknown> = {}): void {
    const endpoints = {s3: rigs.s3.endpoint, ec2: rigs.fake.url, iam: rigs.fake.url, sts: rigs.fake.url}
    writeFileSync(
      join(dir, 'anycloud.yaml'),
      stringify({
        version: 1,
        project: 'eng',
        credentials: {
          first: {provider: 'aws', region: 'us-east-1', accessKeyId: '${env:FIRST_KEY}', secretAccessKey: '${env:FIRST_SECRET}', endpoints},
          second: {provider: 'aws', region: 'us-east-1', accessKeyId: '${env:SECOND_KEY}', secretAccessKey: '${env:SECOND_SECRET}', endpoints},
        },
        profiles: {job: {credentials, vmType: 't3.micro', runtime: 'process', command: ['sleep', '60'], ...profile}},
      }),
    )
  }

  /** A session whose providers are aws providers with fast retries and stubbed machine steps. */
  async function open(_names: string[], lock?: string, extra: (name: string, p: Provider) => Overrides = () => ({})): Promise<Session> {
    const env = {
      ...process.env,
      ANYCLOUD_HOME: join(dir, '.home'),
      AWS_EC2_METADATA_DISABLED: 'true',
      FIRST_KEY: 'AKIAEXPIRES000000001',
      FIRST_SECRET: 'expires-soon',
      SECOND_KEY: KEYS.accessKeyId,
      SECOND_SECRET: KEYS.secretAccessKey,
    }
    const session = await openSession({file: join(dir, 'anycloud.yaml'), env, lock})
    sessions.push(session)
    session.providers = providersOf((name) => {
      const real = makeProvider(session.config.credentials[name], {credentials: session.config.credentials})
      return stubMachine(real, extra(name, real))
    })
    return session
  }

  it('expired credentials at plan time: the next listed credential is used', async () => {
    writeConfig(['first', 'second'], {outputBucket: undefined})
    rigs.fake.expireCredentials('AKIAEXPIRES000000001')
    const session = await open(['first', 'second'], 'apply')
    const reporter = new RecordingReporter()
    const r = await planAndApply({session, reporter})
    assert.deepEqual(outcomeOf(r.results).failed.map((f) => f.message), [])
    assert.equal(session.state!.deployments.job.placement?.credential, 'second')
    assert.ok(reporter.events.some((e) => e.type === 'attempt' && e.credential === 'first' && e.outcome === 'auth-failed'))
    const instances = [...rigs.fake.state.instances.values()]
    assert.equal(instances.length, 1)
  })

  it('credentials that expire during apply: the engine rotates to the next one, and nothing is left on the first', async () => {
    writeConfig(['first', 'second'])
    const session = await open(['first', 'second'], 'apply')
    const reporter = new RecordingReporter()
    // Valid while planning; expired the moment apply starts.
    const r = await planAndApply({session, reporter, confirm: async () => {
      rigs.fake.expireCredentials('AKIAEXPIRES000000001')
      return true
    }})
    assert.deepEqual(outcomeOf(r.results).failed.map((f) => f.message), [])
    assert.equal(r.results.length, 2, 'one apply per credential')
    assert.ok(reporter.events.some((e) => e.type === 'diagnostic' && /rotating to the next listed credential/.test(e.message)))
    assert.equal(session.state!.deployments.job.placement?.credential, 'second')
    for (const res of Object.values(session.state!.deployments.job.resources)) assert.equal(res.credential, 'second', res.address)
    const made = rigs.fake.requests.filter((q) => q.accessKeyId === 'AKIAEXPIRES000000001' && q.outcome === 'ok' && /^(Create|Run|Import|Put|Add|Authorize)/.test(q.action))
    assert.deepEqual(made.map((q) => q.action), [], 'the expired credential created nothing')
  })

  it('no capacity in the first zone: the VM lands in the next zone of the region, recorded in state', async () => {
    writeConfig(['second'])
    rigs.fake.faults.insufficientCapacity({availabilityZone: 'us-east-1a'})
    const session = await open(['second'], 'apply')
    const reporter = new RecordingReporter()
    const r = await planAndApply({session, reporter})
    assert.deepEqual(outcomeOf(r.results).failed.map((f) => f.message), [])
    const attempts = reporter.events.filter((e) => e.type === 'attempt' && e.zone)
    assert.deepEqual(attempts.map((e) => [e.type === 'attempt' && e.zone, e.type === 'attempt' && e.outcome]), [['us-east-1a', 'no-capacity'], ['us-east-1b', 'ok']])
    const [instance] = [...rigs.fake.state.instances.values()]
    assert.equal(instance.availabilityZone, 'us-east-1b')
    assert.equal(session.state!.deployments.job.placement?.zone, 'us-east-1b')
    assert.equal(rigs.fake.state.instances.size, 1, 'the failed zone left no instance')
  })

  it('killed after RunInstances returned but before state was saved: the re-run adopts the instance (no duplicate)', async () => {
    writeConfig(['second'])
    const crash = await open(['second'], 'apply', (_name, real) => ({
      create: async (r, ctx) => {
        const actual = await kindOps(real).create(r, ctx)
        if (r.kind === 'vm') throw new Error('simulated crash after RunInstances')
        return actual
      },
    }))
    const first = await planAndApply({session: crash, reporter: new RecordingReporter()})
    await crash.release()
    assert.ok(outcomeOf(first.results).failed.some((f) => f.address === 'job.vm'))
    const pending = crash.state!.deployments.job.resources['job.vm']
    assert.equal(pending.status, 'pending')
    assert.ok(pending.token)

    const session = await open(['second'], 'apply')
    const r = await planAndApply({session, reporter: new RecordingReporter()})
    assert.deepEqual(outcomeOf(r.results).failed.map((f) => f.message), [])
    const vm = r.plan.changes.find((c) => c.address === 'job.vm')!
    assert.equal(vm.action, 'no-op', vm.reason)
    assert.equal(vm.observed?.id, [...rigs.fake.state.instances.keys()][0], 'refresh found it by its tags')
    assert.equal(rigs.fake.calls('RunInstances').length, 1, 'one RunInstances in all')
    assert.equal(rigs.fake.state.instances.size, 1)
    const rec = session.state!.deployments.job.resources['job.vm']
    assert.equal(rec.status, 'created')
    assert.equal(rec.id, [...rigs.fake.state.instances.keys()][0])
  })

  describe('spotFallback', () => {
    /** One watch-like round: plan and apply with a fresh session; the plan and what failed. */
    async function round(now?: Date) {
      const session = await open(['second'], 'apply')
      const r = await planAndApply({session, reporter: new RecordingReporter(), ...(now ? {now: () => now} : {})})
      await session.release()
      return {plan: r.plan, failed: outcomeOf(r.results).failed, state: session.state!}
    }
    const liveInstance = () => [...rigs.fake.state.instances.values()].find((i) => i.state !== 'terminated')!

    it('afterPreemptions: 2 — the first preemption is replaced on spot, the second moves the profile to on-demand and the plan says why', async () => {
      writeConfig(['second'], {spot: true, spotFallback: {afterPreemptions: 2}})
      const first = await round()
      assert.deepEqual(first.failed, [])
      assert.equal(liveInstance().market, 'spot')

      await rigs.fake.preempt(liveInstance().instanceId)
      const second = await round()
      assert.deepEqual(second.failed, [])
      const vm1 = second.plan.changes.find((c) => c.address === 'job.vm')!
      assert.equal(vm1.action, 'replace')
      assert.equal(vm1.reason, 'VM no longer exists (Server.SpotInstanceTermination)', 'one preemption: no fallback yet')
      assert.equal(second.plan.profiles.job.placement.spot, true)
      assert.equal(second.plan.profiles.job.spot?.preemptions, 1)
      assert.equal(second.state.deployments.job.spot?.preemptions, 1)
      assert.equal(liveInstance().market, 'spot', 'still spot after one preemption')

      // A plan that is not applied counts nothing twice: the same preempted VM is one preemption.
      await rigs.fake.preempt(liveInstance().instanceId)
      const look = await open(['second'])
      const {planChanges} = await import('../../../src/engine/planner.js')
      const dry = await planChanges({config: look.config, profiles: look.profiles, state: look.state, providers: look.providers, reporter: new RecordingReporter(), stateDir: look.store.localDir})
      await look.release()
      assert.equal(dry.profiles.job.spot?.preemptions, 2)

      const third = await round()
      assert.deepEqual(third.failed, [])
      const vm2 = third.plan.changes.find((c) => c.address === 'job.vm')!
      assert.equal(vm2.action, 'replace')
      assert.equal(vm2.reason, 'VM no longer exists (Server.SpotInstanceTermination); spotFallback: 2 preemptions reached afterPreemptions (2): moving to on-demand')
      assert.equal(third.plan.profiles.job.placement.spot, false)
      assert.ok(third.plan.diagnostics.some((d) => d.severity === 'warning' && /moving to on-demand/.test(d.message)))
      assert.equal(liveInstance().market, 'on-demand')
      assert.equal(third.state.deployments.job.spot?.preemptions, 2)
      assert.match(third.state.deployments.job.spot?.onDemand?.reason ?? '', /afterPreemptions \(2\)/)
      assert.equal(third.state.deployments.job.placement?.spot, false)

      // It stays on-demand: the next plan has no changes.
      const fourth = await round()
      assert.deepEqual(fourth.plan.changes.filter((c) => c.action !== 'no-op' && c.action !== 'read').map((c) => `${c.address} ${c.action}: ${c.reason}`), [])
    })

    it('afterMinutesWithoutCapacity: no spot capacity in any zone is remembered; once the minutes pass, the plan moves to on-demand and it launches', async () => {
      writeConfig(['second'], {spot: true, spotFallback: {afterMinutesWithoutCapacity: 10}})
      const fault = rigs.fake.faults.insufficientCapacity({spotOnly: true})
      const t0 = new Date()
      const first = await round(t0)
      assert.ok(first.failed.some((f) => f.address === 'job.vm' && /no capacity/.test(f.message)), JSON.stringify(first.failed.map((f) => f.message)))
      const since = first.state.deployments.job.spot?.noCapacitySince
      assert.ok(since, 'the capacity failure is recorded')

      // Nine minutes later: still spot, still no capacity, the first failure's time is kept.
      const early = await round(new Date(Date.parse(since) + 9 * 60_000))
      assert.equal(early.plan.profiles.job.placement.spot, true)
      assert.ok(early.failed.some((f) => f.address === 'job.vm'))
      assert.equal(early.state.deployments.job.spot?.noCapacitySince, since)

      const late = await round(new Date(Date.parse(since) + 10 * 60_000))
      assert.deepEqual(late.failed, [])
      assert.equal(late.plan.profiles.job.placement.spot, false)
      assert.match(late.plan.changes.find((c) => c.address === 'job.vm')!.reason, /spotFallback: no spot capacity for 10 min .* reached afterMinutesWithoutCapacity \(10\): moving to on-demand$/)
      assert.equal(liveInstance().market, 'on-demand')
      assert.ok(fault.hits > 0)
    })
  })
})
