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
        this.say(`${d.profile}: not applied`)
        continue
      }
      const where = d.placement ? `${d.placement.credential} (${[d.placement.provider, d.placement.region, d.placement.zone].filter(Boolean).join(', ')})` : 'unplaced'
      this.say(`${d.profile}: ${d.deploymentId} on ${where}`)
      this.say(`  workload: ${d.workload.phase}${d.workload.exitCode !== undefined ? ` (exit ${d.workload.exitCode})` : ''}${d.workload.lastSync ? `, last sync ${JSON.stringify(d.workload.lastSync)}` : ''}`)
      if (d.address) this.say(`  machine: ${d.address}`)
      if (d.spot) {
        const c = d.spot.newestCheckpoint
        this.say(`  spot: ${d.spot.preemptions} preemption${d.spot.preemptions === 1 ? '' : 's'}${d.spot.onDemand ? `, on-demand now (${d.spot.onDemand})` : ''}; newest checkpoint: ${c ? `${c.key}, ${formatAge(c.ageSeconds)} old` : 'none'}`)
      }
      for (const r of d.resources) this.say(`  ${r.address.padEnd(28)} ${r.exists === null ? 'unknown' : r.exists ? 'exists ' : 'missing'}  ${r.id}`)
    }
  }
}

function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds} s`
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`
  return `${Math.round(seconds / 3600)} h`
}
