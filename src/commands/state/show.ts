import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {budgetFlags} from '../../cli/budget-flags.js'
import {anycloud, stdio} from '../../cli/engine.js'
import {showStateShow} from '../../render/state-view.js'

export default class StateShow extends BaseCommand<typeof StateShow> {
  static override flags = {...budgetFlags}
  static override description = 'Show one resource in state as JSON (state never holds secret values).'
  static override args = {address: Args.string({description: 'Resource address, e.g. train.vm.', required: true})}

  public async run(): Promise<void> {
    const {args, flags} = await this.parse(StateShow)
    showStateShow(await anycloud({progress: 'none'}).state.show({file: flags.file, address: args.address}), stdio)
  }
}
