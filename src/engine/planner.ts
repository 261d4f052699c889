import {randomBytes, randomUUID} from 'node:crypto'

import type {ResolvedConfig, ResolvedProfile} from '../config/types.js'
import {AnycloudError, AuthError, isAnycloudError} from '../errors/index.js'
import {continentMismatchMessage, continentOfPlacement, type Continent} from '../model/continents.js'
import {validBucketNameEverywhere} from '../model/bucket-names.js'
import {didYouMean} from '../model/did-you-mean.js'
import {bucketOf, storageCredential, type BucketSpec} from '../model/deployment-spec.js'
import {addressOf, deploymentAddresses, deploymentContext, parseAddress, type ActualResource, type DeploymentContext, type DesiredResource, type Placement, type ResourceRecord} from '../model/resources.js'
import {declaredKinds, diffBucket, kindOf, type Provider} from '../providers/provider.js'
import type {ProviderSet} from '../providers/registry.js'
import type {DeploymentRecord, StateDocument} from '../state/types.js'
import {isMachineUnreachable, livesOnMachine, recordedAsActual, unknownWarning} from './machine-reach.js'
import {desiredResources, once, orphanProfile, workloadSpec, workloadSpecMatches, type WorkloadSpec} from './desired.js'
import {credentialsRenewal, holdForNotice, noticeWait, spotDecision, type SpotDecision} from './spot.js'
import type {Reporter} from './events.js'
import {memoize} from '../util/limit.js'
import {type AuthResult, keepsRecorded, placeKept, placeProfile, type PlacementOptions} from './placement.js'
import {CredentialLimits, layered, refresh, type RefreshRequest, type Snapshot} from './refresh.js'
import {type Change, type DiffOf, diffDeployment, foundChange, joinSorted, type Plan, type PlanDiagnostic, type ProfilePlan, summarize} from './plan.js'
import {currentBudget, withinBudget} from '../remote/deadline.js'

// What `localeCompare` compares with, made once.
const collator = new Intl.Collator()

export interface PlanOptions {
  config: ResolvedConfig
  /** Profiles to plan (the command's arguments, or all). */
  profiles: ResolvedProfile[]
  state: StateDocument | undefined
  providers: ProviderSet
  reporter: Reporter
  stateDir: string
  /** Addresses to force-replace. */
  replace?: string[]
  /** Plan the removal of everything the selected profiles own. */
  destroy?: boolean
  /** Credentials that failed at apply, per profile: placement skips them. */
  excludeCredentials?: Record<string, string[]>
  /** Concurrent cloud reads. */
  readConcurrency?: number
  /** The time the plan is made at (spotFallback's minutes without capacity); tests pass a fake clock. */
  now?: Date
  /**
   * The lineage a state that does not exist yet will get (it salts the hashes of sensitive values,
   * so the plan records it and the apply creates the state with it); a fresh one when absent.
   */
  lineage?: string
}

/** The plan failed before any change: every problem found, all at once. */
export class PlanError extends AnycloudError {
  constructor(readonly diagnostics: PlanDiagnostic[]) {
    super(diagnostics.filter((d) => d.severity === 'error').map((d) => (d.profile ? `${d.profile}: ${d.message}` : d.message)).join('\n'), {code: 'plan.failed', source: 'cloud'})
  }
}

/** A new deployment id: `<project>-<profile>-<6 [a-z0-9]>`, valid as a bucket name on every cloud. */
export function newDeploymentId(project: string, profile: string): string {
  for (;;) {
    const bytes = randomBytes(6)
    const suffix = [...bytes].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('')
    const id = `${project}-${profile}-${suffix}`
    if (validBucketNameEverywhere(id)) return id
  }
}

/** A deployment after placement, with what refresh must read for it. */
interface Prepared {
  profile: ResolvedProfile
  record: DeploymentRecord | undefined
  destroy: boolean
  placement: Placement
  ctx: DeploymentContext
  compute: Provider
  storage: Record<string, Provider>
  records: Record<string, ResourceRecord>
  /** `records`' values, in its order. */
  recordList: ResourceRecord[]
  /** The workload's attributes as state recorded them. */
  recordedWorkload: Record<string, unknown> | undefined
  /** What the deployment wants while its job runs (empty for a destroy; worked out by {@link desire}). */
  runDesired: DesiredResource[]
  /** Per resource of `runDesired`, its change when refresh finds it as recorded ({@link foundChange}), worked out while refresh reads. */
  found: Array<Change | undefined>
  /** The workload's spec (attributes and hash), worked out once and only when asked for. */
  workload: () => WorkloadSpec
  /** What refresh reads for it: what state recorded, then what {@link desire} adds. */
  lookups: Array<{address: string; kind: DesiredResource['kind']; name: string; credential: string; record?: ResourceRecord}>
  /** The record state holds at an address. */
  recordAt: (address: string) => ResourceRecord | undefined
  /** Credentials whose storage must be checked for the input and output buckets (SPEC §5). */
  inputWhere: string[]
  outputWhere: string[]
}

