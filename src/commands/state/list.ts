import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {budgetFlags} from '../../cli/budget-flags.js'
import {openStateStore} from '../../state/index.js'
import {requireConfig} from '../../config/index.js'

export default class StateList extends BaseCommand<typeof StateList> {
  static override description = 'List the resource addresses in state.'
  static override flags = {...budgetFlags, json: Flags.boolean({description: 'Print as JSON on stdout.', default: false})}

  public async run(): Promise<void> {
    const {flags} = await this.parse(StateList)
    const {config} = requireConfig({file: flags.file})
    const state = await openStateStore(config).read()
    const rows = Object.values(state?.deployments ?? {}).flatMap((d) => Object.values(d.resources).map((r) => ({address: r.address, deploymentId: d.id, status: r.status, id: r.id})))
    rows.sort((a, b) => a.address.localeCompare(b.address))
    if (flags.json) return this.writeJson({lineage: state?.lineage ?? null, serial: state?.serial ?? 0, resources: rows})
    for (const r of rows) process.stdout.write(`${r.address}${r.status === 'pending' ? ' (pending)' : ''}\n`)
  }
}
