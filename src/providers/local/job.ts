import {readdirSync, readFileSync} from 'node:fs'
import {readFile} from 'node:fs/promises'

import type {BucketRole, WorkloadPhase} from '../../model/resources.js'
import type {Runtime} from '../../config/types.js'
import {pidExists} from '../../util/process.js'

/**
 * The files the `local` provider and its supervisor exchange inside a machine workspace, and the
 * process helpers both sides use. Only public values live in these JSON files; env values live only
 * in the 0600 `env` file.
 */

/** `job.json`: rendered by the bootstrap, read by the supervisor. */
export interface JobSpec {
  formatVersion: 1
  project: string
  profile: string
  deploymentId: string
  runtime: Runtime
  image?: string
  /** A list is exec'd as is (no shell); a string runs through `sh -c`. */
  command?: string[] | string
  shmSize?: string | number
  gpus?: 'all' | number
  /** Absolute bucket directories by role (only the roles the profile has). */
  buckets: Partial<Record<BucketRole, {name: string; dir: string}>>
  syncIntervalSeconds: number
  /** Names of the variables in the env file (user ones, then ANYCLOUD_*). Never values. */
  envNames: string[]
  /** The bootstrap hash these files were rendered with (see renderLocalBootstrap). */
  specHash: string
}

/** `bootstrap.json`. */
export interface BootstrapRecord {
  hash: string
  files: string[]
  renderedAt: string
}

/** `workload.json`: what the provider created the workload with. */
export interface WorkloadRecord {
  /** The desired attributes as given by the engine (public: sensitive env only as markers). */
  attributes: Record<string, unknown>
  /** The engine's `attributes.specHash` when given, else the bootstrap hash. */
  specHash: string
  bootstrapHash: string
  createdAt: string
  token?: string
}

/** `status.json`, written atomically by the supervisor only. */
export interface SupervisorStatus {
  /** `pending` while the input is downloaded and the checkpoint restored. */
  phase: 'pending' | 'running' | 'completed' | 'failed'
  supervisorPid: number
  /** The command's pid (its process group id) once started. */
  pid?: number
  specHash: string
  bootstrapHash: string
  startedAt?: string
  finishedAt?: string
  exitCode?: number
  /** Set when the command ended by a signal (e.g. `SIGTERM` from a delete). */
  signal?: string
  /** Set when the workload was stopped on request (delete / SIGTERM to the supervisor). */
  stopped?: boolean
  /** Why the supervisor failed before or around the command (never a secret). */
  error?: string
  /** ISO time of the last completed upload of each bucket. */
  lastSync: {output?: string; checkpoint?: string}
  /** Sync problems of the last round, if any (public paths and messages). */
  syncErrors?: string[]
}

/** Between SIGTERM and SIGKILL of a command's process group (the supervisor's stop). */
export const STOP_GRACE_MS = 10_000

/**
 * Variables of the caller's environment that the supervisor and the command inherit. Everything else
 * (cloud keys in the user's shell, tokens…) stays out: a job sees what a VM would give it, plus its env file.
 */
export const INHERITED_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'TERM'] as const

/** Phases that end a workload. */
export function isFinished(phase: WorkloadPhase | SupervisorStatus['phase']): boolean {
  return phase === 'completed' || phase === 'failed'
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * Renders `NAME=VALUE` lines, the format `docker run --env-file` reads (no quoting, no escapes),
 * which the supervisor parses the same way for `runtime: process`. A value cannot span lines in
 * that format, so such a value is refused instead of being silently cut.
 */
export function formatEnvFile(entries: Array<[string, string]>): string {
  let out = ''
  for (const [name, value] of entries) {
    if (!ENV_NAME.test(name)) throw new Error(`env name '${name}' is not a valid variable name`)
    if (/[\r\n\0]/.test(value)) {
      throw new Error(`env value of ${name} spans several lines (or holds a NUL): the local runtime cannot pass it; encode it (e.g. base64)`)
    }
    out += `${name}=${value}\n`
  }
  return out
}

/** Parses an env file written by {@link formatEnvFile}: first `=` splits; blank and `#` lines ignored; last wins. */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const i = line.indexOf('=')
    if (i <= 0) continue
    env[line.slice(0, i)] = line.slice(i + 1)
  }
  return env
}

export async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined
    throw error
  }
  return JSON.parse(text) as T
}

export async function readPid(path: string): Promise<number | undefined> {
  try {
    const n = Number.parseInt((await readFile(path, 'utf8')).trim(), 10)
    return Number.isInteger(n) && n > 1 ? n : undefined
  } catch {
    return undefined
  }
}

/**
 * Whether `pid` is alive AND still the process we started: pids are reused, and signalling a
 * stranger must never happen. Where /proc exists (Linux), the process's command line or
 * environment must contain `marker` (the workspace path for a supervisor, the
 * `ANYCLOUD_DEPLOYMENT_ID=…` entry for a command); a zombie has neither and counts as dead.
 * Elsewhere, existence is all we can check.
 */
export function isOurProcess(pid: number | undefined, marker: string): boolean {
  if (pid === undefined || pid <= 1 || !pidExists(pid)) return false
  let cmdline: string
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' && !procAvailable()) return true
    return false
  }
  // Whole arguments only: `/m/proj-a` must not match a supervisor of `/m/proj-ab`.
  if (cmdline.split('\0').includes(marker)) return true
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(marker)
  } catch {
    return false
  }
}

let procChecked: boolean | undefined
function procAvailable(): boolean {
  if (procChecked === undefined) {
    try {
      readFileSync('/proc/self/cmdline')
      procChecked = true
    } catch {
      procChecked = false
    }
  }
  return procChecked
}

/**
 * Whether the process group `pgid` (a command we started with `detached: true`) still has a live
 * member. Zombies do not count: an orphan that died waits for init to reap it, which can take a
 * while in containers, and it holds nothing. A pid cannot be handed out while a group of that id
 * exists, so a live group is ours unless its leader is alive and is someone else (the pid reused
 * after our whole group ended).
 */
export function groupAlive(pgid: number | undefined, marker: string): boolean {
  if (pgid === undefined || pgid <= 1) return false
  try {
    process.kill(-pgid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  if (!procAvailable()) return true
  const members = groupMembers(pgid)
  if (members.length === 0) return false
  if (members.some((m) => m.pid === pgid)) return isOurProcess(pgid, marker)
  return true
}

/** Live (non-zombie) members of a process group, from /proc (Linux). */
function groupMembers(pgid: number): Array<{pid: number}> {
  const out: Array<{pid: number}> = []
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return out
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8')
    } catch {
      continue // exited meanwhile
    }
    // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') out.push({pid: Number(name)})
  }
  return out
}

/** Sends `signal` to a process group, ignoring "already gone". */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal)
  } catch {
    // already gone
  }
}

export function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal)
  } catch {
    // already gone
  }
}

/** Polls `check` every `intervalMs` until it returns true or `timeoutMs` passes; resolves with the last answer. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return true
    if (Date.now() >= deadline) return false
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(1, deadline - Date.now()))))
  }
}

/** The env-file entry that marks a command's processes as belonging to a deployment. */
export function deploymentMarker(deploymentId: string): string {
  return `ANYCLOUD_DEPLOYMENT_ID=${deploymentId}`
}
