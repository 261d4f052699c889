import {createInterface} from 'node:readline'

import {UsageError} from '../errors/index.js'
import type {Reporter} from '../model/events.js'
import {isPlainSession} from '../render/actions.js'
import {PlainReporter} from '../render/reporters.js'
import {ListrReporter} from '../render/listr-reporter.js'

/** Non-interactive: no TTY on stdin, or CI. */
export function isInteractive(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(process.stdin.isTTY) && !env.CI
}

/**
 * Asks a person (the engine asks only when no `-y` answered already); a non-interactive
 * session without `-y` is refused (exit 3) before anything changes.
 */
export async function confirmOrRefuse(question: string, command: string): Promise<boolean> {
  if (!isInteractive()) {
    throw new UsageError(`refusing to ${command} without -y/--auto-approve in a non-interactive session`, [`Review \`anycloud plan\` and run \`anycloud ${command} -y\`, or apply a saved plan file.`], 'usage.needs-approval')
  }
  const rl = createInterface({input: process.stdin, output: process.stderr})
  try {
    const answer = await new Promise<string>((resolve) => rl.question(`${question}\n  Only 'yes' will be accepted: `, resolve))
    return answer.trim() === 'yes'
  } finally {
    rl.close()
  }
}

/** The reporter for this session: nothing on stdout with --json; listr2 on a terminal; plain lines otherwise. */
export function chooseReporter(json: boolean): {reporter: Reporter; listr?: ListrReporter} {
  // A terminal that reports no width (some pseudo-terminals) cannot host spinners: plain lines.
  if (!json && !isPlainSession() && (process.stderr.columns ?? 0) > 0) {
    const listr = new ListrReporter()
    return {reporter: listr, listr}
  }
  return {reporter: new PlainReporter()}
}

/**
 * SIGINT/SIGTERM: the first stops new work (in-flight operations finish, state is saved, the lock
 * released); a second exits at once (state already holds every finished step and pending intents).
 */
export function interruptController(): {signal: AbortSignal; dispose(): void} {
  const controller = new AbortController()
  let count = 0
  const handler = () => {
    count++
    if (count === 1) controller.abort()
    else {
      process.stderr.write('Interrupted again: exiting now. Pending operations are recorded in state; the next run resumes them.\n')
      process.exit(130)
    }
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', handler)
      process.off('SIGTERM', handler)
    },
  }
}
