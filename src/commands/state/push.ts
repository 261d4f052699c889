import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {budgetFlags} from '../../cli/budget-flags.js'
import {anycloud, lockOf, stdio} from '../../cli/engine.js'
import {lockFlags} from '../../cli/lock-flags.js'
import {showStatePush} from '../../render/state-view.js'

export default class StatePush extends BaseCommand<typeof StatePush> {
  static override description = `Upload a state file (an errored state left by a failed save, or a pulled copy) as the stored state.
Its lineage must match and its serial be newer than what is stored, unless --force. An errored state file is removed once pushed.`
  static override examples = ['<%= config.bin %> state push errored.anycloud-state.json']
  static override args = {file: Args.string({description: 'The state file.', required: true})}
  static override flags = {
    ...budgetFlags,
    ...lockFlags,
    force: Flags.boolean({description: 'Replace the stored state even when the lineage differs or the serial is not newer.', default: false}),
  }

  public async run(): Promise<void> {
    const {args, flags} = await this.parse(StatePush)
    showStatePush(await anycloud({progress: 'none'}).state.push({file: flags.file, stateFile: args.file, force: flags.force, ...lockOf(flags)}), stdio)
  }
}
