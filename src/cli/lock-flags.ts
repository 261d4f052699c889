import {Flags} from '@oclif/core'

import {parseDuration} from '../util/duration.js'

/**
 * `--lock-timeout DURATION` and `--lock=false` (SPEC §7), for every command that reaches a cloud
 * or takes the state lock. `--lock=false` is rewritten to oclif's `--no-lock` by
 * {@link normalizeLockArgv} before parsing.
 */
export const lockFlags = {
  'lock-timeout': Flags.custom<number>({
    description: 'Wait up to DURATION (e.g. 30s, 5m) for a state lock held by another run, retrying with backoff; default: fail at once (exit 4).',
    helpValue: 'DURATION',
    helpGroup: 'STATE',
    parse: async (input) => {
      const ms = parseDuration(input)
      if (ms === undefined || ms < 0) throw new Error(`--lock-timeout ${input} is not a duration: use e.g. 30s, 5m or 1h`)
      return ms
    },
  })(),
  lock: Flags.boolean({
    description: 'Take the state lock (default). `--lock=false` runs without it and without the store\'s conditional-write probe: only when no other run can touch the state.',
    default: true,
    allowNo: true,
    helpGroup: 'STATE',
  }),
}

/** `--lock=false` / `--lock=true` as oclif's boolean spelling (`--no-lock` / `--lock`). */
export function normalizeLockArgv(argv: string[]): string[] {
  return argv.map((a) => (/^--lock=(false|0|no)$/i.test(a) ? '--no-lock' : /^--lock=(true|1|yes)$/i.test(a) ? '--lock' : a))
}

