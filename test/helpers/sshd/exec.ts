import {execFile, execFileSync} from 'node:child_process'

/** Result of a helper command. */
export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs a program (no shell) and resolves with its exit code; never rejects on a non-zero exit. */
export function execQuiet(file: string, args: string[], options: {timeoutMs?: number; input?: string} = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args, {timeout: options.timeoutMs ?? 15_000, encoding: 'utf8'}, (error, stdout, stderr) => {
      const code = error ? (typeof (error as NodeJS.ErrnoException & {code?: unknown}).code === 'number' ? Number(error.code) : 1) : 0
      resolve({code, stdout, stderr: stderr || (error && code !== 0 ? error.message : '')})
    })
    if (options.input !== undefined) child.stdin?.end(options.input)
  })
}

/** Like {@link execQuiet} but rejects with the command and its stderr on a non-zero exit. */
export async function execChecked(file: string, args: string[], options: {timeoutMs?: number; input?: string} = {}): Promise<string> {
  const result = await execQuiet(file, args, options)
  if (result.code !== 0) throw new Error(`${file} ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}`)
  return result.stdout
}

/** Synchronous best-effort run, for `process.on('exit')` cleanup only. */
export function execSyncQuiet(file: string, args: string[]): void {
  try {
    execFileSync(file, args, {stdio: 'ignore', timeout: 5_000})
  } catch {
    // best effort
  }
}
