import {randomBytes} from 'node:crypto'
import {copyFile, lstat, mkdir, readdir, rename, rm, stat, utimes} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'

import {PARTIAL_PREFIX} from './layout.js'

/**
 * Directory-to-directory transfers with rclone's semantics, for the `local` provider where a
 * bucket is a directory (SPEC §5, reference "Bucket Sync Internals"):
 *
 * - `copy`: new and changed files go from `src` to `dst`; nothing in `dst` is ever deleted
 *   (output and checkpoint uploads, checkpoint restore), so several jobs can share an output bucket.
 * - `sync` (`mirror: true`): `dst` becomes an exact mirror of `src` (input download).
 *
 * A file is "changed" when its size or modification time differs (the copy carries the source's
 * mtime, so an unchanged file is skipped next time). Each file is written to a temp name in its
 * destination directory and renamed into place, so a reader of `dst` never sees a partial file under
 * its final name. Leftover temp names (`.anycloud-partial-*`, from a killed sync) are never copied.
 * Symbolic links are skipped, like rclone does by default: following one could copy anything.
 */
export interface TreeSyncResult {
  /** Files written to `dst`. */
  copied: number
  /** Entries removed from `dst` (mirror only). */
  deleted: number
  bytes: number
  /** Per-file problems that did not stop the transfer (a vanished or unreadable file…). */
  errors: string[]
}

export class SourceMissingError extends Error {
  constructor(readonly path: string) {
    super(`${path} does not exist`)
    this.name = 'SourceMissingError'
  }
}

/** Two mtimes closer than this are equal: we set the copy's mtime ourselves, so only float rounding remains. */
const MTIME_WINDOW_MS = 1

export async function copyTree(src: string, dst: string, options: {mirror?: boolean} = {}): Promise<TreeSyncResult> {
  const result: TreeSyncResult = {copied: 0, deleted: 0, bytes: 0, errors: []}
  try {
    if (!(await stat(src)).isDirectory()) throw new SourceMissingError(src)
  } catch (error) {
    if (error instanceof SourceMissingError) throw error
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new SourceMissingError(src)
    throw error
  }
  await mkdir(dst, {recursive: true})
  const seen = new Set<string>()
  await copyDir(src, dst, '', result, seen, options.mirror === true)
  if (options.mirror) await prune(dst, '', seen, result)
  return result
}

async function copyDir(srcRoot: string, dstRoot: string, rel: string, result: TreeSyncResult, seen: Set<string>, mirror: boolean): Promise<void> {
  let entries
  try {
    entries = await readdir(join(srcRoot, rel), {withFileTypes: true})
  } catch (error) {
    // A directory removed while we walk: whatever it held is gone from the source too.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const entry of entries) {
    if (entry.name.startsWith(PARTIAL_PREFIX)) continue
    const relPath = rel ? join(rel, entry.name) : entry.name
    if (entry.isDirectory()) {
      seen.add(relPath)
      if (mirror) {
        // A mirror replaces a file standing where the source has a directory.
        const d = await lstat(join(dstRoot, relPath)).catch(() => undefined)
        if (d && !d.isDirectory()) {
          await rm(join(dstRoot, relPath), {force: true})
          result.deleted++
        }
      }
      await copyDir(srcRoot, dstRoot, relPath, result, seen, mirror)
    } else if (entry.isFile()) {
      seen.add(relPath)
      try {
        await copyFileIfChanged(join(srcRoot, relPath), join(dstRoot, relPath), result, mirror)
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        if (code === 'ENOENT') continue // vanished between readdir and copy: the next round sees the truth
        result.errors.push(`${relPath}: ${(error as Error).message}`)
      }
    }
    // Symbolic links, sockets, fifos: skipped on purpose (see above).
  }
}

async function copyFileIfChanged(src: string, dst: string, result: TreeSyncResult, mirror: boolean): Promise<void> {
  const s = await stat(src)
  const d = await lstat(dst).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined
    throw error
  })
  if (d?.isFile() && d.size === s.size && Math.abs(d.mtimeMs - s.mtimeMs) < MTIME_WINDOW_MS) return
  if (d && !d.isFile()) {
    // A directory (or link) where a file should go. A mirror replaces it; a copy never deletes in the destination.
    if (!mirror) throw new Error(`destination ${dst} exists and is not a file; left alone (copy never deletes)`)
    await rm(dst, {recursive: true, force: true})
    result.deleted++
  }
  await mkdir(dirname(dst), {recursive: true})
  const temp = join(dirname(dst), `${PARTIAL_PREFIX}${basename(dst)}.${randomBytes(4).toString('hex')}`)
  try {
    await copyFile(src, temp)
    // Seconds as a float keep sub-millisecond precision (a Date would round to the millisecond).
    await utimes(temp, s.atimeMs / 1000, s.mtimeMs / 1000)
    await rename(temp, dst)
  } catch (error) {
    await rm(temp, {force: true})
    throw error
  }
  result.copied++
  result.bytes += s.size
}

/** Removes what `dst` holds and the source does not (mirror only). */
async function prune(dstRoot: string, rel: string, seen: Set<string>, result: TreeSyncResult): Promise<void> {
  const entries = await readdir(join(dstRoot, rel), {withFileTypes: true}).catch(() => [])
  for (const entry of entries) {
    const relPath = rel ? join(rel, entry.name) : entry.name
    if (!seen.has(relPath)) {
      await rm(join(dstRoot, relPath), {recursive: true, force: true})
      result.deleted++
    } else if (entry.isDirectory()) {
      await prune(dstRoot, relPath, seen, result)
    }
  }
}

/** Whether a directory holds any entry (a bucket's `empty`). Missing counts as empty. */
export async function isEmptyDir(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true
    throw error
  }
}
