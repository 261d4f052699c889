import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, readFileSync, rmSync} from 'node:fs'
import {chmod, mkdir, mkdtemp, rm, rmdir, writeFile} from 'node:fs/promises'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {generateHostKeyPair, type HostKeyPair} from '../../../src/remote/host-keys.js'
import {execChecked, execQuiet, execSyncQuiet} from './exec.js'

/**
 * A throwaway OpenSSH server as a stand-in "VM" (see TESTING.md, "A real VM for bootstrap tests").
 *
 * - loopback mode: sshd on 127.0.0.1 and a free port.
 * - netns mode: a network namespace `acns-<pid>-<N>` joined to the host by a veth pair
 *   (host 10.200.N.1/30, VM 10.200.N.2/30, N unique per rig so several VMs coexist), sshd on the
 *   VM address, port 22. Filesystem and users are shared with the host.
 *
 * In both modes sshd runs as PID 1 of its own PID namespace (`unshare --pid --fork --kill-child
 * --mount-proc`), in its own mount namespace: killing the rig kills every process any session
 * started (nothing outlives a test), and files given in `mountNamespaceFiles` / dirs in
 * `privateDirs` are overlaid for that VM only.
 */

/** Options of {@link startSshd} / {@link prepareSshd}. */
export interface SshdOptions {
  /** Run the "VM" in its own network namespace (see {@link netnsAvailable}). Default false. */
  netns?: boolean
  /**
   * Files only this VM's processes see, path → content (e.g. `/root/.aws/credentials` standing in
   * for instance credentials). Each file's directory gets a VM-private overlay: the host's files
   * stay visible inside, writes inside stay inside. A missing directory is created on the host
   * (empty) and removed again by `stop()` when still empty.
   */
  mountNamespaceFiles?: Record<string, string>
  /** Directories that get a VM-private overlay without extra files (writes inside stay inside). */
  privateDirs?: string[]
  /** Environment set in every session (`SetEnv`), e.g. `{PATH: '/tmp/fakebin:/usr/bin:/bin'}`. */
  env?: Record<string, string>
  /** Loopback mode only: listen on this port instead of a free one. */
  port?: number
  /**
   * Hide the host's `/root/.bashrc` from the VM (an empty file is bind-mounted over it in the VM's
   * mount namespace), as on a fresh image. Default true: this machine's root `.bashrc` runs
   * `pyenv init`, which costs ~0.4 s per SSH command.
   */
  cleanRootBashrc?: boolean
  /** Use this host key instead of a fresh one (e.g. one rendered into cloud-init by anycloud). */
  hostKey?: HostKeyPair
  /**
   * The VM sees the rig's directory (its sshd_config, host keys, pid file) as `/etc/ssh`, as on a
   * cloud image, so what edits sshd's configuration there (anycloud's host-key rotation) edits
   * this sshd's, never the host's. Needs the namespaces (like mountNamespaceFiles).
   */
  etcSsh?: boolean
  /**
   * sshd `LogLevel`. VERBOSE (default) logs connections, each key offered ("Postponed publickey",
   * "Accepted key") and sessions. DEBUG1 says more, but sshd then also writes debug lines into
   * every session's stderr.
   */
  logLevel?: 'INFO' | 'VERBOSE' | 'DEBUG1'
}

/** A running (or prepared) throwaway sshd. */
export interface SshdRig {
  readonly mode: 'loopback' | 'netns'
  /** Address to connect to: 127.0.0.1, or the VM side 10.200.N.2. */
  readonly host: string
  readonly port: number
  readonly user: 'root'
  /** The client key (OpenSSH private key) allowed to log in. */
  readonly privateKey: string
  readonly publicKey: string
  /** The host key currently served (`ssh-ed25519 AAAA… comment`); changes with `restart({rotateHostKey})`. */
  readonly hostPublicKey: string
  readonly hostFingerprint: string
  /** netns mode: the namespace's name, and the host side of the veth (where the VM reaches the host). */
  readonly netns: string | undefined
  readonly hostAddress: string | undefined
  /**
   * Whether sshd runs in its own PID + mount namespace (always where `unshare` works). Without it,
   * `stop()` kills sshd but processes a session left behind survive, and the host's root
   * `.bashrc` is not hidden.
   */
  readonly isolated: boolean
  /** Temp dir holding config, keys and logs; removed by `stop()`. */
  readonly dir: string
  readonly running: boolean
  /** sshd's stderr (`-e`) so far, across restarts. */
  log(): string
  /** Resolves with the log text once `pattern` matches the log after character offset `from`. */
  waitForLog(pattern: RegExp, options?: {from?: number; timeoutMs?: number}): Promise<string>
  /** Starts sshd; resolves once it listens. */
  start(): Promise<void>
  /** Kills sshd and every process of the VM, keeping namespace, keys and address. */
  stopDaemon(): Promise<void>
  /** `stopDaemon()`, optionally a new host key, then `start()` on the same address. */
  restart(options?: {rotateHostKey?: boolean}): Promise<void>
  /** Kills everything, deletes namespace, veth and temp dir. Safe to call twice. */
  stop(): Promise<void>
}

