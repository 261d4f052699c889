import type {EngineEvent, Reporter} from '../model/events.js'
import type {OutcomeCounts} from '../model/outcome.js'

export {outcomeStatus, type OutcomeCounts, type OutcomeStatus} from '../model/outcome.js'

/**
 * Forwards engine events to the session's reporter and keeps, per address, the last outcome
 * (a change retried under the next credential counts once, as it finally went). Covers every
 * phase of a run, the teardown after `apply --wait` included.
 */
export class OutcomeTally implements Reporter {
  private readonly last = new Map<string, {kind: 'done' | 'kept' | 'failed' | 'skipped'; text: string}>()

  constructor(private readonly inner: Reporter) {}

  emit(event: EngineEvent): void {
    if (event.type === 'change-done') {
      const kept = event.note !== undefined && /^kept\b/i.test(event.note)
      this.last.set(event.address, kept ? {kind: 'kept', text: event.note!} : {kind: 'done', text: ''})
    } else if (event.type === 'change-failed') this.last.set(event.address, {kind: 'failed', text: event.message})
    else if (event.type === 'change-skipped') this.last.set(event.address, {kind: 'skipped', text: event.reason})
    this.inner.emit(event)
  }

  /** A workload that did not complete (`apply --wait`) is a failure of its address, whatever its start did. */
  workloadFailed(address: string, message: string): void {
    this.last.set(address, {kind: 'failed', text: message})
  }

  counts(): OutcomeCounts {
    const out: OutcomeCounts = {done: [], kept: [], failed: [], skipped: []}
    for (const [address, o] of this.last) {
      if (o.kind === 'done') out.done.push(address)
      else if (o.kind === 'kept') out.kept.push({address, reason: o.text})
      else if (o.kind === 'failed') out.failed.push({address, message: o.text})
      else out.skipped.push({address, reason: o.text})
    }
    return out
  }
}
