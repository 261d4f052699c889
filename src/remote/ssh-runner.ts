import {randomBytes} from 'node:crypto'
import {constants as osConstants} from 'node:os'
import {setTimeout as sleep} from 'node:timers/promises'
import ssh2 from 'ssh2'
import type {Client, ClientChannel, ConnectConfig} from 'ssh2'
import {AnycloudError, UsageError} from '../errors/index.js'
import type {CommandRunner, RunOptions, RunResult, UploadOptions} from './command-runner.js'
import {
  ConnectionLostError,
  HostKeyMismatchError,
  HostKeyPolicyError,
  RemoteCommandAbortedError,
  RemoteCommandTimeoutError,
  RemoteFileError,
  SshAuthError,
  SshUnreachableError,
  formatHostPort,
} from './errors.js'
import {fingerprintSha256, parsePublicKey, publicKeyLineFromBlob} from './host-keys.js'
import {currentBudget} from './deadline.js'
import {formatDuration} from '../util/duration.js'
import {READ_FILE_MISSING, composeReadFile, composeRun, composeStop, composeUpload} from './shell.js'

/**
 * The one place in anycloud that opens SSH connections (a test scans `src/` to keep it so).
 * Every connection verifies the host key during key exchange, before any credential is sent.
 */

/**
 * How the host's key is trusted. There is no "accept anything" policy.
 * - `pinned`: the key must be one of `keys` (OpenSSH public key lines, `ssh-ed25519 AAAA…`).
 *   Cloud VMs get a key anycloud generated and injected; ssh hosts use the key recorded earlier.
 * - `record-first`: trust on first use, for user-owned ssh hosts only. The presented key is handed
 *   to `onRecord` (which must persist it) before authentication; if `onRecord` rejects, the
 *   connection is refused. From then on the runner pins that key (reconnects included), and
 *   callers pass it as `pinned` next time.
 */
export type HostKeyPolicy =
  | {kind: 'pinned'; keys: string[]}
  | {kind: 'record-first'; onRecord(key: string): Promise<void>}

/** What `connectSsh` is told. `privateKey` is never logged, never put in an error, never shown by `inspect`. */
export interface SshConnectOptions {
  host: string
  /** Default 22. */
  port?: number
  user: string
  /** OpenSSH or PEM private key (the client key). */
  privateKey: Buffer | string
  passphrase?: Buffer | string
  /** Required: see {@link HostKeyPolicy}. */
  hostKey: HostKeyPolicy
  /**
   * Prefix privileged work (every `run`, `upload`, `readFile`) with `sudo -n`.
   * Default: decided on the host after login by `id -u` (not by the user's name): `sudo -n`
   * unless the login is uid 0.
   */
  sudo?: boolean
  /**
   * How long to keep trying until SSH answers (a VM boots meanwhile). Default 10 minutes.
   * Attempts are spaced by exponential backoff with jitter.
   */
  waitTimeoutMs?: number
  /** Backoff between attempts: starts at `initialMs` (default 500), doubles up to `maxMs` (default 15 s). */
  backoff?: {initialMs?: number; maxMs?: number}
  /** Limit for one attempt (TCP connect + handshake + auth). Default 20 s. */
  readyTimeoutMs?: number
  /** SSH keepalive interval; a dead link is noticed after `keepaliveCountMax` misses. Default 15 s × 4. */
  keepaliveIntervalMs?: number
  keepaliveCountMax?: number
  /**
   * Treat "authentication failed" as "not ready yet" and keep trying until the deadline (the host
   * key is already verified at that point). For images whose agent installs the login key after
   * sshd starts. Default false: fail at once.
   */
  retryAuthFailures?: boolean
  /** Deadline for the one reconnect after a dropped connection. Default 2 minutes. */
  reconnectTimeoutMs?: number
  /** Stops waiting for SSH. */
  signal?: AbortSignal
  /** The anycloud credential this connection belongs to, named in errors (never a secret). */
  credential?: string
  /** Called after each failed attempt that will be retried (progress output, tests). */
  onRetry?: (info: ConnectRetryInfo) => void
}

/** One failed connection attempt that will be retried. */
export interface ConnectRetryInfo {
  attempt: number
  error: Error
  /** Wait before the next attempt. */
  delayMs: number
  elapsedMs: number
}

