import assert from 'node:assert/strict'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {readMachineStatus, removeDeployment, runBootstrap, startWorkload} from '../../src/bootstrap/machine.js'
import {noticeFor} from '../../src/bootstrap/notice.js'
import {renderBootstrap} from '../../src/bootstrap/render.js'
import type {SshRunner} from '../../src/remote/ssh-runner.js'
import {localRemote, PLACEMENT, specFor, startVm, until, type Vm} from './helpers.js'

/**
 * Flush on notice, for real: sshd "VM", anycloud's supervisord, rclone 1.60, and the notice
 * program polling an AWS-style notice endpoint of this test (reached from the VM through a
 * forwarded loopback port; the metadata address is never used). The periodic upload runs every
 * 60 s, so a checkpoint written after its last run reaches the bucket only through the flush.
 */
describe(`flush on an interruption notice ${PLACEMENT.title}`, function () {
  this.timeout(120_000)
  let vm: Vm
  let runner: SshRunner
  let dir: string
  let server: Server
  let port = 0
  let armed = false
  const id = 'bt-notice-cccccc'

  before(async () => {
    server = createServer((req, res) => {
      if (req.method === 'PUT' && req.url === '/latest/api/token') return void res.writeHead(200).end('token-a')
      if (req.url === '/latest/meta-data/spot/instance-action' && req.headers['x-aws-ec2-metadata-token'] === 'token-a') {
        return void (armed ? res.writeHead(200).end(JSON.stringify({action: 'terminate', time: new Date(Date.now() + 120_000).toISOString()})) : res.writeHead(404).end())
      }
      res.writeHead(401).end()
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    port = (server.address() as AddressInfo).port
    vm = await startVm()
    await vm.forward(port)
    runner = await vm.runner()
  })
  after(async () => {
    await vm?.stop()
    await new Promise((r) => server?.close(r))
  })
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'anycloud-notice-buckets-'))
    mkdirSync(join(dir, 'ckpt'))
    mkdirSync(join(dir, 'out'))
    armed = false
  })
  afterEach(async () => {
    const spec = specFor(vm.prefix, {deploymentId: id})
    await removeDeployment(runner, renderBootstrap(spec).paths, spec.roots).catch(() => undefined)
    rmSync(dir, {recursive: true, force: true})
  })

  it('a checkpoint written after the last periodic upload is in the bucket after the notice; the workload got SIGTERM and its exit is not taken for the job\'s', async () => {
    const go = join(dir, 'go')
    // The job: on SIGTERM it writes one last file (graceful stop inside the grace period).
    const job = [
      'trap \'echo graceful > "$ANYCLOUD_CHECKPOINT/stopped"; exit 143\' TERM',
      `while [ ! -f ${go} ]; do sleep 0.1 & wait $!; done`,
      'echo \'{"epoch":7}\' > "$ANYCLOUD_CHECKPOINT/state.json"; echo done > "$ANYCLOUD_OUTPUT/partial.txt"',
      'while :; do sleep 1 & wait $!; done',
    ].join('\n')
    const spec = specFor(vm.prefix, {
      deploymentId: id,
      command: ['sh', '-c', job],
      syncIntervalSeconds: 60,
      remotes: {output: localRemote(join(dir, 'out')), checkpoint: localRemote(join(dir, 'ckpt'))},
      notice: noticeFor('aws', {ANYCLOUD_NOTICE_BASE: `http://127.0.0.1:${port}`, ANYCLOUD_NOTICE_POLL: '0.2'}),
    })
    const rendered = renderBootstrap(spec)
    const p = rendered.paths
    await runBootstrap(runner, rendered, () => {})
    await startWorkload(runner, p, 'spec-n', rendered.workload)
    await until('the notice program and the uploads running, and a first periodic checkpoint upload', async () => {
      const s = await readMachineStatus(runner, p)
      return s.programs.notice === 'RUNNING' && s.programs.workload === 'RUNNING' && s.lastSync.checkpoint
    }, 30_000, 200)

    writeFileSync(go, '')
    await until('the checkpoint written on the machine', () => existsSync(join(p.mounts.checkpoint, 'state.json')))
    assert.ok(!existsSync(join(dir, 'ckpt', 'state.json')), 'not uploaded yet: the next periodic upload is a minute away')

    armed = true
    const t0 = Date.now()
    await until('the checkpoint in the bucket', () => existsSync(join(dir, 'ckpt', 'state.json')) && existsSync(join(p.lib, 'preempted-flushed')), 30_000, 50)
    const flushMs = Date.now() - t0
    assert.equal(readFileSync(join(dir, 'ckpt', 'state.json'), 'utf8'), '{"epoch":7}\n')
    assert.equal(readFileSync(join(dir, 'ckpt', 'stopped'), 'utf8'), 'graceful\n', 'the job was stopped with SIGTERM and its last write uploaded')
    assert.equal(readFileSync(join(dir, 'out', 'partial.txt'), 'utf8'), 'done\n', 'the output was flushed too')
    assert.match(readFileSync(join(p.lib, 'preempted-flushed'), 'utf8'), / 0\n$/)

    const s = await readMachineStatus(runner, p)
    assert.notEqual(s.programs.workload, 'RUNNING')
    assert.equal(s.workload.phase, 'lost', 'a job stopped by the notice did not fail or complete: it is to be resumed')
    assert.equal(s.workload.exitCode, undefined)
    assert.equal((JSON.parse(s.notice ?? '{}') as {action?: string}).action, 'terminate')
    const log = readFileSync(join(p.log, 'notice.out'), 'utf8')
    assert.match(log, /interruption notice: .*"terminate"/)
    assert.match(log, /final upload done/)
    console.log(`      flush after notice: ${flushMs} ms`)
  })
})
