import {AsyncLocalStorage} from 'node:async_hooks'

import {AnycloudError} from '../errors/index.js'
import {formatDuration} from '../util/duration.js'

/**
 * Deadlines for everything that waits on something remote (SPEC §3: no hangs).
 *
 * - A {@link Budget} is a total time budget: the command's `--timeout`, or a stage's default (the
 *   refresh's few minutes). Budgets nest; a child never outlives its parent. The current one is
 *   found with {@link currentBudget} (an async-local scope, else the process's, set by the CLI).
 * - {@link callWithDeadline} wraps ONE remote call (an SDK request with its retries, an SSH
 *   connect, a command on a machine): it ends at the call's own deadline or the budget's,
 *   whichever comes first, aborts the call's signal, and rejects with a {@link DeadlineError}
 *   naming the call, the endpoint, the credential and what was tried, even when the call ignores
 *   its signal (the call is then abandoned, never awaited).
 * - {@link withinBudget} runs a stage under a (child) budget and rejects when it runs out even if
 *   some wait inside is not wrapped, naming the calls still in flight.
 *
 * Providers (aws, azure, gcp, ssh) wrap every SDK/HTTP/SSH call with these; nothing waits forever.
 */

/** One remote call, for messages: never carries a secret. */
export interface CallInfo {
  /** What was called: `sts:GetCallerIdentity`, `ssh connect`, `PUT virtualMachines/vm-1`. */
  call: string
  /** Where: a URL, or `user@host:port`. */
  endpoint?: string
  /** The anycloud credential the call used. */
  credential?: string
}

/** A call or a stage ran out of time. Exit 1; the message says what to check. */
export class DeadlineError extends AnycloudError {
  constructor(
    readonly info: CallInfo,
    /** Milliseconds waited. */
    readonly waitedMs: number,
    /** Which limit ended it: `its own 60s deadline`, `the --timeout 3s budget`. */
    readonly limit: string,
    /** What was tried: `3 attempts; last: socket hang up`. */
    readonly tried?: string,
  ) {
    super(`${describeCall(info)} got no answer within ${formatDuration(waitedMs)} (${limit})${tried ? `; tried: ${tried}` : ''}`, {
      code: 'timeout',
      source: 'cloud',
      suggestions: [
        `Check that ${info.endpoint ?? 'the endpoint'} is reachable from here (address, firewall, proxy, VPN) and answers${info.credential ? `, and the endpoints of credential '${info.credential}'` : ''}.`,
        'If the cloud is only slow, give the command more time with --timeout (e.g. --timeout 15m).',
      ],
    })
  }
}

/** `sts:GetCallerIdentity to https://sts.us-east-1.amazonaws.com (credential 'prod')` */
export function describeCall(info: CallInfo): string {
  return `${info.call}${info.endpoint ? ` to ${info.endpoint}` : ''}${info.credential ? ` (credential '${info.credential}')` : ''}`
}

/** A total time budget; its signal aborts at the deadline. */
export class Budget {
  readonly deadline: number
  readonly signal: AbortSignal
  /** The label of the budget whose end this one shares (a child cut short by its parent names the parent). */
  readonly label: string
  /** Calls in flight under this budget (for the message when the budget itself runs out). */
  readonly inFlight = new Set<CallInfo>()
  readonly #controller = new AbortController()
  readonly #timer: NodeJS.Timeout

