import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {ExitCode} from '../cli/exit-codes.js'
import {type Diagnostic, formatDiagnostic, loadConfig, selectProfiles} from '../config/index.js'
import {didYouMean} from '../config/did-you-mean.js'
import {mergeProfile} from '../config/resolve.js'
import {UsageError} from '../errors/index.js'

export default class Validate extends BaseCommand<typeof Validate> {
  static override description = 'Check anycloud.yaml against the schema and the semantic rules; makes no cloud call.'
  static override examples = ['<%= config.bin %> validate', '<%= config.bin %> validate -f ci/anycloud.yaml --json', '<%= config.bin %> validate train']
  static override strict = false
  static override args = {profile: Args.string({description: 'Profiles to check (default: all).', required: false})}
  static override flags = {json: Flags.boolean({description: 'Print {valid, errors, warnings} as JSON on stdout.', default: false})}

  public async run(): Promise<void> {
    const {flags, argv} = await this.parse(Validate)
    const names = argv as string[]
    const result = loadConfig({file: flags.file})
    if (result.config && names.length > 0) selectProfiles(result.config, names)
    // Also when the file has errors: an unknown profile name is a usage error, not "valid".
    const data = result.document?.data as {profiles?: unknown} | undefined
    const profiles = data?.profiles && typeof data.profiles === 'object' && !Array.isArray(data.profiles) ? (data.profiles as Record<string, unknown>) : undefined
    if (!result.config && profiles && names.length > 0) {
      const all = Object.keys(profiles)
      for (const n of names) {
        if (!(n in profiles)) {
          const s = didYouMean(n, all)
          throw new UsageError(`unknown profile '${n}' in ${flags.file}${s ? ` (did you mean '${s}'?)` : ''}; profiles: ${all.join(', ')}`, [], 'usage.unknown-profile')
        }
      }
    }
    // A profile's problems include those of the profiles it extends.
    const selected = new Set(names)
    if (profiles) for (const n of names) for (const parent of mergeProfile(n, profiles, undefined).chain) selected.add(parent)
    const keep = (d: Diagnostic) => names.length === 0 || !d.profile || selected.has(d.profile)
    const errors = result.errors.filter(keep)
    const warnings = result.warnings.filter(keep)
    const valid = errors.length === 0
    if (flags.json) {
      const shape = (d: Diagnostic) => ({file: d.file, line: d.line, column: d.column, path: d.path, profile: d.profile ?? null, message: d.message})
      this.writeJson({valid, errors: errors.map(shape), warnings: warnings.map(shape)})
    } else {
      for (const d of [...errors, ...warnings]) this.say(formatDiagnostic(d))
      if (valid) {
        const count = result.config ? Object.keys(result.config.profiles).length : 0
        this.say(`${flags.file} is valid (${count} profile${count === 1 ? '' : 's'}${warnings.length > 0 ? `, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}` : ''}).`)
      } else {
        this.say(`${flags.file}: ${errors.length} error${errors.length === 1 ? '' : 's'}${warnings.length > 0 ? `, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}` : ''}.`)
      }
    }
    if (!valid) this.exit(ExitCode.Invalid)
  }
}
