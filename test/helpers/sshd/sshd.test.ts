import assert from 'node:assert/strict'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {createServer as createHttpServer} from 'node:http'
import {connect, createServer, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {connectSsh, type SshRunner} from '../../../src/remote/ssh-runner.js'
import {execQuiet} from './exec.js'
import {forwardPortIntoNamespace, freePort, netnsAvailable, startDelayProxy, startSshd, stopAllSshd, type SshdOptions, type SshdRig} from './index.js'

/** The test rig itself: namespaces, cleanup, forwarding, private mounts, SetEnv, the delay proxy. */

const netns = await netnsAvailable()
const vmMode = netns.available ? 'network namespace' : `loopback (network namespaces unavailable here: ${netns.reason})`

function connectTo(rig: SshdRig): Promise<SshRunner> {
  return connectSsh({
    host: rig.host,
    port: rig.port,
    user: rig.user,
    privateKey: rig.privateKey,
    hostKey: {kind: 'pinned', keys: [rig.hostPublicKey]},
    waitTimeoutMs: 5_000,
  })
}

/** Starts a rig, runs `body` with a connected runner, always cleans up. */
async function withVm(options: SshdOptions, body: (rig: SshdRig, runner: SshRunner) => Promise<void>): Promise<void> {
  const rig = await startSshd(options)
  let runner: SshRunner | undefined
  try {
    runner = await connectTo(rig)
    await body(rig, runner)
  } finally {
    await runner?.close()
    await rig.stop()
  }
}

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => resolve((server.address() as {port: number}).port))
  })
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

/** Host pids whose argv is exactly `argv`. */
function hostPidsWithArgv(argv: string[]): number[] {
  const wanted = `${argv.join('\0')}\0`
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8') === wanted
      } catch {
        return false
      }
    })
    .map(Number)
}

after(stopAllSshd)

