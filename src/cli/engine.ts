import {Anycloud, type LockOptions} from '../engine/anycloud.js'
import type {Sink} from '../render/sink.js'
import {interruptController} from './interaction.js'
import {CliIoHost, type CliIoHostOptions} from './io-host.js'

/** The engine façade with the terminal as its host. */
export function anycloud(options: CliIoHostOptions = {}): Anycloud {
  return new Anycloud(new CliIoHost(options), {env: process.env, crashAt: process.env.ANYCLOUD_TEST_CRASH_AT})
}

/** `--lock-timeout` and `--lock=false` (src/cli/lock-flags.ts) as the façade's options. */
export function lockOf(flags: {'lock-timeout'?: number; lock?: boolean}): LockOptions {
  return {...(flags['lock-timeout'] !== undefined ? {lockTimeoutMs: flags['lock-timeout']} : {}), ...(flags.lock === false ? {noLock: true} : {})}
}

/**
 * Runs `fn` with SIGINT/SIGTERM turned into an abort of its signal: the first stops new work (the
 * engine finishes what is in flight, saves state, releases the lock); a second exits at once.
 */
export async function interruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const interrupt = interruptController()
  try {
    return await fn(interrupt.signal)
  } finally {
    interrupt.dispose()
  }
}

/** The process's streams as a view's sink. */
export const stdio: Sink = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (line) => void process.stderr.write(line + '\n'),
}
