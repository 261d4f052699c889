import {configPath, type Diagnostic, formatDiagnostic, loadConfig, selectProfiles} from '../config/index.js'
import {didYouMean} from '../model/did-you-mean.js'
import {mergeProfile} from '../config/resolve.js'
import {UsageError} from '../errors/index.js'
import {ExitCode} from './exit-codes.js'

export interface ValidateRequest {
  file: string
  json: boolean
  profiles: string[]
}

export interface CommandOutput {
  exitCode: number
  /** Exactly what goes to stdout: one JSON document with --json, else the verdict line. */
  stdout: string
  /** Diagnostics, one per line, for stderr. */
  stderr: string[]
}

/**
 * `anycloud validate`, independent of oclif: the oclif command and the start-up fast path in
 * bin/run.js both call it, so they cannot drift apart. Throws AnycloudError for usage errors.
 */
export function runValidate(request: ValidateRequest): CommandOutput {
  const names = request.profiles
  const file = configPath(request.file)
  // validate needs no secrets (SPEC §8): an unset ${env:NAME} is a warning here, an error for plan/apply.
  const result = loadConfig({file, unsetEnv: 'warning'})
  if (result.config && names.length > 0) selectProfiles(result.config, names)
  // Also when the file has errors: an unknown profile name is a usage error, not "valid".
  const data = result.document?.data as {profiles?: unknown} | undefined
  const profiles = data?.profiles && typeof data.profiles === 'object' && !Array.isArray(data.profiles) ? (data.profiles as Record<string, unknown>) : undefined
  if (!result.config && profiles && names.length > 0) {
    const all = Object.keys(profiles)
    for (const n of names) {
      if (!(n in profiles)) {
        const s = didYouMean(n, all)
        throw new UsageError(`unknown profile '${n}' in ${file}${s ? ` (did you mean '${s}'?)` : ''}; profiles: ${all.join(', ')}`, [], 'usage.unknown-profile')
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
  const out: CommandOutput = {exitCode: valid ? ExitCode.Ok : ExitCode.Invalid, stdout: '', stderr: []}
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`
  if (request.json) {
    const shape = (d: Diagnostic) => ({file: d.file, line: d.line, column: d.column, path: d.path, profile: d.profile ?? null, message: d.message})
    out.stdout = JSON.stringify({valid, errors: errors.map(shape), warnings: warnings.map(shape)}, null, 2) + '\n'
  } else {
    for (const d of [...errors, ...warnings]) out.stderr.push(formatDiagnostic(d))
    const extra = warnings.length > 0 ? `, ${plural(warnings.length, 'warning')}` : ''
    if (valid) {
      const count = result.config ? Object.keys(result.config.profiles).length : 0
      out.stdout = `${file} is valid (${plural(count, 'profile')}${extra}).\n`
    } else out.stdout = `${file}: ${plural(errors.length, 'error')}${extra}.\n`
  }
  return out
}
