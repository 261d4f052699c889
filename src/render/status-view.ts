import type {DeploymentStatus} from '../model/status.js'
import type {StatusResult} from '../model/results.js'
import {writeJson, type Sink} from './sink.js'

/** `status`: JSON, or per profile where it runs, its workload, machine, spot history and resources. */
export function showStatus(r: StatusResult, options: {json: boolean}, sink: Sink): void {
  if (options.json) return writeJson(sink, {project: r.project, state: r.state, deployments: r.deployments})
  if (r.deployments.length === 0) return sink.stderr('No profiles.')
  const out = (line: string) => sink.stdout(line + '\n')
  for (const d of r.deployments) {
    if (!d.applied) out(`${d.profile}: not applied`)
    else for (const line of deploymentLines(d)) out(line)
  }
}

function deploymentLines(d: DeploymentStatus): string[] {
  const lines: string[] = []
  const where = d.placement ? `${d.placement.credential} (${[d.placement.provider, d.placement.region, d.placement.zone].filter(Boolean).join(', ')})` : 'unplaced'
  const workload = workloadText(d.workload)
  lines.push(`${d.profile}: ${d.deploymentId} on ${where}`, `  workload: ${workload}`)
  const sync = d.workload.lastSync
  if (sync && typeof sync === 'object' && Object.keys(sync).length > 0) {
    lines.push(`  last sync: ${Object.entries(sync as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${String(v)}`).join(', ')}`)
  } else if (typeof sync === 'string') lines.push(`  last sync: ${sync}`)
  if (d.address) lines.push(`  machine: ${d.address}`)
  if (d.spot) {
    const c = d.spot.newestCheckpoint
    lines.push(`  spot: ${d.spot.preemptions} preemption${d.spot.preemptions === 1 ? '' : 's'}${d.spot.onDemand ? `, on-demand now (${d.spot.onDemand})` : ''}; newest checkpoint: ${c ? `${c.key}, ${formatAge(c.ageSeconds)} old` : 'none'}`)
    const n = d.spot.notice
    if (n) {
      const what = [n.cloud, n.event].filter((x) => typeof x === 'string').join(' ')
      lines.push(`  interruption notice${what ? ` (${what})` : ''}${typeof n.noticedAt === 'string' ? ` at ${n.noticedAt}` : ''}: workload stopped, checkpoint flushed; the cloud is taking the VM back (watch replaces it then)`)
    }
  }
  const width = Math.max(28, ...d.resources.map((r) => r.address.length + 1))
  for (const r of d.resources) {
    // The workload's row says how it is doing (a finished job's process is gone by design).
    const isWorkload = r.address === `${d.profile}.workload`
    const state = isWorkload ? workload : r.exists === null ? 'unknown' : r.exists ? 'exists' : 'missing'
    lines.push(`  ${r.address.padEnd(width)} ${state.padEnd(7)}  ${r.id}`)
  }
  return lines
}

function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds} s`
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`
  return `${Math.round(seconds / 3600)} h`
}

/** `running`, `completed (exit 0)`, `failed (exit 2)`. */
export function workloadText(w: {phase: string; exitCode?: number}): string {
  return `${w.phase}${w.exitCode !== undefined ? ` (exit ${w.exitCode})` : ''}`
}
