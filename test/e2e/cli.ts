/**
 * Drives the BUILT CLI (`node bin/run.js …`) as a child process against the `local` provider, in a
 * temp project directory whose local roots live inside it. Tests poll with deadlines, never sleep
 * for timing, and clean up with `destroy -y` plus a kill of any supervisor left under the roots.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {stringify as stringifyYaml} from 'yaml'

import {planInOutput, recordPlan} from './plan-golden.js'

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const BIN = join(REPO, 'bin', 'run.js')

// The e2e tests need the compiled CLI: fail loudly rather than test a stale or missing build.
if (!existsSync(join(REPO, 'dist', 'commands', 'apply.js'))) {
  throw new Error(`${join(REPO, 'dist')} is missing: compile first (npx tsc -p tsconfig.json && npx oclif manifest && node scripts/normalize-manifest.js)`)
}

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface RunOptions {
  env?: Record<string, string | undefined>
  /** Kill the child (SIGKILL) after this long; the result then has signal set. */
  timeoutMs?: number
  input?: string
}

/** A temp project: `dir` holds anycloud.yaml; `home` is ANYCLOUD_HOME. */
export class Project {
  readonly dir: string
  readonly home: string
  private readonly children = new Set<ChildProcess>()

  /**
   * @param options.noAnsi every run in CI mode fails if its stdout or stderr carries an escape code
   *   (SPEC §3: no colour codes without a TTY or with CI=true)
   */
  constructor(yaml: string, private readonly options: {noAnsi?: boolean} = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'anycloud-e2e-'))
    this.home = join(this.dir, '.home')
    mkdirSync(this.home, {mode: 0o700})
    this.write(yaml)
  }

  write(yaml: string): void {
    writeFileSync(join(this.dir, 'anycloud.yaml'), yaml)
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts)
  }

  env(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {...process.env, CI: 'true', ANYCLOUD_HOME: this.home, ...extra}
    for (const k of ['FORCE_COLOR', 'ANYCLOUD_TEST_CRASH_AT', 'NODE_OPTIONS', 'DEBUG']) if (!(k in extra)) delete env[k]
    for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k]
    return env
  }

  /** Starts the CLI; the caller owns the child (it is killed in cleanup if still alive). */
  start(args: string[], options: RunOptions = {}): ChildProcess & {out: {stdout: string; stderr: string}} {
    const child = spawn(process.execPath, [BIN, ...args], {cwd: this.dir, env: this.env(options.env), stdio: ['pipe', 'pipe', 'pipe']}) as ChildProcess & {out: {stdout: string; stderr: string}}
    child.out = {stdout: '', stderr: ''}
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (child.out.stdout += d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (child.out.stderr += d))
    if (options.input !== undefined) child.stdin!.end(options.input)
    else child.stdin!.end()
    this.children.add(child)
    child.once('exit', () => this.children.delete(child))
    return child
  }

  async run(args: string[], options: RunOptions = {}): Promise<RunResult> {
    const t0 = Date.now()
    const child = this.start(args, options)
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    let result: RunResult
    try {
      result = await finished(child)
    } finally {
      clearTimeout(timer)
    }
    if (process.env.ANYCLOUD_TEST_TIMES) appendFileSync(`${process.env.ANYCLOUD_TEST_TIMES}.cli`, `${JSON.stringify({args: args.join(' '), ms: Date.now() - t0, pid: process.pid})}\n`)
    const plan = planInOutput(args, result.stdout)
    if (plan) recordPlan(plan, this.dir)
    if (this.options.noAnsi && this.env(options.env).CI && (ANSI.test(result.stdout) || ANSI.test(result.stderr))) {
      throw new Error(`anycloud ${args.join(' ')} printed an escape code with CI=true:\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`)
    }
    return result
  }

  /** Runs and asserts the exit code, showing the output when it differs. */
  async expect(args: string[], code: number, options: RunOptions = {}): Promise<RunResult> {
    const r = await this.run(args, options)
    if (r.code !== code) {
      throw new Error(`anycloud ${args.join(' ')}: expected exit ${code}, got ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`)
    }
    return r
  }

  state(): StateDoc | undefined {
    const p = this.path('.anycloud', 'state.json')
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as StateDoc) : undefined
  }

  private stateOrUndefined(): StateDoc | undefined {
    try {
      return this.state()
    } catch {
      return undefined
    }
  }

  /** destroy -y (best effort), then SIGKILL whatever is left under every local root, then rm -rf. */
  async cleanup(roots: string[] = ['cloud']): Promise<void> {
    for (const c of this.children) c.kill('SIGKILL')
    await Promise.all([...this.children].map((c) => finished(c).catch(() => undefined)))
    for (const r of roots) rmSync(join(this.dir, r, '.anycloud-fault.json'), {force: true})
    const deployments = Object.keys(this.stateOrUndefined()?.deployments ?? {})
    if (deployments.length > 0 && existsSync(this.path('anycloud.yaml'))) await this.run(['destroy', '-y'], {timeoutMs: 60_000}).catch(() => undefined)
    for (const r of roots) killLeftovers(this.path(r))
    rmSync(this.dir, {recursive: true, force: true})
  }
}

