import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {budgetFlags} from '../../cli/budget-flags.js'
import {lockFlags, lockOptions} from '../../cli/lock-flags.js'
import {openSession} from '../../engine/session.js'
import {UsageError} from '../../errors/index.js'

export default class StateRm extends BaseCommand<typeof StateRm> {
  static override description = 'Forget a resource: remove it from state without touching the cloud (it is then no longer managed).'
  static override flags = {...budgetFlags, ...lockFlags}
  static override args = {address: Args.string({description: 'Resource address, e.g. train.vm.', required: true})}

  public async run(): Promise<void> {
    const {args, flags} = await this.parse(StateRm)
    const session = await openSession({file: flags.file, lock: 'state rm', ...lockOptions(flags, (m) => this.say(m))})
    try {
      const state = session.state
      const dep = Object.values(state?.deployments ?? {}).find((d) => d.resources[args.address])
      if (!state || !dep) throw new UsageError(`no resource ${args.address} in state`)
      delete dep.resources[args.address]
      if (Object.keys(dep.resources).length === 0 && !dep.workload) delete state.deployments[dep.profile]
      state.serial += 1
      await session.store.write(state)
      this.out(`Removed ${args.address} from state (the resource itself was not touched).`)
    } finally {
      await session.release()
    }
  }
}
