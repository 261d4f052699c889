import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdir, readFile, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {ResolvedProfile} from '../../../src/config/types.js'
import {addressOf, type ActualResource, type DeploymentContext, type ResourceRecord} from '../../../src/model/resources.js'
import {ownershipTags, type ProviderCallContext} from '../../../src/providers/provider.js'
import {alive, callContext, deployment, desired, eventually, makeRig, profile, recordOf, type Rig} from './helpers.js'
import {kindOps} from '../../../src/providers/provider.js'

const CANARY = 'canary-t0ken-5b7d0c2a9e'

interface Launched {
  d: DeploymentContext
  ctx: ProviderCallContext
  workspace: string
  workload: ActualResource
  record: ResourceRecord
  read(): Promise<ActualResource | null>
}

/** Applies buckets, vm, bootstrap and workload the way the engine would, in order. */
async function launch(rig: Rig, p: ResolvedProfile, deploymentId = 'proj-train-abc123'): Promise<Launched> {
  const d = deployment(rig, p, deploymentId)
  const records: Record<string, ResourceRecord> = {}
  const ctx = callContext(d, records)
  for (const [role, name] of [['output', p.outputBucket], ['checkpoint', p.spot ? deploymentId : undefined]] as const) {
    if (!name) continue
    const r = {...desired(d, 'bucket'), address: addressOf(p.name, 'bucket', role), role, name}
    const existing = await rig.provider.readBucket(name)
    const actual = existing ?? (await rig.provider.createBucket(r, {region: 'local', tags: ownershipTags(d.project, deploymentId, r.address)}))
    records[r.address] = recordOf(r, actual.id, actual.outputs)
  }
  const vmRes = desired(d, 'vm')
  records[vmRes.address] = recordOf(vmRes, (await kindOps(rig.provider).create(vmRes, ctx)).id)
  const bs = desired(d, 'bootstrap', rig.provider.desiredAttributes(desired(d, 'bootstrap'), d))
  records[bs.address] = recordOf(bs, (await kindOps(rig.provider).create(bs, ctx)).id)
  const wl = desired(d, 'workload', {command: p.command, specHash: `spec-${JSON.stringify(p.command).length}`})
  const workload = await kindOps(rig.provider).create(wl, ctx)
  const record = recordOf(wl, workload.id, workload.outputs)
  return {
    d,
    ctx,
    workspace: join(rig.root, 'machines', deploymentId),
    workload,
    record,
    read: () => kindOps(rig.provider).read({address: wl.address, kind: 'workload', name: wl.name, record}, ctx),
  }
}

async function finished(l: Launched, timeoutMs = 15_000): Promise<ActualResource> {
  return eventually(async () => {
    const r = await l.read()
    return r && (r.phase === 'completed' || r.phase === 'failed') ? r : undefined
  }, 'the workload to finish', timeoutMs)
}

