/**
 * The `local` provider's workload supervisor: what supervisord + the rclone services are on a cloud
 * VM (SPEC §5), as one detached Node process per workload.
 *
 * Usage: `node supervisor.js WORKSPACE` (spawned by `createLocalProvider`'s workload create, with
 * stdout/stderr appended to `WORKSPACE/supervisor.log`). It reads `job.json`, `env` and
 * `workload.json` from the workspace and:
 *
 * 1. writes its pid to `supervisor.pid` and `status.json` with phase `pending`;
 * 2. mirrors the input bucket into `input/` once (`rclone sync` semantics);
 * 3. copies the checkpoint bucket into `checkpoint/` once (restore after a preemption);
 * 4. starts the command in its own process group (`runtime: process`: a list is exec'd without a
 *    shell, a string runs through `sh -c`; `runtime: docker`: an attached `docker run` with the three
 *    bind mounts and `--env-file`), cwd = the workspace, stdout+stderr appended to `workload.log`,
 *    and records phase `running`;
 * 5. every `syncIntervalSeconds` copies `output/` and `checkpoint/` to their buckets (`rclone copy`
 *    semantics: new and changed files only, never a delete, temp name + rename), and once more after
 *    the command exits;
 * 6. records `completed` (exit 0) or `failed` with the exit code, and exits.
 *
 * SIGTERM (or SIGINT) stops the command (SIGTERM to its group, SIGKILL after STOP_GRACE_MS), then
 * does the final sync and records the exit as in 6. Env values reach the command only through its
 * environment (read from the 0600 env file): never argv, never a log line, never status.json.
 */
import {execFile, spawn, type ChildProcess} from 'node:child_process'
import {closeSync, openSync, readFileSync, writeSync} from 'node:fs'
import {constants as osConstants} from 'node:os'
import {join, resolve} from 'node:path'

