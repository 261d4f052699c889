/**
 * The spot e2e tests' workload and what they read of a watch's JSON: a job that counts its runs in
 * the checkpoint, writes one output per run, finishes on its second run and, on its first, runs
 * until stopped (SIGTERM → exit 143).
 */
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
