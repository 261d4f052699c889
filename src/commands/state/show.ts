import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {budgetFlags} from '../../cli/budget-flags.js'
import {openStateStore} from '../../state/index.js'
import {requireConfig} from '../../config/index.js'
import {UsageError} from '../../errors/index.js'
import {redactSecrets} from '../../util/redact.js'

export default class StateShow extends BaseCommand<typeof StateShow> {
  static override flags = {...budgetFlags}
  static override description = 'Show one resource in state as JSON (state never holds secret values).'
  static override args = {address: Args.string({description: 'Resource address, e.g. train.vm.', required: true})}

  public async run(): Promise<void> {
    const {args, flags} = await this.parse(StateShow)
    const {config} = requireConfig({file: flags.file})
    const state = await openStateStore(config).read()
    for (const d of Object.values(state?.deployments ?? {})) {
      const r = d.resources[args.address]
      if (r) return this.writeJson(JSON.parse(redactSecrets(JSON.stringify({deploymentId: d.id, placement: d.placement, ...r}))))
    }
    const all = Object.values(state?.deployments ?? {}).flatMap((d) => Object.keys(d.resources))
    throw new UsageError(`no resource ${args.address} in state; addresses: ${all.sort().join(', ') || '(none)'}`)
  }
}
