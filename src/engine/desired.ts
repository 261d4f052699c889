import type {NamedCredential, ResolvedProfile} from '../config/types.js'
import {bucketOf, storageCredential} from '../model/deployment-spec.js'
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
  return storageCredential(name, credentials)
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
  const out: DesiredResource[] = []
  const add = (r: Omit<DesiredResource, 'profile'>) => out.push({...r, profile: p})
  const storageProvider = (name: string) => credentials[name].spec.provider
  const keepMachine = phase === 'run' || profile.persist

  const bucketAddresses: string[] = []
  // Buckets by role come from the spec; the checkpoint bucket outlives the run only when kept.
  for (const b of ctx.spec.buckets) {
    if (b.role === 'checkpoint' && !(phase === 'run' || b.persist)) continue
    const attributes =
      b.role === 'input' ? {name: b.name, role: b.role}
        : b.role === 'output' ? {name: b.name, role: b.role, region: b.region ?? placement.region}
          : {name: b.name, role: b.role, region: placement.region, persist: b.persist}
    add({address: addressOf(p, 'bucket', b.role), kind: 'bucket', role: b.role, credential: b.credential, provider: storageProvider(b.credential), name: b.name, dependsOn: [], attributes})
    bucketAddresses.push(addressOf(p, 'bucket', b.role))
  }
  if (keepMachine) {
    const machineDeps: string[] = []
    const optional = (kind: ResourceKind, deps: string[], attributes: Record<string, unknown>) => {
      if (!compute.kinds.has(kind)) return
      add({address: addressOf(p, kind), kind, credential: placement.credential, provider: placement.provider, name: `anycloud-${deploymentId}`, dependsOn: deps, attributes})
      machineDeps.push(addressOf(p, kind))
    }
    optional('identity', bucketAddresses.filter((a) => !a.endsWith('.input') || !bucketOf(ctx.spec, 'input')?.explicitCredential), {
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
