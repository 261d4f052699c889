import assert from 'node:assert/strict'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {readMachineStatus, removeDeployment, runBootstrap, startWorkload, stopWorkload, streamLogs} from '../../src/bootstrap/machine.js'
import {renderBootstrap} from '../../src/bootstrap/render.js'
import type {BootstrapSpec} from '../../src/bootstrap/types.js'
import type {SshRunner} from '../../src/remote/ssh-runner.js'
import {entriesUnder, localRemote, modeOf, PLACEMENT, processArgs, specFor, startVm, until, type Vm} from './helpers.js'

/**
 * src/bootstrap/machine.ts against a real host: OpenSSH in a network namespace (or on loopback,
 * see the title), supervisord and rclone 1.60 as installed here, buckets as rclone `local`
 * remotes on directories (the "VM" shares this filesystem). Each deployment lives under a temp
 * prefix standing in for /etc, /var/lib, /var/log and /mnt.
 */
describe(`bootstrap on a real host ${PLACEMENT.title}`, function () {
  this.timeout(120_000)
  let vm: Vm
  let runner: SshRunner
  let buckets: string

  const bucket = (name: string) => join(buckets, name)
  // The uploads every 60 s unless a test says otherwise: no test but the one timing them waits for a periodic upload.
  const spec = (overrides: Partial<BootstrapSpec> = {}, id = 'bt-main-aaaaaa') =>
    specFor(vm.prefix, {
      deploymentId: id,
      syncIntervalSeconds: 60,
      remotes: {input: localRemote(bucket('input')), output: localRemote(bucket('output')), checkpoint: localRemote(bucket(`ckpt-${id}`))},
      ...overrides,
    })
  const lines: string[] = []
  const progress = (m: string) => lines.push(m)

  before(async () => {
    vm = await startVm()
    runner = await vm.runner()
  })
  after(async () => {
    await vm?.stop()
  })
  beforeEach(() => {
    buckets = mkdtempSync(join(tmpdir(), 'anycloud-bt-buckets-'))
    for (const b of ['input', 'output', 'ckpt-bt-main-aaaaaa']) mkdirSync(bucket(b))
    writeFileSync(join(bucket('input'), 'data.txt'), 'one two three\n')
    mkdirSync(join(bucket('input'), 'sub'))
    writeFileSync(join(bucket('input'), 'sub', 'more.txt'), 'four\n')
    lines.length = 0
  })
  afterEach(async () => {
    // Leave the host as found for the next test: every deployment removed, supervisord gone.
    for (const id of ['bt-main-aaaaaa', 'bt-other-bbbbbb']) {
      const r = renderBootstrap(spec({}, id))
      await removeDeployment(runner, r.paths, spec({}, id).roots).catch(() => undefined)
    }
    rmSync(buckets, {recursive: true, force: true})
  })

  it('bootstraps a fresh host in one command; re-running the same script by hand skips every step', async () => {
    const rendered = renderBootstrap(spec())
    const execs = runner.stats.execs
    const first = await runBootstrap(runner, rendered, progress)
    assert.equal(runner.stats.execs - execs, 1, 'the bootstrap is one SSH exec')
    assert.deepEqual(first.steps.map((s) => s.step), ['install', 'files', 'supervisord', 'storage-check', 'input-sync', 'checkpoint-restore', 'programs', 'done'])
    assert.equal(first.steps[0].outcome, 'skipped', 'supervisor and rclone are installed here: nothing to install')
    assert.equal(first.steps[1].outcome, 'ran:6')
    for (const s of first.steps.slice(2, -1)) assert.equal(s.outcome, 'ran', s.step)
    assert.ok(lines.includes('files: ran:6'))

    // Files with their modes; input downloaded; the uploads running.
    const p = rendered.paths
    assert.equal(modeOf(p.rcloneEnv), 0o600)
    assert.equal(modeOf(p.workloadEnv), 0o600)
    assert.equal(modeOf(p.etc), 0o700)
    assert.equal(modeOf(p.syncScript), 0o755)
    assert.equal(readFileSync(join(p.mounts.input, 'sub', 'more.txt'), 'utf8'), 'four\n')
    const status = await readMachineStatus(runner, p)
    assert.equal(status.bootstrapHash, rendered.hash)
    assert.deepEqual(Object.keys(status.programs).sort(), ['rclone-checkpoint', 'rclone-output', 'workload'])
    assert.equal(status.programs.workload, 'STOPPED')
    // supervisord calls an upload program RUNNING once it stayed up for startsecs (5 s).
    await until('the uploads to be RUNNING', async () => {
      const s = await readMachineStatus(runner, p)
      return s.programs['rclone-output'] === 'RUNNING' && s.programs['rclone-checkpoint'] === 'RUNNING'
    }, 15_000, 500)
    assert.equal(status.workload.phase, 'absent')

    const again = await runBootstrap(runner, renderBootstrap(spec()), progress)
    assert.deepEqual(again.steps, [
      {step: 'install', outcome: 'skipped'}, {step: 'files', outcome: 'skipped'}, {step: 'supervisord', outcome: 'skipped'},
      {step: 'storage-check', outcome: 'skipped'}, {step: 'input-sync', outcome: 'skipped'}, {step: 'checkpoint-restore', outcome: 'skipped'},
      {step: 'programs', outcome: 'skipped'}, {step: 'done', outcome: 'ok'},
    ])
  })

  it('puts a loosened or replaced secret file back: 0600 again, written through a new file (a symlink is replaced, not followed)', async () => {
    const rendered = renderBootstrap(spec())
    await runBootstrap(runner, rendered, progress)
    const {chmodSync, symlinkSync, unlinkSync, lstatSync} = await import('node:fs')
    chmodSync(rendered.paths.rcloneEnv, 0o644)
    const decoy = join(buckets, 'decoy.txt')
    writeFileSync(decoy, 'not anycloud\'s\n')
    unlinkSync(rendered.paths.workloadEnv)
    symlinkSync(decoy, rendered.paths.workloadEnv)
    const run = await runBootstrap(runner, renderBootstrap(spec()), progress)
    assert.equal(run.steps.find((x) => x.step === 'files')?.outcome, 'ran:2')
    assert.equal(modeOf(rendered.paths.rcloneEnv), 0o600)
    assert.ok(!lstatSync(rendered.paths.workloadEnv).isSymbolicLink())
    assert.equal(modeOf(rendered.paths.workloadEnv), 0o600)
    assert.equal(readFileSync(decoy, 'utf8'), 'not anycloud\'s\n', 'the symlink target was left alone')
  })

  it('uploads what the workload writes within two sync intervals, with copy (nothing in the bucket is deleted)', async () => {
    const interval = 2
    writeFileSync(join(bucket('output'), 'from-another-job.txt'), 'keep me\n')
    const rendered = renderBootstrap(spec({syncIntervalSeconds: interval}))
    await runBootstrap(runner, rendered, progress)
    // The uploads run periodically: write where the workload would, and time its arrival.
    await until('a first upload', async () => (await readMachineStatus(runner, rendered.paths)).lastSync.output)
    writeFileSync(join(rendered.paths.mounts.output, 'result.json'), '{"ok":true}\n')
    // Deadline: two sync intervals, plus slack for rclone's own runs on a busy machine.
    await until('result.json in the output bucket', () => existsSync(join(bucket('output'), 'result.json')), 2 * interval * 1000 + 4_000, 50)
    assert.equal(readFileSync(join(bucket('output'), 'from-another-job.txt'), 'utf8'), 'keep me\n', 'copy, never sync')
    const status = await readMachineStatus(runner, rendered.paths)
    assert.match(status.lastSync.output ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    assert.match(status.lastSync.checkpoint ?? '', /^\d{4}-\d\d-\d\dT/)
  })

  it('restores a checkpoint a previous run saved, then keeps uploading it', async () => {
    writeFileSync(join(bucket('ckpt-bt-main-aaaaaa'), 'state.json'), '{"epoch":4}\n')
    const rendered = renderBootstrap(spec({command: ['sh', '-c', 'e=$(sed -n \'s/.*"epoch":\\([0-9]*\\).*/\\1/p\' "$ANYCLOUD_CHECKPOINT/state.json"); echo "{\\"epoch\\":$((e+1))}" > "$ANYCLOUD_CHECKPOINT/state.json"; echo resumed from $e']}))
    const run = await runBootstrap(runner, rendered, progress)
    assert.deepEqual(run.steps.find((s) => s.step === 'checkpoint-restore'), {step: 'checkpoint-restore', outcome: 'ran'})
    assert.equal(readFileSync(join(rendered.paths.mounts.checkpoint, 'state.json'), 'utf8'), '{"epoch":4}\n')
    await startWorkload(runner, rendered.paths, 'spec-1', rendered.workload)
    await until('the workload to complete', async () => (await readMachineStatus(runner, rendered.paths)).workload.phase === 'completed')
    // The final upload ran before the exit was recorded.
    assert.equal(readFileSync(join(bucket('ckpt-bt-main-aaaaaa'), 'state.json'), 'utf8'), '{"epoch":5}\n')
    let out = ''
    await streamLogs(runner, rendered.paths, {follow: false, write: (c) => (out += c)})
    assert.match(out, /^resumed from 4$/m)
  })

  it('starts the workload once: the same spec is adopted, another replaces it; status follows it to its exit code', async () => {
    const rendered = renderBootstrap(spec({command: ['sh', '-c', 'echo "$ANYCLOUD_DEPLOYMENT_ID $MODE" > "$ANYCLOUD_OUTPUT/who.txt"; exec sleep 4711'], env: {MODE: 'first'}}))
    await runBootstrap(runner, rendered, progress)
    assert.equal(await startWorkload(runner, rendered.paths, 'spec-1', rendered.workload), 'started')
    await until('who.txt', () => existsSync(join(rendered.paths.mounts.output, 'who.txt')))
    const s1 = await readMachineStatus(runner, rendered.paths)
    assert.equal(s1.workload.phase, 'running')
    assert.equal(s1.workload.specHash, 'spec-1')
    assert.equal(await startWorkload(runner, rendered.paths, 'spec-1', rendered.workload), 'adopted')
    assert.equal(readFileSync(join(rendered.paths.mounts.output, 'who.txt'), 'utf8'), 'bt-main-aaaaaa first\n')

    // A new spec (only the workload's files change) replaces the run.
    const second = renderBootstrap(spec({command: ['sh', '-c', 'echo "$MODE" > "$ANYCLOUD_OUTPUT/who.txt"; echo bye; exit 3'], env: {MODE: 'second'}}))
    assert.equal(second.hash, rendered.hash)
    assert.equal(await startWorkload(runner, second.paths, 'spec-2', second.workload), 'started')
    const done = await until('the second run to fail', async () => {
      const s = await readMachineStatus(runner, second.paths)
      return s.workload.phase === 'failed' ? s : undefined
    })
    assert.equal(done.workload.exitCode, 3)
    assert.equal(done.workload.specHash, 'spec-2')
    assert.equal(readFileSync(join(second.paths.mounts.output, 'who.txt'), 'utf8'), 'second\n')
    assert.equal(readFileSync(join(bucket('output'), 'who.txt'), 'utf8'), 'second\n', 'the final upload ran before the exit code was recorded')
    assert.deepEqual(processArgs().filter((p) => p.args === 'sleep 4711'), [], 'the first run was stopped')
  })

  it('a changed upload program (sync interval) updates the uploads without touching the running workload', async () => {
    const first = renderBootstrap(spec({command: ['sh', '-c', 'exec sleep 4712']}))
    await runBootstrap(runner, first, progress)
    await startWorkload(runner, first.paths, 'spec-1', first.workload)
    const before = await until('the workload to run', async () => {
      const s = await readMachineStatus(runner, first.paths)
      return s.workload.phase === 'running' ? s : undefined
    })
    const sleeper = processArgs().find((p) => p.args === 'sleep 4712')
    assert.ok(sleeper, 'the workload process')
    const changed = renderBootstrap(spec({command: ['sh', '-c', 'exec sleep 4712'], syncIntervalSeconds: 7}))
    assert.notEqual(changed.hash, first.hash)
    const run = await runBootstrap(runner, changed, progress)
    assert.deepEqual(run.steps.filter((s) => s.outcome !== 'skipped').map((s) => `${s.step}:${s.outcome}`), ['files:ran:1', 'storage-check:ran', 'programs:ran', 'done:ok'])
    const after = await readMachineStatus(runner, changed.paths)
    assert.equal(after.workload.phase, 'running')
    assert.equal(after.workload.startedAt, before.workload.startedAt)
    assert.ok(processArgs().some((p) => p.pid === sleeper.pid && p.args === 'sleep 4712'), 'the same workload process still runs')
    assert.match(readFileSync(changed.paths.programConf, 'utf8'), /sleep 7; done/)
  })

  it('downloads the input again when the input bucket changes, not otherwise', async () => {
    mkdirSync(bucket('input2'))
    writeFileSync(join(bucket('input2'), 'other.txt'), 'x\n')
    await runBootstrap(runner, renderBootstrap(spec()), progress)
    const other = spec()
    other.buckets[0] = {...other.buckets[0], spec: localRemote(bucket('input2'))}
    const run = await runBootstrap(runner, renderBootstrap(other), progress)
    assert.equal(run.steps.find((s) => s.step === 'input-sync')?.outcome, 'ran')
    assert.deepEqual(entriesUnder(renderBootstrap(other).paths.mounts.input), ['other.txt'], 'input is a mirror of its bucket')
  })

  it('stopping the workload uploads what it wrote last; logs follow a run until it ends', async () => {
    const rendered = renderBootstrap(spec({syncIntervalSeconds: 300, command: ['sh', '-c', 'echo start; trap "echo late > $ANYCLOUD_OUTPUT/late.txt; exit 0" TERM; sleep 300 & wait']}))
    await runBootstrap(runner, rendered, progress)
    await startWorkload(runner, rendered.paths, 'spec-1', rendered.workload)
    await until('the workload to log', () => existsSync(join(rendered.paths.log, 'workload.log')) && readFileSync(join(rendered.paths.log, 'workload.log'), 'utf8').includes('start'))
    let followed = ''
    const following = streamLogs(runner, rendered.paths, {follow: true, write: (c) => (followed += c)})
    await until('logs -f to print the first line', () => followed.includes('start'))
    await stopWorkload(runner, rendered.paths)
    await following
    assert.equal(readFileSync(join(bucket('output'), 'late.txt'), 'utf8'), 'late\n', 'the final upload ran on stop')
    const s = await readMachineStatus(runner, rendered.paths)
    assert.equal(s.workload.phase, 'completed')
  })

  it('a bucket that cannot be reached fails the bootstrap with exit 42 and a hint, after the storage check retries', async () => {
    const broken = spec()
    broken.buckets[0] = {...broken.buckets[0], spec: {type: 's3', options: {provider: 'Other', endpoint: 'http://127.0.0.1:1', env_auth: 'false'}, path: 'nope', secretOptions: [], secretsFingerprint: ''}}
    await assert.rejects(runBootstrap(runner, renderBootstrap(broken), progress), (error: Error & {code?: string; suggestions?: string[]}) => {
      assert.equal(error.code, 'bootstrap.failed')
      assert.match(error.message, /after step 'supervisord' \(exit 42\)/)
      assert.match(error.message, /cannot reach the input bucket nope \(s3\)/)
      assert.match(error.suggestions?.[0] ?? '', /cannot reach a bucket/)
      return true
    })
  })

  it('removes a deployment and only it; the last one takes anycloud\'s supervisord along and leaves the host as it was', async () => {
    mkdirSync(bucket('ckpt-bt-other-bbbbbb'))
    const a = renderBootstrap(spec({command: ['sh', '-c', 'exec sleep 4713']}))
    const otherSpec = specFor(vm.prefix, {deploymentId: 'bt-other-bbbbbb', command: ['sh', '-c', 'exec sleep 4713'], remotes: {output: localRemote(bucket('output'))}})
    const b = renderBootstrap(otherSpec)
    await runBootstrap(runner, a, progress)
    await runBootstrap(runner, b, progress)
    await startWorkload(runner, a.paths, 's', a.workload)
    await startWorkload(runner, b.paths, 's', b.workload)
    await until('both workloads', () => processArgs().filter((p) => p.args === 'sleep 4713').length === 2)

    await removeDeployment(runner, a.paths, spec().roots)
    assert.ok(!existsSync(a.paths.etc) && !existsSync(a.paths.lib) && !existsSync(a.paths.log) && !existsSync(a.paths.programConf))
    assert.equal((await readMachineStatus(runner, b.paths)).workload.phase, 'running', 'the other deployment is untouched')
    assert.ok(existsSync(b.paths.supervisorSocket))

    await removeDeployment(runner, b.paths, otherSpec.roots)
    assert.deepEqual(entriesUnder(vm.prefix), ['etc/', 'var/', 'var/lib/', 'var/log/'].concat(['mnt/']).sort())
    await until('no process of anycloud left', () => vm.processes().length === 0 && !processArgs().some((p) => p.args === 'sleep 4713'))
    assert.deepEqual(entriesUnder(bucket('input')), ['data.txt', 'sub/', 'sub/more.txt'], 'buckets are not the machine\'s to remove')
  })
})
