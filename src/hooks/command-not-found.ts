import type {Hook} from '@oclif/core'

import {didYouMean} from '../model/did-you-mean.js'
import {ExitCode} from '../errors/exit-codes.js'

/** An unknown command is invalid usage: exit 3 (SPEC §3), not oclif's 2 (which CI reads as "changes pending"). */
const hook: Hook<'command_not_found'> = async function (options) {
  const ids = options.config.commands.filter((c) => !c.hidden).map((c) => c.id.replaceAll(':', ' '))
  const given = options.id.replaceAll(':', ' ')
  const suggestion = didYouMean(given, ids)
  process.stderr.write(`Error: unknown command '${given}'${suggestion ? ` (did you mean '${suggestion}'?)` : ''}\n  Commands: ${ids.sort().join(', ')}\n`)
  process.exit(ExitCode.Invalid)
}

export default hook
