import {Command, Errors, Flags, type Interfaces} from '@oclif/core'
import type {Input, ParserOutput} from '@oclif/core/interfaces'

import {ConfigError} from '../config/index.js'
import {formatDiagnostic} from '../config/diagnostics.js'
import {didYouMean} from '../model/did-you-mean.js'
import {AnycloudError, isAnycloudError} from '../errors/index.js'
import {Budget, setProcessBudget} from '../remote/deadline.js'
import {formatDuration} from '../util/duration.js'
import {redactSecrets} from '../util/redact.js'
import {ExitCode} from './exit-codes.js'
import {normalizeLockArgv} from './lock-flags.js'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Output = {[name: string]: any}

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>

/**
 * Shared flags and the one place errors become exit codes and messages. Results (plans, status,
 * verdicts, lists) go to stdout; progress and diagnostics to stderr; with --json, stdout carries
 * exactly one JSON document, an error included.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override baseFlags = {
    file: Flags.string({char: 'f', description: 'Path of the anycloud.yaml.', default: 'anycloud.yaml', helpGroup: 'GLOBAL'}),
    debug: Flags.boolean({description: 'Show stack traces of unexpected errors.', default: false, helpGroup: 'GLOBAL'}),
  }

  protected flags!: BaseFlags<T>
  protected jsonMode = false

  public override async init(): Promise<void> {
    await super.init()
    this.argv = normalizeLockArgv(this.argv)
    this.jsonMode = this.argv.includes('--json')
  }

  /**
   * Parses, then installs the command's `--timeout` budget (src/cli/budget-flags.ts) when the
   * command has one: every cloud and SSH call sees it. A watchdog ends the process shortly after
   * the budget if something still waits (a call that honoured no deadline: a bug, never a hang).
   */
  protected override async parse<F extends Output, B extends Output, A extends Output>(options?: Input<F, B, A>, argv?: string[]): Promise<ParserOutput<F, B, A>> {
    const parsed = await super.parse(options, argv)
    const timeout = (parsed.flags as {timeout?: unknown}).timeout
    if (typeof timeout === 'number') {
      const label = `the --timeout ${formatDuration(timeout)} budget`
      setProcessBudget(new Budget(label, timeout))
      const watchdog = setTimeout(() => {
        process.stderr.write(`Error: anycloud ${this.id?.replaceAll(':', ' ') ?? ''} did not stop within ${label} (plus ${WATCHDOG_GRACE_MS / 1000}s): exiting.\n`)
        process.exit(ExitCode.Failed)
      }, timeout + WATCHDOG_GRACE_MS)
      watchdog.unref()
    }
    return parsed
  }

  /** Writes the one JSON document of a --json run to stdout. */
  protected writeJson(value: unknown): void {
    process.stdout.write(JSON.stringify(value, null, 2) + '\n')
  }

  /** Progress and diagnostics: stderr. */
  protected say(message = ''): void {
    process.stderr.write(message + '\n')
  }

  /** A human result (what `anycloud … | grep` should see): stdout. Never used in --json mode. */
  protected out(message = ''): void {
    process.stdout.write(message + '\n')
  }

  /** Ends with `code` unless it is 0 (a view's verdict). */
  protected finish(code: number): void {
    if (code !== 0) this.exit(code)
  }

  /** `Did you mean --detailed-exitcode?` for each unknown flag close to one this command takes. */
  private flagSuggestions(err: Error): string[] {
    const unknown = (err as {flags?: unknown}).flags
    if (!Array.isArray(unknown)) return []
    const ctor = this.ctor as unknown as {flags?: Record<string, {char?: string}>; baseFlags?: Record<string, {char?: string}>}
    const names = Object.keys({...ctor.baseFlags, ...ctor.flags}).map((n) => `--${n}`)
    const out: string[] = []
    for (const given of unknown) {
      if (typeof given !== 'string') continue
      const bare = given.split('=')[0]
      const s = bare.startsWith('--') ? didYouMean(bare, names) : undefined
      if (s) out.push(`Did you mean ${s} (for ${bare})?`)
    }
    return out
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (err instanceof Errors.ExitError) throw err
    const debug = this.argv.includes('--debug')
    let exitCode: number = ExitCode.Failed
    let code = 'internal'
    let message = err.message
    let suggestions: string[] = []
    let diagnostics: unknown[] | undefined
    if (isAnycloudError(err)) {
      exitCode = err.exitCode
      code = err.code
      suggestions = err.suggestions
      if (err instanceof ConfigError) diagnostics = err.diagnostics
    } else if (err instanceof Errors.CLIError || err.name?.includes('Parse') || (err as {parse?: unknown}).parse) {
      // oclif's own usage errors (unknown flag, missing argument): exit 3, not oclif's 2.
      exitCode = ExitCode.Invalid
      code = 'usage.invalid'
      message = err.message.replace(/\n\s*See more help with --help$/, '')
      suggestions = [...this.flagSuggestions(err), `See \`anycloud ${this.id?.replaceAll(':', ' ') ?? ''} --help\`.`]
    } else {
      message = `unexpected error (a bug in anycloud): ${err.message}`
    }
    message = redactSecrets(message)
    if (this.jsonMode) {
      this.writeJson({error: {code, message, exitCode, suggestions, ...(diagnostics ? {diagnostics} : {})}})
    } else if (err instanceof ConfigError) {
      for (const d of err.diagnostics) this.say(formatDiagnostic(d))
      this.say(`Error: ${err.diagnostics.length} error${err.diagnostics.length === 1 ? '' : 's'} in the configuration.`)
    } else {
      this.say(`Error: ${message}`)
      for (const s of suggestions) this.say(`  ${s}`)
      if (debug && err.stack) this.say(redactSecrets(err.stack))
      else if (!isAnycloudError(err) && exitCode === ExitCode.Failed) this.say('  Run again with --debug for the stack trace, and please report it.')
    }
    return this.exit(exitCode)
  }
}

/** How long past its `--timeout` a command may take to stop (release the lock, save state) before the watchdog exits. */
const WATCHDOG_GRACE_MS = 15_000

export {AnycloudError}
