import {changedAttributes, kindRank, type Action, type ActualResource, type DesiredResource, type ResourceRecord, type WorkloadPhase} from '../model/resources.js'
import type {KindDiff} from '../providers/provider.js'

export type {Change, Plan, PlanDiagnostic, PlanSummary, ProfilePlan} from '../model/plan.js'
import type {Change, Plan, PlanSummary} from '../model/plan.js'

/** How a kind's changed attributes are applied (the provider's declaration; for buckets, the storage rule). */
export type DiffOf = (resource: DesiredResource) => (desired: Record<string, unknown>, actual: Record<string, unknown>) => KindDiff | undefined

export interface DiffInput {
  desired: DesiredResource[]
  records: Record<string, ResourceRecord>
  /** `records`' values in its order, when the caller has them as a list (walking a list costs less than walking an object of its own shape). */
  recordList?: readonly ResourceRecord[]
  /** What refresh saw, by address (or `actualAt`). */
  actual?: Record<string, ActualResource | null>
  /**
   * `records[address]` and `actual[address]` by other means (the planner's: a scan of a
   * deployment's handful of addresses costs less than a keyed read of objects of a thousand shapes).
   */
  recordAt?: (address: string) => ResourceRecord | undefined
  actualAt?: (address: string) => ActualResource | null | undefined
  /** Addresses forced to be replaced (--replace). */
  replace: ReadonlySet<string>
  phase: 'run' | 'done'
  /** Why resources that are not desired go away (profile removed, job completed, destroy). */
  deleteReason: (record: ResourceRecord) => string
  /** The remembered workload outcome, when the machine is gone. */
  workloadMemory?: {phase: WorkloadPhase; exitCode?: number; specHash?: string}
  /** Update in place or replace, per desired resource: what its provider declares. */
  diffOf: DiffOf
  /** The compute provider's own kinds, in creation order (the order changes are listed in). */
  declared?: readonly string[]
  /**
   * Per desired resource (same index), its change when refresh finds it, worked out by
   * {@link foundChange} before refresh answered; used only when it applies.
   */
  found?: ReadonlyArray<Change | undefined>
}

const changedKeys = changedAttributes

function goneReason(d: DesiredResource, r: ResourceRecord | undefined, a: ActualResource | null | undefined): string {
  if (!r) {
    if (d.kind === 'bucket') return `${d.role} bucket '${d.name}' does not exist on ${d.credential}: it will be created`
    return 'new deployment'
  }
  if (r.status === 'pending') return 'a previous run stopped before it was confirmed; not found, so it will be created'
  if (d.kind === 'vm') return a?.note ? `VM no longer exists (${a.note})` : 'VM no longer exists (preempted?)'
  if (d.kind === 'workload') return 'workload is no longer running on the machine (preempted or restarted?): it will be started again'
  return `${d.kind === 'bucket' ? `${d.role} bucket` : d.kind} no longer exists (deleted outside anycloud?)`
}

type Make = (action: Action, reason: string, observed?: Change['observed']) => Change

/** A change's fixed part, keys in plan JSON order (built without spreads: a plan makes thousands). */
function changeOf(d: DesiredResource | ResourceRecord, dependsOn: string[], action: Action, reason: string, before: Change['before'], after: Change['after'], observed?: Change['observed']): Change {
  const {address, kind, role, credential, provider, name} = d
  const profile = address.slice(0, address.indexOf('.'))
  // Each literal whole (one object shape each, no property added one by one).
  const c: Change = role
    ? {address, profile, kind, role, credential, provider, name, dependsOn, action, reason, before, after}
    : {address, profile, kind, credential, provider, name, dependsOn, action, reason, before, after}
  if (observed) c.observed = observed
  return c
}