/** Counters for benchmarks and tests. A round trip is one exec channel or one sftp session. */
export interface SshRunnerStats {
  /** TCP + SSH handshakes tried, failed ones included. */
  connectAttempts: number
  /** Successful handshakes (the first connect plus reconnects). */
  connects: number
  reconnects: number
  /** Milliseconds the last successful connect took, waiting included. */
  lastConnectMs: number
  execs: number
  sftp: number
  /** `execs + sftp`. */
  roundTrips: number
  /** Idempotent commands re-run after a reconnect. */
  retries: number
}

/**
 * Connects (waiting for SSH to come up, see {@link SshConnectOptions.waitTimeoutMs}) and returns
 * a runner. Rejects with `HostKeyMismatchError` at once on a wrong host key, `SshAuthError` when
 * the key is refused, `SshUnreachableError` at the deadline, `HostKeyPolicyError` without a policy.
 */
export async function connectSsh(options: SshConnectOptions): Promise<SshRunner> {
  const settings = resolveSettings(options)
  const trust = new HostTrust(settings.host, settings.port, options.hostKey)
  const stats: SshRunnerStats = {
    connectAttempts: 0,
    connects: 0,
    reconnects: 0,
    lastConnectMs: 0,
    execs: 0,
    sftp: 0,
    roundTrips: 0,
    retries: 0,
  }
  const connection = await establish(settings, trust, stats, settings.waitTimeoutMs, options.signal, 'its wait for SSH')
  const runner = new SshRunner(settings, trust, stats, connection)
  if (options.sudo === undefined) {
    // Escalation follows the uid the login really has, not the user's name.
    const id = await runner.run('id -u', {timeoutMs: 30_000, idempotent: true, signal: options.signal})
    const uid = id.stdout.trim()
    if (id.exitCode !== 0 || !/^\d+$/.test(uid)) {
      await runner.close().catch(() => undefined)
      throw new SshUnreachableError(`Could not tell which user ${runner.description} logs in as (\`id -u\` exited ${id.exitCode}: ${lastLine(id.stderr) || 'no output'}).`)
    }
    runner.escalate(uid !== '0')
  }
  return runner
}

/** A {@link CommandRunner} over one SSH connection. Create it with {@link connectSsh}. */
export class SshRunner implements CommandRunner {
  /** `user@host:port` */
  readonly description: string
  /** Whether privileged work is prefixed with `sudo -n`. */
  get sudo(): boolean {
    return this.#settings.sudo
  }
  /** Live counters (the object is updated in place). */
  readonly stats: SshRunnerStats
  readonly #settings: Settings
  readonly #trust: HostTrust
  #connection: Connection
  #reconnecting: Promise<Connection> | undefined
  #closed = false
  /** A reconnect that found the host unreachable: later calls in this run fail at once with it. */
  #gaveUp: Error | undefined

  /** @internal Use {@link connectSsh}. */
  constructor(settings: Settings, trust: HostTrust, stats: SshRunnerStats, connection: Connection) {
    this.#settings = settings
    this.#trust = trust
    this.stats = stats
    this.#connection = connection
    this.description = `${settings.user}@${formatHostPort(settings.host, settings.port)}`
  }

  /** @internal Sets escalation once the login's uid is known (see {@link connectSsh}). */
  escalate(sudo: boolean): void {
    this.#settings.sudo = sudo
  }

  /** The host key this runner verified (`type base64`): what `record-first` recorded, or the pinned key seen. */
  get hostKey(): string {
    return this.#trust.seenKey ?? ''
  }

  /** Runs `command` with `bash -c` (under `sudo -n` when {@link sudo}). Never rejects on a non-zero exit. */
  async run(command: string, options: RunOptions = {}): Promise<RunResult> {
    const token = randomBytes(12).toString('hex')
    return this.#exec(composeRun(command, token, this), options, options.idempotent ?? false, false, token)
  }

  /** Atomic write through one exec: content on stdin, temp file 0600 from creation, `mv -fT` into place. */
  async upload(path: string, content: string | Buffer, mode: number, options?: UploadOptions): Promise<void> {
    const result = await this.#exec(composeUpload(path, mode, options, this), {stdin: content}, true)
    if (result.exitCode !== 0) {
      throw new RemoteFileError(`Could not write ${path} on ${this.description}: ${lastLine(result.stderr) || `exit ${result.exitCode}`}`)
    }
  }

