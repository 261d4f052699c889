import {deploymentSpec, type BucketRole, type DeploymentSpec, type Placement, type SpecInput} from './deployment-spec.js'
import type {ProviderKind} from './profile.js'
import {stableStringify} from '../util/hash.js'

export type {BucketRole, Placement} from './deployment-spec.js'

/**
 * The kinds of resource a deployment is made of (SPEC §4): its buckets, the machine (`vm`), what
 * anycloud puts on it (`bootstrap`) and the job (`workload`) are the model's; a compute provider
 * declares the others it needs (an identity, a network, a login key, a resource group…), in
 * `Provider.compute` (providers/provider.ts). The engine knows them only by what the provider says.
 */
export type ResourceKind = ModelKind | (string & {})
/** The kinds every deployment has, whatever the provider. */
export type ModelKind = 'bucket' | 'vm' | 'bootstrap' | 'workload'
/** The machine's kinds, in creation order: after the buckets and the provider's own kinds. */
export const MACHINE_KINDS: readonly ResourceKind[] = ['vm', 'bootstrap', 'workload']

/** Plan actions (SPEC §4). */
export type Action = 'create' | 'update' | 'replace' | 'delete' | 'read' | 'no-op'

/** `train.bucket.output`, `train.vm` … */
export function addressOf(profile: string, kind: ResourceKind, role?: BucketRole): string {
  return kind === 'bucket' ? `${profile}.bucket.${role}` : `${profile}.${kind}`
}

export interface ParsedAddress {
  profile: string
  kind: ResourceKind
  role?: BucketRole
}

/** The roles a deployment's buckets have (the model's: every storage has them). */
export const BUCKET_ROLES: readonly BucketRole[] = ['input', 'output', 'checkpoint']
const ROLES: ReadonlySet<string> = new Set(BUCKET_ROLES)
/** What a kind's name looks like (`vm`, `resourceGroup`, `sshkey`…): the provider says which exist. */
const KIND_NAME = /^[A-Za-z][A-Za-z0-9-]*$/
const BUCKET_ORDER: readonly string[] = ['bucket.input', 'bucket.output', 'bucket.checkpoint']

/**
 * Rank of an address in its deployment's creation order (the order plans list changes in, and the
 * reverse of the order deletes run in): buckets by role, then the provider's own kinds in the
 * order it declares them (`declared`), then the machine's. A kind the provider does not declare
 * (or when `declared` is not known) ranks after the declared ones; ties go by address.
 */
export function kindRank(address: string, declared: readonly string[] = []): number {
  // The part after the profile, compared in place (no string cut out of each of a plan's thousands of addresses).
  const at = address.indexOf('.') + 1
  const bucket = suffixIndex(BUCKET_ORDER, address, at)
  if (bucket >= 0) return bucket
  const machine = suffixIndex(MACHINE_KINDS, address, at)
  if (machine >= 0) return BUCKET_ORDER.length + declared.length + 1 + machine
  const own = suffixIndex(declared, address, at)
  return BUCKET_ORDER.length + (own >= 0 ? own : declared.length)
}

/** The index in `list` of what `address` holds from `at` to its end, or -1. */
function suffixIndex(list: readonly string[], address: string, at: number): number {
  const length = address.length - at
  for (let i = 0; i < list.length; i++) if (list[i].length === length && address.startsWith(list[i], at)) return i
  return -1
}

/** Names of the attributes that differ (`specHash` is derived, never a change of its own), sorted. */
export function changedAttributes(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const changed: string[] = []
  for (const k in before) if (k !== 'specHash' && !sameValue(before[k], after[k])) changed.push(k)
  for (const k in after) if (k !== 'specHash' && !(k in before) && after[k] !== undefined) changed.push(k)
  return changed.sort()
}

/** Same JSON value: identical primitives need no serialising (most attributes are strings). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  // Plain JSON (what attributes are) compares in place; anything else as its stable JSON text.
  return plainEqual(a, b) || stableStringify(a) === stableStringify(b)
}

/** Equal plain arrays and objects of primitives, compared in place (undefined members ignored, as in JSON). False when unsure. */
function plainEqual(a: object, b: object): boolean {
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!plainMember(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b) || !isPlain(a) || !isPlain(b)) return false
  const x = a as Record<string, unknown>
  const y = b as Record<string, unknown>
  let defined = 0
  for (const k in x) {
    if (x[k] === undefined) continue
    if (!Object.hasOwn(x, k) || !Object.hasOwn(y, k) || !plainMember(x[k], y[k])) return false
    defined++
  }
  for (const k in y) if (y[k] !== undefined) defined--
  return defined === 0
}

function plainMember(a: unknown, b: unknown): boolean {
  if (a === b) return true
  return typeof a === 'object' && typeof b === 'object' && a !== null && b !== null && plainEqual(a, b)
}

function isPlain(o: object): boolean {
  const proto = Object.getPrototypeOf(o)
  return proto === Object.prototype || proto === null
}

/**
 * The parts of an address: `PROFILE.bucket.ROLE`, or `PROFILE.KIND` for any kind. Which kinds a
 * deployment has is up to its provider (`Provider.compute`), so this checks the form only;
 * {@link deploymentAddresses} lists the ones a deployment can have.
 */
