/**
 * How anycloud runs commands on a machine: over SSH (ssh2) for VMs and ssh hosts, or locally.
 * Bootstrap steps are written against this interface only.
 */
export interface RunOptions {
  /** Milliseconds before the command is killed and the call rejects. */
  timeoutMs?: number
  /** Text written to the command's stdin, then closed. Secrets go here, never into argv. */
  stdin?: string | Buffer
  /** Streamed output, line-agnostic chunks. */
  onStdout?: (chunk: Buffer) => void
  onStderr?: (chunk: Buffer) => void
  /** Abort (e.g. SIGINT): the remote command is signalled and the call rejects. */
  signal?: AbortSignal
  /**
   * The command may safely run twice (e.g. `mkdir -p`, a re-runnable install). When the connection
   * drops mid-run, an SSH runner reconnects once and re-runs an idempotent command; any other
   * command rejects with `ssh.connection-lost` because it may or may not have completed.
   * Output streamed to `onStdout`/`onStderr` then restarts from the beginning.
   */
  idempotent?: boolean
}

/** Optional extras for {@link CommandRunner.upload}. */
export interface UploadOptions {
  /**
   * `user` or `user:group` the file is chowned to before it is renamed into place (e.g. the login
   * user for `~/.aws/credentials` when the runner writes through `sudo`). Default: the writer.
   */
  owner?: string
  /**
   * Mode the parent directory gets (created with it, or chmod-ed if it exists, e.g. `0o700` for
   * `~/.aws`); with `owner`, the directory is chowned too. Default: created with the umask, left alone.
   */
  dirMode?: number
}

export interface RunResult {
  exitCode: number
  stdout: string
  stderr: string
}

export interface CommandRunner {
  /** A short description for messages, e.g. `ubuntu@10.0.0.5:22`. Never contains a secret. */
  readonly description: string
  /** Runs `command` through `bash -c` (the remote login shell for ssh). Never rejects on a non-zero exit. */
  run(command: string, options?: RunOptions): Promise<RunResult>
  /**
   * Writes `content` to `path` atomically (temp file + rename) with `mode`, creating parent dirs.
   * The content travels over stdin (never argv) and the temp file is never more permissive than `mode`.
   */
  upload(path: string, content: string | Buffer, mode: number, options?: UploadOptions): Promise<void>
  /** Reads a file; resolves undefined when it does not exist. */
  readFile(path: string): Promise<Buffer | undefined>
  close(): Promise<void>
}
