import {existsSync, readFileSync} from 'node:fs'
import {relative} from 'node:path'

import {AnycloudError, LockedError} from '../errors/index.js'
import {writeFileAtomic} from '../util/atomic-write.js'
import {sleep} from '../util/process.js'
import type {LockInfo, StateDocument, StateStore} from './types.js'

export interface AcquireOptions {
  /** How long to wait for a held lock (`--lock-timeout`); 0 = fail at once (exit 4). */
  timeoutMs?: number
  signal?: AbortSignal
  /** Told once per wait, with the holder's lock error (for a progress line). */
  onWait?: (error: LockedError, waitedMs: number) => void
}

/**
 * Takes the state lock for `operation`. A held lock fails at once (exit 4) unless `timeoutMs`
 * allows waiting: then it retries with jittered exponential backoff (0.5 s doubling to 10 s)
 * until the lock is free or the time is up.
 */
export async function acquireLock(store: StateStore, operation: string, options: AcquireOptions = {}): Promise<LockInfo> {
  const started = Date.now()
  const deadline = started + (options.timeoutMs ?? 0)
  let delay = 500
  for (;;) {
    try {
      return await store.lock(operation)
    } catch (error) {
      if (!(error instanceof LockedError)) throw error
      const now = Date.now()
      if (now >= deadline || options.signal?.aborted) {
        if (options.timeoutMs) {
          throw new LockedError(`${error.message} (waited ${Math.round((now - started) / 1000)}s, the --lock-timeout)`, error.lockId, error.suggestions)
        }
        throw error
      }
      options.onWait?.(error, now - started)
      const wait = Math.min(delay * (0.5 + Math.random() / 2), deadline - now)
      await sleep(wait, options.signal)
      delay = Math.min(delay * 2, 10_000)
    }
  }
}

/** How to push an errored state: the one sentence every message about it carries. */
export function pushInstructions(path: string): string {
  const shown = relative(process.cwd(), path) || path
  return `Push it with \`anycloud state push ${shown}\` once the store is reachable (add --force only if you are sure it should replace what is there); it is removed once pushed.`
}

/**
 * Writes the state a run could not save to `store.erroredPath` (0600, atomically) and returns the
 * error to raise: what failed, where the state is, how to push it. The errored file holds exactly
 * the state document, which never holds a secret value.
 */
export function saveErroredState(store: StateStore, document: StateDocument, cause: unknown): AnycloudError {
  writeFileAtomic(store.erroredPath, JSON.stringify(document, null, 2) + '\n', {mode: 0o600})
  const reason = (cause as Error)?.message ?? String(cause)
  return new AnycloudError(`could not save the state to ${store.description}: ${reason}. This run's state (serial ${document.serial}) was written to ${store.erroredPath} instead`, {
    code: 'state.save-failed',
    source: 'cloud',
    cause,
    suggestions: [pushInstructions(store.erroredPath), 'Until then anycloud refuses to run against this state, so that it does not fork.'],
  })
}

/** Refuses to start an operation while a state that could not be saved waits to be pushed. */
export function refuseWhileErrored(store: StateStore): void {
  if (!existsSync(store.erroredPath)) return
  let serial = '?'
  try {
    serial = String((JSON.parse(readFileSync(store.erroredPath, 'utf8')) as StateDocument).serial)
  } catch {}
  throw new AnycloudError(`refusing to run: ${store.erroredPath} holds a state (serial ${serial}) that a previous run could not save to ${store.description}; running now would fork the state`, {
    code: 'state.errored-pending',
    source: 'user',
    exitCode: 1,
    suggestions: [pushInstructions(store.erroredPath), 'If you are certain it is obsolete, delete the file instead.'],
  })
}