  /** Reads a file through one exec; `undefined` when it does not exist. */
  async readFile(path: string): Promise<Buffer | undefined> {
    const result = await this.#exec(composeReadFile(path, this), {}, true, true)
    if (result.exitCode === READ_FILE_MISSING) return undefined
    if (result.exitCode !== 0) {
      throw new RemoteFileError(`Could not read ${path} on ${this.description}: ${lastLine(result.stderr) || `exit ${result.exitCode}`}`)
    }
    return result.stdoutBytes
  }

  /** Closes the connection; later calls reject. */
  async close(): Promise<void> {
    this.#closed = true
    await this.#connection.end()
  }

  async #exec(line: string, options: RunOptions, idempotent: boolean, binary = false, token?: string): Promise<ExecResult> {
    throwIfAborted(options.signal, this.description)
    // The command's own limit, cut to the command's --timeout budget when that ends first.
    const budget = currentBudget()
    let deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs
    let limit: string | undefined
    if (budget && (deadline === undefined || budget.deadline < deadline)) {
      deadline = budget.deadline
      limit = budget.label
    }
    options = {...options, ...(deadline !== undefined ? {timeoutMs: Math.max(0, deadline - Date.now())} : {}), ...(limit ? {limitLabel: limit} : {})} as RunOptions
    const first = await this.#ensureConnected(deadline)
    try {
      return await this.#execOnce(first, line, options, deadline, binary, token)
    } catch (error) {
      if (!(error instanceof LostDuringRun)) throw error
      let next: Connection
      try {
        next = await this.#reconnect(deadline)
      } catch (reconnectError) {
        // A changed host key or a refused login is its own answer, not "the connection dropped".
        if (reconnectError instanceof HostKeyMismatchError || reconnectError instanceof HostKeyPolicyError || reconnectError instanceof SshAuthError) {
          throw reconnectError
        }
        throw new ConnectionLostError(
          `The connection to ${this.description} dropped while a command ran, and reconnecting failed: ${messageOf(reconnectError)}`,
          reconnectError,
        )
      }
      if (!idempotent) {
        throw new ConnectionLostError(
          `The connection to ${this.description} dropped while a command ran. The command may or may not have ` +
            'completed; it was not re-run because it is not marked idempotent. The connection was re-established.',
          error.cause,
        )
      }
      this.stats.retries++
      try {
        return await this.#execOnce(next, line, options, deadline, binary, token)
      } catch (retryError) {
        if (retryError instanceof LostDuringRun) {
          throw new ConnectionLostError(`The connection to ${this.description} dropped twice while a command ran.`, retryError.cause)
        }
        throw retryError
      }
    }
  }

  async #ensureConnected(deadline?: number): Promise<Connection> {
    if (this.#closed) throw new AnycloudError(`The SSH runner for ${this.description} is closed.`, {code: 'ssh.closed', source: 'internal'})
    if (this.#reconnecting) return this.#reconnecting
    if (!this.#connection.closed) return this.#connection
    if (this.#gaveUp) throw new SshUnreachableError(`${this.description} stopped answering earlier in this run: ${this.#gaveUp.message}`, this.#gaveUp)
    return this.#reconnect(deadline)
  }

  /** Reconnects within `reconnectTimeoutMs`, never past `deadline` (the command's own or its budget's). */
  #reconnect(deadline?: number): Promise<Connection> {
    this.#reconnecting ??= (async () => {
      try {
        const wait = Math.min(this.#settings.reconnectTimeoutMs, deadline === undefined ? Infinity : Math.max(0, deadline - Date.now()))
        const connection = await establish(this.#settings, this.#trust, this.stats, wait, undefined, wait < this.#settings.reconnectTimeoutMs ? 'the command\'s deadline' : 'its reconnect deadline')
        this.#connection = connection
        this.stats.reconnects++
        if (this.#closed) await connection.end()
        return connection
      } catch (error) {
        if (error instanceof SshUnreachableError) this.#gaveUp = error
        throw error
      } finally {
        this.#reconnecting = undefined
      }
    })()
    return this.#reconnecting
  }

  /** Fire-and-forget exec of the stop script for the run named `token`. */
  #stopRemote(connection: Connection, token: string): void {
    if (connection.closed) return
    this.stats.execs++
    this.stats.roundTrips++
    try {
      connection.client.exec(composeStop(token, this), (error, channel) => {
        if (error) return
        const timer = setTimeout(() => channel.close(), 10_000)
        channel.on('close', () => clearTimeout(timer))
        channel.on('error', () => undefined)
        channel.resume()
        channel.stderr.resume()
        channel.end()
      })
    } catch {
      // the connection is going; the channel close fallback still applies
    }
  }

  #execOnce(
    connection: Connection,
    line: string,
    options: RunOptions,
    deadline: number | undefined,
    binary: boolean,
    token: string | undefined,
  ): Promise<ExecResult> {
    const where = this.description
    const stats = this.stats
    return new Promise<ExecResult>((resolve, reject) => {
      const stdout: Buffer[] = []
      const stderr: Buffer[] = []
      let channel: ClientChannel | undefined
      let exitCode: number | undefined
      let stopping: Error | undefined
      let settled = false
      const timers: NodeJS.Timeout[] = []

      const partial = (): {stdout: string; stderr: string} => ({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      })
      const cleanup = (): void => {
        settled = true
        for (const timer of timers) clearTimeout(timer)
        unsubscribe()
        options.signal?.removeEventListener('abort', onAbort)
      }
      const fail = (error: Error): void => {
        if (settled) return
        cleanup()
        reject(error)
      }
      const succeed = (code: number): void => {
        if (settled) return
        cleanup()
        const out = Buffer.concat(stdout)
        resolve({exitCode: code, stdout: binary ? '' : out.toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), stdoutBytes: out})
      }
      /**
       * Timeout/abort: SIGTERM the command's process group (the wrapper then escalates to SIGKILL),
       * through an SSH signal request (sshd honours it for non-root sessions only) and a second exec
       * that finds the run by its token; close the channel if it still lingers after the grace.
       */
      const stop = (error: Error): void => {
        if (stopping || settled) return
        stopping = error
        if (!channel) return fail(error)
        signalChannel(channel, 'TERM')
        if (token) this.#stopRemote(connection, token)
        timers.push(
          setTimeout(() => {
            channel?.close()
            fail(error)
          }, STOP_GRACE_MS),
        )
      }
      const onAbort = (): void => stop(new RemoteCommandAbortedError(where, options.signal?.reason))
      const unsubscribe = connection.onClose((cause) => fail(new LostDuringRun(cause)))

      if (connection.closed) return fail(new LostDuringRun(connection.lastError))
      if (deadline !== undefined) {
        const remaining = deadline - Date.now()
        const label = (options as {limitLabel?: string}).limitLabel
        if (remaining <= 0) return fail(new RemoteCommandTimeoutError(where, options.timeoutMs ?? 0, partial(), label))
        timers.push(setTimeout(() => stop(new RemoteCommandTimeoutError(where, options.timeoutMs ?? remaining, partial(), label)), remaining))
      }
      options.signal?.addEventListener('abort', onAbort, {once: true})

      stats.execs++
      stats.roundTrips++
      try {
        connection.client.exec(line, (error, opened) => {
          if (error) {
            if (connection.closed) return fail(new LostDuringRun(error))
            return fail(new AnycloudError(`Could not open a session on ${where}: ${error.message}`, {code: 'ssh.channel-failed', source: 'cloud', cause: error}))
          }
          channel = opened
          if (settled) {
            // Stopped while the session was being set up: the command has started by now.
            if (stopping) {
              signalChannel(opened, 'TERM')
              if (token) this.#stopRemote(connection, token)
            }
            return void opened.close()
          }
          opened.on('data', (chunk: Buffer) => {
            stdout.push(chunk)
            options.onStdout?.(chunk)
          })
          opened.stderr.on('data', (chunk: Buffer) => {
            stderr.push(chunk)
            options.onStderr?.(chunk)
          })
          opened.on('exit', (code: number | null, signalName?: string) => {
            exitCode = code ?? signalExitCode(signalName)
          })
          opened.on('close', () => {
            if (stopping) return fail(stopping)
            if (exitCode !== undefined) return succeed(exitCode)
            // Closed without an exit status: the connection is going (its 'close' comes first) or the server gave none.
            setImmediate(() => (connection.closed ? fail(new LostDuringRun(connection.lastError)) : succeed(255)))
          })
          opened.on('error', () => {
            // surfaced through 'close'
          })
          opened.end(options.stdin)
        })
      } catch (error) {
        fail(connection.closed ? new LostDuringRun(error) : toError(error))
      }
    })
  }
}

