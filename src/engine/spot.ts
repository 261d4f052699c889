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
