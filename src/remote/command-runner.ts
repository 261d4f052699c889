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
  /** Writes `content` to `path` atomically (temp file + rename) with `mode`, creating parent dirs. */
  upload(path: string, content: string | Buffer, mode: number): Promise<void>
  /** Reads a file; resolves undefined when it does not exist. */
  readFile(path: string): Promise<Buffer | undefined>
  close(): Promise<void>
}