/** Time a signalled command gets to exit before its channel is closed. */
const STOP_GRACE_MS = 5_000

interface ExecResult extends RunResult {
  stdoutBytes: Buffer
}

/** Internal: the connection dropped while an exec was in flight. */
class LostDuringRun extends Error {
  constructor(cause?: unknown) {
    super('connection lost', {cause})
  }
}

/** Resolved options; holds the private key, so it only lives in `#private` fields. */
interface Settings {
  host: string
  port: number
  user: string
  privateKey: Buffer | string
  passphrase: Buffer | string | undefined
  sudo: boolean
  waitTimeoutMs: number
  reconnectTimeoutMs: number
  readyTimeoutMs: number
  keepaliveIntervalMs: number
  keepaliveCountMax: number
  backoffInitialMs: number
  backoffMaxMs: number
  retryAuthFailures: boolean
  onRetry: ((info: ConnectRetryInfo) => void) | undefined
  credential: string | undefined
}

function resolveSettings(options: SshConnectOptions): Settings {
  const port = options.port ?? 22
  if (!options.host) throw new UsageError('An SSH host is required.')
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`Not a TCP port: ${port}`)
  if (!options.user) throw new UsageError('An SSH user is required.')
  const parsed = ssh2.utils.parseKey(options.privateKey, options.passphrase)
  if (parsed instanceof Error || (Array.isArray(parsed) && parsed.length === 0)) {
    // ssh2's message names the problem (format, passphrase), never the key.
    throw new UsageError(`The SSH private key for ${options.user}@${formatHostPort(options.host, port)} cannot be used: ${parsed instanceof Error ? parsed.message : 'no key found'}`)
  }
  return {
    host: options.host,
    port,
    user: options.user,
    privateKey: options.privateKey,
    passphrase: options.passphrase,
    // Until `id -u` answers (connectSsh), commands run as the login itself.
    sudo: options.sudo ?? false,
    waitTimeoutMs: options.waitTimeoutMs ?? 10 * 60_000,
    reconnectTimeoutMs: options.reconnectTimeoutMs ?? 2 * 60_000,
    readyTimeoutMs: options.readyTimeoutMs ?? 20_000,
    keepaliveIntervalMs: options.keepaliveIntervalMs ?? 15_000,
    keepaliveCountMax: options.keepaliveCountMax ?? 4,
    backoffInitialMs: options.backoff?.initialMs ?? 500,
    backoffMaxMs: options.backoff?.maxMs ?? 15_000,
    retryAuthFailures: options.retryAuthFailures ?? false,
    onRetry: options.onRetry,
    credential: options.credential,
  }
}

