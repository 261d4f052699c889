/**
 * The spot e2e tests' workload and what they read of a watch's JSON: a job that counts its runs in
 * the checkpoint, writes one output per run, finishes on its second run and, on its first, runs
 * until stopped (SIGTERM → exit 143).
 */
import assert from 'node:assert/strict'

export const JOB = [
  'n=$(cat "$ANYCLOUD_CHECKPOINT/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$ANYCLOUD_CHECKPOINT/count"',
  'echo "run $n saw checkpoint $((n-1))" > "$ANYCLOUD_OUTPUT/run-$n.txt"; echo "run $n started"',
  'if [ "$n" -ge 2 ]; then exit 0; fi',
  'trap \'echo "run $n stopped by SIGTERM"; exit 143\' TERM',
  'while :; do sleep 1 & wait $!; done',
].join('\n')

/** One decision of a watch cycle, as `watch --json` prints it. */
export interface Decision {
  action: string
  address?: string
  reason: string
  outcome: string
}

/**
 * Storage credentials near their expiry: the plan updates only the bootstrap, saying they are
 * re-minted while the workload keeps running, and one `watch --once` does exactly that.
 */
export async function planAndWatchRemint(run: (args: string[], code: number) => Promise<{stdout: string}>): Promise<void> {
  const plan = JSON.parse((await run(['plan', '--json'], 0)).stdout) as {changes: Array<{address: string; action: string; reason: string}>}
  const boot = plan.changes.find((c) => c.address === 'job.bootstrap')!
  assert.equal(boot.action, 'update')
  assert.match(boot.reason, /^storage credentials expire in \d+ min \(.*\): re-minted and written to the machine; the workload keeps running$/)
  assert.deepEqual(plan.changes.filter((c) => c.action !== 'no-op' && c.action !== 'read').map((c) => c.address), ['job.bootstrap'], 'nothing else changes')

  const watched = await run(['watch', '--once', '--json'], 0)
  const decisions = watched.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Decision)
  assert.deepEqual(decisions.map((d) => [d.address, d.action, d.outcome]), [['job.bootstrap', 'update', 'done']])
}
