import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {runValidate} from '../cli/validate-run.js'

export default class Validate extends BaseCommand<typeof Validate> {
  static override description = 'Check anycloud.yaml against the schema and the semantic rules; makes no cloud call.'
  static override examples = ['<%= config.bin %> validate', '<%= config.bin %> validate -f ci/anycloud.yaml --json', '<%= config.bin %> validate train']
  static override strict = false
  static override args = {profile: Args.string({description: 'Profiles to check (default: all).', required: false})}
  static override flags = {json: Flags.boolean({description: 'Print {valid, errors, warnings} as JSON on stdout.', default: false})}

  public async run(): Promise<void> {
    const {flags, argv} = await this.parse(Validate)
    const out = runValidate({file: flags.file, json: flags.json, profiles: argv as string[]})
    for (const line of out.stderr) this.say(line)
    if (out.stdout) process.stdout.write(out.stdout)
    if (out.exitCode !== 0) this.exit(out.exitCode)
  }
}
