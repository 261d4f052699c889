import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {budgetFlags} from '../cli/budget-flags.js'
import {anycloud, interruptible, stdio} from '../cli/engine.js'
import {lockFlags} from '../cli/lock-flags.js'
import {showLogs} from '../render/logs-view.js'

export default class Logs extends BaseCommand<typeof Logs> {
  static override description = 'Print the workload\'s output; -F/--follow follows it until the workload ends or Ctrl-C.'
  static override examples = ['<%= config.bin %> logs train', '<%= config.bin %> logs train --follow', '<%= config.bin %> logs train -F -f ci/anycloud.yaml']
  static override args = {profile: Args.string({description: 'The profile.', required: true})}
  // -f is --file, as for every command; follow is -F/--follow only.
  static override flags = {...budgetFlags, ...lockFlags, follow: Flags.boolean({char: 'F', description: 'Follow the output until the workload ends (or Ctrl-C).', default: false})}

  public async run(): Promise<void> {
    const {args, flags} = await this.parse(Logs)
    const r = await interruptible((signal) => anycloud({progress: 'none'}).logs({file: flags.file, profile: args.profile, follow: flags.follow, signal}))
    showLogs(r, stdio)
  }
}
