import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {budgetFlags} from '../../cli/budget-flags.js'
import {anycloud, stdio} from '../../cli/engine.js'
import {showStateList} from '../../render/state-view.js'

export default class StateList extends BaseCommand<typeof StateList> {
  static override description = 'List the resource addresses in state.'
  static override flags = {...budgetFlags, json: Flags.boolean({description: 'Print as JSON on stdout.', default: false})}

  public async run(): Promise<void> {
    const {flags} = await this.parse(StateList)
    showStateList(await anycloud({progress: 'none'}).state.list({file: flags.file}), {json: flags.json}, stdio)
  }
}
