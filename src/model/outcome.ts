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

export function outcomeStatus(counts: OutcomeCounts, interrupted: boolean): OutcomeStatus {
  return interrupted ? 'interrupted' : counts.failed.length > 0 ? 'failed' : 'complete'
}
