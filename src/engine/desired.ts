import type {NamedCredential, ResolvedProfile} from '../config/types.js'
import type {DeploymentRecord} from '../state/types.js'
import type {WorkloadParts} from '../model/deployment-spec.js'
import {addressOf, type DeploymentContext, type DesiredResource} from '../model/resources.js'
import {declaredKinds, kindOf, type Provider, type WantedBucket} from '../providers/provider.js'
import {hashOf, sensitiveMarker, sha256} from '../util/hash.js'
import {compact, compacted, hasKeys} from '../util/object.js'

/** A stand-in profile for a deployment whose profile was removed from the file (it is being destroyed). */
export function orphanProfile(name: string, record?: DeploymentRecord): ResolvedProfile {
  return {
    name, credentials: record?.placement ? [record.placement.credential] : [], hardware: {kind: 'default'}, spot: false, env: {}, sensitiveEnv: [],
    runtime: 'process', persistBucket: false, persist: false, syncIntervalSeconds: 60, extendsChain: [],
  }
}

/**
 * The marker of a sensitive value as states written before markers were salted recorded it (an
 * unsalted sha256 prefix). Only ever compared with what a state already holds, never written anew.
 */
function legacySensitiveMarker(value: string): string {
  return `(sensitive):${sha256(value).slice(0, 12)}`
}

/**
 * The workload's attributes: what, when changed, re-runs the job. Sensitive env values only as hashes.
 * `recorded` is the workload's attributes in state: a sensitive value it recorded under the old,
 * unsalted marker and that the file still has keeps that marker, so upgrading anycloud neither
 * re-runs a job nor shows a change; the value's next change is recorded salted.
 */
export function workloadAttributes(parts: WorkloadParts, lineage: string, recorded?: Record<string, unknown>): Record<string, unknown> {
  const {workload, hardware} = parts
  const env: Record<string, string> = {}
  const before = recorded?.env && typeof recorded.env === 'object' ? (recorded.env as Record<string, unknown>) : {}
  for (const [k, v] of Object.entries(workload.env)) {
    if (!workload.sensitiveEnv.includes(k)) {
      env[k] = v
      continue
    }
    // The salted marker, unless state holds the legacy one of this very value (checked only when
    // state does not already hold the salted one: the two are alike only for the same value).
    const salted = sensitiveMarker(v, lineage)
    env[k] = before[k] !== undefined && before[k] !== salted && before[k] === legacySensitiveMarker(v) ? legacySensitiveMarker(v) : salted
  }
  const request = hardware.request
  return {
    runtime: workload.runtime,
    image: workload.image,
    command: workload.command,
    env,
    gpus: hardware.gpus,
    shmSize: workload.shmSize,
    hardware: request.kind === 'vm' ? request.vmType : request.kind === 'gpu' ? request.gpuType : undefined,
  }
}

/**
 * Whether a workload spec hash state recorded is still the file's: with the salted markers, or for
 * a state written before markers were salted, with the old ones (`recorded`: the workload's recorded
 * attributes, when state still has them). A finished job is then not re-run by an upgrade.
 */
export function workloadSpecMatches(recordedSpec: unknown, parts: WorkloadParts, lineage: string, recorded?: Record<string, unknown>, current?: () => WorkloadSpec): boolean {
  if (typeof recordedSpec !== 'string') return false
  if (recordedSpec === (current ? current().specHash : workloadSpec(parts, lineage, recorded).specHash)) return true
  const {env, sensitiveEnv} = parts.workload
  if (sensitiveEnv.length === 0) return false
  const legacyEnv: Record<string, string> = {}
  for (const k of sensitiveEnv) if (env[k] !== undefined) legacyEnv[k] = legacySensitiveMarker(env[k])
  return recordedSpec === hashOf(workloadAttributes(parts, lineage, {env: legacyEnv}))
}

/** The workload's attributes and their hash (`specHash`): what a change of re-runs the job. */
export interface WorkloadSpec {
  attributes: Record<string, unknown>
  specHash: string
}

/** {@link workloadAttributes} and its hash. */
export function workloadSpec(parts: WorkloadParts, lineage: string, recorded?: Record<string, unknown>): WorkloadSpec {
  const attributes = workloadAttributes(parts, lineage, recorded)
  return {attributes, specHash: hashOf(attributes)}
}

/** The workload's desired attributes: without undefined members, with its spec hash. */
function workloadDesired(spec: WorkloadSpec): Record<string, unknown> {
  const out = compact(spec.attributes)
  out.specHash = spec.specHash
  return out
}

/** A function giving `make()`'s value, made on the first call only. */
export function once<T>(make: () => T): () => T {
  let made: {value: T} | undefined
  return () => (made ??= {value: make()}).value
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
  /** The workload's attributes as state recorded them (see workloadAttributes). */
  recordedWorkload?: Record<string, unknown>
  /** The workload's spec for this deployment, lineage and `recordedWorkload`, when the caller already has it (one per deployment per plan). */
  workload?: () => WorkloadSpec
}