/** The workload's change: its outcome once done, a re-run when its spec changed or it was lost. */
function diffWorkload(d: DesiredResource, r: ResourceRecord | undefined, a: ActualResource | null | undefined, mk: Make, input: DiffInput): Change {
  const memory = input.workloadMemory
  const phaseSeen = a?.phase ?? memory?.phase
  if (input.phase === 'done') {
    const exitCode = a?.exitCode ?? memory?.exitCode
    return mk('no-op', `workload ${phaseSeen} (exit ${exitCode ?? '?'})`, {phase: phaseSeen, exitCode, ...(a ? {id: a.id} : {})})
  }
  if (input.replace.has(d.address) && (a || r)) return mk('replace', 'replacement requested with --replace')
  if (a && a.phase !== 'lost') {
    const keys = changedKeys(r?.attributes ?? {}, d.attributes)
    if (r && keys.length > 0) return mk('replace', `${keys.join(', ')} changed: re-runs the workload`)
    return mk('no-op', `workload ${a.phase ?? 'running'}`, {phase: a.phase, exitCode: a.exitCode, id: a.id})
  }
  if (a?.phase === 'lost') return mk('replace', 'workload was lost (its machine was preempted or restarted): it will be started again')
  if (r && (memory?.phase === 'completed' || memory?.phase === 'failed')) {
    const keys = changedKeys(r.attributes, d.attributes)
    return mk('create', `${keys.join(', ') || 'the workload'} changed since it ${memory.phase}: re-runs the workload`)
  }
  return mk('create', goneReason(d, r, a))
}

/** A resource that exists: up to date, adopted, updated in place, or replaced (buckets never are). */
function diffFound(d: DesiredResource, r: ResourceRecord | undefined, a: ActualResource | undefined, before: Record<string, unknown> | null, mk: Make, diffOf: DiffOf): Change {
  const observed = !r || r.status === 'pending' ? {id: a!.id, outputs: a!.outputs} : undefined
  const diff = changedKeys(before ?? {}, d.attributes).length === 0 ? undefined : diffOf(d)(d.attributes, before ?? {})
  if (!diff) return mk('no-op', r ? 'up to date' : `${d.kind === 'bucket' ? `${d.role} bucket '${d.name}' already exists` : 'found by name'}: adopted`, observed)
  return mk(diff.action, diff.reason, observed)
}

/**
 * The change of a desired resource state recorded (confirmed, on the same credential) as it is
 * when refresh finds it: up to date, updated or replaced as its attributes say. It reads nothing
 * refresh finds, so it can be worked out while refresh reads. Undefined for what does read it:
 * the bootstrap (its files on the machine), the workload (its phase), an input bucket (only read).
 * {@link diffDesired} uses it only for a resource found, not --replaced, and not a VM with a note.
 */
export function foundChange(d: DesiredResource, r: ResourceRecord | undefined, diffOf: DiffOf): Change | undefined {
  if (!r || r.status === 'pending' || r.credential !== d.credential || d.kind === 'bootstrap' || d.kind === 'workload' || (d.kind === 'bucket' && d.role === 'input')) return undefined
  const before = r.attributes
  return diffFound(d, r, undefined, before, (action, reason, observed) => changeOf(d, d.dependsOn, action, reason, before, d.attributes, observed), diffOf)
}

/** The change of one desired resource (`found`: its {@link foundChange}, when worked out). */
function diffDesired(d: DesiredResource, input: DiffInput, found: Change | undefined): Change {
  const r = input.recordAt!(d.address)
  const a = input.actualAt!(d.address)
  if (found && a && !(d.kind === 'vm' && a.note) && !input.replace.has(d.address)) return found
  // The bootstrap's hash is read from the machine: files changed or lost there show as drift.
  const before = d.kind === 'bootstrap' && a && r ? {...r.attributes, ...a.attributes} : (r?.attributes ?? a?.attributes ?? null)
  const mk: Make = (action, reason, observed) => changeOf(d, d.dependsOn, action, reason, action === 'create' ? (r ? before : null) : before, d.attributes, observed)
  if (d.kind === 'bucket' && d.role === 'input') return mk('read', `input bucket '${d.name}' exists on ${d.credential}`)
  // The placement moved to another credential (rotation, or the list changed): the resource is
  // re-created there, and the one on the old credential deleted (output data is never deleted).
  if (r && r.credential !== d.credential && !(d.kind === 'workload' && input.phase === 'done')) {
    const what = d.kind === 'bucket' ? `${d.role} bucket` : d.kind
    return mk('replace', `${what} moves from credential '${r.credential}' to '${d.credential}': re-created there, the old one deleted${d.kind === 'bucket' && d.role === 'output' ? ' if empty' : ''}`)
  }
  if (d.kind === 'workload') return diffWorkload(d, r, a, mk, input)
  if (!a) return mk('create', goneReason(d, r, a))
  // A VM the cloud still lists but that is not running (terminated by a spot reclaim, stopped):
  // the provider says why in `note`. It is replaced (deleting what is left of it).
  if (d.kind === 'vm' && a.note) return mk(r ? 'replace' : 'create', goneReason(d, r ?? ({status: 'created'} as ResourceRecord), a))
  if (input.replace.has(d.address)) return mk('replace', 'replacement requested with --replace')
  return diffFound(d, r, a, before, mk, input.diffOf)
}

