import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {budgetFlags} from '../../cli/budget-flags.js'
import {anycloud, stdio} from '../../cli/engine.js'
import {showCredentialsTest} from '../../render/credentials-view.js'

export default class CredentialsTest extends BaseCommand<typeof CredentialsTest> {
  static override description = 'Check that credentials authenticate (one cheap read-only call per credential).'
  static override strict = false
  static override args = {name: Args.string({description: 'Credentials to test (default: all known).'})}
  static override flags = {...budgetFlags, json: Flags.boolean({description: 'Print results as JSON on stdout.', default: false})}

  public async run(): Promise<void> {
    const {flags, argv} = await this.parse(CredentialsTest)
    const r = await anycloud({progress: 'none'}).credentials.test({file: flags.file, names: argv as string[]})
    this.finish(showCredentialsTest(r, {json: flags.json}, stdio))
  }
}