/** What one deployment contributes to the plan. */
interface Planned {
  profile: ProfilePlan
  changes: Change[]
}

function checkReplaceAddresses(replace: ReadonlySet<string>, profiles: ResolvedProfile[]): void {
  const selected = new Set(profiles.map((p) => p.name))
  for (const address of replace) {
    const profile = address.split('.')[0]
    if (!selected.has(profile)) throw new AnycloudError(`--replace ${address}: no profile '${profile}' in this plan`, {code: 'usage.invalid', source: 'user'})
    if (!parseAddress(address)) {
      throw new AnycloudError(`--replace ${address}: not a resource address (PROFILE.KIND or PROFILE.bucket.ROLE, e.g. ${profile}.vm or ${profile}.bucket.output; see \`anycloud state list\`)`, {code: 'usage.invalid', source: 'user'})
    }
  }
}

/**
 * Once placed, each --replace address must name a kind its deployment's provider declares (or
 * one of its buckets): a typo is an error naming the valid addresses, never a silent no-op.
 */
function checkReplaceKinds(replace: ReadonlySet<string>, prepared: readonly Prepared[]): void {
  if (replace.size === 0) return
  const byProfile = new Map(prepared.map((p) => [p.profile.name, p]))
  for (const address of replace) {
    const parsed = parseAddress(address)!
    const p = byProfile.get(parsed.profile)
    if (!p || parsed.kind === 'bucket' || p.compute.compute.has(parsed.kind)) continue
    const valid = deploymentAddresses(parsed.profile, p.compute.compute.keys())
    const guess = didYouMean(parsed.kind, valid.map((a) => a.slice(parsed.profile.length + 1)))
    throw new AnycloudError(
      `--replace ${address}: profile '${parsed.profile}' has no '${parsed.kind}' resource (its ${p.compute.kind} provider, credential '${p.placement.credential}', does not declare that kind). Valid addresses: ${valid.join(', ')}.${guess ? ` Did you mean ${parsed.profile}.${guess}?` : ''}`,
      {code: 'usage.invalid', source: 'user'},
    )
  }
}

/** The providers a plan has loaded, by credential: a deployment whose providers are all here is prepared without a wait. */
type Loaded = Map<string, Provider>

/** The plan's options, with the providers it has loaded. */
type Planning = PlanOptions & {loaded: Loaded}

/** Loads the providers of `names` ('' skipped) into `loaded`, in order (the first that fails throws). */
async function loadProviders(names: readonly string[], providers: ProviderSet, loaded: Loaded): Promise<void> {
  for (const name of names) if (name && !loaded.has(name)) loaded.set(name, await providers.get(name))
}

/**
 * After placement: the deployment's context, its providers and what state recorded of it (what it
 * wants comes after, in {@link desire}). Without a wait when its providers are loaded and none has
 * a `prepare` step to wait for.
 */
function prepareDeployment(profile: ResolvedProfile, record: DeploymentRecord | undefined, placement: Placement, destroy: boolean, options: Planning): Prepared | Promise<Prepared> {
  const {config} = options
  const deploymentId = record?.id ?? newDeploymentId(config.project, profile.name)
  const ctx: DeploymentContext = deploymentContext({project: config.project, deploymentId, lineage: options.lineage!, profile, placement, configDir: config.dir, stateDir: options.stateDir, credentials: config.credentials})
  const input = bucketOf(ctx.spec, 'input')
  const output = bucketOf(ctx.spec, 'output')
  // The placement's provider, then the storage the buckets are on: the placement's storage, and
  // the credentials the input and output buckets name.
  const names = [placement.credential, storageCredential(placement.credential, config.credentials), input?.explicitCredential ? input.credential : '', output?.explicitCredential ? output.credential : '']
  for (let i = 0; i < names.length; i++) {
    if (names[i] && !options.loaded.has(names[i])) return loadProviders(names, options.providers, options.loaded).then(() => withProviders(profile, record, placement, destroy, options, ctx, names))
  }
  return withProviders(profile, record, placement, destroy, options, ctx, names)
}

/** {@link prepareDeployment} once its providers are loaded: their `prepare` steps, in order, then what refresh must read. */
function withProviders(profile: ResolvedProfile, record: DeploymentRecord | undefined, placement: Placement, destroy: boolean, options: Planning, ctx: DeploymentContext, names: readonly string[]): Prepared | Promise<Prepared> {
  const {loaded} = options
  const compute = loaded.get(names[0])!
  // Keyed by credential, each once.
  const storage: Record<string, Provider> = {}
  for (let i = 1; i < names.length; i++) if (names[i] && !Object.hasOwn(storage, names[i])) storage[names[i]] = loaded.get(names[i])!
  const records = record?.resources ?? {}
  if (destroy) return prepared(profile, record, placement, destroy, options, ctx, compute, storage, records)
  // Each provider's step starts once the one before it is done.
  let steps: Promise<void> | undefined = compute.prepare?.(ctx, records)
  for (const c in storage) {
    const sp = storage[c]
    if (sp === compute || !sp.prepare) continue
    steps = steps ? steps.then(() => sp.prepare!(ctx)) : sp.prepare(ctx)
  }
  if (steps) return steps.then(() => prepared(profile, record, placement, destroy, options, ctx, compute, storage, records))
  return prepared(profile, record, placement, destroy, options, ctx, compute, storage, records)
}

