import type {ActualResource, SpotRecord} from '../model/resources.js'
import type {ResolvedProfile} from '../model/profile.js'

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
  const record: SpotRecord = {preemptions: 0, counted: [], ...structuredClone(recorded ?? {})}
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
