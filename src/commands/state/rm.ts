import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {budgetFlags} from '../../cli/budget-flags.js'
import {anycloud, lockOf, stdio} from '../../cli/engine.js'
import {lockFlags} from '../../cli/lock-flags.js'
import {showStateRm} from '../../render/state-view.js'

export default class StateRm extends BaseCommand<typeof StateRm> {
  static override description = 'Forget a resource: remove it from state without touching the cloud (it is then no longer managed).'
  static override flags = {...budgetFlags, ...lockFlags}
  static override args = {address: Args.string({description: 'Resource address, e.g. train.vm.', required: true})}

  public async run(): Promise<void> {
    const {args, flags} = await this.parse(StateRm)
    showStateRm(await anycloud({progress: 'none'}).state.rm({file: flags.file, address: args.address, ...lockOf(flags)}), stdio)
  }
}
