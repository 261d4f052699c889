/**
 * Walks a dependency graph: nodes whose dependencies succeeded run concurrently (bounded);
 * dependents of a failed node are skipped (only the root cause is an error); nothing new
 * starts once `signal` aborts.
 */
export interface GraphNode {
  id: string
  dependsOn: string[]
  run(): Promise<void>
}

export type NodeOutcome = {status: 'done'} | {status: 'failed'; error: unknown} | {status: 'skipped'; reason: string}

export async function walkGraph(nodes: GraphNode[], options: {concurrency: number; signal?: AbortSignal; onSkip?: (id: string, reason: string) => void}): Promise<Map<string, NodeOutcome>> {
  const outcomes = new Map<string, NodeOutcome>()
  const ids = new Set(nodes.map((n) => n.id))
  const pending = new Map(nodes.map((n) => [n.id, {...n, dependsOn: n.dependsOn.filter((d) => ids.has(d) && d !== n.id)}]))
  let running = 0
  return new Promise((resolve) => {
    const pump = () => {
      // Skip what can no longer run.
      let changed = true
      while (changed) {
        changed = false
        for (const [id, node] of pending) {
          const bad = node.dependsOn.find((d) => {
            const o = outcomes.get(d)
            return o && o.status !== 'done'
          })
          const reason = bad ? `skipped: ${bad} ${outcomes.get(bad)!.status === 'failed' ? 'failed' : 'was skipped'}` : options.signal?.aborted ? 'skipped: interrupted' : undefined
          if (reason) {
            pending.delete(id)
            outcomes.set(id, {status: 'skipped', reason})
            options.onSkip?.(id, reason)
            changed = true
          }
        }
      }
      for (const [id, node] of pending) {
        if (running >= options.concurrency) break
        if (!node.dependsOn.every((d) => outcomes.get(d)?.status === 'done')) continue
        pending.delete(id)
        running++
        node.run().then(
          () => outcomes.set(id, {status: 'done'}),
          (error) => outcomes.set(id, {status: 'failed', error}),
        ).finally(() => {
          running--
          pump()
        })
      }
      if (running === 0) {
        // Anything left has unsatisfiable dependencies (a cycle): report rather than hang.
        for (const [id] of pending) outcomes.set(id, {status: 'skipped', reason: 'skipped: dependency cycle'})
        pending.clear()
        resolve(outcomes)
      }
    }
    pump()
  })
}
