import {BaseCommand} from '../../cli/base-command.js'
import {budgetFlags} from '../../cli/budget-flags.js'
import {anycloud, stdio} from '../../cli/engine.js'
import {showStatePull} from '../../render/state-view.js'

export default class StatePull extends BaseCommand<typeof StatePull> {
  static override flags = {...budgetFlags}
  static override description = 'Print the stored state as JSON on stdout (it never holds secret values). Save it with `anycloud state pull > state.json`.'

  public async run(): Promise<void> {
    const {flags} = await this.parse(StatePull)
    showStatePull(await anycloud({progress: 'none'}).state.pull({file: flags.file}), stdio)
  }
}