export function parseAddress(address: string): ParsedAddress | undefined {
  const parts = address.split('.')
  if (parts.length === 3 && parts[1] === 'bucket' && ROLES.has(parts[2])) return {profile: parts[0], kind: 'bucket', role: parts[2] as BucketRole}
  if (parts.length === 2 && parts[1] !== 'bucket' && KIND_NAME.test(parts[1])) return {profile: parts[0], kind: parts[1] as ResourceKind}
  return undefined
}

/**
 * Every address a deployment of `profile` can have: its buckets by role, then the kinds its
 * compute provider declares (`kinds`, in the provider's order).
 */
export function deploymentAddresses(profile: string, kinds: Iterable<ResourceKind>): string[] {
  return [...BUCKET_ROLES.map((role) => addressOf(profile, 'bucket', role)), ...[...kinds].filter((k) => k !== 'bucket').map((k) => addressOf(profile, k))]
}

/**
 * What one resource should be. `attributes` are public (secrets appear only as
 * `(sensitive):<hash>`), deterministic, and what the plan diffs and state records.
 */
export interface DesiredResource {
  address: string
  profile: string
  kind: ResourceKind
  role?: BucketRole
  /** The credential whose provider manages this resource (for buckets: the storage credential). */
  credential: string
  provider: ProviderKind
  /** Deterministic cloud name: lets a run killed before saving state find what it made. */
  name: string
  /** Addresses this resource needs first. */
  dependsOn: string[]
  attributes: Record<string, unknown>
}

/** A resource as state records it. */
export interface ResourceRecord {
  address: string
  kind: ResourceKind
  role?: BucketRole
  credential: string
  provider: ProviderKind
  name: string
  /** The cloud's id (instance id, path, …); the name when the cloud has no other. */
  id: string
  /**
   * `pending`: an operation was started and may or may not have reached the cloud
   * (the next refresh looks it up by name/tags and adopts or forgets it).
   */
  status: 'pending' | 'created'
  attributes: Record<string, unknown>
  /** What the provider reported after create/update (ip, host key fingerprint, exit code…). Never secrets. */
  outputs: Record<string, unknown>
  /** Idempotency token used for the create (EC2 ClientToken, GCE requestId…). */
  token?: string
  updatedAt: string
}

/** Workload lifecycle as read from the machine (or remembered in state once the machine is gone). */
export type WorkloadPhase = 'pending' | 'running' | 'completed' | 'failed' | 'lost'

/** What a refresh found for one resource. */
export interface ActualResource {
  id: string
  attributes: Record<string, unknown>
  outputs?: Record<string, unknown>
  /** Buckets: whether it holds any object. */
  empty?: boolean
  /** Buckets: where it lives (region, continent) and whether anycloud's tags are on it. */
  region?: string
  continent?: string
  owned?: boolean
  /** Workloads: the lifecycle phase and, once ended, the exit code. */
  phase?: WorkloadPhase
  exitCode?: number
  /** VMs: gone for a reason the plan should explain (e.g. `Server.SpotInstanceTermination`). */
  note?: string
  /** VMs: the cloud took the machine back (spot interruption, GCE preemption, Azure eviction). */
  preempted?: boolean
  /**
   * Outputs this operation learned about other resources of the same deployment, by address,
   * merged into their records in the same state write as this one (e.g. the bootstrap's rotation
   * of the VM's host key goes into the vm record, which lives as long as the VM).
   */
  related?: Record<string, Record<string, unknown>>
}

/**
 * A spot deployment's history, kept in state: which VMs the cloud took back, since when no spot
 * capacity was found, and whether (and why) it moved to on-demand (`spotFallback`).
 */
export interface SpotRecord {
  preemptions: number
  /** Ids of the preempted VMs already counted (the latest few), so a re-plan never counts one twice. */
  counted: string[]
  lastPreemptedAt?: string
  /** First apply that found no spot capacity in any allowed zone, since the last VM that launched. */
  noCapacitySince?: string
  /** Set once spotFallback fired: the deployment runs on-demand from then on. */
  onDemand?: {reason: string; since: string}
}

/** Everything a provider needs to act on one deployment's resource. */
export interface DeploymentContext {
  project: string
  deploymentId: string
  /** The state's lineage (the one a new state will get): salts the hashes of sensitive values. */
  lineage: string
  /** What the deployment is made of (buckets by role, hardware, workload), derived once from the profile: what providers read. */
  spec: DeploymentSpec
  placement: Placement
  /** Directory of the anycloud.yaml (local paths in the file are relative to it). */
  configDir: string
  /** Directory of state (for local key files etc.). */
  stateDir: string
}

export interface ContextInput extends SpecInput {
  project: string
  lineage: string
  configDir: string
  stateDir: string
}

/**
 * The context of one deployment, with its spec built: the one place a deployment's profile is
 * read. Providers and the engine's apply read the spec; the context holds no profile.
 */
export function deploymentContext(input: ContextInput): DeploymentContext {
  const {project, deploymentId, lineage, placement, configDir, stateDir} = input
  return {project, deploymentId, lineage, spec: deploymentSpec(input), placement, configDir, stateDir}
}