export interface StateDoc {
  lineage: string
  serial: number
  deployments: Record<string, {id: string; placement?: {credential: string; zone?: string}; resources: Record<string, {status: string; name: string; id: string; credential: string; attributes: Record<string, unknown>; outputs?: Record<string, unknown>}>; workload?: {phase: string; exitCode?: number}}>
}

export function finished(child: ChildProcess & {out?: {stdout: string; stderr: string}}): Promise<RunResult> {
  return new Promise((resolveRun, reject) => {
    const done = () => resolveRun({code: child.exitCode, signal: child.signalCode, stdout: child.out?.stdout ?? '', stderr: child.out?.stderr ?? ''})
    if (child.exitCode !== null || child.signalCode !== null) {
      // Let the pipes drain.
      setImmediate(done)
      return
    }
    child.once('close', done)
    child.once('error', reject)
  })
}

/** Polls `check` until it returns a truthy value or the deadline passes (then throws with `what`). */
export async function until<T>(what: string, check: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** Resolves once the child's stderr matches `pattern`. */
export function stderrMatch(child: ChildProcess & {out: {stderr: string}}, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  return until(`stderr to match ${pattern}`, () => pattern.test(child.out.stderr) || child.exitCode !== null, timeoutMs, 10).then(() => {
    if (!pattern.test(child.out.stderr)) throw new Error(`the CLI exited (${child.exitCode}) before its stderr matched ${pattern}:\n${child.out.stderr}`)
  })
}

// --------------------------------------------------------------------------------------------
// The local cloud as files and processes

export function machines(root: string): string[] {
  const dir = join(root, 'machines')
  return existsSync(dir) ? readdirSync(dir).sort() : []
}

export function buckets(root: string): string[] {
  const dir = join(root, 'buckets')
  return existsSync(dir) ? readdirSync(dir).sort() : []
}

function readPid(path: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8').trim(), 10)
    return Number.isInteger(n) && n > 1 ? n : undefined
  } catch {
    return undefined
  }
}

/** Whether `pid` lives and is still the process that belongs to `marker` (its cmdline or environ names it). */
export function ownsProcess(pid: number | undefined, marker: string): boolean {
  if (!pid) return false
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    if (/\) Z /.test(stat)) return false
    let environ = ''
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'utf8')
    } catch {}
    return cmdline.includes(marker) || environ.includes(marker)
  } catch {
    return false
  }
}

/** Live supervisor processes of the machines under `root`. */
export function liveSupervisors(root: string): number[] {
  const out: number[] = []
  for (const m of machines(root)) {
    const pid = readPid(join(root, 'machines', m, 'supervisor.pid'))
    if (ownsProcess(pid, m)) out.push(pid!)
  }
  return out
}

/** Every process on this host whose command line or environment names a path under `root` (supervisors and jobs). */
export function processesUnder(root: string): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    if (ownsProcess(Number(entry), root)) out.push(Number(entry))
  }
  return out
}

/** Supervisor processes (any, not only the one a pid file names) of the machines under `root`. */
export function supervisorProcesses(root: string): number[] {
  return processesUnder(join(root, 'machines')).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('supervisor')
    } catch {
      return false
    }
  })
}

/** Last line of defence: SIGKILL the supervisors and command groups of every machine under `root`. */
export function killLeftovers(root: string): void {
  for (const m of machines(root)) {
    for (const f of ['supervisor.pid', 'command.pid']) {
      const pid = readPid(join(root, 'machines', m, f))
      if (!ownsProcess(pid, m)) continue
      for (const target of f === 'command.pid' ? [-pid!, pid!] : [pid!]) {
        try {
          process.kill(target, 'SIGKILL')
        } catch {}
      }
    }
  }
  for (const pid of existsSync(root) ? processesUnder(root) : []) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
}

/** ESC — no colour code or cursor movement may appear in CI output. */
export const ANSI = /\u001B\[/

export function yamlOf(lines: string[]): string {
  return lines.join('\n') + '\n'
}

/** Seeds a bucket directory (e.g. an input bucket) in a local root. */
export function seedBucket(root: string, name: string, files: Record<string, string> = {'data.txt': 'one two three\n'}): void {
  const dir = join(root, 'buckets', name)
  mkdirSync(dir, {recursive: true})
  for (const [f, content] of Object.entries(files)) writeFileSync(join(dir, f), content)
}

export interface ConfigOptions {
  project?: string
  /** Credential name → local root (relative to the project dir). */
  credentials?: Record<string, string>
  profiles: Record<string, Record<string, unknown>>
}

/** An anycloud.yaml with `local` credentials only. */
export function configYaml(options: ConfigOptions): string {
  const credentials = Object.fromEntries(Object.entries(options.credentials ?? {laptop: 'cloud'}).map(([name, root]) => [name, {provider: 'local', root}]))
  return stringifyYaml({version: 1, project: options.project ?? 'e2e', credentials, profiles: options.profiles})
}

/** A quickstart-like profile: input, output and (spot) checkpoint buckets; a job that writes its output and keeps running. */
export function jobProfile(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    credentials: 'laptop',
    runtime: 'process',
    spot: true,
    inputBucket: 'e2e-input',
    outputBucket: 'e2e-output',
    syncIntervalSeconds: 1,
    command: ['sh', '-c', 'wc -w "$ANYCLOUD_INPUT"/*.txt > "$ANYCLOUD_OUTPUT/report.txt"; exec sleep 300'],
    ...overrides,
  }
}
