import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {budgetFlags} from '../../cli/budget-flags.js'
import {anycloud, stdio} from '../../cli/engine.js'
import {showStateUnlock} from '../../render/state-view.js'

export default class StateUnlock extends BaseCommand<typeof StateUnlock> {
  static override flags = {...budgetFlags}
  static override description = 'Release a lock left by a run that died. Needs the lock id the lock error showed; a wrong id changes nothing.'
  static override args = {lockId: Args.string({description: 'The lock id.', required: true})}

  public async run(): Promise<void> {
    const {args, flags} = await this.parse(StateUnlock)
    showStateUnlock(await anycloud({progress: 'none'}).state.unlock({file: flags.file, lockId: args.lockId}), stdio)
  }
}