/** Host key types a pinned key can be, and the signature algorithms that make the server present it. */
const HOST_KEY_ALGORITHMS: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
}

/** The host-key policy in force; `record-first` turns into a pin once a key is recorded. */
class HostTrust {
  #pinned: Buffer[] | undefined
  #algorithms: string[] | undefined
  readonly #onRecord: ((key: string) => Promise<void>) | undefined
  /** The key last verified (`type base64`). */
  seenKey: string | undefined

  constructor(
    readonly host: string,
    readonly port: number,
    policy: HostKeyPolicy | undefined,
  ) {
    const where = formatHostPort(host, port)
    if (policy?.kind === 'pinned') {
      if (!Array.isArray(policy.keys) || policy.keys.length === 0) {
        throw new HostKeyPolicyError(`No pinned host key was given for ${where}; refusing to connect without verifying the host.`)
      }
      const keys = policy.keys.map((line, index) => {
        try {
          return parsePublicKey(line)
        } catch (error) {
          throw new HostKeyPolicyError(`Pinned host key #${index + 1} for ${where} is unusable: ${messageOf(error)}`)
        }
      })
      this.#pin(keys.map((key) => key.blob), keys.map((key) => key.type))
    } else if (policy?.kind === 'record-first' && typeof policy.onRecord === 'function') {
      this.#onRecord = policy.onRecord
    } else {
      throw new HostKeyPolicyError(`No host-key policy for ${where}; refusing to connect without verifying the host.`)
    }
  }