describe('local provider: workload', function () {
  this.timeout(60_000)
  let rig: Rig
  beforeEach(async () => {
    rig = await makeRig()
    await mkdir(join(rig.root, 'buckets', 'data', 'sub'), {recursive: true})
    await writeFile(join(rig.root, 'buckets', 'data', 'a.txt'), 'alpha\n')
    await writeFile(join(rig.root, 'buckets', 'data', 'sub', 'b.txt'), 'beta\n')
  })
  afterEach(async () => {
    await rig.cleanup() // SIGKILLs any supervisor/command left, then removes the temp dir
  })

  it('runs a job: input mirrored, output uploaded within two sync intervals and at exit, exit 3 recorded as failed', async () => {
    const script = [
      'set -e',
      'cat "$ANYCLOUD_INPUT/a.txt" "$ANYCLOUD_INPUT/sub/b.txt" > "$ANYCLOUD_OUTPUT/joined.txt"',
      'echo "$ANYCLOUD_DEPLOYMENT_ID" > "$ANYCLOUD_OUTPUT/early.txt"',
      'while [ ! -f release ]; do sleep 0.05; done',
      'echo final > "$ANYCLOUD_OUTPUT/final.txt"',
      'echo done',
      'exit 3',
    ].join('\n')
    const l = await launch(rig, profile({command: script, inputBucket: 'data', outputBucket: 'results'}))
    assert.equal(l.workload.phase, 'running')
    assert.equal(await readFile(join(l.workspace, 'input', 'sub', 'b.txt'), 'utf8'), 'beta\n')

    const bucket = join(rig.root, 'buckets', 'results')
    const early = await eventually(() => existsSync(join(l.workspace, 'output', 'early.txt')) && stat(join(l.workspace, 'output', 'early.txt')), 'early.txt in output/')
    await eventually(() => existsSync(join(bucket, 'early.txt')), 'early.txt in the output bucket', 4_000)
    assert.ok(Date.now() - early.mtimeMs <= 2_000 + 500, `uploaded ${Date.now() - early.mtimeMs} ms after it was written`)
    assert.equal(await readFile(join(bucket, 'early.txt'), 'utf8'), 'proj-train-abc123\n')
    // A sync lands its files one by one (each renamed into place whole): joined.txt may come a moment after early.txt.
    await eventually(() => existsSync(join(bucket, 'joined.txt')), 'joined.txt in the output bucket', 4_000)
    assert.equal(await readFile(join(bucket, 'joined.txt'), 'utf8'), 'alpha\nbeta\n')
    // The sync records its time once the copy is done, so the file can be in the bucket a moment before.
    const running = await eventually(async () => {
      const r = await l.read()
      return r && typeof (r.outputs?.lastSync as {output?: string} | undefined)?.output === 'string' ? r : undefined
    }, 'the output sync time recorded', 4_000)
    assert.equal(running.phase, 'running')

    await writeFile(join(l.workspace, 'release'), '')
    const done = await finished(l)
    assert.equal(done.phase, 'failed')
    assert.equal(done.exitCode, 3)
    assert.equal(await readFile(join(bucket, 'final.txt'), 'utf8'), 'final\n', 'the final sync ran at exit')
    assert.match(await readFile(join(l.workspace, 'workload.log'), 'utf8'), /done/)
    const status = JSON.parse(await readFile(join(l.workspace, 'status.json'), 'utf8')) as Record<string, unknown>
    assert.equal(status.phase, 'failed')
    assert.equal(status.specHash, l.record.attributes.specHash)
  })

  it('records exit 0 as completed; copy never deletes in the bucket; list commands run without a shell', async () => {
    await mkdir(join(rig.root, 'buckets', 'results'), {recursive: true})
    await writeFile(join(rig.root, 'buckets', 'results', 'from-another-job.txt'), 'keep me')
    const l = await launch(rig, profile({command: ['sh', '-c', 'echo ok > "$ANYCLOUD_OUTPUT/ok.txt"; echo "$0 $1"', 'a b', '$HOME'], outputBucket: 'results'}))
    const done = await finished(l)
    assert.equal(done.phase, 'completed')
    assert.equal(done.exitCode, 0)
    assert.equal(await readFile(join(rig.root, 'buckets', 'results', 'ok.txt'), 'utf8'), 'ok\n')
    assert.equal(await readFile(join(rig.root, 'buckets', 'results', 'from-another-job.txt'), 'utf8'), 'keep me')
    assert.equal(await readFile(join(l.workspace, 'workload.log'), 'utf8'), 'a b $HOME\n')
  })

  it('fails the create when the input bucket does not exist', async () => {
    await assert.rejects(launch(rig, profile({command: 'true', inputBucket: 'nope'})), /did not start: input bucket 'nope' does not exist/)
  })

  it('fails the create with a clear message when runtime docker has no engine', async function () {
    try {
      execFileSync('docker', ['info'], {stdio: 'ignore', timeout: 15_000})
      this.skip() // an engine answers here: nothing to check
    } catch {
      // expected: no Docker
    }
    await assert.rejects(launch(rig, profile({runtime: 'docker', image: 'alpine:3', command: 'true'})), /no Docker engine answers.*/)
    await assert.rejects(launch(rig, profile({runtime: 'docker', image: 'alpine:3', command: 'true'})), (e: Error & {suggestions?: string[]}) =>
      (e.suggestions ?? []).some((s) => s.includes('runtime: process')),
    )
  })

  it('restores the checkpoint into a fresh machine of the same deployment', async () => {
    const p = profile({spot: true, outputBucket: 'results', command: 'if [ -f "$ANYCLOUD_CHECKPOINT/step" ]; then cp "$ANYCLOUD_CHECKPOINT/step" "$ANYCLOUD_OUTPUT/restored"; fi; echo 41 > "$ANYCLOUD_CHECKPOINT/step"'})
    const first = await launch(rig, p)
    assert.equal((await finished(first)).phase, 'completed')
    assert.equal(await readFile(join(rig.root, 'buckets', 'proj-train-abc123', 'step'), 'utf8'), '41\n')
    assert.equal(existsSync(join(rig.root, 'buckets', 'results', 'restored')), false)
    // The machine goes away (preemption / replace): a fresh workspace for the same deployment.
    await kindOps(rig.provider).delete(first.ctx.records['train.vm'], first.ctx)
    assert.equal(existsSync(first.workspace), false)
    const second = await launch(rig, p)
    assert.equal((await finished(second)).phase, 'completed')
    assert.equal(await readFile(join(rig.root, 'buckets', 'results', 'restored'), 'utf8'), '41\n')
  })

  it('adopts a live supervisor of the same spec instead of starting a second one', async () => {
    const l = await launch(rig, profile({command: 'sleep 30'}))
    const again = await kindOps(rig.provider).create(desired(l.d, 'workload', l.record.attributes), l.ctx)
    assert.equal(again.outputs?.supervisorPid, l.workload.outputs?.supervisorPid)
    assert.equal(again.phase, 'running')
    await kindOps(rig.provider).delete(l.record, l.ctx)
  })

  it('delete sends SIGTERM: the command stops, a final sync runs, no process is left', async () => {
    // A long sync interval: only the final sync can upload late.txt.
    const l = await launch(rig, profile({syncIntervalSeconds: 3600, outputBucket: 'results', command: 'echo late > "$ANYCLOUD_OUTPUT/late.txt"; sleep 60'}))
    await eventually(() => existsSync(join(l.workspace, 'output', 'late.txt')), 'late.txt written')
    const {supervisorPid, pid} = l.workload.outputs as {supervisorPid: number; pid: number}
    assert.ok(alive(supervisorPid) && alive(pid))
    await kindOps(rig.provider).delete(l.record, l.ctx)
    assert.equal(await readFile(join(rig.root, 'buckets', 'results', 'late.txt'), 'utf8'), 'late\n')
    assert.equal(alive(supervisorPid), false, 'supervisor gone')
    assert.equal(alive(pid), false, 'command gone')
    assert.equal(await l.read(), null, 'status files cleaned')
    assert.match(await readFile(join(l.workspace, 'supervisor.log'), 'utf8'), /SIGTERM: stopping/)
  })

  it('reports lost when the supervisor dies (SIGKILL), and delete still reaps the command', async () => {
    const l = await launch(rig, profile({command: 'sleep 60'}))
    const {supervisorPid, pid} = l.workload.outputs as {supervisorPid: number; pid: number}
    process.kill(supervisorPid, 'SIGKILL')
    const lost = await eventually(async () => {
      const r = await l.read()
      return r?.phase === 'lost' ? r : undefined
    }, 'phase lost')
    assert.match(lost.note ?? '', /preempted/)
    assert.ok(alive(pid), 'the orphaned command still runs')
    await kindOps(rig.provider).delete(l.record, l.ctx)
    assert.equal(alive(pid), false, 'delete reaped the orphaned command')
  })

  it('vm delete stops a running workload first', async () => {
    const l = await launch(rig, profile({command: 'sleep 60'}))
    const {supervisorPid, pid} = l.workload.outputs as {supervisorPid: number; pid: number}
    await kindOps(rig.provider).delete(l.ctx.records['train.vm'], l.ctx)
    assert.equal(alive(supervisorPid), false)
    assert.equal(alive(pid), false)
    assert.equal(existsSync(l.workspace), false)
  })

  it('logs: prints, follows until the end, stops on abort', async () => {
    const l = await launch(rig, profile({command: 'for i in 1 2 3; do echo line$i; sleep 0.2; done'}))
    let followed = ''
    await rig.provider.logs(l.ctx, {follow: true, write: (c) => (followed += c)})
    assert.equal(followed, 'line1\nline2\nline3\n')
    let once = ''
    await rig.provider.logs(l.ctx, {follow: false, write: (c) => (once += c)})
    assert.equal(once, followed)

    const long = await launch(rig, profile({command: 'echo first; sleep 60'}), 'proj-train-long01')
    const controller = new AbortController()
    let seen = ''
    const following = rig.provider.logs(long.ctx, {follow: true, signal: controller.signal, write: (c) => (seen += c)})
    await eventually(() => seen.includes('first'), 'the first line followed')
    controller.abort()
    await following
    await kindOps(rig.provider).delete(long.record, long.ctx)
  })

  it('keeps env values out of argv, job.json, status.json and the logs; env file is 0600', async () => {
    const p = profile({
      env: {API_TOKEN: CANARY},
      sensitiveEnv: ['API_TOKEN'],
      outputBucket: 'results',
      command: 'printf %s "$API_TOKEN" | sha256sum | cut -d" " -f1 > "$ANYCLOUD_OUTPUT/token.sha"; echo started; sleep 60',
    })
    const l = await launch(rig, p)
    await eventually(() => existsSync(join(rig.root, 'buckets', 'results', 'token.sha')), 'token.sha uploaded')
    assert.equal((await readFile(join(rig.root, 'buckets', 'results', 'token.sha'), 'utf8')).trim(), createHash('sha256').update(CANARY).digest('hex'))
    const ps = execFileSync('ps', ['-eo', 'pid,args'], {encoding: 'utf8'})
    assert.ok(ps.includes(l.workspace), 'the supervisor is visible in ps')
    assert.ok(!ps.includes(CANARY), 'no secret on any command line')
    assert.equal((await stat(join(l.workspace, 'env'))).mode & 0o777, 0o600)
    for (const f of ['job.json', 'status.json', 'workload.log', 'supervisor.log', 'workload.json', 'bootstrap.json', 'machine.json']) {
      assert.ok(!(await readFile(join(l.workspace, f), 'utf8')).includes(CANARY), f)
    }
    assert.ok(!JSON.stringify(await l.read()).includes(CANARY))
    await kindOps(rig.provider).delete(l.record, l.ctx)
  })

  it('connect gives a runner in the workspace', async () => {
    const l = await launch(rig, profile({command: 'true'}))
    const runner = await rig.provider.connect(l.ctx)
    assert.ok(runner)
    const r = await runner.run('pwd')
    assert.equal(r.stdout.trim(), l.workspace)
    await runner.close()
    await finished(l)
  })
})
