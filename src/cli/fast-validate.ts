import {parseArgs} from 'node:util'

import {isAnycloudError} from '../errors/index.js'
import {formatDiagnostic} from '../config/diagnostics.js'
import {ConfigError} from '../config/index.js'
import {redactSecrets} from '../util/redact.js'
import {runValidate} from './validate-run.js'

/**
 * `anycloud validate` without loading oclif (about half of the cold start): bin/run.js calls this
 * first and falls back to oclif (returns undefined) for anything but a plain, well-formed validate
 * invocation, so help, unknown flags and their exit codes stay oclif's (mapped to 3).
 */
export function fastValidate(argv: string[]): number | undefined {
  if (argv[0] !== 'validate') return undefined
  let parsed
  try {
    parsed = parseArgs({
      args: argv.slice(1),
      options: {file: {type: 'string', short: 'f'}, json: {type: 'boolean'}, debug: {type: 'boolean'}},
      allowPositionals: true,
      strict: true,
    })
  } catch {
    return undefined
  }
  const {values, positionals} = parsed
  if (positionals.some((p) => p.startsWith('-'))) return undefined
  const json = Boolean(values.json)
  try {
    const out = runValidate({file: values.file ?? 'anycloud.yaml', json, profiles: positionals})
    for (const line of out.stderr) process.stderr.write(line + '\n')
    if (out.stdout) process.stdout.write(out.stdout)
    return out.exitCode
  } catch (error) {
    // Same rendering as the oclif base command for the errors validate can raise.
    if (!isAnycloudError(error)) return undefined
    const message = redactSecrets(error.message)
    if (json) process.stdout.write(JSON.stringify({error: {code: error.code, message, exitCode: error.exitCode, suggestions: error.suggestions, ...(error instanceof ConfigError ? {diagnostics: error.diagnostics} : {})}}, null, 2) + '\n')
    else if (error instanceof ConfigError) for (const d of error.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n')
    else {
      process.stderr.write(`Error: ${message}\n`)
      for (const s of error.suggestions) process.stderr.write(`  ${s}\n`)
    }
    return error.exitCode
  }
}
