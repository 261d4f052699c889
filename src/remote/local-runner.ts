import {spawn} from 'node:child_process'
import {readFile} from 'node:fs/promises'
import {constants as osConstants} from 'node:os'
import type {CommandRunner, RunOptions, RunResult, UploadOptions} from './command-runner.js'
import {RemoteCommandAbortedError, RemoteCommandTimeoutError, RemoteFileError} from './errors.js'
import {READ_FILE_MISSING, composeReadFile, composeUpload} from './shell.js'

/** Options of {@link LocalRunner}. */
export interface LocalRunnerOptions {
  /** Prefix every command with `sudo -n` (default: false). */
  sudo?: boolean
  /** Working directory for commands (default: the current one). */
  cwd?: string
  /** Environment for commands (default: this process's). */
  env?: NodeJS.ProcessEnv
  /** Overrides {@link LocalRunner.description} (default `local`). */
  description?: string
}

/** Counters, for parity with the SSH runner's. */
export interface LocalRunnerStats {
  execs: number
}

/**
 * A {@link CommandRunner} on this machine, for the `local` provider and tests. Commands run with
 * `bash -c` in their own process group, so a timeout or an abort stops the whole tree
 * (SIGTERM, then SIGKILL after a grace period).
 */
export class LocalRunner implements CommandRunner {
  readonly description: string
  readonly sudo: boolean
  readonly stats: LocalRunnerStats = {execs: 0}
  readonly #cwd: string | undefined
  readonly #env: NodeJS.ProcessEnv | undefined

  constructor(options: LocalRunnerOptions = {}) {
    this.sudo = options.sudo ?? false
    this.description = options.description ?? 'local'
    this.#cwd = options.cwd
    this.#env = options.env
  }

  /** Runs `command` with `bash -c` (under `sudo -n` when {@link sudo}). Never rejects on a non-zero exit. */
  async run(command: string, options: RunOptions = {}): Promise<RunResult> {
    const result = await this.#spawn(['-c', command], options)
    return {exitCode: result.exitCode, stdout: result.stdout.toString('utf8'), stderr: result.stderr}
  }

  /** Same script as the SSH runner (content on stdin, 0600 temp file, `mv -fT`). */
  async upload(path: string, content: string | Buffer, mode: number, options?: UploadOptions): Promise<void> {
    const line = composeUpload(path, mode, options, {sudo: false})
    const result = await this.#spawn(['-c', line], {stdin: content})
    if (result.exitCode !== 0) {
      throw new RemoteFileError(`Could not write ${path} on ${this.description}: ${result.stderr.trim().split('\n').at(-1) || `exit ${result.exitCode}`}`)
    }
  }

  /** Reads a file; `undefined` when it does not exist. */
  async readFile(path: string): Promise<Buffer | undefined> {
    if (!this.sudo) {
      try {
        return await readFile(path)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw new RemoteFileError(`Could not read ${path} on ${this.description}: ${(error as Error).message}`, error)
      }
    }
    const result = await this.#spawn(['-c', composeReadFile(path, {sudo: false})], {})
    if (result.exitCode === READ_FILE_MISSING) return undefined
    if (result.exitCode !== 0) throw new RemoteFileError(`Could not read ${path} on ${this.description}: ${result.stderr.trim()}`)
    return result.stdout
  }

  /** Nothing to release. */
  async close(): Promise<void> {}

  #spawn(bashArgs: string[], options: RunOptions): Promise<{exitCode: number; stdout: Buffer; stderr: string}> {
    if (options.signal?.aborted) return Promise.reject(new RemoteCommandAbortedError(this.description, options.signal.reason))
    this.stats.execs++
    const [file, args] = this.sudo ? ['sudo', ['-n', 'bash', ...bashArgs]] : ['bash', bashArgs]
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, {cwd: this.#cwd, env: this.#env, detached: true, stdio: ['pipe', 'pipe', 'pipe']})
      const stdout: Buffer[] = []
      const stderr: Buffer[] = []
      const timers: NodeJS.Timeout[] = []
      let stopping: Error | undefined
      let settled = false
      const finish = (error: Error | undefined, code = 0): void => {
        if (settled) return
        settled = true
        for (const timer of timers) clearTimeout(timer)
        options.signal?.removeEventListener('abort', onAbort)
        if (error) reject(error)
        else resolve({exitCode: code, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString('utf8')})
      }
      const killGroup = (signal: NodeJS.Signals): void => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, signal)
        } catch {
          // already gone
        }
      }
      const stop = (error: Error): void => {
        if (stopping) return
        stopping = error
        killGroup('SIGTERM')
        timers.push(setTimeout(() => killGroup('SIGKILL'), 3_000))
        // A descendant that left the group may hold the pipes open: do not wait for it.
        timers.push(setTimeout(() => finish(error), 5_000))
      }
      const partial = (): {stdout: string; stderr: string} => ({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      })
      const onAbort = (): void => stop(new RemoteCommandAbortedError(this.description, options.signal?.reason))
      options.signal?.addEventListener('abort', onAbort, {once: true})
      if (options.timeoutMs !== undefined) {
        const timeoutMs = options.timeoutMs
        timers.push(setTimeout(() => stop(new RemoteCommandTimeoutError(this.description, timeoutMs, partial())), timeoutMs))
      }
      child.stdout.on('data', (chunk: Buffer) => {
        stdout.push(chunk)
        options.onStdout?.(chunk)
      })
      child.stderr.on('data', (chunk: Buffer) => {
        stderr.push(chunk)
        options.onStderr?.(chunk)
      })
      child.stdin.on('error', () => {
        // the command did not read all of its stdin (EPIPE): not an error of ours
      })
      child.on('error', (error) => finish(error))
      child.on('close', (code, signal) => {
        if (stopping) return finish(stopping)
        finish(undefined, code ?? 128 + signalNumber(signal))
      })
      child.stdin.end(options.stdin)
    })
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return (signal ? osConstants.signals[signal] : undefined) ?? 127
}
