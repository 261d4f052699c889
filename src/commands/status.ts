import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {budgetFlags} from '../cli/budget-flags.js'
import {lockFlags} from '../cli/lock-flags.js'
import {openSession} from '../engine/session.js'
import {collectStatus} from '../engine/status.js'

export default class Status extends BaseCommand<typeof Status> {
  static override description = 'Show deployments, their resources, machine addresses and workload state (read live, changes nothing).'
  static override strict = false
  static override args = {profile: Args.string({description: 'Profiles to show (default: all).'})}
  static override flags = {...budgetFlags, ...lockFlags, json: Flags.boolean({description: 'Print the status as JSON on stdout.', default: false})}

  public async run(): Promise<void> {
    const {flags, argv} = await this.parse(Status)
    const session = await openSession({file: flags.file, profiles: argv as string[]})
    let status
    try {
      status = await collectStatus(session)
    } finally {
      // Closes provider connections (an ssh host's SSH session would keep the process alive).
      await session.release()
    }
    if (flags.json) return this.writeJson({project: session.config.project, state: {lineage: session.state?.lineage ?? null, serial: session.state?.serial ?? 0}, deployments: status})
    if (status.length === 0) return this.say('No profiles.')
    for (const d of status) {
      if (!d.applied) {
        this.out(`${d.profile}: not applied`)
        continue
      }
      const where = d.placement ? `${d.placement.credential} (${[d.placement.provider, d.placement.region, d.placement.zone].filter(Boolean).join(', ')})` : 'unplaced'
      const workload = workloadText(d.workload)
      this.out(`${d.profile}: ${d.deploymentId} on ${where}`)
      this.out(`  workload: ${workload}`)
      const sync = d.workload.lastSync
      if (sync && typeof sync === 'object' && Object.keys(sync).length > 0) {
        this.out(`  last sync: ${Object.entries(sync as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${String(v)}`).join(', ')}`)
      } else if (typeof sync === 'string') this.out(`  last sync: ${sync}`)
      if (d.address) this.out(`  machine: ${d.address}`)
      if (d.spot) {
        const c = d.spot.newestCheckpoint
        this.out(`  spot: ${d.spot.preemptions} preemption${d.spot.preemptions === 1 ? '' : 's'}${d.spot.onDemand ? `, on-demand now (${d.spot.onDemand})` : ''}; newest checkpoint: ${c ? `${c.key}, ${formatAge(c.ageSeconds)} old` : 'none'}`)
      }
      const width = Math.max(28, ...d.resources.map((r) => r.address.length + 1))
      for (const r of d.resources) {
        // The workload's row says how it is doing (a finished job's process is gone by design).
        const isWorkload = r.address === `${d.profile}.workload`
        const state = isWorkload ? workload : r.exists === null ? 'unknown' : r.exists ? 'exists' : 'missing'
        this.out(`  ${r.address.padEnd(width)} ${state.padEnd(7)}  ${r.id}`)
      }
    }
  }
}

function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds} s`
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`
  return `${Math.round(seconds / 3600)} h`
}

/** `running`, `completed (exit 0)`, `failed (exit 2)`. */
function workloadText(w: {phase: string; exitCode?: number}): string {
  return `${w.phase}${w.exitCode !== undefined ? ` (exit ${w.exitCode})` : ''}`
}
