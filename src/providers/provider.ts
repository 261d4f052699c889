import type {NamedCredential, ProviderKind} from '../config/types.js'
import {AnycloudError} from '../errors/index.js'
import {changedAttributes, MACHINE_KINDS, type ActualResource, type DeploymentContext, type DesiredResource, type ResourceKind, type ResourceRecord} from '../model/resources.js'
import type {CommandRunner} from '../remote/command-runner.js'
import type {RcloneRemoteSpec} from '../bootstrap/types.js'
import type {BucketRole} from '../model/resources.js'

/** The code of the error any cloud raises when a deployment's VM is gone (not running, never created, deleted outside anycloud). */
export const VM_MISSING = 'cloud.vm-missing'

/**
 * The contract every provider (local, ssh, aws, azure, gcp) implements.
 *
 * Written guarantees the engine relies on:
 * - `read*` never mutates anything.
 * - `create` is idempotent for the same `name`/`token`: a retried or replayed create never makes a
 *   second resource; a failed create leaves nothing behind (or raises with what it left recorded).
 * - `delete` of something that does not exist is success.
 * - Errors the engine acts on are typed: AuthError (rotate credential), CapacityError (next
 *   zone/region), NotFoundError, ThrottledError (retry budget spent). Anything else fails the node.
 * - Only resources carrying anycloud's ownership tags are deleted.
 * - Nothing waits forever. Every cloud SDK/HTTP call and every SSH connect or command runs under a
 *   deadline: its own (a minute or two for an API call with its retries) cut to the command's
 *   `--timeout` budget, found with `currentBudget()`. Wrap calls with `callWithDeadline` (or, for
 *   an SDK client, wrap its `send` once, as aws/clients.ts `withDeadlines` does) from
 *   src/remote/deadline.ts; when one runs out it raises a DeadlineError that names the call, the
 *   endpoint, the credential and what was tried (attempts, last failure). An endpoint that never
 *   answers over HTTP is a ProviderError saying the same, never an AuthError.
 */
export interface Provider {
  readonly kind: ProviderKind
  readonly credential: NamedCredential
  /**
   * The compute capability: every resource kind this provider manages itself (besides buckets,
   * which every storage has), in creation order. The machine's kinds (`vm`, `bootstrap`,
   * `workload`) when it runs jobs; before them, whatever else a machine needs on this cloud (an
   * identity, a network, a login key, a resource group…), each declaring what it needs first and
   * whether a change is made in place or by replacing it. Empty: storage only. The engine
   * reaches a kind only through {@link kindOf}.
   */
  readonly compute: KindTable
  /** The error for a kind this provider does not manage (undefined or absent: a generic one naming the kind). */
  noKind?(kind: ResourceKind): Error | undefined
  /** How many reads the engine may have in flight on this credential at once (default 64). */
  readonly readConcurrency?: number
  /**
   * The machine outlives its `vm` record (ssh hosts: deleting `vm` leaves the host). Then removing
   * the `workload` and `bootstrap` IS the cleanup and must succeed. Otherwise (cloud VMs, local
   * workspaces) the machine goes with its `vm`: when the same apply deletes or replaces the `vm`,
   * the engine treats the on-machine deletes as best effort (a failure is a warning, never a
   * reason to keep the VM and its cloud resources).
   */
  readonly keepsMachine?: boolean

  /**
   * Provider-specific desired attributes merged over the engine's (pure, no I/O): e.g. the
   * concrete instance type for a gpuType, or the hash of the bootstrap files it will render.
   * Computed at plan time, so a change shows in the plan.
   */
  desiredAttributes?(resource: DesiredResource, ctx: DeploymentContext): Record<string, unknown>

  /** Raises AuthError when the credential does not authenticate. Cheap; memoised by the engine. */
  checkAuth(): Promise<{account?: string}>
  /** The region used when a profile sets none. */
  defaultRegion(): string
  /** Zones to try in order on capacity errors (empty: the cloud picks). */
  zones(region: string): string[]
  /**
   * Regions whose zones a VM may go to, in order, once every zone of `region` had no capacity and
   * the profile pins neither a region nor a zone. Only for clouds where a machine needs nothing
   * regional besides itself (GCE: the firewall rule and the service account are global). The
   * deployment's region (its buckets) stays; the zone the VM landed in is recorded. Absent: the
   * VM stays in its region.
   */
  fallbackRegions?(region: string): string[]