describe(`sshd rig: ${vmMode}`, function () {
  it('host and VM reach each other over the veth: TCP both ways (there is no ping binary here)', async function () {
    if (!netns.available) assert.fail(`network namespaces are unavailable: ${netns.reason}`)
    const greeting = createServer((socket) => socket.end('hello from the host\n'))
    const onLoopback = createServer((socket) => socket.end('loopback\n'))
    try {
      await withVm({netns: true}, async (rig, runner) => {
        assert.match(rig.host, /^10\.200\.\d+\.2$/)
        assert.equal(rig.hostAddress, rig.host.replace(/\.2$/, '.1'))
        assert.equal(rig.port, 22)
        assert.match(rig.netns!, /^acns-/)
        const port = await listen(greeting, rig.hostAddress!)
        const reply = await runner.run(`exec 3<>/dev/tcp/${rig.hostAddress}/${port}; cat <&3`)
        assert.equal(reply.stdout, 'hello from the host\n')
        // 127.0.0.1 inside the VM is the VM's own.
        const loopbackPort = await listen(onLoopback, '127.0.0.1')
        const refused = await runner.run(`exec 3<>/dev/tcp/127.0.0.1/${loopbackPort}`)
        assert.notEqual(refused.exitCode, 0)
        assert.match((await runner.run('ip -br addr')).stdout, new RegExp(`${rig.host.replaceAll('.', '\\.')}/30`))
      })
    } finally {
      await close(greeting)
      await close(onLoopback)
    }
  })

  it('several VMs coexist on distinct subnets', async function () {
    if (!netns.available) assert.fail(`network namespaces are unavailable: ${netns.reason}`)
    const [a, b] = await Promise.all([startSshd({netns: true}), startSshd({netns: true})])
    try {
      assert.notEqual(a.host, b.host)
      assert.notEqual(a.netns, b.netns)
      for (const rig of [a, b]) {
        const runner = await connectTo(rig)
        assert.match((await runner.run('ip -br addr')).stdout, new RegExp(rig.host.replaceAll('.', '\\.')))
        await runner.close()
      }
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })

  for (const mode of [{netns: false, title: 'loopback'}, {netns: netns.available, title: netns.available ? 'netns' : 'loopback (netns unavailable)'}]) {
    it(`stop() leaves nothing behind (${mode.title}): processes started in the VM, namespace, veth, temp dir`, async () => {
      const rig = await startSshd({netns: mode.netns})
      const marker = String(3000 + Math.floor(Math.random() * 60000))
      try {
        const runner = await connectTo(rig)
        await runner.run(`setsid sleep ${marker} </dev/null >/dev/null 2>&1 & while ! pgrep -x -f 'sleep ${marker}' >/dev/null; do sleep 0.02; done`, {timeoutMs: 10_000})
        await runner.close()
        assert.equal(hostPidsWithArgv(['sleep', marker]).length, 1, 'the VM process is visible from the host')
      } finally {
        await rig.stop()
      }
      await rig.stop() // twice is fine
      assert.deepEqual(hostPidsWithArgv(['sleep', marker]), [])
      assert.equal(existsSync(rig.dir), false)
      assert.equal(rig.running, false)
      if (rig.netns) {
        assert.ok(!(await execQuiet('ip', ['netns', 'list'])).stdout.includes(rig.netns))
        const n = rig.host.split('.')[2]
        assert.notEqual((await execQuiet('ip', ['link', 'show', `acvh${n}`])).code, 0)
      }
    })
  }

  it('restart({rotateHostKey}) serves a new host key on the same address', async () => {
    const rig = await startSshd({netns: netns.available})
    try {
      const before = rig.hostPublicKey
      await rig.restart({rotateHostKey: true})
      assert.notEqual(rig.hostPublicKey, before)
      const runner = await connectTo(rig)
      assert.equal((await runner.run('echo ok')).stdout, 'ok\n')
      await runner.close()
    } finally {
      await rig.stop()
    }
  })

  it('forwardPortIntoNamespace: the same http://127.0.0.1:PORT works on the host and inside the VM', async function () {
    if (!netns.available) assert.fail(`network namespaces are unavailable: ${netns.reason}`)
    const http = createHttpServer((request, response) => response.end(`served ${request.url}`))
    const port = await listen(http as unknown as Server, '127.0.0.1')
    try {
      await withVm({netns: true}, async (rig, runner) => {
        const forward = await forwardPortIntoNamespace(rig.netns!, port, port)
        try {
          const onHost = await (await fetch(`http://127.0.0.1:${port}/host`)).text()
          assert.equal(onHost, 'served /host')
          const inVm = await runner.run(
            `exec 3<>/dev/tcp/127.0.0.1/${port}; printf 'GET /vm HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n' >&3; cat <&3`,
            {timeoutMs: 10_000},
          )
          assert.match(inVm.stdout, /^HTTP\/1\.[01] 200/)
          assert.match(inVm.stdout, /served \/vm$/)
        } finally {
          await forward.stop()
        }
        assert.equal(existsSync(forward.socketPath), false)
        assert.notEqual((await runner.run(`exec 3<>/dev/tcp/127.0.0.1/${port}`)).exitCode, 0, 'the forward is gone')
      })
    } finally {
      await new Promise((resolve) => http.close(resolve))
    }
  })

  it('mountNamespaceFiles: only the VM sees the file; host files in that dir stay visible; writes stay inside', async () => {
    const base = await mkdtemp(join(tmpdir(), 'anycloud-mntns-'))
    try {
      const existingDir = join(base, 'etc-like')
      await mkdir(existingDir)
      await writeFile(join(existingDir, 'host-file'), 'from host')
      const missingDir = join(base, 'home', '.aws')
      const credentials = join(missingDir, 'credentials')
      const injected = join(existingDir, 'injected')
      await withVm({netns: netns.available, mountNamespaceFiles: {[credentials]: '[default]\naws_access_key_id = AKIAVM\n', [injected]: 'vm only'}}, async (_rig, runner) => {
        assert.equal((await runner.readFile(credentials))?.toString(), '[default]\naws_access_key_id = AKIAVM\n')
        assert.equal((await runner.readFile(injected))?.toString(), 'vm only')
        assert.equal((await runner.readFile(join(existingDir, 'host-file')))?.toString(), 'from host')
        assert.equal(existsSync(credentials), false, 'the host does not see the VM credentials')
        assert.equal(existsSync(injected), false)
        await runner.upload(join(existingDir, 'written-in-vm'), 'inside', 0o600)
        assert.equal(existsSync(join(existingDir, 'written-in-vm')), false, 'a write in the VM stays in the VM')
      })
      assert.equal(existsSync(join(base, 'home')), false, 'directories the rig created on the host are removed')
      assert.equal(await readFile(join(existingDir, 'host-file'), 'utf8'), 'from host')
    } finally {
      await rm(base, {recursive: true, force: true})
    }
  })

  it('two VMs with a file in the same missing directory: it stays until the last one stops', async () => {
    const base = await mkdtemp(join(tmpdir(), 'anycloud-mntns-'))
    const dir = join(base, 'shared', '.aws')
    try {
      const a = await startSshd({netns: netns.available, mountNamespaceFiles: {[join(dir, 'credentials')]: 'a'}})
      const b = await startSshd({netns: netns.available, mountNamespaceFiles: {[join(dir, 'credentials')]: 'b'}})
      try {
        for (const [rig, expected] of [[a, 'a'], [b, 'b']] as const) {
          const runner = await connectTo(rig)
          assert.equal((await runner.readFile(join(dir, 'credentials')))?.toString(), expected)
          await runner.close()
        }
        await a.stop()
        assert.ok(existsSync(dir), 'still used by the second VM')
        const runner = await connectTo(b)
        assert.equal((await runner.readFile(join(dir, 'credentials')))?.toString(), 'b')
        await runner.close()
      } finally {
        await a.stop()
        await b.stop()
      }
      assert.equal(existsSync(join(base, 'shared')), false)
    } finally {
      await rm(base, {recursive: true, force: true})
    }
  })

  it("SetEnv PATH puts a stand-in docker first in the VM's PATH", async () => {
    const bin = await mkdtemp(join(tmpdir(), 'anycloud-fakebin-'))
    try {
      await writeFile(join(bin, 'docker'), '#!/bin/sh\necho "stand-in docker $*"\n', {mode: 0o755})
      await withVm({netns: netns.available, env: {PATH: `${bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`}}, async (_rig, runner) => {
        assert.equal((await runner.run('docker run --rm x')).stdout, 'stand-in docker run --rm x\n')
      })
    } finally {
      await rm(bin, {recursive: true, force: true})
    }
  })
})

describe('delay proxy', () => {
  it('adds at least 2 × delayMs of round-trip time (lower bound only), and SSH works through it', async () => {
    const echo = createServer((socket) => socket.on('error', () => undefined).pipe(socket))
    const port = await listen(echo, '127.0.0.1')
    const proxy = await startDelayProxy({target: {host: '127.0.0.1', port}, delayMs: 25})
    try {
      const socket = connect({host: proxy.host, port: proxy.port})
      await new Promise((resolve) => socket.once('connect', resolve))
      const rtts: number[] = []
      for (let i = 0; i < 5; i++) {
        const started = performance.now()
        socket.write(`ping ${i}`)
        await new Promise((resolve) => socket.once('data', resolve))
        rtts.push(performance.now() - started)
      }
      socket.destroy()
      for (const rtt of rtts) assert.ok(rtt >= 49, `round trip ${rtt.toFixed(1)} ms < 50 ms`)
      assert.equal(proxy.connections, 1)
    } finally {
      await proxy.stop()
      await close(echo)
    }

    const rig = await startSshd({netns: netns.available})
    const slow = await startDelayProxy({target: {host: rig.host, port: rig.port}, delayMs: 25})
    try {
      const direct = await connectTo(rig)
      const through = await connectSsh({
        host: slow.host,
        port: slow.port,
        user: rig.user,
        privateKey: rig.privateKey,
        hostKey: {kind: 'pinned', keys: [rig.hostPublicKey]},
      })
      const timeRun = async (runner: SshRunner): Promise<number> => {
        const started = performance.now()
        await runner.run('true')
        return performance.now() - started
      }
      const [directRun, slowRun] = [await timeRun(direct), await timeRun(through)]
      console.log(
        `      connect: direct ${direct.stats.lastConnectMs} ms, at 50 ms RTT ${through.stats.lastConnectMs} ms; ` +
          `one run(): direct ${directRun.toFixed(0)} ms, at 50 ms RTT ${slowRun.toFixed(0)} ms`,
      )
      assert.ok(through.stats.lastConnectMs >= 4 * 50, 'an SSH connect takes several round trips')
      assert.ok(slowRun >= 2 * 50, 'one exec takes at least two round trips (open channel, exec reply)')
      await direct.close()
      await through.close()
    } finally {
      await slow.stop()
      await rig.stop()
    }
  })

  it('dropConnections() resets open connections and keeps listening', async () => {
    const port = await freePort()
    const echo = createServer((socket) => socket.on('error', () => undefined).pipe(socket))
    await new Promise<void>((resolve) => echo.listen(port, '127.0.0.1', resolve))
    const proxy = await startDelayProxy({target: {host: '127.0.0.1', port}, delayMs: 0})
    try {
      const first = connect({host: proxy.host, port: proxy.port})
      await new Promise((resolve) => first.once('connect', resolve))
      const closed = new Promise((resolve) => first.once('close', resolve))
      first.on('error', () => undefined)
      proxy.dropConnections()
      await closed
      const second = connect({host: proxy.host, port: proxy.port})
      second.write('again')
      assert.equal(String(await new Promise((resolve) => second.once('data', resolve))), 'again')
      second.destroy()
    } finally {
      await proxy.stop()
      await close(echo)
    }
  })
})