/** A prepared deployment: what state recorded of it, which refresh reads (desire() adds what is desired and not recorded). */
function prepared(profile: ResolvedProfile, record: DeploymentRecord | undefined, placement: Placement, destroy: boolean, options: Planning, ctx: DeploymentContext, compute: Provider, storage: Record<string, Provider>, records: Record<string, ResourceRecord>): Prepared {
  // State's addresses are matched by comparing strings: a keyed read of `records` with a freshly
  // built address costs far more (each deployment's records object has a shape of its own).
  const lookups: Prepared['lookups'] = []
  const recordedAddresses: string[] = []
  const recorded: ResourceRecord[] = []
  for (const address in records) {
    const r = records[address]
    recordedAddresses.push(address)
    recorded.push(r)
    lookups.push({address: r.address, kind: r.kind, name: r.name, credential: r.credential, record: r})
  }
  const recordAt = (address: string): ResourceRecord | undefined => {
    for (let i = 0; i < recordedAddresses.length; i++) if (recordedAddresses[i] === address) return recorded[i]
    return undefined
  }
  const recordedWorkload = recordAt(addressOf(profile.name, 'workload'))?.attributes
  const workload = once(() => workloadSpec(ctx.spec, ctx.lineage, recordedWorkload))
  const {inputWhere, outputWhere} = bucketChecks(profile, bucketOf(ctx.spec, 'input'), bucketOf(ctx.spec, 'output'), destroy, options)
  return {profile, record, destroy, placement, ctx, compute, storage, records, recordList: recorded, recordedWorkload, runDesired: [], found: [], workload, lookups, recordAt, inputWhere, outputWhere}
}

/** Where the input and output buckets are checked: the credential the profile named, else every listed one's storage. */
function bucketChecks(profile: ResolvedProfile, input: BucketSpec | undefined, output: BucketSpec | undefined, destroy: boolean, options: Planning): {inputWhere: string[]; outputWhere: string[]} {
  if (destroy || (!input && !output)) return {inputWhere: [], outputWhere: []}
  const credentials = options.config.credentials
  let storages: string[] | undefined
  if (!input?.explicitCredential || !output?.explicitCredential) {
    storages = []
    for (const c of profile.credentials) {
      const s = storageCredential(c, credentials)
      if (!storages.includes(s)) storages.push(s)
    }
  }
  const where = (b: BucketSpec | undefined) => (!b ? [] : b.explicitCredential ? [b.credential] : storages!)
  return {inputWhere: where(input), outputWhere: where(output)}
}

/**
 * What the deployment wants while its job runs (nothing for a destroy), and the reads that adds to
 * what state recorded: a desired resource state has not recorded on the same credential (in the
 * recorded one's place when it moved). Returns those added reads.
 */
function desire(p: Prepared, credentials: ResolvedConfig['credentials']): Prepared['lookups'] {
  if (p.destroy) return []
  p.runDesired = desiredResources({ctx: p.ctx, credentials, compute: p.compute, storage: p.storage, phase: 'run', recordedWorkload: p.recordedWorkload, workload: p.workload})
  const added: Prepared['lookups'] = []
  const diffOf = diffOfKinds(p.compute)
  for (const d of p.runDesired) {
    const r = p.recordAt(d.address)
    p.found.push(foundChange(d, r, diffOf))
    if (r && r.credential === d.credential) continue
    const lookup = {address: d.address, kind: d.kind, name: d.name, credential: d.credential, record: r}
    const at = r ? p.lookups.findIndex((l) => l.address === d.address) : -1
    if (at >= 0) p.lookups[at] = lookup
    else p.lookups.push(lookup)
    added.push(lookup)
  }
  return added
}

/**
 * Reads for one refresh round: each deployment's lookups (`lookupsOf`, all of them by default)
 * and, unless `checks` is false, the SPEC §5 checks of its input and output buckets.
 */