/** A recorded resource that is no longer desired: deleted when found, forgotten when gone (input buckets only forgotten). */
function diffUndesired(r: ResourceRecord, input: DiffInput): Change {
  const gone = (action: Action, reason: string): Change => changeOf(r, [], action, reason, r.attributes, null)
  if (r.kind === 'bucket' && r.role === 'input') return gone('no-op', 'input bucket no longer used: forgotten (input buckets are never deleted)')
  if (!input.actualAt!(r.address)) return gone('no-op', 'already gone: removed from state')
  return gone('delete', input.deleteReason(r))
}

/** A new or replaced machine needs its bootstrap and workload again. */
function rebuildOnNewMachine(changes: Map<string, Change>, input: DiffInput): void {
  const byAddress = (suffix: string) => [...changes.values()].find((c) => c.address.endsWith('.' + suffix))
  const rebuild = (dep: Change | undefined, target: Change | undefined, why: string) => {
    if (!dep || !target || target.after === null) return
    if (dep.action !== 'create' && dep.action !== 'replace') return
    if (target.action === 'no-op' || target.action === 'update') {
      target.action = input.recordAt!(target.address) || input.actualAt!(target.address) ? 'replace' : 'create'
      target.reason = why
    }
  }
  rebuild(byAddress('vm'), byAddress('bootstrap'), 'its VM is being created: the machine must be bootstrapped again')
  rebuild(byAddress('vm'), byAddress('workload'), 'its VM is being created: the workload starts on the new machine')
  rebuild(byAddress('bootstrap'), byAddress('workload'), 'the bootstrap is being re-created: the workload restarts')
}

/**
 * What needs a resource replaced with --replace is replaced too (and what needs that, …): it was
 * made on the old one (a VM on its network interface, say), which cannot go while it is in use. Buckets are the exception: what uses one knows it by its name, which a new one keeps.
 */
function replaceDependents(changes: Map<string, Change>, input: DiffInput): void {
  const replaced = new Set([...input.replace].filter((a) => changes.get(a)?.action === 'replace' && changes.get(a)!.kind !== 'bucket'))
  for (let grew = replaced.size > 0; grew;) {
    grew = false
    for (const c of changes.values()) {
      if ((c.action !== 'no-op' && c.action !== 'update') || c.after === null || replaced.has(c.address)) continue
      const on = c.dependsOn.find((a) => replaced.has(a))
      if (!on) continue
      c.action = 'replace'
      c.reason = `${on} is being replaced (--replace): re-created with it`
      replaced.add(c.address)
      grew = true
    }
  }
}

/** Diffs one deployment. Pure. */
export function diffDeployment(diffInput: DiffInput): Change[] {
  const {records, actual = {}} = diffInput
  // The planner gives both lookups (no copy of the input per deployment then).
  const input: DiffInput = diffInput.recordAt && diffInput.actualAt ? diffInput : {...diffInput, recordAt: diffInput.recordAt ?? ((a) => records[a]), actualAt: diffInput.actualAt ?? ((a) => actual[a])}
  // A list, not a map by address: a deployment has a handful of resources, a plan thousands of deployments.
  const list: Change[] = []
  // Nothing is rebuilt unless something is created or replaced (in a steady plan nothing is).
  let building = false
  const found = input.found
  for (let i = 0; i < input.desired.length; i++) {
    const c = diffDesired(input.desired[i], input, found?.[i])
    list.push(c)
    if (c.action === 'create' || c.action === 'replace') building = true
  }
  const desiredCount = list.length
  const recorded = input.recordList ?? Object.values(input.records)
  for (let j = 0; j < recorded.length; j++) {
    const r = recorded[j]
    let desired = false
    for (let i = 0; i < desiredCount && !desired; i++) desired = list[i].address === r.address
    if (!desired) list.push(diffUndesired(r, input))
  }
  // (--replace's dependents too: a replaced resource is a change of its own.)
  if (building) {
    const changes = new Map(list.map((c) => [c.address, c]))
    rebuildOnNewMachine(changes, input)
    replaceDependents(changes, input)
  }
  return sortChanges(list, () => input.declared)
}