const SSHD = '/usr/sbin/sshd'
const live = new Set<RigImpl>()
/** Host directories rigs created for overlays, and the rigs using each. */
const createdDirs = new Map<string, Set<RigImpl>>()
let exitHookInstalled = false

/**
 * Whether network namespaces with veth pairs can be made here (`ip netns add` fails in some
 * sandboxes), and why not, for test titles. Checked once per process with a probe namespace.
 * Note it resolves to an object: test `(await netnsAvailable()).available`.
 */
export function netnsAvailable(): Promise<{available: boolean; reason?: string}> {
  netnsProbe ??= probeNetns()
  return netnsProbe
}
let netnsProbe: Promise<{available: boolean; reason?: string}> | undefined

async function probeNetns(): Promise<{available: boolean; reason?: string}> {
  if (process.getuid?.() !== 0) return {available: false, reason: 'not root'}
  const name = `acns-${process.pid}-probe`
  const veth = `acvp${process.pid % 10_000_000}`
  try {
    await execChecked('ip', ['netns', 'add', name])
    await execChecked('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up'])
    await execChecked('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}q`])
    await execChecked('ip', ['link', 'set', `${veth}q`, 'netns', name])
    return {available: true}
  } catch (error) {
    return {available: false, reason: (error as Error).message.split('\n')[0]}
  } finally {
    await execQuiet('ip', ['link', 'del', veth])
    await execQuiet('ip', ['netns', 'del', name])
  }
}

/** Whether `unshare --pid --fork --mount-proc` works here (checked once). */
function namespacesAvailable(): Promise<boolean> {
  unshareProbe ??= execQuiet('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', 'true']).then((result) => result.code === 0)
  return unshareProbe
}
let unshareProbe: Promise<boolean> | undefined

/** Prepares a rig (keys, config, namespace) without starting sshd; call `start()` later. */
export async function prepareSshd(options: SshdOptions = {}): Promise<SshdRig> {
  const rig = new RigImpl(options)
  live.add(rig)
  installExitHook()
  try {
    await rig.prepare()
  } catch (error) {
    await rig.stop()
    throw error
  }
  return rig
}

/** Prepares and starts a rig. */
export async function startSshd(options: SshdOptions = {}): Promise<SshdRig> {
  const rig = await prepareSshd(options)
  try {
    await rig.start()
  } catch (error) {
    await rig.stop()
    throw error
  }
  return rig
}

/** Stops every rig still alive in this process (for a root `after` hook). */
export async function stopAllSshd(): Promise<void> {
  await Promise.all([...live].map((rig) => rig.stop()))
}

class RigImpl implements SshdRig {
  readonly mode: 'loopback' | 'netns'
  readonly user = 'root' as const
  host = '127.0.0.1'
  port = 0
  privateKey = ''
  publicKey = ''
  hostPublicKey = ''
  hostFingerprint = ''
  netns: string | undefined
  hostAddress: string | undefined
  dir = ''
  isolated = true
  #veth: string | undefined
  #child: ChildProcess | undefined
  #exited: Promise<void> = Promise.resolve()
  #log = ''
  #logWaiters = new Set<() => void>()
  #createdDirs: string[] = []
  #overlays: Array<{dir: string; upper: string; work: string}> = []
  #stopped = false

  constructor(readonly options: SshdOptions) {
    this.mode = options.netns ? 'netns' : 'loopback'
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null
  }

