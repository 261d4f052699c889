import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {budgetFlags} from '../../cli/budget-flags.js'
import {openStateStore} from '../../state/index.js'
import {requireConfig} from '../../config/index.js'

export default class StateUnlock extends BaseCommand<typeof StateUnlock> {
  static override flags = {...budgetFlags}
  static override description = 'Release a lock left by a run that died. Needs the lock id the lock error showed; a wrong id changes nothing.'
  static override args = {lockId: Args.string({description: 'The lock id.', required: true})}

  public async run(): Promise<void> {
    const {args, flags} = await this.parse(StateUnlock)
    const {config} = requireConfig({file: flags.file})
    const store = openStateStore(config)
    if (!(await store.readLock())) {
      // Nothing to release: say so rather than claim a release that did not happen.
      this.say(`${store.description} is not locked; nothing to release.`)
      return
    }
    await store.unlock(args.lockId, {force: true})
    this.out(`Released lock ${args.lockId}.`)
  }
}
