import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {NOTICE_PROGRAM, noticeConfig, noticeFor, type NoticeCloud} from '../../src/bootstrap/notice.js'
import {renderBootstrap} from '../../src/bootstrap/render.js'
import {localRemote, specFor, until} from './helpers.js'

/**
 * The interruption-notice program (Python, as rendered onto machines), one adapter per cloud,
 * each driven by a notice endpoint of this test on loopback that answers the way the cloud's
 * metadata service documents (headers it requires, 404/FALSE/empty events until the notice). The
 * stop and flush commands are stand-ins that record their order; the real ones run in
 * notice-machine.test.ts.
 */

interface Endpoint {
  url: string
  requests: Array<{method: string; path: string; headers: IncomingMessage['headers']; body: string}>
  armed: boolean
  close(): Promise<void>
}

async function endpoint(handler: (e: Endpoint, req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<Endpoint> {
  const e: Endpoint = {url: '', requests: [], armed: false, close: async () => {}}
  const server: Server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
      e.requests.push({method: req.method ?? '', path: req.url ?? '', headers: req.headers, body})
      handler(e, req, body, res)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  e.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  e.close = () => new Promise((r) => server.close(() => r()))
  return e
}

describe('interruption-notice program: one adapter per cloud against notice endpoints of our own', function () {
  this.timeout(30_000)
  let dir: string
  let ep: Endpoint | undefined

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'anycloud-notice-'))
    writeFileSync(join(dir, 'notice-watch.py'), NOTICE_PROGRAM, {mode: 0o755})
  })
  afterEach(async () => {
    await ep?.close()
    ep = undefined
    rmSync(dir, {recursive: true, force: true})
  })

  /** Runs the program with --exit until it has handled a notice; stop/flush append to `actions`. */
  function run(cloud: NoticeCloud, base: string, options: {flushExit?: number; resourceName?: string} = {}) {
    const spec = noticeFor(cloud, {ANYCLOUD_NOTICE_BASE: base, ANYCLOUD_NOTICE_POLL: '0.05'}, {resourceName: options.resourceName})
    const actions = join(dir, 'actions')
    const config = {
      ...noticeConfig(spec, {supervisordConf: '/unused', workloadProgram: 'unused', syncScript: '/unused', lib: dir}),
      stop: ['sh', '-c', `echo stop >> ${actions}`],
      flush: ['sh', '-c', `echo flush >> ${actions}; exit ${options.flushExit ?? 0}`],
    }
    writeFileSync(join(dir, 'notice.json'), JSON.stringify(config))
    const child = spawn('python3', [join(dir, 'notice-watch.py'), join(dir, 'notice.json'), '--exit'], {stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d))
    const done = new Promise<{code: number | null; out: string}>((resolve) => child.on('exit', (code) => resolve({code, out})))
    return {child, done, actions: () => (existsSync(actions) ? readFileSync(actions, 'utf8').trim().split('\n') : []), marker: () => JSON.parse(readFileSync(join(dir, 'preempted'), 'utf8')) as Record<string, unknown>}
  }

  it('aws: IMDSv2 token first, 404 until EC2 schedules the stop, then stop → flush once; a rejected token is renewed', async () => {
    let token = 'tok-1'
    ep = await endpoint((e, req, _body, res) => {
      if (req.method === 'PUT' && req.url === '/latest/api/token') {
        if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return void res.writeHead(400).end()
        return void res.writeHead(200).end(token)
      }
      if (req.method === 'GET' && req.url === '/latest/meta-data/spot/instance-action') {
        if (req.headers['x-aws-ec2-metadata-token'] !== token) return void res.writeHead(401).end()
        if (!e.armed) return void res.writeHead(404).end('<?xml version="1.0"?><Error>Not Found</Error>')
        return void res.writeHead(200, {'content-type': 'text/plain'}).end(JSON.stringify({action: 'terminate', time: '2026-12-06T09:00:00Z'}))
      }
      res.writeHead(404).end()
    })
    const r = run('aws', ep.url)
    await until('a few polls', () => ep!.requests.filter((q) => q.method === 'GET').length >= 3)
    assert.deepEqual(r.actions(), [], 'nothing happens without a notice')
    token = 'tok-2' // the session token expired: the next GET gets 401, the program asks for a new one
    await until('a new token', () => ep!.requests.filter((q) => q.method === 'PUT').length >= 2)
    ep.armed = true
    const {code, out} = await r.done
    assert.equal(code, 0, out)
    assert.deepEqual(r.actions(), ['stop', 'flush'])
    const m = r.marker()
    assert.equal(m.cloud, 'aws')
    assert.equal(m.action, 'terminate')
    assert.equal(m.time, '2026-12-06T09:00:00Z')
    assert.match(readFileSync(join(dir, 'preempted-flushed'), 'utf8'), /^\S+Z 0\n$/)
  })

  it('gcp: Metadata-Flavor header; FALSE until preempted, then TRUE; failed polls are retried', async () => {
    let errors = 2
    ep = await endpoint((e, req, _body, res) => {
      if (req.url !== '/computeMetadata/v1/instance/preempted') return void res.writeHead(404).end()
      if (req.headers['metadata-flavor'] !== 'Google') return void res.writeHead(403).end('missing Metadata-Flavor')
      if (errors-- > 0) return void res.writeHead(503).end()
      res.writeHead(200, {'metadata-flavor': 'Google'}).end(e.armed ? 'TRUE' : 'FALSE')
    })
    const r = run('gcp', ep.url)
    await until('polls after the errors', () => ep!.requests.length >= 5)
    assert.deepEqual(r.actions(), [])
    ep.armed = true
    const {code, out} = await r.done
    assert.equal(code, 0, out)
    assert.match(out, /notice poll failed \(1 in a row\): preempted: HTTP 503/)
    assert.deepEqual(r.actions(), ['stop', 'flush'])
    assert.equal(r.marker().event, 'preempted')
  })

  it('azure: Scheduled Events; other event types and other VMs are ignored; our Preempt is acknowledged after the flush', async () => {
    const other = {EventId: 'ev-reboot', EventType: 'Reboot', ResourceType: 'VirtualMachine', Resources: ['vm-ours'], EventStatus: 'Scheduled', NotBefore: 'Sun, 06 Dec 2026 09:00:00 GMT'}
    const elsewhere = {EventId: 'ev-other-vm', EventType: 'Preempt', ResourceType: 'VirtualMachine', Resources: ['vm-theirs'], EventStatus: 'Scheduled', NotBefore: 'Sun, 06 Dec 2026 09:00:00 GMT'}
    const ours = {EventId: 'ev-ours', EventType: 'Preempt', ResourceType: 'VirtualMachine', Resources: ['vm-ours'], EventStatus: 'Scheduled', NotBefore: 'Sun, 06 Dec 2026 09:00:30 GMT'}
    ep = await endpoint((e, req, _body, res) => {
      if (!req.url?.startsWith('/metadata/scheduledevents?api-version=')) return void res.writeHead(404).end()
      if (req.headers.metadata !== 'true') return void res.writeHead(400).end('{"error":"missing Metadata header"}')
      if (req.method === 'POST') return void res.writeHead(200).end()
      res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({DocumentIncarnation: e.armed ? 2 : 1, Events: e.armed ? [other, elsewhere, ours] : [other, elsewhere]}))
    })
    const r = run('azure', ep.url, {resourceName: 'vm-ours'})
    await until('a few polls', () => ep!.requests.length >= 3)
    assert.deepEqual(r.actions(), [], 'a Reboot, or a Preempt of another VM, is not our notice')
    ep.armed = true
    const {code, out} = await r.done
    assert.equal(code, 0, out)
    assert.deepEqual(r.actions(), ['stop', 'flush'])
    assert.equal(r.marker().id, 'ev-ours')
    const acks = ep.requests.filter((q) => q.method === 'POST')
    assert.equal(acks.length, 1)
    assert.deepEqual(JSON.parse(acks[0].body), {StartRequests: [{EventId: 'ev-ours'}]})
  })

  it('a failed final upload is recorded with its exit code (and the program says so)', async () => {
    ep = await endpoint((_e, _req, _body, res) => void res.writeHead(200).end('TRUE'))
    const r = run('gcp', ep.url, {flushExit: 3})
    const {code, out} = await r.done
    assert.equal(code, 1)
    assert.match(out, /final upload failed \(exit 3\)/)
    assert.match(readFileSync(join(dir, 'preempted-flushed'), 'utf8'), / 3\n$/)
  })

  it('noticeFor: the metadata service by default, a base of our own when the environment names one', () => {
    assert.equal(noticeFor('aws', {}).url, 'http://169.254.169.254/latest/meta-data/spot/instance-action')
    assert.equal(noticeFor('gcp', {}).url, 'http://metadata.google.internal/computeMetadata/v1/instance/preempted')
    assert.equal(noticeFor('azure', {}).url, 'http://169.254.169.254/metadata/scheduledevents?api-version=2020-07-01')
    const mine = noticeFor('aws', {ANYCLOUD_NOTICE_BASE: 'http://127.0.0.1:9/'})
    assert.equal(mine.url, 'http://127.0.0.1:9/latest/meta-data/spot/instance-action')
    assert.equal(mine.tokenUrl, 'http://127.0.0.1:9/latest/api/token')
  })

  it('rendering: a spot spec with a notice gets the program, its config and a supervisord program in the upload group; none without', () => {
    const notice = noticeFor('aws', {ANYCLOUD_NOTICE_BASE: 'http://127.0.0.1:9'})
    const withNotice = renderBootstrap(specFor('/p', {remotes: {checkpoint: localRemote('/b/c')}, notice}))
    const conf = withNotice.files.find((f) => f.path === withNotice.paths.programConf)!.content
    assert.match(conf, /\[group:anycloud-bt-test-abc123\]\nprograms=bt-test-abc123-rclone-checkpoint,bt-test-abc123-notice\n/)
    assert.match(conf, /\[program:bt-test-abc123-notice\]\ncommand=\/bin\/sh -c "exec python3 \/p\/etc\/anycloud\/bt-test-abc123\/notice-watch.py \/p\/etc\/anycloud\/bt-test-abc123\/notice.json"/)
    assert.match(conf, /stopwaitsecs=90/, 'the workload gets the notice\'s grace period')
    const config = JSON.parse(withNotice.files.find((f) => f.path === withNotice.paths.noticeConfig)!.content) as Record<string, unknown>
    assert.equal(config.url, 'http://127.0.0.1:9/latest/meta-data/spot/instance-action')
    assert.deepEqual(config.stop, ['supervisorctl', '-c', '/p/etc/anycloud/supervisord.conf', 'stop', 'anycloud-bt-test-abc123-workload:bt-test-abc123-workload'])
    assert.deepEqual(config.flush, ['/p/etc/anycloud/bt-test-abc123/sync.sh', 'all'])
    const without = renderBootstrap(specFor('/p', {remotes: {checkpoint: localRemote('/b/c')}}))
    assert.ok(!without.files.some((f) => f.path.endsWith('notice-watch.py')))
    assert.doesNotMatch(without.files.find((f) => f.path === without.paths.programConf)!.content, /notice/)
    assert.notEqual(withNotice.hash, without.hash)
  })
})