function refreshRequest(prepared: ReadonlyArray<Prepared | undefined>, lookupsOf: (p: Prepared) => Prepared['lookups'] = (p) => p.lookups, checks = true): RefreshRequest {
  const request: RefreshRequest = {resources: [], buckets: []}
  const progress = () => {}
  // Indexed loops: this runs once per plan over every deployment (no iterator objects while it warms up).
  for (let i = 0; i < prepared.length; i++) {
    const p = prepared[i]
    if (!p) continue
    const ctx = {deployment: p.ctx, records: p.records, progress}
    const lookups = lookupsOf(p)
    for (let j = 0; j < lookups.length; j++) {
      const l = lookups[j]
      if (l.kind === 'bucket') request.buckets.push({credential: l.credential, name: l.name})
      // The lookup as it is (a ResourceLookup, with its credential besides).
      else request.resources.push({credential: l.credential, lookup: l, ctx})
    }
    if (!checks) continue
    const input = p.inputWhere.length > 0 ? bucketOf(p.ctx.spec, 'input')!.name : ''
    for (let j = 0; j < p.inputWhere.length; j++) request.buckets.push({credential: p.inputWhere[j], name: input})
    const output = p.outputWhere.length > 0 ? bucketOf(p.ctx.spec, 'output')!.name : ''
    for (let j = 0; j < p.outputWhere.length; j++) request.buckets.push({credential: p.outputWhere[j], name: output})
  }
  return request
}

/** Deployments whose desired sets are worked out between two looks at pending reads. */
const DESIRE_CHUNK = 50

/**
 * Refresh, with every deployment's desired set ({@link desire}) worked out on the way. When each
 * deployment is one state recorded, placed where state has it, what state recorded is read first
 * and the desired sets are worked out while those reads are in flight (a steady plan's CPU time
 * goes on behind the clouds' latency); only reads the desired sets add (resources state does not
 * hold yet) make a second round, and a steady plan has none. Otherwise (a new deployment, a move)
 * the desired sets come first and one round reads everything. A deployment whose desired set
 * fails is dropped from `ready` and its error kept in `errors`.
 */
async function refreshDesired(ready: Array<Prepared | undefined>, options: PlanOptions, limits: CredentialLimits, errors: unknown[]): Promise<Snapshot> {
  const {providers} = options
  const credentials = options.config.credentials
  const early = ready.length > 0 && ready.every((p) => p!.record?.placement?.credential === p!.placement.credential)
  const first = early ? refresh(refreshRequest(ready), providers, limits) : undefined
  // Awaited below; a failure meanwhile is not an unhandled rejection.
  first?.catch(() => {})
  const added = new Map<Prepared, Prepared['lookups']>()
  for (let i = 0; i < ready.length; i++) {
    // Pending reads get going (and progress) between chunks.
    if (early && i % DESIRE_CHUNK === 0) await new Promise<void>((resolve) => setImmediate(resolve))
    try {
      const more = desire(ready[i]!, credentials)
      if (more.length > 0) added.set(ready[i]!, more)
    } catch (error) {
      errors.push(error)
      ready[i] = undefined
    }
  }
  if (!first) return refresh(refreshRequest(ready), providers, limits)
  if (added.size === 0) return first
  const second = await refresh(refreshRequest([...added.keys()], (p) => added.get(p)!, false), providers, limits)
  return layered(second, await first)
}

/**
 * SPEC §5 checks of the input and output buckets across every listed credential's storage, from
 * the snapshot. A listed credential that does not authenticate cannot be checked: the deployment
 * does not land there (placement skipped it), so its storage is reported as unchecked.
 */
function checkBuckets(p: Prepared, snapshot: Snapshot, config: ResolvedConfig, diagnostics: PlanDiagnostic[]): void {
  const {inputWhere, outputWhere} = p
  if (inputWhere.length === 0 && outputWhere.length === 0) return
  const {profile, placement} = p
  const placementStorage = storageCredential(placement.credential, config.credentials)
  const inputBucket = bucketOf(p.ctx.spec, 'input')?.name
  const outputBucket = bucketOf(p.ctx.spec, 'output')?.name
  // What each credential's storage showed of the buckets (null: absent). One whose credential does
  // not authenticate is left out, with a warning; input's warnings come before output's.
  let missingInput: string | undefined
  for (let i = 0; i < inputWhere.length; i++) {
    const seen = bucketOn(snapshot, inputWhere[i], inputBucket!, 'input', placementStorage, profile.name, diagnostics)
    if (seen === null && missingInput === undefined) missingInput = inputWhere[i]
  }
  const outputSeen: Array<ActualResource | null | undefined> = []
  for (let i = 0; i < outputWhere.length; i++) outputSeen.push(bucketOn(snapshot, outputWhere[i], outputBucket!, 'output', placementStorage, profile.name, diagnostics))
  const fail = (message: string) => diagnostics.push({severity: 'error', message, profile: profile.name})
  if (missingInput !== undefined) {
    fail(`input bucket '${inputBucket}' does not exist on credential '${missingInput}' (${config.credentials[missingInput].spec.provider}). Input buckets are never created: create it there${inputWhere.length > 1 ? ', or set inputStorageCredentials to the one credential that holds it' : ''}.`)
  }
  let present = 0
  let absent = 0
  for (let i = 0; i < outputSeen.length; i++) {
    if (outputSeen[i]) present++
    else if (outputSeen[i] === null) absent++
  }
  if (present > 0 && absent > 0) outputPartial(p, outputBucket!, outputWhere, outputSeen, config, fail)
  // Continent rule for an existing output bucket on a real cloud: the one where the VM landed.
  const deployContinent = continentOfPlacement(placement.provider, placement.region)
  for (let i = 0; i < outputSeen.length; i++) {
    const c = outputSeen[i]?.continent as Continent | undefined
    if (c && deployContinent && c !== deployContinent && placementStorage === outputWhere[i]) fail(continentMismatchMessage(outputBucket!, c, deployContinent))
  }
}