  /** Buckets on this credential's storage. */
  readBucket(name: string): Promise<ActualResource | null>
  createBucket(resource: DesiredResource, ctx: {region: string; tags: Record<string, string>}): Promise<ActualResource>
  /** The most recently written object of a bucket (status: age of the newest checkpoint); null when empty or missing. */
  newestObject?(bucket: string): Promise<{key: string; modified: string} | null>
  /** Deletes a bucket anycloud owns. `force` empties it first (checkpoint buckets); otherwise a non-empty bucket is kept. */
  deleteBucket(record: ResourceRecord, options: {force: boolean}): Promise<{deleted: boolean; reason?: string}>

  /**
   * Refresh in batches (optional; without it the engine reads one at a time, bounded by
   * `readConcurrency`). Everything a plan wants to know on this credential arrives in one call:
   * the provider groups it by region and finds what anycloud owns by its project tag, so the number
   * of cloud calls grows with regions and resource types, not with profiles. Reads never mutate.
   * Results come back in the order asked; a failed read is `{error}` for that entry only.
   */
  readMany?(requests: readonly ReadRequest[]): Promise<ReadResult[]>
  /** Several buckets at once (e.g. one ListBuckets, then a HeadBucket only for names it does not show). Same order. */
  readBuckets?(names: readonly string[]): Promise<ReadResult[]>

  /**
   * Storage side of bucket sync: how rclone on a machine reaches one of this credential's buckets.
   * Pure (plan time: the public part feeds the bootstrap hash).
   */
  rcloneRemote?(request: RcloneRequest): RcloneRemoteSpec
  /** The secret options of that remote, fetched or minted at apply time; never stored or printed. */
  rcloneSecrets?(request: RcloneRequest): Promise<Record<string, string>>
  /**
   * When the secrets last handed out for `bucket` by {@link rcloneSecrets} expire (minted, short-lived
   * ones: STS), and for how long they were minted; undefined for secrets that do not expire.
   * The bootstrap records it; `watch` re-mints before it.
   */
  rcloneSecretsExpiry?(bucket: string): {expiresAt: string; durationSeconds: number} | undefined

  /** Things the plan should say about a deployment (e.g. long-lived keys written to a host). Pure. */
  warnings?(ctx: DeploymentContext): string[]

  /**
   * Loads what `desiredAttributes` needs (e.g. other credentials' providers, the ssh host chosen
   * among several) before a deployment is planned. `records` is what state holds for it.
   */
  prepare?(ctx: DeploymentContext, records?: Readonly<Record<string, ResourceRecord>>): Promise<void>

  /** A runner on the deployment's machine (for logs, refresh over SSH); undefined when there is none. */
  connect?(ctx: ProviderCallContext): Promise<CommandRunner | undefined>
  /** Releases connections (SSH) at the end of a run. */
  close?(): Promise<void>
  /** Streams the workload's output; resolves when done (or when `signal` aborts with follow). */
  /** Rejects with a ProviderError coded {@link VM_MISSING} when the machine is gone (no output left to read). */
  logs?(ctx: ProviderCallContext, options: {follow: boolean; write: (chunk: string) => void; signal?: AbortSignal}): Promise<void>
}

/**
 * What a plan should do about a resource that exists but whose attributes differ from what is
 * wanted: `update` in place, `replace` it (delete, then create), or nothing (`no-op`, e.g. a
 * bucket, which is never replaced). `reason` is what the plan shows.
 */
export interface KindDiff {
  action: 'no-op' | 'update' | 'replace'
  reason: string
}

/** What a deployment wants of a kind the provider declares (see {@link ResourceKindSpec.desired}). */
export interface KindWant {
  /** The public attributes the engine diffs and state records (the provider's `desiredAttributes` are merged over them). */
  attributes: Record<string, unknown>
  /** Addresses needed first besides the declared kinds' (e.g. the buckets an identity grants access to). */
  after?: string[]
}

/** The deployment's buckets, as a declared kind's {@link ResourceKindSpec.desired} sees them. */
export interface WantedBucket {
  address: string
  role: BucketRole
  name: string
  credential: string
}

/**
 * One resource kind a provider manages: how it is read, created, updated and deleted, what it
 * needs first and how a change is made. Operations keep the guarantees of {@link Provider}.
 */