  constructor(label: string, ms: number, readonly parent?: Budget) {
    const own = Date.now() + Math.max(0, ms)
    const bound = parent && parent.deadline <= own
    this.deadline = bound ? parent.deadline : own
    this.label = bound ? parent.label : label
    this.signal = this.#controller.signal
    this.#timer = setTimeout(() => this.#controller.abort(new Error(`${this.label} ran out`)), Math.max(0, this.deadline - Date.now()))
    this.#timer.unref()
    parent?.signal.addEventListener('abort', () => this.#controller.abort(parent.signal.reason), {once: true})
  }

  remaining(): number {
    return Math.max(0, this.deadline - Date.now())
  }

  get expired(): boolean {
    return this.signal.aborted
  }

  /** Stops the timer (the stage is over). */
  dispose(): void {
    clearTimeout(this.#timer)
  }
}

const scope = new AsyncLocalStorage<Budget>()
let processBudget: Budget | undefined

/** The budget in force here: the innermost {@link withinBudget}, else the process's (`--timeout`). */
export function currentBudget(): Budget | undefined {
  return scope.getStore() ?? processBudget
}

/** The CLI's `--timeout`: the budget of the whole command (undefined clears it). */
export function setProcessBudget(budget: Budget | undefined): void {
  processBudget?.dispose()
  processBudget = budget
}

/** Time a stage's race gives a call's own deadline error to arrive first (it names the call). */
const STAGE_GRACE_MS = 1_000

/**
 * Runs `fn` under a child budget of `ms` (none when undefined: `fn` runs under the current one).
 * Rejects with a {@link DeadlineError} when the budget runs out, naming the calls in flight.
 */
export async function withinBudget<T>(label: string, ms: number | undefined, fn: () => Promise<T>): Promise<T> {
  const parent = currentBudget()
  if (ms === undefined && !parent) return fn()
  const budget = ms === undefined ? parent! : new Budget(label, ms, parent)
  const started = Date.now()
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    const fire = () => {
      timer = setTimeout(() => {
        const calls = [...budget.inFlight]
        const first = calls[0]
        reject(
          new DeadlineError(
            first ?? {call: label},
            Date.now() - started,
            budget.label,
            calls.length > 0 ? `${calls.length} call${calls.length === 1 ? '' : 's'} still in flight (${calls.map(describeCall).join('; ')})` : undefined,
          ),
        )
      }, STAGE_GRACE_MS)
      timer.unref()
    }
    if (budget.signal.aborted) fire()
    else budget.signal.addEventListener('abort', fire, {once: true})
  })
  expired.catch(() => undefined)
  try {
    return await Promise.race([scope.run(budget, fn), expired])
  } finally {
    if (timer) clearTimeout(timer)
    if (budget !== parent) budget.dispose()
  }
}

export interface DeadlineOptions extends CallInfo {
  /** The call's own deadline (besides the budget's). */
  timeoutMs?: number
  /** The caller's signal (Ctrl-C): aborts the call without a deadline error. */
  signal?: AbortSignal
  /** What was tried so far, for the message (`2 attempts; last: ECONNRESET`). */
  tried?: () => string | undefined
}

/**
 * Runs one remote call with a deadline: `fn` gets a signal that aborts at the call's own
 * `timeoutMs` or the current budget's end (whichever first) or when `signal` aborts. At the
 * deadline the call rejects with a {@link DeadlineError} whether or not `fn` honours its signal.
 */
export async function callWithDeadline<T>(options: DeadlineOptions, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const budget = currentBudget()
  const started = Date.now()
  const limits: Array<{at: number; label: string}> = []
  if (options.timeoutMs !== undefined) limits.push({at: started + options.timeoutMs, label: `its own ${formatDuration(options.timeoutMs)} deadline`})
  if (budget) limits.push({at: budget.deadline, label: budget.label})
  limits.sort((a, b) => a.at - b.at)
  const limit = limits[0]
  const controller = new AbortController()
  let deadlineError: DeadlineError | undefined
  let rejectAbort: (error: unknown) => void = () => undefined
  const aborted = new Promise<never>((_, reject) => {
    rejectAbort = reject
  })
  aborted.catch(() => undefined)
  const expire = () => {
    deadlineError = new DeadlineError(options, Date.now() - started, limit.label, options.tried?.())
    controller.abort(deadlineError)
    rejectAbort(deadlineError)
  }
  const timer = limit ? setTimeout(expire, Math.max(0, limit.at - Date.now())) : undefined
  timer?.unref()
  const onAbort = () => {
    controller.abort(options.signal?.reason)
    rejectAbort(options.signal?.reason ?? new Error('aborted'))
  }
  if (options.signal?.aborted) onAbort()
  else options.signal?.addEventListener('abort', onAbort, {once: true})
  const info: CallInfo = {call: options.call, endpoint: options.endpoint, credential: options.credential}
  budget?.inFlight.add(info)
  try {
    return await Promise.race([fn(controller.signal), aborted])
  } catch (error) {
    if (deadlineError) throw deadlineError
    throw error
  } finally {
    if (timer) clearTimeout(timer)
    options.signal?.removeEventListener('abort', onAbort)
    budget?.inFlight.delete(info)
  }
}

/** A signal that aborts with the first of `signals` (undefined ones ignored). */
export function anySignal(...signals: Array<AbortSignal | undefined>): AbortSignal | undefined {
  const list = signals.filter((s): s is AbortSignal => s !== undefined)
  if (list.length <= 1) return list[0]
  return AbortSignal.any(list)
}