/**
 * What refresh saw of a bucket on a credential's storage (null: absent). Undefined: the credential
 * does not authenticate, so it could not be checked (a warning says so); the placement's own
 * storage failing fails the plan.
 */
function bucketOn(snapshot: Snapshot, cred: string, bucket: string, role: string, placementStorage: string, profile: string, diagnostics: PlanDiagnostic[]): ActualResource | null | undefined {
  try {
    return snapshot.bucket(cred, bucket)
  } catch (error) {
    if (!(error instanceof AuthError) || cred === placementStorage) throw error
    diagnostics.push({severity: 'warning', profile, message: `could not check the ${role} bucket '${bucket}' on credential '${cred}': ${error.message}`})
    return undefined
  }
}

/** An output bucket on some listed credentials' storage and not on others: an error, unless the ones it is on are anycloud's own (recorded in state where the VM landed). */
function outputPartial(p: Prepared, bucket: string, where: readonly string[], seen: ReadonlyArray<ActualResource | null | undefined>, config: ResolvedConfig, fail: (message: string) => void): void {
  const present = where.filter((_, i) => seen[i])
  const absent = where.filter((_, i) => seen[i] === null)
  // A bucket anycloud itself created where the VM landed (recorded in state) is not a partial set.
  const recordedOutput = p.recordAt(addressOf(p.profile.name, 'bucket', 'output'))
  const ours = (cred: string) => recordedOutput?.status === 'created' && recordedOutput.name === bucket && recordedOutput.credential === cred
  if (present.every(ours)) return
  const named = (creds: string[]) => creds.map((c) => `'${c}' (${config.credentials[c].spec.provider})`).join(', ')
  fail(`output bucket '${bucket}' exists on ${named(present)} but not on ${named(absent)}. Output buckets are all-or-none across the listed credentials: create it on every one, or on none (anycloud then creates it where the VM lands).`)
}

/** Why a recorded resource that is no longer desired goes away (for humans; apply never reads it). */
function deleteReasonFor(p: Prepared, phase: 'run' | 'done', done: {phase?: string; exitCode?: number} | undefined): (r: ResourceRecord) => string {
  const {persistBucket} = p.ctx.spec
  return (r) => {
    if (p.destroy) {
      if (r.kind === 'bucket' && r.role === 'output') return 'destroy: deleted only if anycloud created it and it is empty'
      if (r.kind === 'bucket' && r.role === 'checkpoint' && persistBucket) return 'destroy: the bucket is kept (persistBucket is on); anycloud stops tracking it'
      return 'destroy'
    }
    if (phase === 'done') {
      const how = `workload ${done?.phase} (exit ${done?.exitCode ?? '?'})`
      if (r.kind === 'bucket' && r.role === 'checkpoint') return `${how}: checkpoint bucket deleted (persistBucket is off)`
      return `${how}: tearing down (persist is off)`
    }
    if (r.kind === 'bucket' && r.role === 'output') return 'no longer this profile\'s output bucket: deleted only if anycloud created it and it is empty'
    return 'no longer part of the profile'
  }
}

/** How a resource's changed attributes are applied: the storage rule for buckets, else what the compute provider declares for its kind. */
function diffOfKinds(compute: Provider): DiffOf {
  return (d) => (d.kind === 'bucket' ? diffBucket : kindOf(compute, d.kind).diff)
}

