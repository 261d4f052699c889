import type {Change, PlanDiagnostic} from '../model/plan.js'
import {addressOf, type ActualResource, type SpotRecord} from '../model/resources.js'
import type {ResolvedProfile} from '../model/profile.js'
import {parseNotice} from '../model/notice.js'

/** How many preempted VM ids a deployment remembers (enough to never count one twice). */
const COUNTED_KEEP = 20

export interface SpotDecision {
  /** What state should hold after this plan is applied (undefined for a profile without spot). */
  record?: SpotRecord
  /** True when `record` differs from what state holds (the plan carries it to apply). */
  changed: boolean
  /** The deployment runs on-demand (spotFallback fired, now or before). */
  onDemand: boolean
  /** The fallback fired in this plan: why (for the plan's reason and a diagnostic). */
  fired?: string
}

/**
 * A spot deployment's bookkeeping for one plan: counts a VM the cloud took back (once per VM id),
 * and fires `spotFallback` when a limit is reached. Pure: `now` is an input.
 */
export function spotDecision(profile: ResolvedProfile, recorded: SpotRecord | undefined, vm: ActualResource | null | undefined, now: Date): SpotDecision {
  if (!profile.spot) return {changed: false, onDemand: false}
  // A copy of what state holds (its own `counted` list and `onDemand`), never the record itself.
  const record: SpotRecord = {preemptions: 0, counted: [], ...(recorded ? copyJson(recorded) : {})}
  let changed = false
  if (vm?.preempted && vm.id && !record.counted.includes(vm.id)) {
    record.preemptions += 1
    record.counted = [...record.counted, vm.id].slice(-COUNTED_KEEP)
    record.lastPreemptedAt = now.toISOString()
    changed = true
  }
  if (record.onDemand) return {record, changed, onDemand: true}
  const limits = profile.spotFallback
  let fired: string | undefined
  if (limits?.afterPreemptions !== undefined && record.preemptions >= limits.afterPreemptions) {
    fired = `spotFallback: ${record.preemptions} preemption${record.preemptions === 1 ? '' : 's'} reached afterPreemptions (${limits.afterPreemptions}): moving to on-demand`
  } else if (limits?.afterMinutesWithoutCapacity !== undefined && record.noCapacitySince) {
    const minutes = Math.floor((now.getTime() - Date.parse(record.noCapacitySince)) / 60_000)
    if (minutes >= limits.afterMinutesWithoutCapacity) {
      fired = `spotFallback: no spot capacity for ${minutes} min (since ${record.noCapacitySince}) reached afterMinutesWithoutCapacity (${limits.afterMinutesWithoutCapacity}): moving to on-demand`
    }
  }
  if (fired) {
    record.onDemand = {reason: fired, since: now.toISOString()}
    return {record, changed: true, onDemand: true, fired}
  }
  return {record, changed, onDemand: false}
}

/** Renew minted storage credentials when this much of their life is left (at most 6 h before expiry). */
const RENEW_FRACTION = 0.25
const RENEW_MAX_MS = 6 * 3600 * 1000

/**
 * Whether the short-lived storage credentials a bootstrap wrote (STS: 36 h at most) are due to be
 * re-minted: the reason for the plan's bootstrap update, or undefined. The update rewrites the
 * machine's 0600 rclone env file only; the workload keeps running.
 */
export function credentialsRenewal(outputs: Record<string, unknown> | undefined, now: Date): string | undefined {
  const expiresAt = typeof outputs?.credentialsExpireAt === 'string' ? Date.parse(outputs.credentialsExpireAt) : Number.NaN
  if (!Number.isFinite(expiresAt)) return undefined
  const lifetimeMs = typeof outputs?.credentialsLifetimeSeconds === 'number' ? outputs.credentialsLifetimeSeconds * 1000 : RENEW_MAX_MS * 4
  const margin = Math.min(RENEW_MAX_MS, lifetimeMs * RENEW_FRACTION)
  if (now.getTime() < expiresAt - margin) return undefined
  const left = Math.round((expiresAt - now.getTime()) / 60_000)
  return left > 0
    ? `storage credentials expire in ${left} min (${new Date(expiresAt).toISOString()}): re-minted and written to the machine; the workload keeps running`
    : `storage credentials expired at ${new Date(expiresAt).toISOString()}: re-minted and written to the machine; the workload keeps running`
}

