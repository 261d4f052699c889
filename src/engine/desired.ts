import type {NamedCredential, ResolvedProfile} from '../config/types.js'
import {addressOf, type DeploymentContext, type DesiredResource, type ResourceKind} from '../model/resources.js'
import type {Provider} from '../providers/provider.js'
import {hashOf, sensitiveMarker} from '../util/hash.js'
import {compact} from '../util/object.js'

/** Order of kinds within a deployment: creation order, and the sort order of plans. */
export const KIND_ORDER: readonly string[] = ['bucket.input', 'bucket.output', 'bucket.checkpoint', 'identity', 'network', 'sshkey', 'vm', 'bootstrap', 'workload']

export function kindRank(address: string): number {
  const suffix = address.slice(address.indexOf('.') + 1)
  const i = KIND_ORDER.indexOf(suffix)
  return i < 0 ? KIND_ORDER.length : i
}

/** The credential whose storage holds a credential's buckets (an ssh host's `storage`). */
export function storageCredentialOf(name: string, credentials: Record<string, NamedCredential>): string {
  const c = credentials[name]
  if (c?.spec.provider === 'ssh' && c.spec.storage) return c.spec.storage
  return name
}

/** The workload's attributes: what, when changed, re-runs the job. Sensitive env values only as hashes. */
export function workloadAttributes(profile: ResolvedProfile, lineage: string): Record<string, unknown> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(profile.env)) env[k] = profile.sensitiveEnv.includes(k) ? sensitiveMarker(v, lineage) : v
  return {
    runtime: profile.runtime,
    image: profile.image,
    command: profile.command,
    env,
    gpus: profile.gpus,
    shmSize: profile.shmSize,
    hardware: profile.hardware.kind === 'vm' ? profile.hardware.vmType : profile.hardware.kind === 'gpu' ? profile.hardware.gpuType : undefined,
  }
}

export interface DesiredOptions {
  ctx: DeploymentContext
  credentials: Record<string, NamedCredential>
  /** The placement credential's provider. */
  compute: Provider
  /** Providers of the storage credentials by name (for desiredAttributes of buckets). */
  storage: Record<string, Provider>
  /** Which parts are wanted: everything while the job runs; after it completes only what is kept. */
  phase: 'run' | 'done'
}

/**
 * The resources a deployment should have (SPEC §4), with dependencies and public attributes.
 * Pure: the same inputs give the same list.
 */
export function desiredResources(options: DesiredOptions): DesiredResource[] {
  const {ctx, credentials, compute, phase} = options
  const {profile, deploymentId, placement} = ctx
  const p = profile.name
  const placementStorage = storageCredentialOf(placement.credential, credentials)
  const out: DesiredResource[] = []
  const add = (r: Omit<DesiredResource, 'profile'>) => out.push({...r, profile: p})
  const storageProvider = (name: string) => credentials[name].spec.provider
  const keepMachine = phase === 'run' || profile.persist

  const bucketAddresses: string[] = []
  if (profile.inputBucket) {
    const cred = profile.inputStorage?.credential ?? placementStorage
    add({address: addressOf(p, 'bucket', 'input'), kind: 'bucket', role: 'input', credential: cred, provider: storageProvider(cred), name: profile.inputBucket, dependsOn: [], attributes: {name: profile.inputBucket, role: 'input'}})
    bucketAddresses.push(addressOf(p, 'bucket', 'input'))
  }
  if (profile.outputBucket) {
    const cred = profile.outputStorage?.credential ?? placementStorage
    add({address: addressOf(p, 'bucket', 'output'), kind: 'bucket', role: 'output', credential: cred, provider: storageProvider(cred), name: profile.outputBucket, dependsOn: [], attributes: {name: profile.outputBucket, role: 'output', region: profile.outputStorage?.region ?? placement.region}})
    bucketAddresses.push(addressOf(p, 'bucket', 'output'))
  }
  if (profile.spot && (phase === 'run' || profile.persistBucket)) {
    add({address: addressOf(p, 'bucket', 'checkpoint'), kind: 'bucket', role: 'checkpoint', credential: placementStorage, provider: storageProvider(placementStorage), name: deploymentId, dependsOn: [], attributes: {name: deploymentId, role: 'checkpoint', region: placement.region, persist: profile.persistBucket}})
    bucketAddresses.push(addressOf(p, 'bucket', 'checkpoint'))
  }
  if (keepMachine) {
    const machineDeps: string[] = []
    const optional = (kind: ResourceKind, deps: string[], attributes: Record<string, unknown>) => {
      if (!compute.kinds.has(kind)) return
      add({address: addressOf(p, kind), kind, credential: placement.credential, provider: placement.provider, name: `anycloud-${deploymentId}`, dependsOn: deps, attributes})
      machineDeps.push(addressOf(p, kind))
    }
    optional('identity', bucketAddresses.filter((a) => !a.endsWith('.input') || !profile.inputStorage), {
      buckets: Object.fromEntries(out.filter((r) => r.kind === 'bucket').map((r) => [r.role, r.name])),
    })
    optional('network', [], {ingress: 'ssh'})
    optional('sshkey', [], {algorithm: 'ed25519'})
    const vm: DesiredResource = {
      address: addressOf(p, 'vm'), profile: p, kind: 'vm', credential: placement.credential, provider: placement.provider, name: deploymentId, dependsOn: machineDeps,
      attributes: {region: placement.region, zone: placement.zone, spot: placement.spot, vmType: placement.vmType, diskSizeGb: profile.diskSizeGb, gpuType: profile.hardware.kind === 'gpu' ? profile.hardware.gpuType : undefined},
    }
    out.push(vm)
    if (phase === 'run') {
      out.push({
        address: addressOf(p, 'bootstrap'), profile: p, kind: 'bootstrap', credential: placement.credential, provider: placement.provider, name: deploymentId, dependsOn: [vm.address, ...bucketAddresses],
        attributes: {hash: hashOf({buckets: bucketAddresses.map((a) => out.find((r) => r.address === a)?.name), sync: profile.syncIntervalSeconds, runtime: profile.runtime, gpus: profile.gpus ?? null})},
      })
    }
  }
  const workload = workloadAttributes(profile, ctx.lineage)
  out.push({
    address: addressOf(p, 'workload'), profile: p, kind: 'workload', credential: placement.credential, provider: placement.provider, name: deploymentId,
    dependsOn: keepMachine && phase === 'run' ? [addressOf(p, 'bootstrap')] : [],
    attributes: {...workload, specHash: hashOf(workload)},
  })
  // Providers refine attributes (instance type for a gpuType, their own bootstrap hash…).
  for (const r of out) {
    const provider = r.kind === 'bucket' ? options.storage[r.credential] : compute
    const extra = provider?.desiredAttributes?.(r, ctx)
    if (extra) r.attributes = {...r.attributes, ...extra}
    r.attributes = compact(r.attributes)
  }
  return out
}
