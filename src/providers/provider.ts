import type {NamedCredential, ProviderKind} from '../config/types.js'
import type {ActualResource, DeploymentContext, DesiredResource, ResourceKind, ResourceRecord} from '../model/resources.js'
import type {CommandRunner} from '../remote/command-runner.js'
import type {RcloneRemoteSpec} from '../bootstrap/types.js'
import type {BucketRole} from '../model/resources.js'

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
  /** Resource kinds this provider manages itself (besides buckets, which every storage has). */
  readonly kinds: ReadonlySet<ResourceKind>
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

  /** Non-bucket resources. `record` is what state holds (undefined when state lost it: find by name/tags). */
  read(resource: ResourceLookup, ctx: ProviderCallContext): Promise<ActualResource | null>
  create(resource: DesiredResource, ctx: ProviderCallContext): Promise<ActualResource>
  /** In-place update; only called for kinds whose changed attributes do not force replacement. */
  update(resource: DesiredResource, record: ResourceRecord, ctx: ProviderCallContext): Promise<ActualResource>
  delete(record: ResourceRecord, ctx: ProviderCallContext): Promise<void>

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
  logs?(ctx: ProviderCallContext, options: {follow: boolean; write: (chunk: string) => void; signal?: AbortSignal}): Promise<void>
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
