import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {budgetFlags} from '../cli/budget-flags.js'
import {anycloud, interruptible, lockOf, stdio} from '../cli/engine.js'
import {lockFlags} from '../cli/lock-flags.js'
import {showDestroy} from '../render/outcome.js'

export default class Destroy extends BaseCommand<typeof Destroy> {
  static override description = `Tear down what the profiles own, in reverse dependency order.
Input buckets are never touched; an output bucket is deleted only when anycloud created it and it is empty; only resources carrying anycloud's ownership tags are deleted.`
  static override examples = ['<%= config.bin %> destroy -y', '<%= config.bin %> destroy -y train']
  static override strict = false
  static override args = {profile: Args.string({description: 'Profiles to destroy (default: all).'})}
  static override flags = {
    ...budgetFlags,
    ...lockFlags,
    'auto-approve': Flags.boolean({char: 'y', description: 'Destroy without asking (required when not interactive).', default: false}),
    json: Flags.boolean({description: 'Print the plan and the outcome as one JSON document on stdout.', default: false}),
  }

  public async run(): Promise<void> {
    const {flags, argv} = await this.parse(Destroy)
    const r = await interruptible((signal) => anycloud({json: flags.json}).destroy({file: flags.file, profiles: argv as string[], autoApprove: flags['auto-approve'], signal, ...lockOf(flags)}))
    this.finish(showDestroy(r, {json: flags.json}, stdio))
  }
}
