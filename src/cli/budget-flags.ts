import {Errors, Flags} from '@oclif/core'

import {parseDuration} from '../util/duration.js'

/**
 * `--timeout DURATION` (SPEC §3): the total budget of a command that reaches a cloud or takes the
 * state lock. Every cloud and SSH call inside has its own deadline too and stops at the budget's
 * end; BaseCommand installs it (src/remote/deadline.ts) once the flags are parsed.
 */
export const timeoutFlag = Flags.custom<number>({
  description: 'Total time budget for the command (e.g. 90s, 5m, 1h); every cloud and SSH call inside also has its own deadline. Default: no total limit, the refresh gets 5m.',
  helpValue: 'DURATION',
  helpGroup: 'GLOBAL',
  parse: async (input) => {
    const ms = parseDuration(input)
    if (ms === undefined || ms <= 0) throw new Errors.CLIError(`'${input}' is not a duration: use e.g. 90s, 5m or 1h30m`)
    return ms
  },
})

/** Spread into the flags of every command that reaches a cloud or takes the state lock. */
export const budgetFlags = {timeout: timeoutFlag()}
