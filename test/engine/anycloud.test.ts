import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {Anycloud, type IoHost} from '../../src/engine/anycloud.js'
import {InterruptedError, UsageError} from '../../src/errors/index.js'
import {makeHarness, type Harness} from './harness.js'
import {RecordingHost} from './recording-host.js'
import type {StateDocument} from '../../src/state/types.js'
import {clearSecrets} from '../../src/util/redact.js'

const JOB = {credentials: 'laptop', runtime: 'process', outputBucket: 'out', command: ['train.sh']}

describe('engine: the Anycloud façade (through an IoHost, no CLI)', function () {
  this.timeout(120_000)
  let h: Harness
  let file: string
  let env: NodeJS.ProcessEnv
  const engine = (host: IoHost) => new Anycloud(host, {env})

  beforeEach(() => {
    h = makeHarness({job: JOB})
    file = join(h.dir, 'anycloud.yaml')
    env = {...process.env, ANYCLOUD_HOME: join(h.dir, '.home')}
  })
  afterEach(async () => {
    try {
      await engine(new RecordingHost(false)).destroy({file, autoApprove: true}).catch(() => undefined)
    } finally {
      await h.cleanup()
    }
  })

  it('plan reports progress through the host and returns the plan; nothing is created', async () => {
    const host = new RecordingHost(false)
    const r = await engine(host).plan({file})
    assert.equal(r.project, 'eng')
    assert.equal(r.changes, true)
    assert.ok(r.plan.summary.create > 0, 'the plan creates the profile\'s resources')
    assert.ok(host.events.some((e) => e.type === 'refresh-start'), 'refresh progress went to the host')
    assert.deepEqual((await engine(host).state.list({file})).resources, [])
  })

  it('apply without autoApprove: refused up front when the host cannot ask; declined when the person says no', async () => {
    await assert.rejects(engine(new RecordingHost(false)).apply({file, targets: []}), (e: unknown) => e instanceof UsageError && e.code === 'usage.needs-approval')
    const host = new RecordingHost(true, false)
    const r = await engine(host).apply({file, targets: []})
    assert.equal(r.applied, false)
    assert.deepEqual(host.asked, [{command: 'apply', question: 'Do you want to perform these actions?'}])
    assert.equal(host.of('plan').length, 1, 'the plan was shown before the question')
    assert.equal(host.of('approved').length, 0)
    assert.deepEqual((await engine(host).state.list({file})).resources, [], 'declining changed nothing')
  })

  it('apply, status, logs, state list/show/rm, destroy: each one call, each a plain result', async () => {
    const host = new RecordingHost(true, true)
    const applied = await engine(host).apply({file, targets: []})
    assert.equal(applied.applied, true)
    assert.equal(applied.status, 'complete')
    assert.equal(host.asked.length, 1, 'asked once')
    assert.equal(host.of('approved').length, 1)
    assert.ok(applied.counts.done.includes('job.workload'), JSON.stringify(applied.counts))

    const status = await engine(host).status({file})
    assert.deepEqual(status.deployments.map((d) => [d.profile, d.applied, d.workload.phase]), [['job', true, 'running']])

    const list = await engine(host).state.list({file})
    assert.ok(list.resources.some((r) => r.address === 'job.workload'))
    const shown = await engine(host).state.show({file, address: 'job.workload'})
    assert.equal(shown.resource.address, 'job.workload')
    await assert.rejects(engine(host).state.show({file, address: 'job.nope'}), /no resource job\.nope in state; addresses: /)

    // What the job printed on its machine reaches the host as `output` messages.
    h.clouds.cloud.output[status.deployments[0].deploymentId] = 'hello-from-job\n'
    const logs = new RecordingHost(false)
    assert.deepEqual(await engine(logs).logs({file, profile: 'job'}), {source: 'machine'})
    assert.equal(logs.of('output').map((m) => m.chunk).join(''), 'hello-from-job\n')

    const destroyed = await engine(new RecordingHost(false)).destroy({file, autoApprove: true})
    assert.equal(destroyed.status, 'complete')
    assert.ok(destroyed.counts.done.includes('job.workload'))
  })

  it('state show masks the config\'s secrets in a process that opened no session first', async () => {
    const secret = 'tok-' + 'x'.repeat(12)
    await h.cleanup()
    h = makeHarness({job: {...JOB, env: {API_TOKEN: '${env:ENG_API_TOKEN}'}}})
    file = join(h.dir, 'anycloud.yaml')
    env = {...process.env, ANYCLOUD_HOME: join(h.dir, '.home'), ENG_API_TOKEN: secret}
    await engine(new RecordingHost(false)).apply({file, targets: [], autoApprove: true})
    // State that holds the value (an attribute a provider recorded), read by a fresh process.
    const path = join(h.dir, '.anycloud', 'state.json')
    const doc = JSON.parse(readFileSync(path, 'utf8')) as StateDocument
    const dep = Object.values(doc.deployments)[0]
    dep.resources['job.workload'].attributes = {...dep.resources['job.workload'].attributes, echoed: secret}
    writeFileSync(path, JSON.stringify(doc))
    clearSecrets()
    const shown = JSON.stringify((await engine(new RecordingHost(false)).state.show({file, address: 'job.workload'})).resource)
    assert.ok(!shown.includes(secret), shown)
    assert.match(shown, /"echoed":"\(sensitive\)"/)
  })

  it('state rm forgets one address; state unlock says when there is no lock; credentials test checks each credential', async () => {
    const host = new RecordingHost(false)
    await engine(host).apply({file, targets: [], autoApprove: true})
    assert.deepEqual(await engine(host).state.unlock({file, lockId: 'nope'}), {released: false, store: (await engine(host).state.pull({file})).store})
    const before = await engine(host).state.list({file})
    assert.deepEqual(await engine(host).state.rm({file, address: 'job.workload'}), {address: 'job.workload'})
    await assert.rejects(engine(host).state.rm({file, address: 'job.nope'}), /no resource job\.nope in state; addresses: job\.bootstrap, /)
    const after = await engine(host).state.list({file})
    assert.deepEqual(after.resources.map((r) => r.address), before.resources.map((r) => r.address).filter((a) => a !== 'job.workload'))
    assert.equal(after.serial, before.serial + 1)
    const creds = await engine(host).credentials.test({file})
    assert.deepEqual(creds.credentials.map((c) => [c.name, c.provider, c.ok]), [['laptop', 'local', true]])
    await assert.rejects(engine(host).credentials.test({file, names: ['nope']}), /unknown credential 'nope'; known: laptop/)
  })

  it('watch: one decision per change through the host; an abort stops it after the current reconcile', async () => {
    const host = new RecordingHost(false)
    const once = await engine(host).watch({file, intervalMs: 1000, once: true})
    assert.equal(once.reconciles, 1)
    assert.deepEqual(host.of('decision').map((m) => [m.decision.action, m.decision.reason]), [['none', 'nothing applied to watch']])

    await engine(host).apply({file, targets: [], autoApprove: true})
    const controller = new AbortController()
    // Aborted as soon as the first reconcile decided: the loop must end without waiting the (long) interval.
    const watching = new RecordingHost(false, false, (m) => m.type === 'decision' && controller.abort())
    const r = await engine(watching).watch({file, intervalMs: 3_600_000, signal: controller.signal})
    assert.equal(r.reconciles, 1)
    assert.deepEqual(watching.of('decision').map((m) => [m.decision.action, m.decision.outcome]), [['none', 'done']], 'a steady deployment: no changes')
    assert.deepEqual(watching.of('info').map((m) => m.message), ['Stopping after the current reconciliation...'])
  })

  it('an abort while waiting for the state lock (--lock-timeout) ends the apply as interrupted (exit 130), with nothing changed', async () => {
    const holder = await h.open({lock: 'apply'})
    const controller = new AbortController()
    // Aborted once the engine says it waits for the lock.
    const host = new RecordingHost(false, false, (m) => m.type === 'info' && m.message.startsWith('Waiting for the state lock') && controller.abort())
    await assert.rejects(
      engine(host).apply({file, targets: [], autoApprove: true, lockTimeoutMs: 600_000, signal: controller.signal}),
      (e: unknown) => e instanceof InterruptedError && e.exitCode === 130,
    )
    await holder.release()
    assert.deepEqual((await engine(host).state.list({file})).resources, [])
  })
})