export interface ResourceKindSpec {
  readonly kind: ResourceKind
  /** Kinds of the same deployment (declared by this provider) that must exist first; deleted after it. */
  readonly dependsOn: readonly ResourceKind[]
  /**
   * A kind besides the machine's: what the deployment wants of it (pure); undefined when the
   * deployment does not need it. The machine's kinds (`vm`, `bootstrap`, `workload`) are the
   * model's and need none.
   */
  desired?(ctx: DeploymentContext, buckets: readonly WantedBucket[]): KindWant | undefined
  /**
   * Pure: how to bring an existing resource from `actual` (the attributes state recorded or the
   * cloud shows) to `desired`; undefined when they agree. Called only when some attribute differs.
   */
  diff(desired: Record<string, unknown>, actual: Record<string, unknown>): KindDiff | undefined
  /**
   * `record` is what state holds (undefined when state lost it: find by name/tags). `batch` is
   * what this provider's own {@link Provider.readMany} fetched for the lookup (provider-private).
   */
  read(lookup: ResourceLookup, ctx: ProviderCallContext, batch?: unknown): Promise<ActualResource | null>
  create(resource: DesiredResource, ctx: ProviderCallContext): Promise<ActualResource>
  /** In place; only called when {@link diff} said `update`. */
  update(resource: DesiredResource, record: ResourceRecord, ctx: ProviderCallContext): Promise<ActualResource>
  delete(record: ResourceRecord, ctx: ProviderCallContext): Promise<void>
}

/**
 * The `update` of a kind whose {@link ResourceKindSpec.diff} never says `update` (every change
 * replaces it): reaching it is a bug.
 */
export async function cannotUpdate(resource: DesiredResource, record: ResourceRecord): Promise<never> {
  throw new AnycloudError(`${record.address}: a '${resource.kind}' is never updated in place (every change replaces it)`, {code: 'provider.no-update', source: 'internal'})
}

/** A provider's kinds by name, in creation order. */
export type KindTable = ReadonlyMap<ResourceKind, ResourceKindSpec>

/** The kinds of a table, one after another (creation order). */
export function kindTable(specs: readonly ResourceKindSpec[]): KindTable {
  return new Map(specs.map((s) => [s.kind, s]))
}

/** A kind of the provider, or its error for a kind it does not manage. */
export function kindOf(provider: Provider, kind: ResourceKind): ResourceKindSpec {
  const spec = provider.compute.get(kind)
  if (spec) return spec
  throw provider.noKind?.(kind) ?? new AnycloudError(`the ${provider.kind} provider (credential '${provider.credential.name}') has no '${kind}' resources`, {code: 'provider.kind', source: 'internal'})
}

/** The kinds besides the machine's that a provider declares, in creation order (one frozen list per table, not a copy per call). */
export function declaredKinds(provider: Pick<Provider, 'compute'>): readonly ResourceKind[] {
  const table = provider.compute
  let known = declaredOf.get(table)
  // Worked out once per table (a plan asks per deployment); a table that grew since is read again.
  if (!known || known.size !== table.size) declaredOf.set(table, (known = {size: table.size, kinds: Object.freeze([...table.keys()].filter((k) => !MACHINE_KINDS.includes(k)))}))
  return known.kinds
}

const declaredOf = new WeakMap<KindTable, {size: number; kinds: readonly ResourceKind[]}>()

/**
 * A diff for kinds where the attributes in `inPlace` change in place and any other forces
 * replacement (with no `inPlace`, every change replaces).
 */
export function updatableIn(...inPlace: string[]): ResourceKindSpec['diff'] {
  const updatable = new Set(inPlace)
  return (desired, actual) => {
    const keys = changedAttributes(actual, desired)
    if (keys.length === 0) return undefined
    const forcing = keys.filter((k) => !updatable.has(k))
    if (forcing.length > 0) return {action: 'replace', reason: `${forcing.join(', ')} changed: forces replacement`}
    return {action: 'update', reason: `${keys.join(', ')} changed`}
  }
}

/**
 * The storage rule for buckets, on every provider (SPEC §4): a bucket is never replaced (it holds
 * data); its region and persistBucket setting are anycloud's bookkeeping, so a difference there
 * is no change at all.
 */