/** The plan of one deployment from the snapshot: bucket rules, the workload's phase, the desired set, the diff. Pure but for the snapshot's recorded errors. */
function planDeployment(p: Prepared, snapshot: Snapshot, options: PlanOptions, replace: ReadonlySet<string>, diagnostics: PlanDiagnostic[]): Planned {
  const {profile, ctx, compute, records} = p
  const {config} = options
  // What refresh saw of each lookup, in the same order; found by scanning the addresses (a handful).
  const seen = p.lookups.map((l) => (l.kind === 'bucket' ? snapshot.bucket(l.credential, l.name) : machineOrCloud(l, snapshot, diagnostics)))
  const actualAt = (address: string): ActualResource | null | undefined => {
    for (let i = 0; i < seen.length; i++) if (p.lookups[i].address === address) return seen[i]
    return undefined
  }
  checkBuckets(p, snapshot, config, diagnostics)
  const spot = spotFor(p, actualAt, options)
  const workloadAddress = addressOf(profile.name, 'workload')
  const workloadActual = actualAt(workloadAddress) ?? null
  const memory = p.record?.workload
  const finished = (phase?: string) => phase === 'completed' || phase === 'failed'
  const doneNow = finished(workloadActual?.phase) ? workloadActual : undefined
  const recordedSpec = p.recordedWorkload?.specHash
  const phase: 'run' | 'done' = !replace.has(workloadAddress) && workloadSpecMatches(recordedSpec, ctx.spec, ctx.lineage, p.recordedWorkload, p.workload) && (doneNow !== undefined || (!workloadActual && finished(memory?.phase))) ? 'done' : 'run'
  if (!p.destroy) for (const message of compute.warnings?.(ctx) ?? []) diagnostics.push({severity: 'warning', profile: profile.name, message})
  untaggedBucketWarnings(p, seen, diagnostics)
  const desired = p.destroy ? [] : phase === 'run' ? (spot.runDesired ?? p.runDesired) : desiredResources({ctx, credentials: config.credentials, compute, storage: p.storage, phase, recordedWorkload: p.recordedWorkload, workload: p.workload})
  const done = {phase: doneNow?.phase ?? memory?.phase, exitCode: doneNow?.exitCode ?? memory?.exitCode}
  // A machine that had its interruption notice and still runs: its workload waits (or the VM is replaced once overdue).
  const notice = p.destroy || phase === 'done' ? undefined : noticeWait(workloadActual, options.now!)
  const replaceHere = notice && 'overdue' in notice ? new Set([...replace, addressOf(profile.name, 'vm')]) : replace
  const changes = diffDeployment({desired, records, recordList: p.recordList, recordAt: p.recordAt, actualAt, replace: replaceHere, phase, deleteReason: deleteReasonFor(p, phase, done), workloadMemory: memory, diffOf: diffOfKinds(compute), declared: declaredKinds(compute), found: desired === p.runDesired ? p.found : undefined})
  const held = holdForNotice(changes, notice, profile.name)
  if (held) diagnostics.push(held)
  // Minted storage credentials close to expiry: the bootstrap is updated (re-minted, env file rewritten).
  const boot = changes.find((c) => c.address === addressOf(profile.name, 'bootstrap'))
  const renew = boot?.action === 'no-op' ? credentialsRenewal(p.recordAt(boot.address)?.outputs, options.now!) : undefined
  if (boot && renew) {
    boot.action = 'update'
    boot.reason = renew
  }
  if (spot.fired) {
    const vm = changes.find((c) => c.address === addressOf(profile.name, 'vm'))
    if (vm && vm.action !== 'no-op') vm.reason = `${vm.reason}; ${spot.fired}`
    diagnostics.push({severity: 'warning', profile: profile.name, message: spot.fired})
  }
  // Built whole, keys in plan JSON order (no spreads: a plan makes thousands).
  const planned: ProfilePlan = p.record ? {deploymentId: ctx.deploymentId, placement: p.placement, phase} : {deploymentId: ctx.deploymentId, newDeployment: true, placement: p.placement, phase}
  if (spot.changed && spot.record) planned.spot = spot.record
  return {profile: planned, changes}
}

/** Buckets anycloud owns on a store without bucket tagging: ownership rests on state alone. */
function untaggedBucketWarnings(p: Prepared, seen: ReadonlyArray<ActualResource | null>, diagnostics: PlanDiagnostic[]): void {
  for (let i = 0; i < p.lookups.length; i++) {
    const l = p.lookups[i]
    const a = seen[i]
    if (l.kind !== 'bucket' || l.address.endsWith('.input') || a?.outputs?.tagging !== 'unsupported') continue
    diagnostics.push({severity: 'warning', profile: p.profile.name, message: `bucket '${l.name}' on credential '${l.credential}': the store has no bucket tagging, so anycloud's ownership of it rests on state alone (${l.record?.outputs?.deployment ? 'recorded as created by this deployment: destroy may delete it when empty' : 'not recorded as created by anycloud: it is never deleted'}); keep the state safe`})
  }
}

/** What refresh read of a resource; an unreachable or failing machine never stops a plan (nor the destroy that must delete it). */
function machineOrCloud(l: Prepared['lookups'][number], snapshot: Snapshot, diagnostics: PlanDiagnostic[]): ActualResource | null {
  try {
    return snapshot.resource(l.address)
  } catch (error) {
    if (!livesOnMachine(l.kind) || !l.record || !isMachineUnreachable(error)) throw error
    diagnostics.push({severity: 'warning', profile: l.address.slice(0, l.address.indexOf('.')), message: unknownWarning(l.address, error)})
    return recordedAsActual(l.record)
  }
}

/**
 * Spot bookkeeping from the provider's own signal (a VM the cloud took back), and the bounded
 * fallback: once it fires, the deployment runs on-demand (the checkpoint bucket stays), so what it
 * wants is worked out again with the placement on-demand.
 */