import {writeFileAtomic} from '../../util/atomic-write.js'
import {WORKSPACE_FILES} from './layout.js'
import {INHERITED_ENV, STOP_GRACE_MS, groupAlive, parseEnvFile, signalGroup, waitFor, type JobSpec, type SupervisorStatus, type WorkloadRecord} from './job.js'
import {SourceMissingError, copyTree} from './tree-sync.js'

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${message}\n`)
}

class Supervisor {
  private readonly file = (name: string): string => join(this.workspace, name)
  private status!: SupervisorStatus
  private job!: JobSpec
  private child: ChildProcess | undefined
  private stopRequested = false
  private killTimer: NodeJS.Timeout | undefined
  private syncTimer: NodeJS.Timeout | undefined
  private syncing: Promise<void> | undefined
  private exited: Promise<{exitCode: number; signal?: string}> | undefined

  constructor(private readonly workspace: string) {}

  async run(): Promise<number> {
    writeFileAtomic(this.file(WORKSPACE_FILES.supervisorPid), `${process.pid}\n`, {mode: 0o644})
    this.job = JSON.parse(readFileSync(this.file(WORKSPACE_FILES.job), 'utf8')) as JobSpec
    const workload = JSON.parse(readFileSync(this.file(WORKSPACE_FILES.workload), 'utf8')) as WorkloadRecord
    this.status = {phase: 'pending', supervisorPid: process.pid, specHash: workload.specHash, bootstrapHash: this.job.specHash, lastSync: {}}
    this.writeStatus()
    process.on('SIGTERM', () => this.requestStop('SIGTERM'))
    process.on('SIGINT', () => this.requestStop('SIGINT'))
    process.on('SIGHUP', () => {}) // detached: a closing terminal is not a stop request

    try {
      await this.prepare()
    } catch (error) {
      return this.fail(error)
    }
    if (this.stopRequested) {
      this.finish({exitCode: 128 + osConstants.signals.SIGTERM, signal: 'SIGTERM'})
      return 0
    }

    try {
      this.exited = this.startCommand()
    } catch (error) {
      return this.fail(error)
    }
    this.status = {...this.status, phase: 'running', pid: this.child?.pid, startedAt: new Date().toISOString()}
    this.writeStatus()
    const period = Math.max(1, this.job.syncIntervalSeconds) * 1000
    this.syncTimer = setInterval(() => {
      if (!this.syncing) this.syncing = this.syncOnce().finally(() => (this.syncing = undefined))
    }, period)

    const result = await this.exited
    clearInterval(this.syncTimer)
    if (this.killTimer) clearTimeout(this.killTimer)
    // Processes the command left behind in its group are part of the job: stop them too, like a container stop.
    const pid = this.child?.pid
    if (pid !== undefined && groupAlive(pid, this.marker())) {
      signalGroup(pid, 'SIGTERM')
      if (!(await waitFor(() => !groupAlive(pid, this.marker()), 2_000))) signalGroup(pid, 'SIGKILL')
    }
    await this.syncing
    await this.syncOnce()
    this.finish(result)
    return 0
  }

  private marker(): string {
    return `ANYCLOUD_DEPLOYMENT_ID=${this.job.deploymentId}`
  }

  /** Input download (mirror) and checkpoint restore (copy), once, before the command starts. */
  private async prepare(): Promise<void> {
    const {input, checkpoint} = this.job.buckets
    if (input) {
      try {
        const r = await copyTree(input.dir, this.file(WORKSPACE_FILES.input), {mirror: true})
        log(`input: ${r.copied} file(s) downloaded, ${r.deleted} removed from ${input.dir}`)
        for (const e of r.errors) log(`input: ${e}`)
      } catch (error) {
        if (error instanceof SourceMissingError) throw new Error(`input bucket '${input.name}' does not exist (no directory ${input.dir})`)
        throw error
      }
    }
    if (checkpoint) {
      try {
        const r = await copyTree(checkpoint.dir, this.file(WORKSPACE_FILES.checkpoint))
        log(`checkpoint: ${r.copied} file(s) restored from ${checkpoint.dir}`)
      } catch (error) {
        if (!(error instanceof SourceMissingError)) throw error
        log(`checkpoint: bucket '${checkpoint.name}' does not exist yet; nothing to restore`)
      }
    }
  }

  private commandEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {}
    for (const k of INHERITED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k]
    return {...env, ...parseEnvFile(readFileSync(this.file(WORKSPACE_FILES.env), 'utf8'))}
  }

  private startCommand(): Promise<{exitCode: number; signal?: string}> {
    const env = this.commandEnv()
    let file: string
    let args: string[]
    if (this.job.runtime === 'docker') {
      if (!this.job.image) throw new Error('runtime docker needs an image')
      ;[file, args] = ['docker', this.dockerArgs()]
      // Best effort: a container of a previous (lost) supervisor would make the name clash.
      execFile('docker', ['rm', '-f', this.containerName()], () => {})
    } else {
      const command = this.job.command
      if (command === undefined || (Array.isArray(command) && command.length === 0)) throw new Error('runtime process needs a command')
      ;[file, args] = typeof command === 'string' ? ['sh', ['-c', command]] : [command[0], command.slice(1)]
    }
    const logFd = openSync(this.file(WORKSPACE_FILES.workloadLog), 'a', 0o600)
    try {
      // detached: its own process group, so a stop reaches everything it started (sh -c children too).
      this.child = spawn(file, args, {cwd: this.workspace, env, detached: true, stdio: ['ignore', logFd, logFd]})
    } finally {
      closeSync(logFd)
    }
    const child = this.child
    return new Promise((resolveExit) => {
      child.once('error', (error) => {
        // e.g. ENOENT: the executable does not exist. The name is from the profile, not a secret.
        const fd = openSync(this.file(WORKSPACE_FILES.workloadLog), 'a', 0o600)
        try {
          const line = `anycloud: cannot start ${JSON.stringify(file)}: ${(error as NodeJS.ErrnoException).code ?? error.message}\n`
          writeSyncAll(fd, line)
        } finally {
          closeSync(fd)
        }
        resolveExit({exitCode: 127})
      })
      child.once('exit', (code, signal) => {
        resolveExit(code !== null ? {exitCode: code} : {exitCode: 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0), signal: signal ?? undefined})
      })
      if (child.pid !== undefined) writeFileAtomic(this.file(WORKSPACE_FILES.commandPid), `${child.pid}\n`, {mode: 0o644})
    })
  }

  private containerName(): string {
    return `anycloud-${this.job.deploymentId}`
  }

  private dockerArgs(): string[] {
    const {deploymentId, project, image, command, shmSize, gpus} = this.job
    const args = [
      'run', '--rm', '--name', this.containerName(),
      '--label', 'anycloud-managed=true', '--label', `anycloud-project=${project}`, '--label', `anycloud-deployment=${deploymentId}`,
      '-v', `${this.file(WORKSPACE_FILES.input)}:/mnt/input:ro`,
      '-v', `${this.file(WORKSPACE_FILES.output)}:/mnt/output`,
      '-v', `${this.file(WORKSPACE_FILES.checkpoint)}:/mnt/checkpoint`,
      // Values travel in the 0600 file, never on this command line.
      '--env-file', this.file(WORKSPACE_FILES.env),
    ]
    if (shmSize !== undefined) args.push('--shm-size', String(shmSize))
    if (gpus !== undefined) args.push('--gpus', String(gpus))
    args.push(image as string)
    if (typeof command === 'string') args.push('sh', '-c', command)
    else if (command) args.push(...command)
    return args
  }

  /** One upload round: output/ then checkpoint/ to their buckets, `copy` semantics. */
  private async syncOnce(): Promise<void> {
    const errors: string[] = []
    for (const role of ['output', 'checkpoint'] as const) {
      const bucket = this.job.buckets[role]
      if (!bucket) continue
      try {
        const r = await copyTree(this.file(WORKSPACE_FILES[role]), bucket.dir)
        if (r.copied > 0) log(`${role}: ${r.copied} file(s), ${r.bytes} bytes uploaded to ${bucket.dir}`)
        errors.push(...r.errors.map((e) => `${role}: ${e}`))
        this.status.lastSync = {...this.status.lastSync, [role]: new Date().toISOString()}
      } catch (error) {
        if (error instanceof SourceMissingError) continue // the command removed its own dir: nothing to upload
        errors.push(`${role}: ${(error as Error).message}`)
      }
    }
    for (const e of errors) log(`sync: ${e}`)
    this.status.syncErrors = errors.length > 0 ? errors : undefined
    this.writeStatus()
  }

  private requestStop(signal: NodeJS.Signals): void {
    if (this.stopRequested) return
    this.stopRequested = true
    this.status.stopped = true
    log(`${signal}: stopping the workload`)
    const pid = this.child?.pid
    if (pid === undefined) return // not started yet: run() sees the flag after the downloads
    signalGroup(pid, 'SIGTERM')
    if (this.job.runtime === 'docker') execFile('docker', ['stop', '-t', String(STOP_GRACE_MS / 1000), this.containerName()], () => {})
    this.killTimer = setTimeout(() => {
      log(`the command did not stop within ${STOP_GRACE_MS} ms: SIGKILL`)
      signalGroup(pid, 'SIGKILL')
    }, STOP_GRACE_MS)
  }

  private finish(result: {exitCode: number; signal?: string}): void {
    this.status = {
      ...this.status,
      phase: result.exitCode === 0 ? 'completed' : 'failed',
      exitCode: result.exitCode,
      signal: result.signal,
      finishedAt: new Date().toISOString(),
    }
    this.writeStatus()
    log(`workload ${this.status.phase} (exit ${result.exitCode})`)
  }

  private fail(error: unknown): number {
    const message = error instanceof Error ? error.message : String(error)
    log(`failed: ${message}`)
    const pid = this.child?.pid
    if (pid !== undefined) signalGroup(pid, 'SIGKILL')
    this.status = {...this.status, phase: 'failed', error: message, finishedAt: new Date().toISOString()}
    this.writeStatus()
    return 1
  }

  private writeStatus(): void {
    writeFileAtomic(this.file(WORKSPACE_FILES.status), JSON.stringify(this.status, null, 2) + '\n', {mode: 0o644})
  }
}

function writeSyncAll(fd: number, text: string): void {
  const buffer = Buffer.from(text)
  let offset = 0
  while (offset < buffer.length) offset += writeSync(fd, buffer, offset)
}

const workspaceArg = process.argv[2]
if (!workspaceArg) {
  log('usage: supervisor WORKSPACE')
  process.exit(2)
}
new Supervisor(resolve(workspaceArg))
  .run()
  .then((code) => process.exit(code))
  .catch((error: unknown) => {
    log(`supervisor crashed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    process.exit(1)
  })

