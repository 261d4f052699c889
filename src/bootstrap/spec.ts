import {UsageError} from '../errors/index.js'
import type {BucketRole, DeploymentContext} from '../model/resources.js'
import type {Provider, RcloneRequest} from '../providers/provider.js'
import type {NoticeSpec} from './notice.js'
import {compareVersions, rclonePin, type RclonePin} from './rclone-release.js'
import {machinePaths, type MachinePaths} from './render.js'
import {DEFAULT_ROOTS, type BootstrapSpec, type BucketMount} from './types.js'

/**
 * Building a machine's BootstrapSpec from a deployment: shared by every provider whose machines
 * are bootstrapped over SSH (ssh hosts, EC2 instances…), so they render exactly alike.
 */

/** rclone remote names, one per bucket role (rclone's env names cannot carry hyphens). */
export const REMOTE_NAMES: Record<BucketRole, string> = {input: 'ACINPUT', output: 'ACOUTPUT', checkpoint: 'ACCHECKPOINT'}

/** Where anycloud's files and the mounts live on a machine, and how long the storage check tries. */
export interface MachineLayout {
  roots: {etc: string; lib: string; log: string}
  mountRoot: string
  storageCheck: {retries: number; sleepSeconds: number}
  /**
   * The rclone release installed where the machine's is too old (see rclone-release.ts for its env
   * overrides). Read when a bootstrap needs it, so a malformed override fails only the deployments
   * that install the release, not every plan, log or destroy.
   */
  rclonePin: () => RclonePin
}

/**
 * The layout, with two knobs for tests and unusual hosts: ANYCLOUD_REMOTE_PREFIX puts anycloud's
 * directories and /mnt under a prefix; ANYCLOUD_STORAGE_CHECK=`retries:sleepSeconds` shortens the
 * storage connectivity check (default 30:15, which covers identity propagation on real clouds).
 */
export function machineLayout(env: NodeJS.ProcessEnv): MachineLayout {
  const prefix = env.ANYCLOUD_REMOTE_PREFIX ?? ''
  const m = /^(\d+):(\d+)$/.exec(env.ANYCLOUD_STORAGE_CHECK ?? '')
  return {
    roots: {etc: prefix + DEFAULT_ROOTS.etc, lib: prefix + DEFAULT_ROOTS.lib, log: prefix + DEFAULT_ROOTS.log},
    mountRoot: prefix + '/mnt',
    storageCheck: m ? {retries: Number(m[1]), sleepSeconds: Number(m[2])} : {retries: 30, sleepSeconds: 15},
    rclonePin: () => rclonePin(env, prefix),
  }
}

export function layoutPaths(layout: MachineLayout, deploymentId: string): MachinePaths {
  return machinePaths({deploymentId, roots: layout.roots, mountRoot: layout.mountRoot})
}

export interface BucketRequest {
  role: BucketRole
  /** The credential whose storage serves the bucket. */
  credential: string
  request: RcloneRequest
}

/**
 * One request per bucket the machine syncs. `storage` is the credential holding the deployment's
 * own buckets; the profile's *StorageCredentials name others. `instanceIdentity` says whether the
 * machine's own identity reaches a credential's storage (never for an ssh host).
 */
export function bucketRequests(ctx: DeploymentContext, storage: string, instanceIdentity: (credential: string) => boolean): BucketRequest[] {
  return ctx.spec.buckets.map((b) => {
    const credential = b.explicitCredential ? b.credential : storage
    return {role: b.role, credential, request: {bucket: b.name, role: b.role, deploymentId: ctx.deploymentId, instanceIdentity: instanceIdentity(credential)}}
  })
}

/** The workload part of the spec (no buckets: the workload's files do not depend on them). */
export function workloadSpec(ctx: DeploymentContext, layout: MachineLayout): BootstrapSpec {
  const w = ctx.spec.workload
  const hw = ctx.spec.hardware
  return {
    deploymentId: ctx.deploymentId, runtime: w.runtime, image: w.image, command: w.command, env: w.env, sensitiveEnv: w.sensitiveEnv, lineage: ctx.lineage,
    gpus: hw.gpus ?? (hw.request.kind === 'gpu' ? 'all' : undefined), shmSize: w.shmSize, syncIntervalSeconds: w.syncIntervalSeconds, buckets: [],
    storageCheck: layout.storageCheck, mountRoot: layout.mountRoot, roots: layout.roots,
  }
}

/**
 * The whole spec. Pure once the storage providers are at hand (`providerOf`); `machine` names the
 * kind of machine in errors ("an ssh host", "an EC2 instance").
 */
export function bootstrapSpec(ctx: DeploymentContext, layout: MachineLayout, requests: BucketRequest[], providerOf: (credential: string) => Provider | undefined, machine: string, options: {notice?: NoticeSpec} = {}): BootstrapSpec {
  const buckets: BucketMount[] = requests.map(({role, credential, request}) => {
    const provider = providerOf(credential)
    if (!provider?.rcloneRemote) throw new UsageError(`credential '${credential}' (${provider?.kind ?? 'not loaded'}) cannot serve the ${role} bucket to ${machine}`, [], 'bootstrap.storage-unavailable')
    return {role, remote: REMOTE_NAMES[role], spec: provider.rcloneRemote(request)}
  })
  const minimum = buckets.map((b) => b.spec.rcloneMinVersion).filter((v): v is string => Boolean(v)).sort(compareVersions).at(-1)
  // The notice watcher only on spot machines (an on-demand VM gets no interruption notice).
  const notice = ctx.placement.spot ? options.notice : undefined
  const rclone = minimum ? {rcloneMinVersion: minimum, rclonePin: layout.rclonePin()} : undefined
  if (rclone && compareVersions(rclone.rclonePin.version, rclone.rcloneMinVersion) < 0) {
    throw new UsageError(`the storage of ${machine} needs rclone ${rclone.rcloneMinVersion} or later, newer than the release anycloud installs (${rclone.rclonePin.version})`, ['Upgrade anycloud.'], 'bootstrap.rclone-too-old')
  }
  return {...workloadSpec(ctx, layout), buckets, ...rclone, ...(notice ? {notice} : {})}
}

/** What the plan should say about how the machine reaches its buckets (e.g. long-lived keys written to it). */
export function bucketWarnings(spec: BootstrapSpec): string[] {
  return spec.buckets.filter((b) => b.spec.warning).map((b) => `${b.role} bucket: ${b.spec.warning}`)
}