function spotFor(p: Prepared, actualAt: (address: string) => ActualResource | null | undefined, options: PlanOptions): SpotDecision & {runDesired?: DesiredResource[]} {
  if (p.destroy) return {changed: false, onDemand: false}
  const spot = spotDecision(p.profile, p.record?.spot, actualAt(addressOf(p.profile.name, 'vm')), options.now!)
  if (!spot.onDemand || !p.placement.spot) return spot
  p.placement.spot = false
  return {...spot, runDesired: desiredResources({ctx: p.ctx, credentials: options.config.credentials, compute: p.compute, storage: p.storage, phase: 'run', recordedWorkload: p.recordedWorkload, workload: p.workload})}
}

/** Placement, then preparation, of one deployment; failures become diagnostics or errors. */
async function placeAndPrepare(profile: ResolvedProfile, destroy: boolean, options: Planning, placing: PlacementOptions, diagnostics: PlanDiagnostic[]): Promise<Prepared | undefined> {
  const record = options.state?.deployments[profile.name]
  const outcome = await placeProfile(profile, record, destroy, placing)
  if ('failure' in outcome) {
    diagnostics.push({severity: 'error', message: outcome.failure, profile: profile.name})
    return undefined
  }
  if ('nothing' in outcome) return undefined
  return prepareDeployment(profile, record, outcome.placement, destroy, options)
}

/** Whether placement keeps the recorded placement; a check that throws leaves it to placeProfile, which fails the deployment with that error. */
function keeps(profile: ResolvedProfile, record: DeploymentRecord | undefined, destroy: boolean, placing: PlacementOptions): boolean {
  try {
    return keepsRecorded(profile, record, destroy, placing)
  } catch {
    return false
  }
}

/**
 * Placement and preparation of the selected profiles, in their order. A deployment that stays
 * where state has it is placed and prepared without a wait once the providers of those recorded
 * credentials are loaded (each once, up front); the others are placed (credential rotation) and
 * prepared meanwhile. A failure is a diagnostic or an error; its deployment is left out.
 */
async function placeAndPrepareAll(options: Planning, placing: PlacementOptions, diagnostics: PlanDiagnostic[], errors: unknown[]): Promise<Array<Prepared | undefined>> {
  const {profiles, state, config} = options
  const destroy = Boolean(options.destroy)
  const settle = (p: Promise<Prepared | undefined>) => p.catch((e: unknown) => void errors.push(e))
  const out: Array<Prepared | undefined | Promise<Prepared | undefined>> = []
  const kept: boolean[] = []
  const keptCredentials: string[] = []
  for (let i = 0; i < profiles.length; i++) {
    const record = state?.deployments[profiles[i].name]
    kept.push(keeps(profiles[i], record, destroy, placing))
    out.push(kept[i] ? undefined : settle(placeAndPrepare(profiles[i], destroy, options, placing, diagnostics)))
    if (!kept[i]) continue
    const c = record!.placement!.credential
    for (const name of [c, storageCredential(c, config.credentials)]) if (!keptCredentials.includes(name)) keptCredentials.push(name)
  }
  // A provider that fails to load fails each deployment that needs it, in its own preparation below.
  await Promise.all(keptCredentials.map((c) => (options.loaded.has(c) ? undefined : options.providers.get(c).then((p) => void options.loaded.set(c, p), () => {}))))
  for (let i = 0; i < profiles.length; i++) {
    if (!kept[i]) continue
    const profile = profiles[i]
    const record = state!.deployments[profile.name]
    const provider = options.loaded.get(record.placement!.credential)
    try {
      const p = destroy || provider ? prepareDeployment(profile, record, placeKept(profile, record, destroy, placing, provider), destroy, options) : placeAndPrepare(profile, destroy, options, placing, diagnostics)
      out[i] = p instanceof Promise ? settle(p) : p
    } catch (error) {
      errors.push(error)
    }
  }
  const ready: Array<Prepared | undefined> = []
  for (let i = 0; i < out.length; i++) {
    const p = out[i]
    ready.push(p instanceof Promise ? await p : p)
  }
  return ready
}

/** One error as is; several as one PlanError naming each (the same failed batch read counts once). */
function raise(errors: unknown[]): never {
  const unique = [...new Set(errors)]
  const first = unique[0]
  if (unique.length === 1 || !isAnycloudError(first)) throw first
  throw new PlanError(unique.map((e) => ({severity: 'error' as const, message: (e as Error).message})))
}

/** A refresh's budget when the command has no `--timeout` (SPEC §3: a few minutes, never a hang). */
export const REFRESH_BUDGET_MS = 5 * 60_000

/**
 * Plans the selected profiles: placement (credential rotation) → refresh (batched reads) → a pure
 * diff per deployment. The cloud is only read. Runs under the command's `--timeout` budget, else
 * under {@link REFRESH_BUDGET_MS}.
 */
export async function planChanges(options: PlanOptions): Promise<Plan> {
  const lineage = options.state?.lineage ?? options.lineage ?? randomUUID()
  return withinBudget('the refresh\'s default 5m budget (give more with --timeout)', currentBudget() ? undefined : REFRESH_BUDGET_MS, () => refreshAndDiff({...options, lineage}))
}

