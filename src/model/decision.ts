/** One thing a reconcile decided and what came of it: a line of `watch`'s log, or one JSON object. */
export interface Decision {
  time: string
  /** `none` when the reconcile found nothing to do; `wait` when the state was locked by another run, or a workload waits for its noticed VM to go. */
  action: 'create' | 'update' | 'replace' | 'delete' | 'none' | 'wait'
  profile?: string
  address?: string
  reason: string
  outcome: 'done' | 'failed' | 'skipped' | 'interrupted'
  error?: string
  elapsedMs?: number
}