/**
 * What the machine needs besides itself: the kinds the compute provider declares, in its order,
 * each after the kinds it names (and whatever else it says, e.g. the buckets an identity grants).
 * Adds them to `out`; returns their addresses.
 */
function providerKinds(options: DesiredOptions, out: DesiredResource[]): string[] {
  const {ctx, compute} = options
  const {placement, deploymentId} = ctx
  const p = ctx.spec.name
  const buckets: WantedBucket[] = []
  for (let i = 0; i < out.length; i++) {
    const r = out[i]
    if (r.kind === 'bucket') buckets.push({address: r.address, role: r.role!, name: r.name, credential: r.credential})
  }
  const added: string[] = []
  const name = `anycloud-${deploymentId}`
  const kinds = declaredKinds(compute)
  for (let i = 0; i < kinds.length; i++) {
    const kind = kinds[i]
    const spec = kindOf(compute, kind)
    const want = spec.desired?.(ctx, buckets)
    if (!want) continue
    const dependsOn = want.after ? [...want.after] : []
    for (let j = 0; j < spec.dependsOn.length; j++) {
      const a = addressOf(p, spec.dependsOn[j])
      if (added.includes(a)) dependsOn.push(a)
    }
    const address = addressOf(p, kind)
    out.push({address, profile: p, kind, credential: placement.credential, provider: placement.provider, name, dependsOn, attributes: want.attributes})
    added.push(address)
  }
  return added
}

/**
 * The resources a deployment should have (SPEC §4), with dependencies and public attributes.
 * Pure: the same inputs give the same list.
 */
export function desiredResources(options: DesiredOptions): DesiredResource[] {
  const {ctx, credentials, compute, phase} = options
  const {spec, deploymentId, placement} = ctx
  const p = spec.name
  const out: DesiredResource[] = []
  const storageProvider = (name: string) => credentials[name].spec.provider
  const keepMachine = phase === 'run' || spec.persist

  const bucketAddresses: string[] = []
  const bucketNames: string[] = []
  // Buckets by role come from the spec; the checkpoint bucket outlives the run only when kept.
  for (const b of ctx.spec.buckets) {
    if (b.role === 'checkpoint' && !(phase === 'run' || b.persist)) continue
    const attributes =
      b.role === 'input' ? {name: b.name, role: b.role}
        : b.role === 'output' ? {name: b.name, role: b.role, region: b.region ?? placement.region}
          : {name: b.name, role: b.role, region: placement.region, persist: b.persist}
    const address = addressOf(p, 'bucket', b.role)
    out.push({address, kind: 'bucket', role: b.role, credential: b.credential, provider: storageProvider(b.credential), name: b.name, dependsOn: [], attributes, profile: p})
    bucketAddresses.push(address)
    bucketNames.push(b.name)
  }
  if (keepMachine) {
    const machineDeps = providerKinds(options, out)
    const vm: DesiredResource = {
      address: addressOf(p, 'vm'), profile: p, kind: 'vm', credential: placement.credential, provider: placement.provider, name: deploymentId, dependsOn: machineDeps,
      attributes: {region: placement.region, zone: placement.zone, spot: placement.spot, vmType: placement.vmType, diskSizeGb: spec.hardware.diskSizeGb, gpuType: spec.hardware.request.kind === 'gpu' ? spec.hardware.request.gpuType : undefined},
    }
    out.push(vm)
    if (phase === 'run') {
      out.push({
        address: addressOf(p, 'bootstrap'), profile: p, kind: 'bootstrap', credential: placement.credential, provider: placement.provider, name: deploymentId, dependsOn: [vm.address, ...bucketAddresses],
        attributes: {hash: hashOf({buckets: bucketNames, sync: spec.workload.syncIntervalSeconds, runtime: spec.workload.runtime, gpus: spec.hardware.gpus ?? null})},
      })
    }
  }
  const workload = options.workload ? options.workload() : workloadSpec(spec, ctx.lineage, options.recordedWorkload)
  out.push({
    address: addressOf(p, 'workload'), profile: p, kind: 'workload', credential: placement.credential, provider: placement.provider, name: deploymentId,
    dependsOn: keepMachine && phase === 'run' ? [addressOf(p, 'bootstrap')] : [],
    attributes: workloadDesired(workload),
  })
  const workloadAt = out.length - 1
  // Providers refine attributes (instance type for a gpuType, their own bootstrap hash…).
  for (let i = 0; i < out.length; i++) {
    const r = out[i]
    const provider = r.kind === 'bucket' ? options.storage[r.credential] : compute
    const extra = provider?.desiredAttributes?.(r, ctx)
    const adds = extra !== undefined && hasKeys(extra)
    if (i === workloadAt) {
      // Already without undefined members, unless the provider adds some.
      if (adds) r.attributes = compact({...workload.attributes, specHash: workload.specHash, ...extra})
    } else r.attributes = adds ? compact({...r.attributes, ...extra}) : compacted(r.attributes)
  }
  return out
}