async function refreshAndDiff(planOptions: PlanOptions): Promise<Plan> {
  // One clock reading for the whole plan (spot fallback, notices, credential renewal).
  const options: PlanOptions = {...planOptions, now: planOptions.now ?? new Date()}
  const started = Date.now()
  const {config, state, providers, reporter} = options
  const limits = new CredentialLimits(providers, options.readConcurrency)
  const auth = memoize<AuthResult>()
  const replace = new Set(options.replace ?? [])
  const diagnostics: PlanDiagnostic[] = []
  reporter.emit({type: 'refresh-start', profiles: options.profiles.length})
  checkReplaceAddresses(replace, options.profiles)
  const checkAuth = (name: string) => auth(name, () => limits.run(name, async () => {
    try {
      await (await providers.get(name)).checkAuth()
      return {ok: true as const}
    } catch (error) {
      return {ok: false as const, error: error as Error}
    }
  }))
  const placing: PlacementOptions = {config, providers, reporter, excludeCredentials: options.excludeCredentials, replace, checkAuth, lineage: options.lineage!}
  // Deployments in state whose profile left the file are destroyed.
  const orphans: ResolvedProfile[] = []
  if (state && options.profiles.length === Object.keys(config.profiles).length) for (const name in state.deployments) if (!config.profiles[name]) orphans.push(orphanProfile(name, state.deployments[name]))
  const errors: unknown[] = []
  const planning: Planning = {...options, loaded: new Map()}
  const prepared = await placeAndPrepareAll(planning, placing, diagnostics, errors)
  for (const orphan of orphans) prepared.push(await placeAndPrepare(orphan, true, planning, placing, diagnostics).catch((e: unknown) => void errors.push(e)))
  const ready: Array<Prepared | undefined> = prepared.filter((p): p is Prepared => Boolean(p))
  prepared.length = 0
  checkReplaceKinds(replace, ready as Prepared[])
  const snapshot = await refreshDesired(ready, options, limits, errors)
  const profiles: Record<string, ProfilePlan> = {}
  const changes: Array<{profile: string; changes: Change[]}> = []
  const declared = new Map<string, readonly string[]>()
  for (let i = 0; i < ready.length; i++) {
    // Each deployment's preparation is let go once it is planned: a plan of thousands never holds them all to the end.
    const p = ready[i]
    if (!p) continue
    ready[i] = undefined
    declared.set(p.profile.name, declaredKinds(p.compute))
    try {
      const planned = planDeployment(p, snapshot, options, replace, diagnostics)
      profiles[p.profile.name] = planned.profile
      changes.push({profile: p.profile.name, changes: planned.changes})
    } catch (error) {
      errors.push(error)
    }
  }
  if (errors.length > 0) raise(errors)
  return finishPlan({options, orphans, replace, diagnostics, profiles, changes, started, declared})
}

/** The same entries, keys in `order` (the profile names sorted: plan JSON lists profiles so). */
function byName<T>(entries: Record<string, T>, order: readonly string[]): Record<string, T> {
  const out: Record<string, T> = {}
  for (const name of order) out[name] = entries[name]
  return out
}

function finishPlan(input: {options: PlanOptions; orphans: ResolvedProfile[]; replace: ReadonlySet<string>; diagnostics: PlanDiagnostic[]; profiles: Record<string, ProfilePlan>; changes: Array<{profile: string; changes: Change[]}>; started: number; declared: ReadonlyMap<string, readonly string[]>}): Plan {
  const {options, diagnostics, replace} = input
  const {state} = options
  if (diagnostics.some((d) => d.severity === 'error')) throw new PlanError(diagnostics)
  // A well-formed --replace address this deployment does not have (e.g. PROFILE.identity on a
  // provider without identities) replaces nothing: say so rather than silently ignore it.
  // The profile names sorted once, for the profiles and for the changes.
  const order = Object.keys(input.profiles).sort((a, b) => (a === b ? 0 : collator.compare(a, b)))
  const rank = new Map(order.map((name, i) => [name, i]))
  const sorted = joinSorted(input.changes, (profile) => input.declared.get(profile), (profile) => rank.get(profile))
  for (const address of replace) {
    if (!sorted.some((c) => c.address === address)) {
      diagnostics.push({severity: 'warning', message: `--replace ${address}: no such resource in this plan; nothing is replaced`, profile: address.split('.')[0]})
    }
  }
  options.reporter.emit({type: 'refresh-done', resources: sorted.length, elapsedMs: Date.now() - input.started})
  return {
    formatVersion: '1',
    state: {lineage: state?.lineage ?? options.lineage ?? null, serial: state?.serial ?? 0},
    profiles: byName(input.profiles, order),
    changes: sorted,
    summary: summarize(sorted),
    diagnostics,
    scope: [...options.profiles.map((p) => p.name), ...input.orphans.map((p) => p.name)].sort(),
    ...(options.destroy ? {destroy: true} : {}),
  }
}

export {type Plan} from './plan.js'
