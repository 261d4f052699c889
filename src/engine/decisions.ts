import type {EngineEvent, Reporter} from '../model/events.js'
import type {Decision} from '../model/decision.js'
import {outcomeOf, type ConvergeResult} from './run.js'

export type {Decision} from '../model/decision.js'

/** Collects how long each change took, passing every event on. */
export class TimingReporter implements Reporter {
  readonly elapsed = new Map<string, number>()
  constructor(private readonly next?: Reporter) {}
  emit(event: EngineEvent): void {
    if (event.type === 'change-done') this.elapsed.set(event.address, event.elapsedMs)
    this.next?.emit(event)
  }
}

/** The decisions of one reconcile, in plan order: one per change, or one `none`. */
export function decisionsOf(result: ConvergeResult, timing: TimingReporter, now: Date = new Date()): Decision[] {
  const time = now.toISOString()
  const outcome = outcomeOf(result.results)
  const failed = new Map(outcome.failed.map((f) => [f.address, f.message]))
  const skipped = new Map(outcome.skipped.map((s) => [s.address, s.reason]))
  const done = new Set(outcome.done)
  const out: Decision[] = []
  for (const c of result.plan.changes) {
    // A workload on a VM that had its interruption notice: nothing done on purpose, logged once per reconcile.
    if (c.waiting) out.push({time, action: 'wait', profile: c.profile, address: c.address, reason: c.reason, outcome: 'skipped'})
    if (c.action === 'no-op' || c.action === 'read') continue
    const base = {time, action: c.action, profile: c.profile, address: c.address, reason: c.reason}
    if (failed.has(c.address)) out.push({...base, outcome: 'failed', error: failed.get(c.address)})
    else if (done.has(c.address)) out.push({...base, outcome: 'done', ...(timing.elapsed.has(c.address) ? {elapsedMs: timing.elapsed.get(c.address)} : {})})
    else if (skipped.has(c.address)) out.push({...base, outcome: 'skipped', error: skipped.get(c.address)})
    else out.push({...base, outcome: outcome.interrupted ? 'interrupted' : 'skipped'})
  }
  if (out.length === 0) out.push({time, action: 'none', reason: 'No changes.', outcome: 'done'})
  return out
}
