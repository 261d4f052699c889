import {setTimeout as delay} from 'node:timers/promises'

import {InterruptedError, LockedError} from '../errors/index.js'
import type {Decision} from '../model/decision.js'
import type {WatchResult} from '../model/results.js'
import {onAbort, type CommonOptions, type EngineContext, type LockOptions} from './context.js'
import {decisionsOf, TimingReporter} from './decisions.js'
import {planAndApply} from './run.js'

export interface WatchOptions extends CommonOptions, LockOptions {
  /** Profiles to watch (default: all applied ones). */
  profiles?: string[]
  /** Time between reconciliations. */
  intervalMs: number
  /** Reconcile once and return (a failed reconcile then throws). */
  once?: boolean
}

/**
 * The controller loop: every interval, reconcile the deployments that were applied, telling the
 * host one `decision` per change (or one `none`/`wait`). The state lock is held for each reconcile
 * only, never while waiting for the next one. A reconcile that fails is reported and the loop goes
 * on; an aborted `signal` stops it after the current reconcile.
 */
export async function watchDeployments(ctx: EngineContext, options: WatchOptions): Promise<WatchResult> {
  const {io} = ctx
  const {signal} = options
  const decide = (d: Decision) => io.notify({type: 'decision', decision: d})
  const now = () => new Date().toISOString()
  const stopListening = onAbort(signal, () => void io.notify({type: 'info', message: 'Stopping after the current reconciliation...'}))
  let reconciles = 0
  try {
    while (!signal?.aborted) {
      reconciles++
      try {
        await reconcileOnce(ctx, options, decide)
      } catch (error) {
        if (error instanceof InterruptedError || signal?.aborted) break
        if (error instanceof LockedError) {
          await decide({time: now(), action: 'wait', reason: `${error.message}; trying again next interval`, outcome: 'skipped'})
        } else {
          // A reconcile that failed (a cloud unreachable, a plan error) is logged; the loop goes on.
          if (options.once) throw error
          await decide({time: now(), action: 'none', reason: 'reconcile failed; trying again next interval', outcome: 'failed', error: (error as Error).message})
        }
      }
      if (options.once || signal?.aborted) break
      await delay(options.intervalMs, undefined, {signal}).catch(() => undefined)
    }
  } finally {
    stopListening()
  }
  return {reconciles}
}

/** One reconcile of the applied deployments, under the lock. */
async function reconcileOnce(ctx: EngineContext, options: WatchOptions, decide: (d: Decision) => void | Promise<void>): Promise<void> {
  const session = await ctx.open({file: options.file, profiles: options.profiles, lock: 'watch', signal: options.signal, lockTimeoutMs: options.lockTimeoutMs, noLock: options.noLock})
  try {
    session.profiles = session.profiles.filter((p) => session.state?.deployments[p.name])
    if (session.profiles.length === 0) {
      await decide({time: new Date().toISOString(), action: 'none', reason: 'nothing applied to watch', outcome: 'done'})
      return
    }
    const timing = new TimingReporter(ctx.io)
    const r = await planAndApply({session, reporter: timing, signal: options.signal})
    for (const d of decisionsOf(r, timing)) await decide(d)
  } finally {
    await session.release()
  }
}