  log(): string {
    return this.#log
  }

  async prepare(): Promise<void> {
    this.isolated = await namespacesAvailable()
    if (!this.isolated && (this.options.mountNamespaceFiles || this.options.privateDirs || this.options.etcSsh)) {
      throw new Error('mountNamespaceFiles/privateDirs/etcSsh need `unshare --mount --pid`, which fails here')
    }
    this.dir = await mkdtemp(join(tmpdir(), 'anycloud-sshd-'))
    const client = generateHostKeyPair('anycloud-test-client')
    this.privateKey = client.privateKey
    this.publicKey = client.publicKey
    // sshd reads the authorized keys as the user logging in: a non-root login (a cloud image's
    // `ubuntu`) must be able to reach this public file; the private files here stay 0600.
    await chmod(this.dir, 0o711)
    await writeFile(join(this.dir, 'authorized_keys'), `${client.publicKey}\n`, {mode: 0o644})
    await this.#writeHostKey(this.options.hostKey ?? generateHostKeyPair('anycloud-test-host'))
    await mkdir('/run/sshd', {recursive: true, mode: 0o755})
    await this.#prepareOverlays()
    if (this.mode === 'netns') {
      await this.#makeNamespace()
      this.port = 22
    } else {
      this.port = this.options.port ?? (await freePort())
    }
    await this.#writeConfig()
  }

