import type {EngineEvent, Reporter} from '../engine/events.js'

export type OutcomeStatus = 'complete' | 'failed' | 'interrupted'

/** What an apply or destroy did, resource by resource: the summary line and `--json` both come from it. */
export interface OutcomeCounts {
  /** Changes carried out as planned. */
  done: string[]
  /** Deletions that did not happen on purpose (a bucket holding data): not counted as done. */
  kept: Array<{address: string; reason: string}>
  /** Changes that failed, and workloads that failed or were lost (`apply --wait`). */
  failed: Array<{address: string; message: string}>
  /** Changes not attempted (a dependency failed, or the run was interrupted). */
  skipped: Array<{address: string; reason: string}>
}

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

export function outcomeStatus(counts: OutcomeCounts, interrupted: boolean): OutcomeStatus {
  return interrupted ? 'interrupted' : counts.failed.length > 0 ? 'failed' : 'complete'
}

/**
 * The one grammar of the closing line of apply and destroy:
 * `Apply complete: 5 done, 0 kept, 0 failed, 0 skipped.` /
 * `Destroy failed: 3 destroyed, 1 kept, 1 failed, 2 skipped.`
 */
export function outcomeLine(command: 'apply' | 'destroy', counts: OutcomeCounts, interrupted: boolean): string {
  const verb = command === 'apply' ? 'Apply' : 'Destroy'
  const doneWord = command === 'apply' ? 'done' : 'destroyed'
  return `${verb} ${outcomeStatus(counts, interrupted)}: ${counts.done.length} ${doneWord}, ${counts.kept.length} kept, ${counts.failed.length} failed, ${counts.skipped.length} skipped.`
}
