import {statSync} from 'node:fs'
import {dirname, join, resolve as resolvePath} from 'node:path'

import {checkCredentialShape} from '../credentials/shape.js'
import {CredentialStore} from '../credentials/store.js'
import {AnycloudError, UsageError} from '../errors/index.js'
import {ExitCode} from '../errors/exit-codes.js'
import {type Diagnostic, formatDiagnostic, sortDiagnostics} from './diagnostics.js'
import {didYouMean} from '../model/did-you-mean.js'
import {interpolate} from './interpolate.js'
import {loadFile, type LoadedDocument, pointer} from './load.js'
import {DEFAULT_STATE, IMPLICIT_LOCAL, knownCredentials, sanitizeProjectName, toResolvedProfile} from './resolve.js'
import {checkRules} from './rules.js'
import {schemaDiagnostics} from './schema-check.js'
import type {AnycloudFile, Credential, State} from './schema-types.js'
import type {NamedCredential, ResolvedConfig, ResolvedProfile} from './types.js'

export interface LoadConfigOptions {
  /** Path of the anycloud.yaml as the user gave it. */
  file: string
  env?: NodeJS.ProcessEnv
  store?: CredentialStore
  /**
   * An unset `${env:NAME}`: an error (default: plan, apply and every command that acts) or a
   * warning (`validate`, which needs no secrets).
   */
  unsetEnv?: 'error' | 'warning'
}

export interface LoadConfigResult {
  /** Present when there are no errors. */
  config?: ResolvedConfig
  errors: Diagnostic[]
  warnings: Diagnostic[]
  document?: LoadedDocument
}

/** `-f DIR` means DIR/anycloud.yaml; any other path is taken as given. */
export function configPath(file: string): string {
  try {
    if (statSync(file).isDirectory()) return join(file, 'anycloud.yaml')
  } catch {}
  return file
}

/** Load, schema-check, rule-check, interpolate and resolve a file. Never throws on bad content. */
export function loadConfig(options: LoadConfigOptions): LoadConfigResult {
  const env = options.env ?? process.env
  const store = options.store ?? new CredentialStore()
  const file = configPath(options.file)
  const dir = dirname(resolvePath(file))
  const loaded = loadFile(file, dir)
  if (!loaded.ok) return split(loaded.diagnostics)
  const document = loaded.document
  const diagnostics: Diagnostic[] = [...schemaDiagnostics(document)]
  let stored: Record<string, Credential> = {}
  try {
    // A hand-edited store may hold a credential of a bad shape: ignore it, with a warning, rather
    // than let it reach the rules or the engine.
    for (const [name, c] of Object.entries(store.list())) {
      const problems = c && typeof c === 'object' && !Array.isArray(c) ? checkCredentialShape(c as unknown as Record<string, unknown>, {allowLiteralSecrets: true}) : ['not a map']
      if (problems.length === 0) stored[name] = c
      else diagnostics.push({severity: 'warning', file: store.path, line: 1, column: 1, path: `credentials.${name}`, message: `saved credential '${name}' is not valid and is ignored (${problems.join('; ')}): replace it with \`anycloud credentials add ${name} --force …\``})
    }
  } catch (error) {
    if (!(error instanceof AnycloudError)) throw error
    stored = {}
    diagnostics.push({severity: 'error', file: store.path, line: 1, column: 1, path: '', message: error.message})
  }
  const data = (document.data ?? {}) as Partial<AnycloudFile>
  const credentials = knownCredentials(data.credentials, stored)
  const interpolated = interpolate(document, env, {unset: options.unsetEnv ?? 'error'})
  diagnostics.push(...interpolated.diagnostics)
  const rules = checkRules({document, credentials, storePath: store.path, interpolated})
  diagnostics.push(...rules.diagnostics)
  const result = split(diagnostics)
  result.document = document
  if (result.errors.length > 0) return result

  const idata = interpolated.data as AnycloudFile
  const resolvedCredentials: Record<string, NamedCredential> = {}
  for (const [name, c] of Object.entries(knownCredentials(idata.credentials, stored))) resolvedCredentials[name] = c
  if (Object.keys(resolvedCredentials).length === 0) resolvedCredentials[IMPLICIT_LOCAL.name] = IMPLICIT_LOCAL
  const profiles: Record<string, ResolvedProfile> = {}
  for (const name of Object.keys(idata.profiles)) {
    const merged = rules.merged[name]
    // Re-read the merged fields from the interpolated data, keeping the same merge.
    const fields: Record<string, unknown> = {}
    for (const [key, origin] of Object.entries(merged.origins)) fields[key] = getPath(idata, origin)
    const sensitiveEnv = Object.keys((fields.env as object) ?? {}).filter((k) => {
      const origin = merged.origins.env
      return origin && interpolated.sensitive.has(pointer([...origin, k]))
    })
    profiles[name] = toResolvedProfile(name, {...merged, fields}, rules.profileCredentials[name], sensitiveEnv)
  }
  result.config = {
    file,
    dir,
    project: idata.project ?? sanitizeProjectName(dir),
    state: (idata.state as State | undefined) ?? DEFAULT_STATE,
    credentials: resolvedCredentials,
    profiles,
  }
  return result
}

function getPath(data: unknown, segments: Array<string | number>): unknown {
  let v: unknown = data
  for (const s of segments) v = v && typeof v === 'object' ? (v as Record<string | number, unknown>)[s] : undefined
  return v
}

function split(diagnostics: Diagnostic[]): LoadConfigResult {
  const sorted = sortDiagnostics(diagnostics)
  return {errors: sorted.filter((d) => d.severity === 'error'), warnings: sorted.filter((d) => d.severity === 'warning')}
}

/** Invalid configuration (exit 3), carrying every diagnostic. */
export class ConfigError extends AnycloudError {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(`${diagnostics.length} error${diagnostics.length === 1 ? '' : 's'} in the configuration:\n` + diagnostics.map((d) => '  ' + formatDiagnostic(d)).join('\n'), {code: 'config.invalid', source: 'user', exitCode: ExitCode.Invalid})
  }
}

/** loadConfig for commands that need a valid file: throws ConfigError (exit 3) on any error. */
export function requireConfig(options: LoadConfigOptions): {config: ResolvedConfig; warnings: Diagnostic[]} {
  const result = loadConfig(options)
  if (!result.config) throw new ConfigError(result.errors)
  return {config: result.config, warnings: result.warnings}
}

/** The profiles named on the command line (all when none); an unknown name is a usage error listing the real ones. */
export function selectProfiles(config: ResolvedConfig, names: string[]): ResolvedProfile[] {
  const all = Object.keys(config.profiles)
  for (const n of names) {
    if (!config.profiles[n]) {
      const s = didYouMean(n, all)
      throw new UsageError(`unknown profile '${n}' in ${config.file}${s ? ` (did you mean '${s}'?)` : ''}; profiles: ${all.join(', ')}`, [], 'usage.unknown-profile')
    }
  }
  return (names.length > 0 ? [...new Set(names)] : all).map((n) => config.profiles[n])
}

export {formatDiagnostic, type Diagnostic} from './diagnostics.js'
