/**
 * No hangs (issue 13, item 1; SPEC §3 `--timeout`): the BUILT CLI against endpoints that accept a
 * connection and never answer, and against endpoints that drop every connection, behind the real
 * AWS SDK (an aws credential's `endpoints`) and behind ssh2 (an ssh credential's host). Every case
 * exits 1 on its own, well before the harness would kill it, with a message naming the endpoint,
 * the call, the credential and what was tried.
 */
import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import {createServer, type Server, type Socket} from 'node:net'

import ssh2 from 'ssh2'
import {stringify} from 'yaml'

import {Project} from './cli.js'

/** A TCP server on loopback: `silent` accepts and never writes; `drop` resets every connection at once. */
async function tcpServer(mode: 'silent' | 'drop'): Promise<{port: number; accepted: () => number; close: () => Promise<void>}> {
  const sockets = new Set<Socket>()
  let accepted = 0
  const server: Server = createServer((socket) => {
    accepted++
    if (mode === 'drop') return void socket.resetAndDestroy()
    sockets.add(socket)
    socket.on('error', () => undefined)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as {port: number}).port
  return {
    port,
    accepted: () => accepted,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

const AWS_ENV = {
  E2E_KEY: 'AKIAFAKETIMEOUT00001',
  E2E_SECRET: 'fake-secret-for-timeout-tests-0000000000',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  AWS_CONFIG_FILE: '/nonexistent',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
}

function awsProject(port: number): Project {
  const url = `http://127.0.0.1:${port}`
  return new Project(
    stringify({
      version: 1,
      project: 'hang',
      credentials: {'aws-hang': {provider: 'aws', region: 'us-east-1', accessKeyId: '${env:E2E_KEY}', secretAccessKey: '${env:E2E_SECRET}', endpoints: {s3: url, ec2: url, iam: url, sts: url}}},
      profiles: {job: {credentials: 'aws-hang', vmType: 't3.micro', runtime: 'process', command: ['true']}},
    }),
  )
}

function sshProject(port: number): Project {
  const p = new Project('version: 1\n')
  const {private: key} = ssh2.utils.generateKeyPairSync('ed25519')
  writeFileSync(p.path('id_test'), key, {mode: 0o600})
  p.write(
    stringify({
      version: 1,
      project: 'hang',
      credentials: {lab: {provider: 'ssh', hosts: [{host: '127.0.0.1', port, user: 'root', identityFile: './id_test'}]}},
      profiles: {job: {credentials: 'lab', runtime: 'process', command: ['true']}},
    }),
  )
  return p
}

describe('e2e: no hangs — cloud and SSH calls have deadlines, commands a --timeout budget', function () {
  this.timeout(120_000)
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!().catch(() => undefined)
  })

  it('aws: an endpoint that accepts and never answers — plan --timeout 3s exits 1 naming the call, endpoint, credential and attempts', async () => {
    const server = await tcpServer('silent')
    const project = awsProject(server.port)
    cleanups.push(server.close, () => project.cleanup([]))
    // The harness kills a hung CLI after 60 s; the budget must end it long before.
    const r = await project.run(['plan', '--timeout', '3s'], {env: AWS_ENV, timeoutMs: 60_000})
    assert.equal(r.signal, null, `the CLI hung and was killed:\n${r.stderr}`)
    assert.equal(r.code, 1, r.stderr)
    assert.ok(server.accepted() >= 1, 'the SDK really connected')
    assert.match(r.stderr, /sts:GetCallerIdentity/)
    assert.ok(r.stderr.includes(`http://127.0.0.1:${server.port}`), r.stderr)
    assert.match(r.stderr, /credential 'aws-hang'/)
    assert.match(r.stderr, /got no answer within \d+(\.\d)?s \(the --timeout 3s budget\); tried: 1 attempt; no response yet/)
    assert.ok(!r.stderr.includes(AWS_ENV.E2E_SECRET))
    assert.doesNotMatch(r.stderr, /authenticat/, 'a timeout is not an authentication failure')
  })

  it('aws: an endpoint that drops every connection — plan exits 1 naming the call, endpoint, credential and the attempts made', async () => {
    const server = await tcpServer('drop')
    const project = awsProject(server.port)
    cleanups.push(server.close, () => project.cleanup([]))
    const r = await project.run(['plan'], {env: AWS_ENV, timeoutMs: 60_000})
    assert.equal(r.signal, null, `the CLI hung and was killed:\n${r.stderr}`)
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, new RegExp(`sts:GetCallerIdentity to http://127\\.0\\.0\\.1:${server.port} \\(credential 'aws-hang'\\) got no HTTP answer; tried: (\\d+) attempts; last: `))
    const attempts = Number(/tried: (\d+) attempts/.exec(r.stderr)![1])
    assert.ok(attempts >= 2, 'the SDK retried a dropped connection')
    assert.equal(server.accepted(), attempts, 'every attempt reached the server')
    assert.doesNotMatch(r.stderr, /authenticat/, 'an unreachable endpoint is not an authentication failure')
  })

  it('ssh: a host that accepts and never answers — apply --timeout 4s exits 1 naming the host, the credential and the attempts', async () => {
    const server = await tcpServer('silent')
    const project = sshProject(server.port)
    cleanups.push(server.close, () => project.cleanup([]))
    const r = await project.run(['apply', '-y', '--timeout', '4s'], {timeoutMs: 60_000})
    assert.equal(r.signal, null, `the CLI hung and was killed:\n${r.stderr}`)
    assert.equal(r.code, 1, r.stderr)
    assert.ok(server.accepted() >= 1)
    assert.ok(r.stderr.includes(`Could not connect to root@127.0.0.1:${server.port} (credential 'lab') within`), r.stderr)
    assert.match(r.stderr, /\(the --timeout 4s budget\): tried \d+ SSH connections?; last: /)
  })

  it('ssh: a host that drops every connection — apply --timeout 4s exits 1 naming the host, the credential and the attempts', async () => {
    const server = await tcpServer('drop')
    const project = sshProject(server.port)
    cleanups.push(server.close, () => project.cleanup([]))
    const r = await project.run(['apply', '-y', '--timeout', '4s'], {timeoutMs: 60_000})
    assert.equal(r.signal, null, `the CLI hung and was killed:\n${r.stderr}`)
    assert.equal(r.code, 1, r.stderr)
    assert.ok(r.stderr.includes(`Could not connect to root@127.0.0.1:${server.port} (credential 'lab') within`), r.stderr)
    assert.match(r.stderr, /tried [2-9]\d* SSH connections; last: /)
    assert.ok(server.accepted() >= 2, 'it retried')
  })

  it('--timeout takes durations and refuses anything else (exit 3)', async () => {
    const project = awsProject(1)
    cleanups.push(() => project.cleanup([]))
    const r = await project.run(['plan', '--timeout', 'soon'], {env: AWS_ENV})
    assert.equal(r.code, 3, r.stderr)
    assert.match(r.stderr, /--timeout[\s\S]*'soon' is not a duration/)
  })
})