  async start(): Promise<void> {
    if (this.#stopped) throw new Error('this sshd rig was stopped')
    if (this.running) return
    const from = this.#log.length
    let argv: string[]
    if (this.isolated) {
      const unshare = ['unshare', '--pid', '--fork', '--kill-child', '--mount-proc', 'bash', '-c', LAUNCH_SCRIPT, 'sshd-launch']
      const overlayArgs = this.#overlays.flatMap((overlay) => [overlay.dir, overlay.upper, overlay.work])
      const bashrc = this.options.cleanRootBashrc === false ? '' : join(this.dir, 'bashrc')
      if (bashrc) await writeFile(bashrc, '# anycloud test VM: the host root .bashrc is hidden\n', {mode: 0o644})
      argv = [...unshare, join(this.dir, 'sshd_config'), bashrc, this.options.etcSsh ? this.dir : '', ...overlayArgs]
    } else {
      argv = [SSHD, '-D', '-e', '-f', join(this.dir, 'sshd_config')]
    }
    const [file, ...args] = this.netns ? ['ip', 'netns', 'exec', this.netns, ...argv] : argv
    const child = spawn(file!, args, {stdio: ['ignore', 'ignore', 'pipe']})
    this.#child = child
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()))
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (text: string) => {
      this.#log += text
      for (const waiter of [...this.#logWaiters]) waiter()
    })
    const listening = this.waitForLog(/Server listening on \S+ port \d+/, {from, timeoutMs: 15_000})
    const died = this.#exited.then(() => {
      throw new Error(`sshd exited before listening:\n${this.#log.slice(from)}`)
    })
    await Promise.race([listening, died])
    died.catch(() => undefined)
    await waitForTcp(this.host, this.port, 5_000)
  }

  waitForLog(pattern: RegExp, options: {from?: number; timeoutMs?: number} = {}): Promise<string> {
    const from = options.from ?? 0
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (!pattern.test(this.#log.slice(from))) return false
        this.#logWaiters.delete(check)
        clearTimeout(timer)
        resolve(this.#log.slice(from))
        return true
      }
      const timer = setTimeout(() => {
        this.#logWaiters.delete(check)
        reject(new Error(`sshd log did not match ${pattern} within ${options.timeoutMs ?? 10_000} ms:\n${this.#log.slice(from)}`))
      }, options.timeoutMs ?? 10_000)
      if (!check()) this.#logWaiters.add(check)
    })
  }

  async stopDaemon(): Promise<void> {
    const child = this.#child
    if (child && child.exitCode === null && child.signalCode === null) {
      // `unshare` blocks SIGTERM while it waits; SIGKILL it and --kill-child takes sshd (PID 1 of the
      // VM's PID namespace) and with it every process of the VM. The kernel only lets PID 1 finish
      // dying once every other process of the namespace is gone, so wait for that.
      const init = child.pid === undefined || !this.isolated ? undefined : childrenOf(child.pid)[0]
      child.kill('SIGKILL')
      await this.#exited
      if (init !== undefined) await waitUntilDead(init, 10_000)
    }
    this.#child = undefined
    if (this.netns) {
      // Anything still in the network namespace (a forwarder is stopped by its owner) is ours.
      const pids = await execQuiet('ip', ['netns', 'pids', this.netns])
      for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL')
        } catch {
          // gone
        }
      }
    }
  }

  async restart(options: {rotateHostKey?: boolean} = {}): Promise<void> {
    await this.stopDaemon()
    if (options.rotateHostKey) await this.#writeHostKey(generateHostKeyPair('anycloud-test-host-rotated'))
    await this.start()
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    try {
      await this.stopDaemon()
    } finally {
      if (this.#veth) await execQuiet('ip', ['link', 'del', this.#veth])
      if (this.netns) await execQuiet('ip', ['netns', 'del', this.netns])
      // Deepest first, one after the other: a parent is only empty once its child is gone.
      for (const dir of this.#takeDirsToRemove()) await rmdir(dir).catch(() => undefined)
      if (this.dir) await rm(this.dir, {recursive: true, force: true})
      live.delete(this)
    }
  }

  /** Synchronous last resort from `process.on('exit')`. */
  stopSync(): void {
    this.#child?.kill('SIGKILL')
    if (this.#veth) execSyncQuiet('ip', ['link', 'del', this.#veth])
    if (this.netns) execSyncQuiet('ip', ['netns', 'del', this.netns])
    for (const dir of this.#takeDirsToRemove()) {
      try {
        rmSync(dir)
      } catch {
        // not empty or gone
      }
    }
    if (this.dir) rmSync(this.dir, {recursive: true, force: true})
  }

  async #writeHostKey(pair: HostKeyPair): Promise<void> {
    this.hostPublicKey = pair.publicKey
    this.hostFingerprint = pair.fingerprint
    const path = join(this.dir, 'ssh_host_ed25519_key')
    await rm(path, {force: true})
    await writeFile(path, pair.privateKey, {mode: 0o600})
    await writeFile(`${path}.pub`, `${pair.publicKey}\n`, {mode: 0o644})
  }

  async #writeConfig(): Promise<void> {
    const pairs = Object.entries(this.options.env ?? {}).map(([key, value]) => {
      if (!/^[A-Za-z_]\w*$/.test(key) || /["\n\\]/.test(value)) throw new Error(`cannot put ${key} into SetEnv`)
      return `"${key}=${value}"`
    })
    // One line: sshd takes the first SetEnv directive only (later ones are silently ignored).
    const setEnv = pairs.length > 0 ? [`SetEnv ${pairs.join(' ')}`] : []
    const lines = [
      `Port ${this.port}`,
      `ListenAddress ${this.host}`,
      `HostKey ${join(this.dir, 'ssh_host_ed25519_key')}`,
      `PidFile ${join(this.dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(this.dir, 'authorized_keys')}`,
      'UsePAM no',
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'Subsystem sftp internal-sftp',
      `LogLevel ${this.options.logLevel ?? 'VERBOSE'}`,
      'MaxStartups 100',
      'MaxSessions 50',
      ...setEnv,
      '',
    ]
    await writeFile(join(this.dir, 'sshd_config'), lines.join('\n'), {mode: 0o600})
  }

  async #prepareOverlays(): Promise<void> {
    const byDir = new Map<string, Array<[string, string]>>()
    for (const dir of this.options.privateDirs ?? []) byDir.set(dir, byDir.get(dir) ?? [])
    for (const [path, content] of Object.entries(this.options.mountNamespaceFiles ?? {})) {
      const dir = dirname(path)
      byDir.set(dir, [...(byDir.get(dir) ?? []), [path.slice(dir.length + 1), content]])
    }
    let index = 0
    for (const [dir, files] of byDir) {
      if (!dir.startsWith('/') || /[,:\s\\]/.test(dir)) throw new Error(`cannot overlay ${dir}: use an absolute path without , : or spaces`)
      const base = join(this.dir, 'overlay', String(index++))
      const upper = join(base, 'upper')
      const work = join(base, 'work')
      await mkdir(upper, {recursive: true})
      await mkdir(work, {recursive: true})
      await chmod(upper, 0o755)
      for (const [name, content] of files) await writeFile(join(upper, name), content, {mode: 0o600})
      await this.#mkdirTracked(dir)
      this.#overlays.push({dir, upper, work})
    }
  }

  /**
   * `mkdir -p` on the host, remembering what rigs created so the last rig using such a directory
   * removes it (another rig may still have its overlay mounted there).
   */
  async #mkdirTracked(dir: string): Promise<void> {
    const chain: string[] = []
    for (let current = dir; current !== dirname(current); current = dirname(current)) chain.unshift(current)
    for (const path of chain) {
      const users = createdDirs.get(path)
      if (users) {
        users.add(this)
        this.#createdDirs.push(path)
      } else if (!existsSync(path)) {
        await mkdir(path)
        createdDirs.set(path, new Set([this]))
        this.#createdDirs.push(path)
      }
    }
  }

  /** Directories this rig created or shared that no other live rig uses now, deepest first. */
  #takeDirsToRemove(): string[] {
    const mine = [...this.#createdDirs].reverse()
    this.#createdDirs = []
    const free: string[] = []
    for (const path of mine) {
      const users = createdDirs.get(path)
      users?.delete(this)
      if (users && users.size === 0) {
        createdDirs.delete(path)
        free.push(path)
      }
    }
    return free
  }

  async #makeNamespace(): Promise<void> {
    const start = (process.pid * 7 + live.size * 13) % 250
    for (let i = 0; i < 250; i++) {
      const n = ((start + i) % 250) + 1
      const hostSide = `acvh${n}`
      const created = await execQuiet('ip', ['link', 'add', hostSide, 'type', 'veth', 'peer', 'name', `acvv${n}`])
      if (created.code !== 0) {
        if (/exists/i.test(created.stderr)) continue
        throw new Error(`ip link add failed: ${created.stderr.trim()}`)
      }
      this.#veth = hostSide
      const ns = `acns-${process.pid}-${n}`
      this.netns = ns
      await execChecked('ip', ['netns', 'add', ns])
      await execChecked('ip', ['link', 'set', `acvv${n}`, 'netns', ns])
      await execChecked('ip', ['addr', 'add', `10.200.${n}.1/30`, 'dev', hostSide])
      await execChecked('ip', ['link', 'set', hostSide, 'up'])
      await execChecked('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `10.200.${n}.2/30`, 'dev', `acvv${n}`])
      await execChecked('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', `acvv${n}`, 'up'])
      await execChecked('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'])
      this.host = `10.200.${n}.2`
      this.hostAddress = `10.200.${n}.1`
      return
    }
    throw new Error('no free 10.200.N.0/30 subnet for a test namespace')
  }
}

