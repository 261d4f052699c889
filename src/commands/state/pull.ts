import {BaseCommand} from '../../cli/base-command.js'
import {budgetFlags} from '../../cli/budget-flags.js'
import {requireConfig} from '../../config/index.js'
import {openStateStore} from '../../state/index.js'

export default class StatePull extends BaseCommand<typeof StatePull> {
  static override flags = {...budgetFlags}
  static override description = 'Print the stored state as JSON on stdout (it never holds secret values). Save it with `anycloud state pull > state.json`.'

  public async run(): Promise<void> {
    const {flags} = await this.parse(StatePull)
    const {config} = requireConfig({file: flags.file})
    const store = openStateStore(config)
    try {
      const state = await store.read()
      if (!state) {
        this.say(`${store.description} holds no state yet.`)
        return
      }
      process.stdout.write(JSON.stringify(state, null, 2) + '\n')
    } finally {
      await store.close?.()
    }
  }
}