  /** Algorithms to offer, so the server presents the pinned key's type. */
  get algorithms(): string[] | undefined {
    return this.#algorithms
  }

  /** The `hostVerifier` for one attempt; `onFailure` receives the reason a key was refused. */
  verifier(onFailure: (error: Error) => void): (key: Buffer, verify: (valid: boolean) => void) => void {
    return (key, verify) => {
      const pinned = this.#pinned
      if (pinned) {
        if (pinned.some((blob) => blob.equals(key))) {
          this.seenKey = safeLine(key)
          return verify(true)
        }
        onFailure(new HostKeyMismatchError(this.host, this.port, pinned.map((blob) => fingerprintSha256(blob)), fingerprintSha256(key)))
        return verify(false)
      }
      const line = safeLine(key)
      if (!line || !this.#onRecord) {
        onFailure(new HostKeyPolicyError(`${formatHostPort(this.host, this.port)} presented an unparsable host key.`))
        return verify(false)
      }
      this.#onRecord(line).then(
        () => {
          this.#pin([key], [line.split(' ')[0] ?? ''])
          this.seenKey = line
          verify(true)
        },
        (error: unknown) => {
          onFailure(toError(error))
          verify(false)
        },
      )
    }
  }

  #pin(blobs: Buffer[], types: string[]): void {
    this.#pinned = blobs
    const algorithms = [...new Set(types.flatMap((type) => HOST_KEY_ALGORITHMS[type] ?? []))]
    if (algorithms.length === 0) {
      throw new HostKeyPolicyError(`None of the pinned host keys for ${formatHostPort(this.host, this.port)} has a supported type (${types.join(', ')}).`)
    }
    this.#algorithms = algorithms
  }
}

function safeLine(blob: Buffer): string | undefined {
  try {
    return publicKeyLineFromBlob(blob)
  } catch {
    return undefined
  }
}

/** A connected client plus its liveness. Keeps an 'error' listener for the client's whole life. */
class Connection {
  closed = false
  lastError: Error | undefined
  readonly #listeners = new Set<(cause: Error | undefined) => void>()