export function diffBucket(desired: Record<string, unknown>, actual: Record<string, unknown>): KindDiff | undefined {
  const keys = changedAttributes(actual, desired)
  if (keys.length === 0) return undefined
  const other = keys.filter((k) => k !== 'region' && k !== 'persist')
  if (other.length === 0) return {action: 'no-op', reason: 'up to date'}
  return {action: 'no-op', reason: `bucket settings differ (${other.join(', ')}) but buckets are never replaced`}
}

/** What a provider's factory gets (one per credential). Lives here, not in the registry, so providers never import the registry. */
export interface ProviderFactoryOptions {
  credential: NamedCredential
  /** Directory of the anycloud.yaml: relative paths in credentials resolve against it. */
  configDir: string
  /** All known credentials (an ssh credential's storage names another one). */
  credentials: Record<string, NamedCredential>
  /** Builds (or reuses) the provider of another credential. */
  providerFor(name: string): Promise<Provider>
  env: NodeJS.ProcessEnv
}

export type ProviderFactory = (options: ProviderFactoryOptions) => Promise<Provider>

export interface RcloneRequest {
  bucket: string
  role: BucketRole
  deploymentId: string
  /**
   * The machine carries this cloud's instance identity (IAM role, managed identity, service
   * account) scoped to the bucket: rclone uses it (`env_auth`, `use_msi`) and no secret is written.
   * False for ssh hosts and cross-account storage: scoped, short-lived credentials where the cloud
   * can mint them (STS, SAS), else the credential's own keys, with a warning.
   */
  instanceIdentity: boolean
  /** Lifetime wanted for minted credentials. */
  expiresInSeconds?: number
}

/** One read of a refresh batch. */
export interface ReadRequest {
  lookup: ResourceLookup
  ctx: ProviderCallContext
}

/** What one read of a batch found (`null`: it does not exist), or why it failed. */
export type ReadResult = {value: ActualResource | null} | {error: unknown}

export interface ResourceLookup {
  address: string
  kind: ResourceKind
  name: string
  record?: ResourceRecord
}

export interface ProviderCallContext {
  deployment: DeploymentContext
  /** State records of this deployment's other resources (e.g. the VM for the bootstrap). */
  records: Readonly<Record<string, ResourceRecord>>
  /** Progress lines for the current node. */
  progress(message: string): void
  signal?: AbortSignal
  /** Idempotency token for creates, stable across a killed and re-run apply. */
  token?: string
}

/**
 * The deployment a bucket record belongs to: a checkpoint bucket is named after it; other buckets
 * carry it in their outputs (from the ownership tags read at create). Providers delete a bucket only
 * when its tags name this deployment.
 */
export function bucketDeployment(record: ResourceRecord): string | undefined {
  const d = record.outputs?.deployment
  if (typeof d === 'string') return d
  if (record.role === 'checkpoint') return record.name
  return undefined
}

/** Ownership tags on everything anycloud creates (SPEC §6). */
export function ownershipTags(project: string, deploymentId: string, address: string): Record<string, string> {
  return {'anycloud-managed': 'true', 'anycloud-project': project, 'anycloud-deployment': deploymentId, 'anycloud-address': address}
}

/** A provider's kinds as one set of operations that dispatch on each resource's kind (callers outside the engine, tests). */
export interface KindOps {
  read(lookup: ResourceLookup, ctx: ProviderCallContext): Promise<ActualResource | null>
  create(resource: DesiredResource, ctx: ProviderCallContext): Promise<ActualResource>
  update(resource: DesiredResource, record: ResourceRecord, ctx: ProviderCallContext): Promise<ActualResource>
  delete(record: ResourceRecord, ctx: ProviderCallContext): Promise<void>
}

export function kindOps(provider: Provider): KindOps {
  return {
    read: async (lookup: ResourceLookup, ctx: ProviderCallContext) => kindOf(provider, lookup.kind).read(lookup, ctx),
    create: async (resource: DesiredResource, ctx: ProviderCallContext) => kindOf(provider, resource.kind).create(resource, ctx),
    update: async (resource: DesiredResource, record: ResourceRecord, ctx: ProviderCallContext) => kindOf(provider, resource.kind).update(resource, record, ctx),
    delete: async (record: ResourceRecord, ctx: ProviderCallContext) => kindOf(provider, record.kind).delete(record, ctx),
  }
}
