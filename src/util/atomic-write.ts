import {closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync, chmodSync, existsSync, copyFileSync} from 'node:fs'
import {randomBytes} from 'node:crypto'
import {dirname, basename, join} from 'node:path'

export interface AtomicWriteOptions {
  /** File mode, applied from creation (never a window with looser permissions). */
  mode?: number
  /** Directory mode when the parent has to be created. */
  dirMode?: number
  /** Keep the previous version as `FILE.backup` before replacing it. */
  backup?: boolean
  /** Test hook: called between writing the temp file and the rename (crash-point injection). */
  beforeRename?: (tempPath: string) => void
}

/**
 * Writes a file so that readers see either the old or the new content, never a mix:
 * temp file in the same directory (created with the final mode), fsync, rename, fsync the directory.
 */
export function writeFileAtomic(path: string, content: string | Buffer, options: AtomicWriteOptions = {}): void {
  const dir = dirname(path)
  mkdirSync(dir, {recursive: true, mode: options.dirMode ?? 0o700})
  const mode = options.mode ?? 0o600
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const fd = openSync(temp, 'wx', mode)
  try {
    writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  // openSync's mode is filtered by the umask: set it exactly.
  chmodSync(temp, mode)
  if (options.backup && existsSync(path)) copyFileSync(path, `${path}.backup`)
  options.beforeRename?.(temp)
  renameSync(temp, path)
  try {
    const dfd = openSync(dir, 'r')
    try {
      fsyncSync(dfd)
    } finally {
      closeSync(dfd)
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}