  constructor(readonly client: Client) {
    client.on('error', (error: Error) => {
      this.lastError = error
    })
    const onGone = (): void => {
      if (this.closed) return
      this.closed = true
      for (const listener of [...this.#listeners]) listener(this.lastError)
    }
    client.on('end', onGone)
    client.on('close', onGone)
  }

  /** Calls `listener` when the connection goes; returns an unsubscribe function. */
  onClose(listener: (cause: Error | undefined) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async end(): Promise<void> {
    if (this.closed) return
    const gone = new Promise<void>((resolve) => this.onClose(() => resolve()))
    this.client.end()
    const timer = setTimeout(() => this.client.destroy(), 2_000)
    await gone
    clearTimeout(timer)
  }
}

/** Connects, retrying with exponential backoff and jitter until `timeoutMs`. */
async function establish(
  settings: Settings,
  trust: HostTrust,
  stats: SshRunnerStats,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  limitLabel: string,
): Promise<Connection> {
  const where = `${settings.user}@${formatHostPort(settings.host, settings.port)}`
  const started = Date.now()
  // Never past the command's --timeout budget.
  const budget = currentBudget()
  let limit = `${limitLabel}, ${formatDuration(timeoutMs)}`
  if (budget && budget.deadline < started + timeoutMs) {
    timeoutMs = Math.max(0, budget.deadline - started)
    limit = budget.label
  }
  const deadline = started + timeoutMs
  let backoff = settings.backoffInitialMs
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(signal, where)
    stats.connectAttempts++
    const readyTimeout = Math.max(500, Math.min(settings.readyTimeoutMs, deadline - Date.now()))
    try {
      const client = await connectOnce(settings, trust, readyTimeout, signal)
      stats.connects++
      stats.lastConnectMs = Date.now() - started
      return new Connection(client)
    } catch (error) {
      const failure = classify(error, settings, where)
      if (failure.fatal) throw failure.error
      const now = Date.now()
      if (now >= deadline) {
        throw new SshUnreachableError(
          `Could not connect to ${where}${settings.credential ? ` (credential '${settings.credential}')` : ''} within ${formatDuration(now - started)} (${limit}): ` +
            `tried ${attempt} SSH connection${attempt === 1 ? '' : 's'}; last: ${failure.error.message}`,
          failure.error,
        )
      }
      const delayMs = Math.min(deadline - now, Math.round(backoff / 2 + Math.random() * (backoff / 2)))
      settings.onRetry?.({attempt, error: failure.error, delayMs, elapsedMs: now - started})
      await sleep(delayMs, undefined, {signal}).catch(() => undefined)
      backoff = Math.min(backoff * 2, settings.backoffMaxMs)
    }
  }
}

/** One attempt: resolves once authenticated; the host key is checked during key exchange. */
function connectOnce(settings: Settings, trust: HostTrust, readyTimeout: number, signal: AbortSignal | undefined): Promise<Client> {
  return new Promise<Client>((resolve, reject) => {
    const client = new ssh2.Client()
    let refused: Error | undefined
    let done = false
    const finish = (error: Error | undefined): void => {
      if (done) return
      done = true
      signal?.removeEventListener('abort', onAbort)
      if (error) {
        client.destroy()
        reject(error)
      } else {
        resolve(client)
      }
    }
    const onAbort = (): void => finish(new RemoteCommandAbortedError(formatHostPort(settings.host, settings.port), signal?.reason))
    signal?.addEventListener('abort', onAbort, {once: true})
    client.on('ready', () => finish(undefined))
    client.on('error', (error: Error) => finish(refused ?? error))
    client.on('close', () => finish(refused ?? new ClosedBeforeReady()))
    const serverHostKey = trust.algorithms as NonNullable<ConnectConfig['algorithms']>['serverHostKey']
    try {
      client.connect({
        host: settings.host,
        port: settings.port,
        username: settings.user,
        privateKey: settings.privateKey,
        passphrase: settings.passphrase,
        hostVerifier: trust.verifier((error) => {
          refused = error
        }),
        readyTimeout,
        keepaliveInterval: settings.keepaliveIntervalMs,
        keepaliveCountMax: settings.keepaliveCountMax,
        tryKeyboard: false,
        algorithms: serverHostKey ? {serverHostKey} : undefined,
      })
    } catch (error) {
      finish(toError(error))
    }
  })
}

class ClosedBeforeReady extends Error {
  constructor() {
    super('the connection closed before SSH was ready')
  }
}

function classify(error: unknown, settings: Settings, where: string): {fatal: boolean; error: Error} {
  if (error instanceof AnycloudError) return {fatal: true, error}
  const err = toError(error)
  const level = (err as Error & {level?: string}).level
  if (level === 'client-authentication') {
    const auth = new SshAuthError(`${where} refused anycloud's SSH key (${err.message}).`, err)
    return {fatal: !settings.retryAuthFailures, error: auth}
  }
  if (level === 'client-socket' || level === 'client-timeout' || err instanceof ClosedBeforeReady) return {fatal: false, error: err}
  return {fatal: true, error: new SshUnreachableError(`SSH to ${where} failed: ${err.message}`, err)}
}

/**
 * Sends an SSH "signal" request; sshd (OpenSSH >= 7.9) delivers it with killpg() to the session's
 * process group. ssh2's public `channel.signal()` silently sends nothing once our side of the
 * channel is ended (which it is: stdin was closed), so this goes to the protocol object ssh2 uses
 * for it. A test (timeout kills the remote process tree) guards this against ssh2 upgrades.
 */
function signalChannel(channel: ClientChannel, name: 'TERM' | 'INT'): void {
  const internal = channel as unknown as {
    type?: string
    outgoing?: {id?: number; state?: string}
    _client?: {_protocol?: {signal?: (id: number, signal: string) => void}}
  }
  const protocol = internal._client?._protocol
  const id = internal.outgoing?.id
  try {
    if (internal.type === 'session' && (internal.outgoing?.state === 'open' || internal.outgoing?.state === 'eof') && id !== undefined && typeof protocol?.signal === 'function') {
      protocol.signal(id, name)
    } else {
      channel.signal(name)
    }
  } catch {
    // the channel is already going away; the grace timer closes it
  }
}

function signalExitCode(signalName: string | undefined): number {
  const number = signalName ? (osConstants.signals as Record<string, number | undefined>)[`SIG${signalName}`] : undefined
  return 128 + (number ?? 127)
}

function throwIfAborted(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) throw new RemoteCommandAbortedError(where, signal.reason)
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}

function messageOf(error: unknown): string {
  return toError(error).message
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? ''
}