// The collator `localeCompare` uses, made once (a plan of thousands of changes sorts fast).
const collator = new Intl.Collator()

/**
 * Profiles by name, then each deployment's resources in creation order (`declared`: the compute
 * provider's own kinds of a profile, in its order), then addresses.
 */
export function sortChanges(changes: Change[], declared: (profile: string) => readonly string[] | undefined = () => undefined): Change[] {
  const ranks = changes.map((c) => kindRank(c.address, declared(c.profile)))
  const text = (x: string, y: string) => (x === y ? 0 : collator.compare(x, y))
  // A deployment's changes mostly come in order already (desired in creation order): the sort is
  // stable, so changes already in order are left as they are.
  let sorted = true
  for (let i = 1; i < changes.length && sorted; i++) sorted = (text(changes[i - 1].profile, changes[i].profile) || ranks[i - 1] - ranks[i] || text(changes[i - 1].address, changes[i].address)) <= 0
  if (sorted) return changes
  const rank = new Map(changes.map((c, i) => [c, ranks[i]]))
  return changes.sort((a, b) => text(a.profile, b.profile) || rank.get(a)! - rank.get(b)! || text(a.address, b.address))
}

/**
 * The changes of several deployments in plan order, from each deployment's own sorted changes
 * (as {@link diffDeployment} returns them): the profiles sorted, their lists joined. The same order
 * as sorting them all, without a collator comparison per pair of a thousand-profile plan.
 */
export function joinSorted(perProfile: Array<{profile: string; changes: Change[]}>, declared?: (profile: string) => readonly string[] | undefined, rankOf?: (profile: string) => number | undefined): Change[] {
  // Ranks that number the profiles 0..n-1: each list goes in its place, no sort at all.
  const placed = rankOf && byRanks(perProfile, rankOf)
  if (placed) return placed
  // By the caller's ranks of profiles already sorted (a collator comparison costs far more), else by name.
  const byRank = (a: {profile: string}, b: {profile: string}) => rankOf!(a.profile)! - rankOf!(b.profile)!
  const byName = (a: {profile: string}, b: {profile: string}) => (a.profile === b.profile ? 0 : collator.compare(a.profile, b.profile))
  const compare = rankOf && perProfile.every((p) => rankOf(p.profile) !== undefined) ? byRank : byName
  const order = [...perProfile].sort(compare)
  const joinable = order.every((p, i) => (i === 0 || compare(order[i - 1], p) < 0) && p.changes.every((c) => c.profile === p.profile))
  if (!joinable) return sortChanges(perProfile.flatMap((p) => p.changes), declared)
  return order.flatMap((p) => p.changes)
}

/** The lists joined in rank order, when the ranks number them 0..n-1 and each list holds its profile's changes only; else undefined. */
function byRanks(perProfile: ReadonlyArray<{profile: string; changes: Change[]}>, rankOf: (profile: string) => number | undefined): Change[] | undefined {
  const order: Array<{profile: string; changes: Change[]} | undefined> = Array.from({length: perProfile.length})
  let total = 0
  for (let i = 0; i < perProfile.length; i++) {
    const p = perProfile[i]
    const rank = rankOf(p.profile)
    if (rank === undefined || !Number.isInteger(rank) || rank < 0 || rank >= order.length || order[rank] !== undefined) return undefined
    for (let j = 0; j < p.changes.length; j++) if (p.changes[j].profile !== p.profile) return undefined
    order[rank] = p
    total += p.changes.length
  }
  const out: Change[] = Array.from({length: total})
  let at = 0
  for (let i = 0; i < order.length; i++) {
    const changes = order[i]!.changes
    for (let j = 0; j < changes.length; j++) out[at++] = changes[j]
  }
  return out
}

export function summarize(changes: Change[]): PlanSummary {
  const s: PlanSummary = {create: 0, update: 0, replace: 0, delete: 0}
  for (let i = 0; i < changes.length; i++) {
    const action = changes[i].action
    if (action in s) s[action as keyof PlanSummary]++
  }
  return s
}

export function hasChanges(plan: Pick<Plan, 'summary'>): boolean {
  const s = plan.summary
  return s.create + s.update + s.replace + s.delete > 0
}
