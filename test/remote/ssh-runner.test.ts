import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {chmod, lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {inspect} from 'node:util'
import ssh2 from 'ssh2'
import {
  ConnectionLostError,
  HostKeyMismatchError,
  HostKeyPolicyError,
  RemoteCommandAbortedError,
  RemoteCommandTimeoutError,
  RemoteFileError,
  SshAuthError,
  SshUnreachableError,
} from '../../src/remote/errors.js'
import {fingerprintSha256, generateHostKeyPair, sameKey} from '../../src/remote/host-keys.js'
import {connectSsh, type SshConnectOptions, type SshRunner} from '../../src/remote/ssh-runner.js'
import {freePort, netnsAvailable, prepareSshd, startDelayProxy, startSshd, stopAllSshd, type SshdRig} from '../helpers/sshd/index.js'

/**
 * SshRunner against a real OpenSSH server, on loopback and in a network namespace "VM".
 * Every ssh2 `Client#connect` made in this file is checked for a `hostVerifier`, and every exec
 * line is recorded so secrets can be shown to stay out of command lines.
 */

const netns = await netnsAvailable()
const modes: Array<{title: string; netns: boolean}> = [
  {title: 'loopback', netns: false},
  netns.available
    ? {title: 'network namespace', netns: true}
    : {title: `loopback again: network namespaces unavailable here (${netns.reason})`, netns: false},
]

/** Calls of ssh2's Client#connect and #exec seen during this file. */
const connectsWithoutVerifier: unknown[] = []
let connectCalls = 0
const execLines: string[] = []
const ClientPrototype = ssh2.Client.prototype as unknown as {
  connect(this: unknown, config: {hostVerifier?: unknown}): unknown
  exec(this: unknown, command: string, ...rest: unknown[]): unknown
}
const originalConnect = ClientPrototype.connect
const originalExec = ClientPrototype.exec

before(() => {
  ClientPrototype.connect = function (this: unknown, config) {
    connectCalls++
    if (typeof config?.hostVerifier !== 'function') connectsWithoutVerifier.push(config)
    return originalConnect.call(this, config)
  }
  ClientPrototype.exec = function (this: unknown, command, ...rest) {
    execLines.push(command)
    return originalExec.call(this, command, ...rest)
  }
})

after(async () => {
  ClientPrototype.connect = originalConnect
  ClientPrototype.exec = originalExec
  await stopAllSshd()
})

function optionsFor(rig: SshdRig, extra: Partial<SshConnectOptions> = {}): SshConnectOptions {
  return {
    host: rig.host,
    port: rig.port,
    user: rig.user,
    privateKey: rig.privateKey,
    hostKey: {kind: 'pinned', keys: [rig.hostPublicKey]},
    waitTimeoutMs: 5_000,
    backoff: {initialMs: 50, maxMs: 200},
    ...extra,
  }
}

/**
 * A remote check printing `gone` once none of the pids in `pidFiles` runs (zombies count as gone),
 * polling up to 3 s: the SIGKILL has been sent when the call rejects, the kernel may take a moment.
 */
function allGone(...pidFiles: string[]): string {
  return pollGone(30, pidFiles)
}

function pollGone(tries: number, pidFiles: string[]): string {
  const running = pidFiles
    .map((file) => `{ s=$(cat /proc/$(cat ${file})/stat 2>/dev/null) && s=\${s##*) } && [ "\${s%% *}" != Z ]; }`)
    .join(' || ')
  return `for i in $(seq ${tries}); do if ${running}; then sleep 0.1; else echo gone; exit; fi; done; echo alive`
}

/** Everything sshd logged from `from` on, after waiting for the end of a refused connection. */
async function logOfRefusedConnection(rig: SshdRig, from: number): Promise<string> {
  return rig.waitForLog(/Connection closed by|Disconnected from|Received disconnect|Connection reset/, {from, timeoutMs: 5_000})
}

for (const mode of modes) {
  describe(`SshRunner over ${mode.title}`, function () {
    let rig: SshdRig
    let runner: SshRunner
    let work: string

    before(async () => {
      rig = await startSshd({netns: mode.netns})
      runner = await connectSsh(optionsFor(rig))
      work = await mkdtemp(join(tmpdir(), 'anycloud-ssh-test-'))
    })

    after(async () => {
      await runner?.close()
      await rig?.stop()
      if (work) await rm(work, {recursive: true, force: true})
    })

    it('runs commands through bash -c and reports exit codes and stderr', async () => {
      assert.equal(runner.description, `root@${rig.host}:${rig.port}`)
      const result = await runner.run('echo out; echo err >&2; exit 7')
      assert.deepEqual({exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr}, {exitCode: 7, stdout: 'out\n', stderr: 'err\n'})
      assert.equal((await runner.run('[[ -n "$BASH_VERSION" ]] && echo bash')).stdout, 'bash\n')
      assert.equal((await runner.run('kill -KILL $$')).exitCode, 137)
    })

    it('passes the command as one argument: quotes, $, newlines and globs arrive untouched', async () => {
      const tricky = `it's "$HOME" \`id\` $(id) * ; | & \\ \n second line`
      const result = await runner.run(`printf '%s' ${"'" + tricky.replaceAll("'", `'\\''`) + "'"}`)
      assert.equal(result.stdout, tricky)
    })

    it('feeds stdin (binary-safe) and closes it', async () => {
      const bytes = Buffer.from(Array.from({length: 256}, (_, i) => i))
      const result = await runner.run('base64 -w0', {stdin: bytes})
      assert.equal(Buffer.from(result.stdout, 'base64').toString('hex'), bytes.toString('hex'))
      assert.equal((await runner.run('cat; echo done')).stdout, 'done\n', 'without stdin, the command sees EOF at once')
    })

    it('streams output while the command runs', async () => {
      const gate = join(work, 'gate')
      const seen: string[] = []
      const result = await runner.run(`echo first; while [ ! -e ${gate} ]; do sleep 0.05; done; echo second`, {
        timeoutMs: 20_000,
        onStdout: (chunk) => {
          seen.push(chunk.toString())
          // The command only finishes once this chunk has reached us.
          if (chunk.toString().includes('first')) void writeFile(gate, '')
        },
      })
      assert.equal(seen[0], 'first\n')
      assert.equal(result.stdout, 'first\nsecond\n')
    })

    it('stops the whole remote process tree on timeout', async () => {
      const pidFile = join(work, 'timeout.pid')
      const stubborn = join(work, 'stubborn.pid')
      const started = Date.now()
      await assert.rejects(
        runner.run(`sleep 300 & echo $! > ${pidFile}; bash -c 'trap "" TERM; sleep 300 & echo $! > ${stubborn}; wait' & wait`, {timeoutMs: 500}),
        (error: unknown) => error instanceof RemoteCommandTimeoutError && error.code === 'remote.timeout',
      )
      const took = Date.now() - started
      assert.ok(took < 5_000, `the timeout took ${took} ms`)
      const check = await runner.run(allGone(pidFile, stubborn))
      assert.equal(check.stdout, 'gone\n', 'both sleeps (one ignoring SIGTERM) are gone')
      // Control: the check does see a running process.
      const control = join(work, 'control.pid')
      await runner.run(`setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > ${control}`)
      assert.equal((await runner.run(pollGone(1, [control]))).stdout, 'alive\n')
      await runner.run(`kill -KILL $(cat ${control})`)
    })

    it('stops the remote command when the AbortSignal fires', async () => {
      const pidFile = join(work, 'abort.pid')
      const controller = new AbortController()
      await assert.rejects(
        runner.run(`sleep 300 & echo $! > ${pidFile}; echo started; wait`, {
          signal: controller.signal,
          onStdout: (chunk) => chunk.toString().includes('started') && controller.abort(new Error('SIGINT')),
        }),
        RemoteCommandAbortedError,
      )
      assert.equal((await runner.run(allGone(pidFile))).stdout, 'gone\n')
      await assert.rejects(runner.run('echo never', {signal: controller.signal}), RemoteCommandAbortedError)
    })

    it('uploads atomically with the mode set: new file 0600, existing 0644 file becomes 0600, parents created', async () => {
      const fresh = join(work, 'a', 'b', 'fresh.txt')
      await runner.upload(fresh, 'first', 0o600)
      assert.equal(await readFile(fresh, 'utf8'), 'first')
      assert.equal((await stat(fresh)).mode & 0o7777, 0o600)

      const existing = join(work, 'credentials')
      await writeFile(existing, 'old', {mode: 0o644})
      await chmod(existing, 0o644)
      const before = await stat(existing)
      await runner.upload(existing, Buffer.from('new-secret'), 0o600)
      const after = await stat(existing)
      assert.equal(after.mode & 0o7777, 0o600)
      assert.notEqual(after.ino, before.ino, 'replaced by rename, not rewritten in place')
      assert.equal(await readFile(existing, 'utf8'), 'new-secret')
      assert.deepEqual((await runner.run(`ls -A ${work} | grep anycloud-upload || true`)).stdout, '', 'no temp file is left')

      await runner.upload(join(work, 'wide.sh'), '#!/bin/sh\n', 0o755)
      assert.equal((await stat(join(work, 'wide.sh'))).mode & 0o7777, 0o755)
    })

    it('upload can set the owner and the parent directory mode (the ~/.aws case)', async () => {
      const dir = join(work, 'home', '.aws')
      await runner.upload(join(dir, 'credentials'), 'x', 0o600, {owner: 'nobody', dirMode: 0o700})
      const file = await stat(join(dir, 'credentials'))
      const parent = await stat(dir)
      assert.deepEqual([file.uid, file.mode & 0o7777, parent.uid, parent.mode & 0o7777], [65534, 0o600, 65534, 0o700])
      await chmod(dir, 0o755)
      await runner.upload(join(dir, 'config'), 'y', 0o600, {dirMode: 0o700})
      assert.equal((await stat(dir)).mode & 0o7777, 0o700, 'an existing directory is tightened')
    })

    it('upload replaces a symlink instead of writing through it, and refuses a directory in the way', async () => {
      const victim = join(work, 'victim')
      const link = join(work, 'link')
      await writeFile(victim, 'keep')
      await symlink(victim, link)
      await runner.upload(link, 'new', 0o600)
      assert.equal(await readFile(victim, 'utf8'), 'keep')
      assert.ok((await lstat(link)).isFile())
      await mkdir(join(work, 'adir'))
      await assert.rejects(runner.upload(join(work, 'adir'), 'x', 0o600), RemoteFileError)
    })

    it('reads files (binary-safe); undefined when missing; an error for a directory', async () => {
      const bytes = Buffer.from(Array.from({length: 256}, (_, i) => 255 - i))
      await writeFile(join(work, 'bin'), bytes)
      assert.deepEqual(await runner.readFile(join(work, 'bin')), bytes)
      assert.equal(await runner.readFile(join(work, 'missing', 'file')), undefined)
      await assert.rejects(runner.readFile(work), RemoteFileError)
    })

    it('never puts uploaded content on a command line; counts one round trip per call', async () => {
      const secret = `aws_secret_access_key = ${'S3cr3t'.repeat(6)}`
      const before = {...runner.stats}
      const linesBefore = execLines.length
      await runner.upload(join(work, 'secret'), secret, 0o600)
      const back = await runner.readFile(join(work, 'secret'))
      await runner.run('true')
      assert.equal(back?.toString(), secret)
      assert.equal(runner.stats.roundTrips - before.roundTrips, 3)
      assert.equal(runner.stats.execs - before.execs, 3)
      assert.equal(execLines.length - linesBefore, 3)
      for (const line of execLines) assert.ok(!line.includes('S3cr3t'), 'a secret reached an exec line')
    })

    it('keeps the private key out of inspect(), JSON and error messages', async () => {
      const body = rig.privateKey.split('\n')[2]!
      assert.ok(!inspect(runner, {depth: 20, showHidden: true}).includes(body))
      assert.ok(!JSON.stringify(runner).includes(body))
      const wrongClientKey = generateHostKeyPair('not-authorized').privateKey
      const from = rig.log().length
      const error = await connectSsh(optionsFor(rig, {privateKey: wrongClientKey})).catch((caught: unknown) => caught)
      assert.ok(error instanceof SshAuthError, `expected SshAuthError, got ${String(error)}`)
      assert.ok(!inspect(error, {depth: 20}).includes(wrongClientKey.split('\n')[2]!))
      await logOfRefusedConnection(rig, from)
    })

    it('refuses a wrong pinned host key before authentication: no credential sent, nothing run', async () => {
      const impostorKey = generateHostKeyPair('impostor').publicKey
      const from = rig.log().length
      let retries = 0
      const error = await connectSsh(optionsFor(rig, {hostKey: {kind: 'pinned', keys: [impostorKey]}, onRetry: () => retries++})).catch(
        (caught: unknown) => caught,
      )
      assert.ok(error instanceof HostKeyMismatchError, `expected HostKeyMismatchError, got ${String(error)}`)
      assert.equal(error.code, 'ssh.host-key-mismatch')
      assert.match(error.message, new RegExp(`${rig.host.replaceAll('.', '\\.')}:${rig.port}`))
      assert.ok(error.message.includes(fingerprintSha256(impostorKey)), 'names the expected fingerprint')
      assert.ok(error.message.includes(rig.hostFingerprint), 'names the presented fingerprint')
      assert.ok(error.suggestions.length > 0)
      assert.equal(retries, 0, 'a mismatch is final, not retried')
      const log = await logOfRefusedConnection(rig, from)
      assert.match(log, /Connection from/, 'the connection reached sshd')
      assert.doesNotMatch(log, /publickey|Accepted key|Starting session/, 'no key was offered, no session started')
    })

    it('a connection with no host-key policy, an empty pin list or a garbled pin never reaches the host', async () => {
      const from = rig.log().length
      const attempts: Array<SshConnectOptions['hostKey'] | undefined> = [
        undefined,
        {kind: 'pinned', keys: []},
        {kind: 'pinned', keys: ['ssh-ed25519 not-base64!']},
        {kind: 'record-first'} as unknown as SshConnectOptions['hostKey'],
      ]
      for (const hostKey of attempts) {
        await assert.rejects(connectSsh({...optionsFor(rig), hostKey: hostKey as SshConnectOptions['hostKey']}), HostKeyPolicyError)
      }
      // A successful connect afterwards proves the log is live; nothing from the refused ones precedes it.
      const probe = await connectSsh(optionsFor(rig))
      await probe.close()
      const log = await rig.waitForLog(/Accepted publickey/, {from})
      assert.equal(log.match(/Connection from/g)?.length, 1)
    })

    it('waits for SSH to come up (sshd is started only after the first attempt failed)', async () => {
      const later = await prepareSshd({netns: mode.netns})
      try {
        let starting: Promise<void> | undefined
        const retries: number[] = []
        const late = await connectSsh(
          optionsFor(later, {
            waitTimeoutMs: 30_000,
            onRetry: ({attempt}) => {
              retries.push(attempt)
              starting ??= later.start()
            },
          }),
        )
        assert.ok(retries.length >= 1)
        assert.ok(late.stats.connectAttempts >= 2)
        assert.equal((await late.run('echo up')).stdout, 'up\n')
        await late.close()
      } finally {
        await later.stop()
      }
    })

    it('gives up at the deadline with ssh.unreachable', async () => {
      const started = Date.now()
      const unused = mode.netns ? {host: rig.host, port: 2222} : {host: '127.0.0.1', port: await freePort()}
      await assert.rejects(
        connectSsh({...optionsFor(rig), ...unused, waitTimeoutMs: 800}),
        (error: unknown) => error instanceof SshUnreachableError && /within/.test(error.message),
      )
      assert.ok(Date.now() - started < 5_000)
    })

    it('record-first records the presented key, then a changed host key is refused', async () => {
      const own = await startSshd({netns: mode.netns})
      try {
        const recorded: string[] = []
        const tofu = await connectSsh(optionsFor(own, {hostKey: {kind: 'record-first', onRecord: async (key) => void recorded.push(key)}}))
        assert.equal(recorded.length, 1)
        assert.ok(sameKey(recorded[0]!, own.hostPublicKey))
        assert.ok(sameKey(tofu.hostKey, own.hostPublicKey))

        const pinned = await connectSsh(optionsFor(own, {hostKey: {kind: 'pinned', keys: recorded}}))
        await pinned.close()

        await own.restart({rotateHostKey: true})
        const from = own.log().length
        const marker = join(own.dir, 'must-not-exist')
        // The record-first runner pins what it recorded: its reconnect is refused too.
        await assert.rejects(tofu.run(`touch ${marker}`, {idempotent: true}), HostKeyMismatchError)
        await assert.rejects(connectSsh(optionsFor(own, {hostKey: {kind: 'pinned', keys: recorded}})), HostKeyMismatchError)
        assert.equal(recorded.length, 1, 'onRecord is never called again')
        assert.equal(existsSync(marker), false)
        const log = await logOfRefusedConnection(own, from)
        assert.doesNotMatch(log, /publickey|Accepted key|Starting session/)
        await tofu.close()

        // onRecord failing (e.g. the key could not be saved) refuses the connection.
        await assert.rejects(
          connectSsh(optionsFor(own, {hostKey: {kind: 'record-first', onRecord: async () => Promise.reject(new Error('disk full'))}})),
          /disk full/,
        )
      } finally {
        await own.stop()
      }
    })

    it('reconnects once and re-runs an idempotent command when the connection drops mid-run', async () => {
      const proxy = await startDelayProxy({target: {host: rig.host, port: rig.port}, delayMs: 0})
      const dropping = await connectSsh({...optionsFor(rig), host: proxy.host, port: proxy.port})
      try {
        const marker = join(work, `ran-once-${Date.now()}`)
        const command = `if [ -e ${marker} ]; then echo second; else touch ${marker}; echo first; sleep 300; fi`
        const result = await dropping.run(command, {
          idempotent: true,
          timeoutMs: 30_000,
          onStdout: (chunk) => chunk.toString().includes('first') && proxy.dropConnections(),
        })
        assert.equal(result.stdout, 'second\n')
        assert.equal(dropping.stats.reconnects, 1)
        assert.equal(dropping.stats.retries, 1)

        const other = join(work, `not-idempotent-${Date.now()}`)
        await assert.rejects(
          dropping.run(`touch ${other}; echo started; sleep 300`, {onStdout: (chunk) => chunk.toString().includes('started') && proxy.dropConnections()}),
          (error: unknown) => error instanceof ConnectionLostError && /not marked idempotent/.test(error.message),
        )
        assert.equal(dropping.stats.reconnects, 2, 'reconnected anyway, for the next command')
        assert.equal((await dropping.run('echo still usable')).stdout, 'still usable\n')
      } finally {
        await dropping.close()
        await proxy.stop()
      }
    })

    it('runs privileged work through `sudo -n` when the runner is told to (a stand-in sudo records it)', async () => {
      const bin = join(work, 'fakebin')
      const sudoLog = join(work, 'sudo.log')
      await mkdir(bin, {recursive: true})
      const sudoArgs = join(work, 'sudo-args.log')
      const fakeSudo = [
        '#!/bin/sh',
        `printf '%s %s %s %s\\n' "$1" "$2" "$3" "$4" >> ${sudoLog}`,
        `printf '%s\\0' "$@" >> ${sudoArgs}`,
        '[ "$1" = -n ] || exit 99',
        'shift',
        'exec "$@"',
        '',
      ]
      await writeFile(join(bin, 'sudo'), fakeSudo.join('\n'), {mode: 0o755})
      const withPath = await startSshd({netns: mode.netns, env: {PATH: `${bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`}})
      try {
        const sudoRunner = await connectSsh({...optionsFor(withPath), sudo: true})
        assert.equal(sudoRunner.sudo, true)
        assert.equal((await sudoRunner.run('echo via sudo')).stdout, 'via sudo\n')
        await sudoRunner.upload(join(work, 'sudo-secret'), 'TopSecretValue', 0o600)
        assert.equal((await sudoRunner.readFile(join(work, 'sudo-secret')))?.toString(), 'TopSecretValue')
        const pidFile = join(work, 'sudo-timeout.pid')
        await assert.rejects(sudoRunner.run(`sleep 300 & echo $! > ${pidFile}; wait`, {timeoutMs: 300}), RemoteCommandTimeoutError)
        assert.equal((await sudoRunner.run(allGone(pidFile))).stdout, 'gone\n')
        await sudoRunner.close()
        const calls = (await readFile(sudoLog, 'utf8')).trim().split('\n')
        assert.ok(calls.length >= 5)
        for (const call of calls) assert.match(call, /^-n bash --norc -c$/)
        assert.ok(!(await readFile(sudoArgs, 'utf8')).includes('TopSecretValue'))
      } finally {
        await withPath.stop()
      }
    })
  })
}

describe('SshRunner: every connect verified the host key', () => {
  it('no ssh2 Client#connect in this file ran without a hostVerifier', () => {
    assert.ok(connectCalls > 10, `only ${connectCalls} connects were observed`)
    assert.equal(connectsWithoutVerifier.length, 0)
  })
})