/**
 * Runs inside the new mount + PID namespace: overlays (dir upper work triples), the clean
 * `.bashrc`, then sshd as PID 1.
 * `unshare` makes the mount namespace private, so none of this is visible outside.
 */
const LAUNCH_SCRIPT = [
  'set -e',
  'config=$1 bashrc=$2 etcssh=$3; shift 3',
  'while [ $# -ge 3 ]; do',
  '  mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$1"',
  '  shift 3',
  'done',
  'if [ -n "$bashrc" ] && [ -f /root/.bashrc ]; then mount --bind "$bashrc" /root/.bashrc; fi',
  'if [ -n "$etcssh" ]; then mkdir -p /etc/ssh; mount --bind "$etcssh" /etc/ssh; fi',
  `exec ${SSHD} -D -e -f "$config"`,
].join('\n')

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const rig of live) rig.stopSync()
  })
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** Resolves once `pid` is gone or a zombie. */
async function waitUntilDead(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    let stat: string
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    } catch {
      return
    }
    if (/^\S+ \(.*\) Z /.test(stat)) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`process ${pid} (the test VM's PID 1) did not die within ${timeoutMs} ms`)
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

/** Resolves once `host:port` accepts a TCP connection. */
export async function waitForTcp(host: string, port: number, timeoutMs: number): Promise<void> {
  const {connect} = await import('node:net')
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({host, port})
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`${host}:${port} did not accept connections within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