/**
 * How long after its interruption notice a VM may still run before it is replaced anyway. The
 * clouds take a VM back within minutes of the notice (EC2 two, GCE and Azure under one); one still
 * running well after that had its eviction called off, and its notice program, which acts once,
 * already stopped the workload and flushed: a fresh VM is the way back to a watched one.
 */
export const NOTICE_WAIT_MS = 10 * 60_000

/** What a plan does with a workload whose machine had its interruption notice and still runs. */
export type NoticeWait = {wait: string} | {overdue: string}

/**
 * The machine had its interruption notice (the notice program's marker, read with the workload) and
 * is still up: the workload was stopped and its checkpoint flushed, and the cloud is about to take
 * the VM. It is never restarted there (what it then did would be lost with the VM, unflushed):
 * `wait` until the cloud reports the VM gone (then the VM is replaced as preempted), or, past
 * {@link NOTICE_WAIT_MS}, `overdue`: the VM is replaced. Undefined without a notice. Pure.
 */
export function noticeWait(workload: ActualResource | null | undefined, now: Date): NoticeWait | undefined {
  const parsed = parseNotice(workload?.outputs?.notice)
  if (!parsed) return undefined
  // A cut marker still names its time.
  const notice: {cloud?: unknown; event?: unknown; noticedAt?: unknown} = 'fields' in parsed ? parsed.fields : {noticedAt: parsed.noticedAt}
  const at = typeof notice.noticedAt === 'string' ? Date.parse(notice.noticedAt) : Number.NaN
  const what = `${typeof notice.cloud === 'string' ? notice.cloud + ' ' : ''}interruption notice${typeof notice.event === 'string' ? ` (${notice.event})` : ''}${Number.isFinite(at) ? ` at ${new Date(at).toISOString()}` : ''}`
  if (!Number.isFinite(at)) return {overdue: `${what}, time unknown, and the VM still runs: replaced (a workload is never restarted on a VM that had its notice)`}
  const waited = now.getTime() - at
  if (waited >= NOTICE_WAIT_MS) return {overdue: `${what}, but the VM still runs ${Math.floor(waited / 60_000)} min later: replaced (a workload is never restarted on a VM that had its notice)`}
  return {wait: `${what}: workload stopped and checkpoint flushed; waiting for the cloud to take the VM back, then it is replaced (never restarted on this VM; replaced anyway after ${NOTICE_WAIT_MS / 60_000} min)`}
}

/**
 * Applies a {@link noticeWait} to a deployment's changes (diffed with the VM in the replace set when
 * overdue): the overdue VM's replacement says why; a waiting workload becomes a no-op marked
 * `waiting` (watch logs one line per reconcile), unless its VM is changing anyway. What the plan
 * should also say, or undefined.
 */
export function holdForNotice(changes: Change[], notice: NoticeWait | undefined, profile: string): PlanDiagnostic | undefined {
  if (!notice) return undefined
  const vm = changes.find((c) => c.address === addressOf(profile, 'vm'))
  if ('overdue' in notice) {
    if (vm?.action !== 'replace') return undefined
    vm.reason = notice.overdue
    return {severity: 'warning', profile, message: `${vm.address}: ${notice.overdue}`}
  }
  if (vm && vm.action !== 'no-op') return undefined
  const workload = changes.find((c) => c.address === addressOf(profile, 'workload'))
  if (!workload || workload.after === null) return undefined
  workload.action = 'no-op'
  workload.reason = notice.wait
  workload.waiting = true
  return {severity: 'info', profile, message: `${workload.address}: ${notice.wait}`}
}

/** A deep copy of a JSON value (state is JSON): what structuredClone gives, for a fraction of its cost. */
function copyJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map(copyJson) as T
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = copyJson(v)
  return out as T
}
