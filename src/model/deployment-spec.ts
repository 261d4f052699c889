// What providers are told about one deployment: derived once from the profile, its placement and the
// credentials, so no provider works out "which buckets, on which credential" again.
import type {Hardware, ProviderKind, ResolvedProfile, Runtime} from './profile.js'

export type BucketRole = 'input' | 'output' | 'checkpoint'

/** Where a deployment runs: chosen at plan time, recorded in state. */
export interface Placement {
  credential: string
  provider: ProviderKind
  region: string
  zone?: string
  vmType?: string
  spot: boolean
}

/** One bucket the deployment uses, with the credential whose storage holds it. */
export interface BucketSpec {
  role: BucketRole
  name: string
  /** The credential whose storage holds it: the profile's *StorageCredentials, else the placement's storage credential. */
  credential: string
  /** True when the profile named that credential (`inputStorageCredentials` / `outputStorageCredentials`). */
  explicitCredential: boolean
  /** Its credential's cloud, when the credentials were given to the builder. */
  provider?: ProviderKind
  /** The region the profile asked for (`*StorageRegion`); absent: the placement's region. */
  region?: string
  /** Checkpoint bucket: kept (not deleted) once the job is done (`persistBucket`). */
  persist: boolean
}

/** What the machine is asked to be. */
export interface HardwareSpec {
  request: Hardware
  /** GPUs handed to the workload as the profile gives them (absent: all of a GPU machine's). */
  gpus?: 'all' | number
  diskSizeGb?: number
}

/** What runs on the machine. `env` holds the values the job needs; `sensitiveEnv` names those never shown or stored in clear. */
export interface WorkloadSpec {
  runtime: Runtime
  image?: string
  command?: string[] | string
  env: Record<string, string>
  sensitiveEnv: string[]
  shmSize?: string | number
  syncIntervalSeconds: number
}

/** Where the profile asked to run (the chosen placement is on the context). */
export interface PlacementRequest {
  region?: string
  zone?: string
  spot: boolean
  spotFallback?: {afterPreemptions?: number; afterMinutesWithoutCapacity?: number}
  /** CIDR blocks SSH to the VM may come from (overrides the credential's). */
  sshAllowFrom?: string[]
}

/** Everything a provider reads about a deployment, built once by {@link deploymentSpec}. */
export interface DeploymentSpec {
  /** The profile's name (addresses, messages). */
  name: string
  /** In role order: input, output, checkpoint (spot only). */
  buckets: readonly BucketSpec[]
  hardware: HardwareSpec
  placement: PlacementRequest
  workload: WorkloadSpec
  /** The machine is kept once the job is done. */
  persist: boolean
  /**
   * The checkpoint bucket is kept once the job is done and through destroy (`persistBucket`), also
   * one a profile that no longer runs on spot made before.
   */
  persistBucket: boolean
}

/** What the job is and what it runs on: the part of a spec the workload's attributes (and spec hash) come from. */
export type WorkloadParts = Pick<DeploymentSpec, 'workload' | 'hardware'>

/** The workload and hardware of a profile (before a placement, e.g. to tell whether a recorded job is still the file's). */
export function workloadParts(p: ResolvedProfile): WorkloadParts {
  // Optional members set only when present, in this order (no throwaway objects spread: a plan builds thousands).
  const hardware: HardwareSpec = {request: p.hardware}
  if (p.gpus !== undefined) hardware.gpus = p.gpus
  if (p.diskSizeGb !== undefined) hardware.diskSizeGb = p.diskSizeGb
  return {
    hardware,
    workload: {
      runtime: p.runtime, image: p.image, command: p.command, env: p.env, sensitiveEnv: p.sensitiveEnv, shmSize: p.shmSize, syncIntervalSeconds: p.syncIntervalSeconds,
    },
  }
}

/** The part of a credential the builder needs (config's NamedCredential fits). */
export interface CredentialLike {
  spec: {provider: ProviderKind; storage?: string}
}

export interface SpecInput {
  profile: ResolvedProfile
  deploymentId: string
  placement: Placement
  /** The credentials of the file by name: the storage credential of an ssh host, the cloud of each bucket's credential. */
  credentials?: Readonly<Record<string, CredentialLike>>
}

/** The credential whose storage holds a credential's buckets (an ssh host's `storage`). */
export function storageCredential(name: string, credentials: Readonly<Record<string, CredentialLike>> = {}): string {
  return credentials[name]?.spec.storage || name
}

/** Builds the spec of one deployment. Pure. */
export function deploymentSpec(input: SpecInput): DeploymentSpec {
  const {profile: p, deploymentId, placement, credentials = {}} = input
  const placementStorage = storageCredential(placement.credential, credentials)
  const buckets: BucketSpec[] = []
  const add = (role: BucketRole, name: string | undefined, storage: {credential: string; region?: string} | undefined, persist: boolean) => {
    if (!name) return
    const credential = storage?.credential ?? placementStorage
    const provider = credentials[credential]?.spec.provider
    const explicitCredential = Boolean(storage)
    const region = storage?.region
    if (region) buckets.push(provider ? {role, name, credential, explicitCredential, provider, region, persist} : {role, name, credential, explicitCredential, region, persist})
    else buckets.push(provider ? {role, name, credential, explicitCredential, provider, persist} : {role, name, credential, explicitCredential, persist})
  }
  add('input', p.inputBucket, p.inputStorage, false)
  add('output', p.outputBucket, p.outputStorage, false)
  if (p.spot) add('checkpoint', deploymentId, undefined, p.persistBucket)
  const {hardware, workload} = workloadParts(p)
  // Members in this order, the optional ones only when present.
  const asked: PlacementRequest = p.region ? (p.zone ? {region: p.region, zone: p.zone, spot: p.spot} : {region: p.region, spot: p.spot}) : p.zone ? {zone: p.zone, spot: p.spot} : {spot: p.spot}
  if (p.spotFallback) asked.spotFallback = p.spotFallback
  if (p.sshAllowFrom) asked.sshAllowFrom = p.sshAllowFrom
  return {
    name: p.name,
    buckets,
    hardware,
    placement: asked,
    workload,
    persist: p.persist,
    persistBucket: p.persistBucket,
  }
}

/** The deployment's bucket of `role`, if it has one. */
export function bucketOf(spec: DeploymentSpec, role: BucketRole): BucketSpec | undefined {
  return spec.buckets.find((b) => b.role === role)
}

/** Bucket names by role. */
export function bucketNamesOf(spec: DeploymentSpec): Partial<Record<BucketRole, string>> {
  return Object.fromEntries(spec.buckets.map((b) => [b.role, b.name]))
}

/**
 * Of `buckets` (names by role, as an identity's attributes record them), those the machine reaches
 * with its own identity on `credential`: every bucket whose credential the profile did not name, or
 * named as this one; the checkpoint bucket always. The others are reached with what their credential mints.
 */
export function ownBuckets(buckets: Partial<Record<BucketRole, string>>, spec: DeploymentSpec, credential: string): Partial<Record<BucketRole, string>> {
  const out: Partial<Record<BucketRole, string>> = {}
  for (const role of ['input', 'output', 'checkpoint'] as const) {
    const b = role === 'checkpoint' ? undefined : bucketOf(spec, role)
    if (buckets[role] && (!b?.explicitCredential || b.credential === credential)) out[role] = buckets[role]
  }
  return out
}
