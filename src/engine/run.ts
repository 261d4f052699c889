import {AnycloudError, InterruptedError} from '../errors/index.js'
import {applyPlan, type ApplyResult} from './apply.js'
import type {Reporter} from './events.js'
import {planChanges} from './planner.js'
import {hasChanges, type Plan} from './plan.js'
import type {Session} from './session.js'

export interface ConvergeOptions {
  session: Session
  reporter: Reporter
  signal?: AbortSignal
  replace?: string[]
  destroy?: boolean
  /** The time plans are made at (a fake clock in tests). */
  now?: () => Date
  /** Asked once with the plan; resolves false to stop without changes. */
  confirm?: (plan: Plan) => Promise<boolean>
  /** Called with each plan before it is applied (rendering). */
  onPlan?: (plan: Plan, attempt: number) => void | Promise<void>
}

export interface ConvergeResult {
  plan: Plan
  results: ApplyResult[]
  applied: boolean
}

/**
 * plan → confirm → apply, rotating to the next listed credential when one fails authentication
 * during apply (each attempt re-plans only the affected profiles). The state is re-read between.
 */
export async function planAndApply(options: ConvergeOptions): Promise<ConvergeResult> {
  const {session, reporter} = options
  const excluded: Record<string, string[]> = {}
  const results: ApplyResult[] = []
  let profiles = session.profiles
  let first: Plan | undefined
  for (let attempt = 1; attempt <= 10; attempt++) {
    const plan = await planChanges({
      config: session.config, profiles, state: session.state, providers: session.providers, reporter, stateDir: session.store.localDir,
      replace: attempt === 1 ? options.replace : [], destroy: options.destroy, excludeCredentials: excluded, now: options.now?.(),
    })
    first ??= plan
    await options.onPlan?.(plan, attempt)
    if (attempt === 1 && options.confirm && hasChanges(plan)) {
      if (!(await options.confirm(plan))) return {plan, results, applied: false}
    }
    if (options.signal?.aborted) throw new InterruptedError()
    const result = await applyPlan({plan, config: session.config, store: session.store, state: session.state, providers: session.providers, reporter, signal: options.signal, allowRotation: !options.destroy, crashAt: session.crashAt})
    results.push(result)
    session.state = result.state
    const rotate = Object.entries(result.authFailures)
    if (rotate.length === 0 || result.interrupted) break
    for (const [profile, creds] of rotate) (excluded[profile] ??= []).push(...creds)
    profiles = session.profiles.filter((p) => result.authFailures[p.name])
    reporter.emit({type: 'diagnostic', severity: 'warning', message: `rotating to the next listed credential for ${profiles.map((p) => p.name).join(', ')}`})
    if (profiles.some((p) => p.credentials.every((c) => excluded[p.name]?.includes(c)))) break
  }
  return {plan: first!, results, applied: true}
}

/** Sums up apply results for exit codes and JSON. */
export function outcomeOf(results: ApplyResult[]): {failed: ApplyResult['failed']; skipped: ApplyResult['skipped']; done: string[]; interrupted: boolean} {
  const last = new Map<string, 'done' | 'failed'>()
  const failed: ApplyResult['failed'] = []
  const done: string[] = []
  for (const r of results) {
    for (const d of r.done) last.set(d, 'done')
    for (const f of r.failed) last.set(f.address, 'failed')
  }
  for (const r of results) {
    failed.push(...r.failed.filter((f) => last.get(f.address) === 'failed' && !(f.error instanceof AnycloudError && f.error.code === 'rotating')))
    done.push(...r.done)
  }
  const skipped = results.length > 0 ? results[results.length - 1].skipped : []
  return {failed: dedupe(failed), skipped, done: [...new Set(done)], interrupted: results.some((r) => r.interrupted)}
}

function dedupe<T extends {address: string}>(list: T[]): T[] {
  const seen = new Set<string>()
  return list.filter((x) => (seen.has(x.address) ? false : (seen.add(x.address), true)))
}
