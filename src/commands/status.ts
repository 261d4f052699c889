import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {budgetFlags} from '../cli/budget-flags.js'
import {anycloud, stdio} from '../cli/engine.js'
import {lockFlags} from '../cli/lock-flags.js'
import {showStatus} from '../render/status-view.js'

export default class Status extends BaseCommand<typeof Status> {
  static override description = 'Show deployments, their resources, machine addresses and workload state (read live, changes nothing).'
  static override strict = false
  static override args = {profile: Args.string({description: 'Profiles to show (default: all).'})}
  static override flags = {...budgetFlags, ...lockFlags, json: Flags.boolean({description: 'Print the status as JSON on stdout.', default: false})}

  public async run(): Promise<void> {
    const {flags, argv} = await this.parse(Status)
    const r = await anycloud({progress: 'none'}).status({file: flags.file, profiles: argv as string[]})
    showStatus(r, {json: flags.json}, stdio)
  }
}
