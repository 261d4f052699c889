import {existsSync, mkdirSync, readFileSync, unlinkSync, openSync, writeSync, closeSync, fsyncSync, renameSync, linkSync} from 'node:fs'
import {hostname} from 'node:os'
import {dirname, join, relative} from 'node:path'
import {randomUUID} from 'node:crypto'

import {AnycloudError, UsageError} from '../errors/index.js'
import {writeFileAtomic} from '../util/atomic-write.js'
import {pidExists} from '../util/process.js'
import {lockedError, newLockInfo} from './lock-info.js'
import type {LockInfo, StateDocument, StateStore} from './types.js'

/**
 * `.anycloud/state.json`, written atomically (temp file, fsync, rename) with the previous version
 * kept as `state.json.backup`; `state.lock` created exclusively (O_EXCL) so two runs on one state
 * cannot interleave.
 */
export class LocalStateStore implements StateStore {
  readonly path: string
  readonly lockPath: string
  readonly description: string
  readonly erroredPath: string
  /** Test hook: crash-point injection between the temp file and the rename. */
  beforeRename?: (temp: string) => void

  constructor(readonly localDir: string, displayBase = process.cwd(), erroredPath?: string) {
    this.path = join(localDir, 'state.json')
    this.erroredPath = erroredPath ?? join(dirname(localDir), ERRORED_STATE_FILE)
    this.lockPath = join(localDir, 'state.lock')
    this.description = relative(displayBase, this.path) || this.path
  }

  async read(): Promise<StateDocument | undefined> {
    if (!existsSync(this.path)) return undefined
    const text = readFileSync(this.path, 'utf8')
    try {
      const doc = JSON.parse(text) as StateDocument
      if (doc.formatVersion !== 1 || typeof doc.lineage !== 'string') throw new Error('not an anycloud state (formatVersion 1)')
      return doc
    } catch (error) {
      throw new AnycloudError(`${this.description} is unreadable: ${(error as Error).message}`, {
        code: 'state.corrupt',
        source: 'user',
        suggestions: [`The previous version is in ${this.description}.backup; inspect both and restore the right one.`],
      })
    }
  }

  async write(document: StateDocument, options: {force?: boolean} = {}): Promise<void> {
    const current = options.force ? undefined : await this.read()
    if (current && current.lineage !== document.lineage) {
      throw new AnycloudError(`refusing to overwrite ${this.description}: it belongs to lineage ${current.lineage}, this run has ${document.lineage}`, {code: 'state.lineage', source: 'user'})
    }
    if (current && current.serial >= document.serial) {
      throw new AnycloudError(`refusing to overwrite ${this.description}: it is at serial ${current.serial}, this run would write ${document.serial} (another run changed it)`, {code: 'state.serial', source: 'user'})
    }
    writeFileAtomic(this.path, JSON.stringify(document, null, 2) + '\n', {mode: 0o600, dirMode: 0o700, backup: true, beforeRename: this.beforeRename})
  }

  async readLock(): Promise<LockInfo | undefined> {
    try {
      return JSON.parse(readFileSync(this.lockPath, 'utf8')) as LockInfo
    } catch {
      return undefined
    }
  }

  async lock(operation: string): Promise<LockInfo> {
    mkdirSync(this.localDir, {recursive: true, mode: 0o700})
    const info = newLockInfo(operation)
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.lockPath, 'wx', 0o600)
        try {
          writeSync(fd, JSON.stringify(info, null, 2) + '\n')
          fsyncSync(fd)
        } finally {
          closeSync(fd)
        }
        return info
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        const holder = await this.readLock()
        // A holder on this host whose process is gone (killed, crashed) cannot release: take over.
        if (attempt === 0 && holder && holder.host === hostname() && !pidExists(holder.pid)) {
          if (this.removeDeadLock(holder.id)) continue
          throw lockedError(this.description, await this.readLock())
        }
        throw lockedError(this.description, holder)
      }
    }
    throw lockedError(this.description, await this.readLock())
  }

  /**
   * Removes the lock file only if it is still the dead holder's `lockId`. A plain unlink could
   * remove the lock another run took over a moment ago (both saw the same dead holder), and then
   * both would hold it: the file is moved aside atomically first, checked, and put back if it
   * turned out to be someone else's. True when the dead lock is gone.
   */
  private removeDeadLock(lockId: string): boolean {
    const aside = `${this.lockPath}.${randomUUID()}.stale`
    try {
      renameSync(this.lockPath, aside)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true
      throw error
    }
    let moved: LockInfo | undefined
    try {
      moved = JSON.parse(readFileSync(aside, 'utf8')) as LockInfo
    } catch {}
    if (moved?.id !== lockId) {
      try {
        linkSync(aside, this.lockPath)
      } catch {}
      unlinkSync(aside)
      return false
    }
    unlinkSync(aside)
    return true
  }

  async unlock(lockId: string, options: {force?: boolean} = {}): Promise<void> {
    const holder = await this.readLock()
    if (!holder) {
      if (options.force) return
      throw new UsageError(`${this.description} is not locked`)
    }
    if (holder.id !== lockId) throw new UsageError(`lock id ${lockId} does not match the lock on ${this.description} (held as ${holder.id} by ${holder.who}@${holder.host}); nothing was changed`)
    if (options.force && holder.host === hostname() && holder.pid !== process.pid && pidExists(holder.pid)) {
      throw new UsageError(`the lock ${lockId} is held by a live process (pid ${holder.pid}, ${holder.operation}) on this host; it cannot be released while that run lives`, [`Stop that run (kill ${holder.pid}) or wait for it.`])
    }
    unlinkSync(this.lockPath)
  }
}

/** The name of the file a state that could not be saved goes to (SPEC §7). */
export const ERRORED_STATE_FILE = 'errored.anycloud-state.json'
