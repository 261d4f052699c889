/**
 * Compute Engine resources of a deployment: the SSH firewall rule (`PROFILE.network`), the login
 * key (`PROFILE.sshkey`: a local ed25519 pair; its public half goes into the VM's `ssh-keys`
 * metadata) and the instance (`PROFILE.vm`).
 *
 * Guarantees (provider.ts) and how they are kept:
 * - reads never mutate; they find the VM by name in its zone, else by labels across zones (a run
 *   killed before saving state finds what it made);
 * - creates are idempotent: every insert carries a `requestId` derived from the engine's intent
 *   token and the zone (GCE returns the original operation for a repeat), a 409 `alreadyExists`
 *   is adopted when the labels name this deployment, and the user data of a replay is
 *   byte-identical (the host key generated for a token is kept in a 0600 file until the create
 *   completes);
 * - operation errors are checked on the insert's answer AND after every wait (GCE reports
 *   stockouts and quota in an Operation that resolved with HTTP 200);
 * - stockouts (`ZONE_RESOURCE_POOL_EXHAUSTED*`, region pool) and regional quota → CapacityError
 *   naming the zone, or the region for a region-wide one (the engine moves to the next zone, then
 *   to the next region of the continent: GcpProvider.fallbackRegions); a global quota (`GPUS_ALL_REGIONS`) or a configuration
 *   error stops with what to fix; a failed attempt's VM is deleted before moving on;
 * - every compute call is retried on 429/5xx inside a time budget (`gceCall`);
 * - the VM's host key is generated here and installed through cloud-init user data, then pinned;
 * - deletes touch only resources labelled for this deployment and confirm with the API.
 */

import {CapacityError, ProviderError, UsageError} from '../../errors/index.js'
import {zonesFor} from '../../model/continents.js'
import {resolveGpuInstance} from '../../model/gpu-catalog.js'
import {addressOf, type ActualResource, type DeploymentContext, type DesiredResource, type ResourceRecord} from '../../model/resources.js'
import {fingerprintSha256, parsePublicKey, renderCloudInitHostKeys, type HostKeyPair} from '../../remote/host-keys.js'
import {ensureLoginKey, forgetHostKeys, hostKeyFor, keyPath, localPublicKey, removeLoginKey} from '../vm-keys.js'
import {sleep} from '../../util/process.js'
import {ownershipTags, type ProviderCallContext, type ResourceLookup} from '../provider.js'
import type {ComputeClients, GcpClients} from './clients.js'
import {GCP, gceCall, gceErrorInfo, isAlreadyExists, isNotFound, toGceError, type RetryBudget} from './errors.js'
import {firewallName, labelsOf, ownedByLabels, requestIdOf, sshTag, vmName} from './names.js'

/** The machine type when the profile sets neither vmType nor gpuType (2 vCPU, 8 GB). */
export const DEFAULT_MACHINE_TYPE = 'e2-standard-2'
export const DEFAULT_DISK_GB = 30
export const DEFAULT_SSH_USER = 'anycloud'
/** Ubuntu LTS image families (amd64 / arm64) in project ubuntu-os-cloud. */
export const UBUNTU_PROJECT = 'ubuntu-os-cloud'
export const UBUNTU_FAMILY = {x86_64: 'ubuntu-2404-lts-amd64', arm64: 'ubuntu-2404-lts-arm64'} as const

export interface GcpTiming {
  /** Budget of retries of one call (429/5xx). */
  retry: RetryBudget
  /** Until an operation is DONE. */
  operationTimeoutMs: number
  /** Pause between polls of an instance's status. */
  pollMs: number
  /** Inserts retried while a new service account propagates. */
  iamPropagationTimeoutMs: number
  sshWaitMs: number
  sshReadWaitMs: number
}

export const DEFAULT_TIMING: GcpTiming = {
  retry: {totalMs: 120_000, initialMs: 1_000},
  operationTimeoutMs: 10 * 60_000,
  pollMs: 2_000,
  iamPropagationTimeoutMs: 2 * 60_000,
  sshWaitMs: 10 * 60_000,
  sshReadWaitMs: 30_000,
}

export interface ComputeContext {
  clients: GcpClients
  project: string
  credential: string
  timing: GcpTiming
  sshUser: string
  /** Zones per region learned from regions.get. */
  zones: Map<string, string[]>
}

function call<T>(ctx: ComputeContext, what: string, fn: (c: ComputeClients) => Promise<T>, signal?: AbortSignal): Promise<T> {
  return ctx.clients.compute().then((c) => gceCall(what, ctx.credential, () => fn(c), ctx.timing.retry, signal))
}

/** Where a recorded resource lives: the zone it was made in, else the deployment's. */
export function recordZone(record: ResourceRecord | undefined, deployment: DeploymentContext): string | undefined {
  const z = record?.outputs?.zone ?? record?.attributes?.zone
  return typeof z === 'string' && z ? z : deployment.placement.zone
}

// -------------------------------------------------------------------------------------------------
// Zones and machine types

export function zonesOf(ctx: ComputeContext, region: string): string[] {
  return ctx.zones.get(region) ?? [...(zonesFor('gcp', region) ?? [])]
}

/** Asks GCE for the zones of a region (regions.get; the zone URLs' basenames), cached. */
export async function learnZones(ctx: ComputeContext, region: string): Promise<string[]> {
  const cached = ctx.zones.get(region)
  if (cached) return cached
  const [r] = await call(ctx, `regions.get ${region}`, (c) => c.regions.get({project: ctx.project, region}))
  const zones = (r.zones ?? []).map((z) => String(z).split('/').pop() ?? '').filter(Boolean).sort()
  if (zones.length > 0) ctx.zones.set(region, zones)
  return zones
}

export interface MachineChoice {
  machineType: string
  accelerator?: {type: string; count: number}
  gpu: boolean
}

/** The machine type (and attached accelerators) of a deployment. Pure. */
export function machineFor(deployment: DeploymentContext): MachineChoice {
  const hw = deployment.spec.hardware.request
  const vmType = deployment.placement.vmType ?? (hw.kind === 'vm' ? hw.vmType : undefined)
  if (vmType) return {machineType: vmType, gpu: /^(a2|a3|a4|g2)-/.test(vmType)}
  if (hw.kind === 'gpu') {
    const pick = resolveGpuInstance('gcp', {name: hw.name, count: hw.count})
    if (!pick) {
      throw new UsageError(`profile '${deployment.spec.name}' (credential '${deployment.placement.credential}'): gpuType '${hw.gpuType}' has no Compute Engine machine type${hw.count === 'all' ? '' : ` with ${hw.count} GPU(s)`}`, [
        'Set vmType to a Compute Engine machine type, or choose a GPU that GCE offers (see `anycloud validate`).',
      ], 'gcp.gpu-unavailable')
    }
    return {machineType: pick.instanceType, gpu: true, ...(pick.attachedAccelerator ? {accelerator: {type: pick.attachedAccelerator.type, count: pick.attachedAccelerator.count}} : {})}
  }
  return {machineType: DEFAULT_MACHINE_TYPE, gpu: false}
}

/** Arm machine families (Tau T2A, Axion C4A/N4A). */
export function architectureOf(machineType: string): 'arm64' | 'x86_64' {
  return /^(t2a|c4a|n4a)-/.test(machineType) ? 'arm64' : 'x86_64'
}

/**
 * The scheduling block, built in ONE place (a spot GPU VM must keep onHostMaintenance TERMINATE):
 * spot → SPOT, termination action DELETE, no restart; GPUs cannot live-migrate.
 */
export function schedulingFor(spot: boolean, gpu: boolean): Record<string, unknown> {
  if (spot) return {provisioningModel: 'SPOT', instanceTerminationAction: 'DELETE', onHostMaintenance: 'TERMINATE', automaticRestart: false}
  if (gpu) return {onHostMaintenance: 'TERMINATE', automaticRestart: true}
  return {}
}

const imageCache = new Map<string, Promise<string>>()

/** The newest image of the Ubuntu LTS family (its selfLink, so a re-create is reproducible). */
export async function ubuntuImage(ctx: ComputeContext, arch: 'arm64' | 'x86_64'): Promise<string> {
  const family = UBUNTU_FAMILY[arch]
  const key = `${ctx.credential}|${ctx.clients.settings.apiEndpoint ?? ''}|${family}`
  let p = imageCache.get(key)
  if (!p) {
    p = call(ctx, `images.getFromFamily ${UBUNTU_PROJECT}/${family}`, (c) => c.images.getFromFamily({project: UBUNTU_PROJECT, family})).then(([img]) => {
      if (!img.selfLink) throw new ProviderError(`no image in family ${UBUNTU_PROJECT}/${family}`, 'gcp.no-image', GCP, ctx.credential)
      return img.selfLink
    })
    p.catch(() => imageCache.delete(key))
    imageCache.set(key, p)
  }
  return p
}

// -------------------------------------------------------------------------------------------------
// Operations

interface OperationLike {
  name?: string | null
  status?: string | number | null
  error?: {errors?: Array<{code?: string | null; message?: string | null}> | null} | null
  httpErrorStatusCode?: number | null
  targetId?: unknown
}

export class GceOperationError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus?: number,
  ) {
    super(message)
  }
}

function opError(op: OperationLike): GceOperationError | undefined {
  const e = op.error?.errors?.[0]
  if (!e) return undefined
  return new GceOperationError(String(e.code ?? 'UNKNOWN'), String(e.message ?? e.code ?? 'operation failed'), op.httpErrorStatusCode ?? undefined)
}

/** Waits until a zone (or global) operation is DONE (wait can return early: loop); raises its error. */
export async function waitOperation(ctx: ComputeContext, op: OperationLike, zone: string | undefined, signal?: AbortSignal): Promise<OperationLike> {
  const deadline = Date.now() + ctx.timing.operationTimeoutMs
  let current = op
  for (;;) {
    const err = opError(current)
    if (err) throw err
    if (current.status === 'DONE') return current
    if (Date.now() > deadline || signal?.aborted) {
      throw new ProviderError(`operation ${current.name} not DONE after ${Math.round(ctx.timing.operationTimeoutMs / 1000)} s (last: ${current.status})`, 'gcp.operation-timeout', GCP, ctx.credential)
    }
    const name = String(current.name)
    ;[current] = zone
      ? await call(ctx, `zoneOperations.wait ${name}`, (c) => c.zoneOps.wait({project: ctx.project, zone, operation: name}), signal)
      : await call(ctx, `globalOperations.wait ${name}`, (c) => c.globalOps.wait({project: ctx.project, operation: name}), signal)
  }
}

/** What an insert answered: the Operation, even when the client wrapped it. */
function latest(result: unknown): OperationLike {
  const r = result as {latestResponse?: OperationLike} & OperationLike
  return r.latestResponse ?? r
}

// -------------------------------------------------------------------------------------------------
// Firewall (network)

interface FirewallView {
  id: string
  name: string
  description?: string
  sourceRanges: string[]
  targetTags: string[]
}

async function getFirewall(ctx: ComputeContext, name: string): Promise<FirewallView | undefined> {
  try {
    const [fw] = await call(ctx, `firewalls.get ${name}`, (c) => c.firewalls.get({project: ctx.project, firewall: name}))
    return {id: String(fw.id ?? name), name, ...(fw.description ? {description: fw.description} : {}), sourceRanges: fw.sourceRanges ?? [], targetTags: fw.targetTags ?? []}
  } catch (error) {
    if (isNotFound(error) || (error as {code?: string}).code === 'cloud.not-found') return undefined
    throw error
  }
}

function firewallOwned(fw: FirewallView, deploymentId: string): boolean {
  return fw.description === `anycloud-managed deployment=${deploymentId}: SSH in`
}

function firewallActual(fw: FirewallView): ActualResource {
  return {id: fw.id, attributes: {ingress: 'ssh'}, outputs: {firewall: fw.name, targetTag: fw.targetTags[0] ?? '', sourceRanges: fw.sourceRanges}}
}

export async function readNetwork(ctx: ComputeContext, _lookup: ResourceLookup, call_: ProviderCallContext): Promise<ActualResource | null> {
  const fw = await getFirewall(ctx, firewallName(call_.deployment.deploymentId))
  return fw && firewallOwned(fw, call_.deployment.deploymentId) ? firewallActual(fw) : null
}

export async function createNetwork(ctx: ComputeContext, _resource: DesiredResource, c: ProviderCallContext): Promise<ActualResource> {
  const {deploymentId} = c.deployment
  const name = firewallName(deploymentId)
  const existing = await getFirewall(ctx, name)
  if (existing) {
    if (!firewallOwned(existing, deploymentId)) {
      throw new ProviderError(`firewall rule ${name} exists but is not anycloud's for deployment ${deploymentId}: refusing to use it`, 'gcp.network-foreign', GCP, ctx.credential)
    }
    return firewallActual(existing)
  }
  c.progress(`creating firewall rule ${name} (tcp:22 to tag ${sshTag(deploymentId)})`)
  const requestId = requestIdOf(`${c.token ?? deploymentId}|firewall`)
  try {
    const [op] = await call(ctx, `firewalls.insert ${name}`, (cl) =>
      cl.firewalls.insert({
        project: ctx.project,
        requestId,
        firewallResource: {
          name,
          network: 'global/networks/default',
          direction: 'INGRESS',
          priority: 1000,
          allowed: [{IPProtocol: 'tcp', ports: ['22']}],
          sourceRanges: ['0.0.0.0/0'],
          targetTags: [sshTag(deploymentId)],
          description: `anycloud-managed deployment=${deploymentId}: SSH in`,
        },
      }),
    )
    await waitOperation(ctx, latest(op), undefined, c.signal)
  } catch (error) {
    if (!isAlreadyExists(error)) throw classifyConfig(ctx, error, `creating firewall rule ${name}`)
  }
  const fw = await getFirewall(ctx, name)
  if (!fw) throw new ProviderError(`firewall rule ${name} is not there after its insert finished`, 'gcp.network-create', GCP, ctx.credential)
  return firewallActual(fw)
}

export async function deleteNetwork(ctx: ComputeContext, _record: ResourceRecord, c: ProviderCallContext): Promise<void> {
  const {deploymentId} = c.deployment
  const name = firewallName(deploymentId)
  const fw = await getFirewall(ctx, name)
  if (!fw) return
  if (!firewallOwned(fw, deploymentId)) {
    c.progress(`kept firewall rule ${name}: not anycloud's for deployment ${deploymentId}`)
    return
  }
  try {
    const [op] = await call(ctx, `firewalls.delete ${name}`, (cl) => cl.firewalls.delete({project: ctx.project, firewall: name, requestId: requestIdOf(`${deploymentId}|firewall-delete|${fw.id}`)}))
    await waitOperation(ctx, latest(op), undefined, c.signal)
  } catch (error) {
    if (!isNotFound(error) && (error as {code?: string}).code !== 'cloud.not-found') throw error
  }
  if (await getFirewall(ctx, name)) throw new ProviderError(`firewall rule ${name} still exists after its delete`, 'gcp.network-delete', GCP, ctx.credential)
}

// -------------------------------------------------------------------------------------------------
// Login key (sshkey): local only; the public half rides in the VM's metadata

function keyActual(deployment: DeploymentContext, publicKey: string): ActualResource {
  return {id: fingerprintSha256(publicKey), attributes: {algorithm: 'ed25519'}, outputs: {publicKey, fingerprint: fingerprintSha256(publicKey), privateKeyPath: keyPath(deployment)}}
}

export async function readSshKey(_ctx: ComputeContext, _lookup: ResourceLookup, c: ProviderCallContext): Promise<ActualResource | null> {
  const pub = localPublicKey(c.deployment)
  return pub ? keyActual(c.deployment, pub) : null
}

export async function createSshKey(_ctx: ComputeContext, _resource: DesiredResource, c: ProviderCallContext): Promise<ActualResource> {
  return keyActual(c.deployment, ensureLoginKey(c.deployment))
}

export async function deleteSshKey(_ctx: ComputeContext, _record: ResourceRecord, c: ProviderCallContext): Promise<void> {
  removeLoginKey(c.deployment)
}

// -------------------------------------------------------------------------------------------------
// Instance (vm)

export interface InstanceView {
  id: string
  name: string
  zone: string
  status: string
  natIP?: string
  machineType?: string
  labels: Record<string, string>
  spot: boolean
  hostKey?: string
  serviceAccount?: string
}

function viewOf(i: Record<string, unknown>, zone: string): InstanceView {
  const nics = (i.networkInterfaces as Array<{accessConfigs?: Array<{natIP?: string}>; networkIP?: string}>) ?? []
  const meta = ((i.metadata as {items?: Array<{key?: string; value?: string}>})?.items ?? []).reduce<Record<string, string>>((m, x) => {
    if (x.key) m[x.key] = x.value ?? ''
    return m
  }, {})
  const natIP = nics[0]?.accessConfigs?.[0]?.natIP
  const sched = (i.scheduling as {provisioningModel?: string}) ?? {}
  const sa = (i.serviceAccounts as Array<{email?: string}>)?.[0]?.email
  return {
    id: String(i.id ?? ''),
    name: String(i.name ?? ''),
    zone,
    status: String(i.status ?? 'UNKNOWN'),
    ...(natIP ? {natIP} : {}),
    ...(i.machineType ? {machineType: String(i.machineType).split('/').pop()} : {}),
    labels: (i.labels as Record<string, string>) ?? {},
    spot: sched.provisioningModel === 'SPOT',
    ...(meta['anycloud-host-key'] ? {hostKey: meta['anycloud-host-key']} : {}),
    ...(sa ? {serviceAccount: sa} : {}),
  }
}

export async function getInstance(ctx: ComputeContext, zone: string, name: string): Promise<InstanceView | undefined> {
  try {
    const [i] = await call(ctx, `instances.get ${zone}/${name}`, (c) => c.instances.get({project: ctx.project, zone, instance: name}))
    return viewOf(i as Record<string, unknown>, zone)
  } catch (error) {
    if (isNotFound(error) || (error as {code?: string}).code === 'cloud.not-found') return undefined
    throw error
  }
}

/** Instances labelled for this deployment in every zone (aggregated list; lost state, orphans). */
export async function findInstances(ctx: ComputeContext, labels: Record<string, string>): Promise<InstanceView[]> {
  const filter = Object.entries(labels).map(([k, v]) => `(labels.${k} = "${v}")`).join(' AND ')
  return call(ctx, 'instances.aggregatedList', async (c) => {
    const out: InstanceView[] = []
    const pages = c.instances.aggregatedListAsync({project: ctx.project, filter, returnPartialSuccess: true}, {autoPaginate: false})
    for await (const [scope, v] of pages) for (const i of v.instances ?? []) out.push(viewOf(i as Record<string, unknown>, String(scope).replace(/^zones\//, '')))
    return out
  })
}

/** A preemption of this VM recorded in its zone (`compute.instances.preempted`), if any. */
export async function preemptionOf(ctx: ComputeContext, zone: string, name: string, id: string | undefined): Promise<string | undefined> {
  const [ops] = (await call(ctx, `zoneOperations.list ${zone}`, (c) =>
    c.zoneOps.list({project: ctx.project, zone, filter: 'operationType = "compute.instances.preempted"'}, {autoPaginate: false}),
  )) as unknown as [Array<{targetId?: string; targetLink?: string; statusMessage?: string; operationType?: string}>]
  const hit = (ops ?? []).find((o) => (id && o.targetId === id) || o.targetLink?.endsWith(`/instances/${name}`))
  return hit ? `${hit.operationType ?? 'compute.instances.preempted'}: ${hit.statusMessage ?? 'preempted'}` : undefined
}

const LIVE = new Set(['PROVISIONING', 'STAGING', 'RUNNING'])

function vmOutputs(v: InstanceView, region: string, sshUser: string, hostKey: string | undefined): Record<string, unknown> {
  return {
    instanceId: v.id,
    instanceName: v.name,
    zone: v.zone,
    region,
    ...(v.natIP ? {address: v.natIP, publicIp: v.natIP} : {}),
    ...(hostKey ? {hostKey} : {}),
    sshUser,
    spot: v.spot,
    ...(v.machineType ? {machineType: v.machineType} : {}),
    ...(v.serviceAccount ? {serviceAccount: v.serviceAccount} : {}),
  }
}

function regionOfZone(zone: string): string {
  return zone.replace(/-[a-z]$/, '')
}

/**
 * The VM: live → its address and pinned host key; gone with a recorded preemption → an actual
 * with `note` (the plan shows `replace` with that reason); stopped/terminated → note; never made → null.
 */
export async function readVm(ctx: ComputeContext, lookup: ResourceLookup, c: ProviderCallContext): Promise<ActualResource | null> {
  const {deploymentId} = c.deployment
  const name = vmName(deploymentId)
  const zone = recordZone(lookup.record, c.deployment)
  let view = zone ? await getInstance(ctx, zone, name) : undefined
  if (!view) {
    const found = (await findInstances(ctx, {'anycloud-deployment': labelsOf({d: deploymentId}).d!})).filter((v) => ownedByLabels(v.labels, deploymentId))
    view = found.find((v) => LIVE.has(v.status)) ?? found[0]
  }
  const recorded = lookup.record
  if (!view) {
    if (recorded && recorded.status === 'created' && zone) {
      const why = await preemptionOf(ctx, zone, name, typeof recorded.outputs?.instanceId === 'string' ? recorded.outputs.instanceId : recorded.id)
      if (why) return {id: recorded.id, attributes: recorded.attributes, outputs: recorded.outputs, note: why, preempted: true}
    }
    return null
  }
  if (!ownedByLabels(view.labels, deploymentId)) return null
  const attributes = recorded?.attributes ?? {}
  const hostKey = (recorded?.outputs?.instanceId === view.id ? (recorded?.outputs?.hostKey as string | undefined) : undefined) ?? view.hostKey
  const outputs = vmOutputs(view, regionOfZone(view.zone), ctx.sshUser, hostKey)
  if (!LIVE.has(view.status)) return {id: view.id, attributes, outputs, note: `instance ${view.status}`}
  return {id: view.id, attributes, outputs}
}


/** cloud-init user data: the host key anycloud generated (the login key goes in `ssh-keys`). */
export function renderUserData(hostKey: HostKeyPair): string {
  return `#cloud-config\n${renderCloudInitHostKeys(hostKey)}`
}

const ZONE_CAPACITY = new Set(['ZONE_RESOURCE_POOL_EXHAUSTED', 'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS', 'UNSUPPORTED_OPERATION', 'RESOURCE_NOT_READY', 'RESOURCE_NOT_FOUND', 'RESOURCE_OPERATION_RATE_EXCEEDED'])
const REGION_CAPACITY = new Set(['REGION_RESOURCE_POOL_EXHAUSTED', 'insufficientCapacity'])

/** How a failed insert is handled (notes §5.2). */
export type Outcome = {kind: 'capacity'; scope: 'zone' | 'region'; message: string} | {kind: 'quota-global'; message: string} | {kind: 'sa-propagation'; message: string} | {kind: 'config'; message: string}

export function classifyInsertFailure(code: string, message: string, status?: number): Outcome {
  if (ZONE_CAPACITY.has(code)) return {kind: 'capacity', scope: 'zone', message}
  if (REGION_CAPACITY.has(code)) return {kind: 'capacity', scope: 'region', message}
  if (code === 'QUOTA_EXCEEDED' || code === 'quotaExceeded') {
    if (/GPUS_ALL_REGIONS|globally|global/i.test(message)) return {kind: 'quota-global', message}
    return {kind: 'capacity', scope: 'region', message: `quota: ${message}`}
  }
  if ((status === 400 || status === 404 || code === 'notFound') && /serviceAccounts?\/|service account/i.test(message)) return {kind: 'sa-propagation', message}
  if (/is not found or access is unauthorized|machineTypes\/.* was not found|Invalid value for field 'zone'/i.test(message)) return {kind: 'capacity', scope: 'zone', message}
  return {kind: 'config', message}
}

function classifyConfig(ctx: ComputeContext, error: unknown, what: string): Error {
  const info = gceErrorInfo(error)
  if (/networks\/default' was not found/.test(info.message)) {
    return new ProviderError(`gcp: ${what}: the project has no 'default' VPC network (${info.message})`, 'gcp.no-default-network', GCP, ctx.credential, error, [
      'Create a VPC network named default (gcloud compute networks create default --subnet-mode=auto), or ask the organisation admin about compute.skipDefaultNetworkCreation.',
    ])
  }
  return toGceError(error, what, ctx.credential)
}

/**
 * Creates (or adopts) the deployment's VM in `placement.zone` and waits until it runs with an
 * external address. Capacity in this zone → CapacityError (the engine tries the next zone, then
 * the zones of the next region when the profile pins none).
 */
export async function createVm(ctx: ComputeContext, resource: DesiredResource, c: ProviderCallContext): Promise<ActualResource> {
  const {deployment} = c
  const {deploymentId, project} = deployment
  const region = deployment.placement.region
  const zone = deployment.placement.zone ?? zonesOf(ctx, region)[0]
  if (!zone) throw new UsageError(`profile '${deployment.spec.name}' (credential '${c.deployment.placement.credential}'): no zone known for GCP region '${region}'`, [`Set zone in profile '${deployment.spec.name}' of anycloud.yaml.`], 'gcp.no-zone')
  const name = vmName(deploymentId)
  const choice = machineFor(deployment)
  const machineType = String(resource.attributes.machineType ?? choice.machineType)
  const spot = resource.attributes.spot === true

  // 1. Adopt this deployment's VM if it is already there (replay, lost state).
  const here = await getInstance(ctx, zone, name)
  if (here) {
    if (!ownedByLabels(here.labels, deploymentId)) {
      throw new ProviderError(`instance ${zone}/${name} exists but is not anycloud's for deployment ${deploymentId}: refusing to use it`, 'gcp.vm-foreign', GCP, ctx.credential)
    }
    if (LIVE.has(here.status)) {
      c.progress(`adopting instance ${name} in ${zone} (${here.status})`)
      return waitRunning(ctx, zone, name, resource, c, here.hostKey)
    }
    // A stopped leftover: delete it, then create afresh.
    await deleteInstance(ctx, zone, name, c)
  }

  // 2. What it needs: the login key, the firewall tag, the service account (from state).
  const p = deployment.spec.name
  const sshkey = c.records[addressOf(p, 'sshkey')]
  const identity = c.records[addressOf(p, 'identity')]
  const loginKey = typeof sshkey?.outputs?.publicKey === 'string' ? sshkey.outputs.publicKey : undefined
  if (!loginKey) throw new ProviderError(`${resource.address} needs ${addressOf(p, 'sshkey')} first`, 'gcp.vm-dependencies', GCP, ctx.credential)
  const saEmail = typeof identity?.outputs?.email === 'string' ? identity.outputs.email : undefined
  const image = await ubuntuImage(ctx, architectureOf(machineType))
  const token = c.token ?? `${deploymentId}-untokened`
  const hostKey = hostKeyFor(deployment, token)
  const hostPublic = parsePublicKey(hostKey.publicKey)
  const hostLine = `${hostPublic.type} ${hostPublic.blob.toString('base64')}`
  const labels = labelsOf(ownershipTags(project, deploymentId, resource.address))
  const diskGb = typeof resource.attributes.diskSizeGb === 'number' ? resource.attributes.diskSizeGb : DEFAULT_DISK_GB
  const keyLine = loginKey.split(/\s+/).slice(0, 2).join(' ')
  const instanceResource = {
    name,
    machineType: `zones/${zone}/machineTypes/${machineType}`,
    labels,
    tags: {items: [sshTag(deploymentId)]},
    disks: [{boot: true, autoDelete: true, type: 'PERSISTENT', initializeParams: {sourceImage: image, diskSizeGb: String(diskGb), diskType: `zones/${zone}/diskTypes/pd-balanced`, labels}}],
    networkInterfaces: [{network: 'global/networks/default', accessConfigs: [{name: 'External NAT', type: 'ONE_TO_ONE_NAT', networkTier: 'PREMIUM'}], ...(machineType.startsWith('a3-') ? {nicType: 'GVNIC'} : {})}],
    metadata: {
      items: [
        {key: 'ssh-keys', value: `${ctx.sshUser}:${keyLine} anycloud-${deploymentId}`},
        {key: 'user-data', value: renderUserData(hostKey)},
        {key: 'anycloud-host-key', value: hostLine},
        {key: 'enable-oslogin', value: 'FALSE'},
        {key: 'block-project-ssh-keys', value: 'TRUE'},
      ],
    },
    ...(saEmail ? {serviceAccounts: [{email: saEmail, scopes: ['https://www.googleapis.com/auth/cloud-platform']}]} : {}),
    scheduling: schedulingFor(spot, choice.gpu),
    ...(choice.accelerator ? {guestAccelerators: [{acceleratorType: `projects/${ctx.project}/zones/${zone}/acceleratorTypes/${choice.accelerator.type}`, acceleratorCount: choice.accelerator.count}]} : {}),
  }

  // 3. Insert with a requestId (a retry of the same intent in the same zone is deduplicated by GCE).
  const requestId = requestIdOf(`${token}|${zone}`)
  c.progress(`creating a ${spot ? 'spot ' : ''}${machineType} in ${zone}`)
  const deadline = Date.now() + ctx.timing.iamPropagationTimeoutMs
  let wait = Math.max(1, ctx.timing.pollMs)
  for (let attempt = 0; ; attempt++) {
    try {
      // A new requestId per propagation retry: the failed one is remembered with its error.
      const rid = attempt === 0 ? requestId : requestIdOf(`${token}|${zone}|${attempt}`)
      const [op] = await call(ctx, `instances.insert ${zone}/${name}`, (cl) => cl.instances.insert({project: ctx.project, zone, requestId: rid, instanceResource}), c.signal)
      await waitOperation(ctx, latest(op), zone, c.signal)
      break
    } catch (error) {
      if (isAlreadyExists(error)) {
        const v = await getInstance(ctx, zone, name)
        if (v && ownedByLabels(v.labels, deploymentId)) break
        throw new ProviderError(`instance ${zone}/${name} already exists and is not this deployment's`, 'gcp.vm-foreign', GCP, ctx.credential, error)
      }
      const {code, message, status} = error instanceof GceOperationError ? {code: error.code, message: error.message, status: error.httpStatus} : {...gceErrorInfo(error), code: gceErrorInfo(error).reason ?? ''}
      const outcome = classifyInsertFailure(code, message, status)
      if (outcome.kind === 'sa-propagation' && Date.now() < deadline && !c.signal?.aborted) {
        c.progress(`service account ${saEmail ?? ''} not visible to Compute Engine yet (IAM propagation); retrying`)
        await sleep(wait, c.signal)
        wait = Math.min(wait * 2, 15_000)
        continue
      }
      // A failed attempt leaves nothing behind in this zone.
      await deleteInstance(ctx, zone, name, c).catch(() => undefined)
      if (outcome.kind === 'capacity') throw new CapacityError(`no ${spot ? 'spot ' : ''}${machineType} in ${outcome.scope === 'zone' ? zone : regionOfZone(zone)}: ${outcome.message}`, GCP, outcome.scope === 'zone' ? zone : regionOfZone(zone), error)
      if (outcome.kind === 'quota-global') {
        throw new ProviderError(`gcp: project ${ctx.project} has no quota for this machine in any region: ${outcome.message}`, 'gcp.quota', GCP, ctx.credential, error, [
          'Request a quota increase (IAM & Admin → Quotas; new projects often have GPUS_ALL_REGIONS = 0), then apply again.',
        ])
      }
      if (error instanceof GceOperationError) throw new ProviderError(`gcp: creating instance ${name} in ${zone} failed: ${code}: ${message}`, 'gcp.vm-create', GCP, ctx.credential, error)
      throw classifyConfig(ctx, error, `creating instance ${name} in ${zone}`)
    }
  }
  const actual = await waitRunning(ctx, zone, name, resource, c, hostLine)
  forgetHostKeys(deployment)
  return actual
}

async function waitRunning(ctx: ComputeContext, zone: string, name: string, resource: DesiredResource, c: ProviderCallContext, hostKey: string | undefined): Promise<ActualResource> {
  const deadline = Date.now() + ctx.timing.operationTimeoutMs
  for (;;) {
    const v = await getInstance(ctx, zone, name)
    if (v && v.status === 'RUNNING' && v.natIP) {
      return {id: v.id, attributes: resource.attributes, outputs: vmOutputs(v, regionOfZone(zone), ctx.sshUser, hostKey ?? v.hostKey)}
    }
    if (!v) throw new CapacityError(`instance ${name} in ${zone} disappeared while starting (preempted or stocked out)`, GCP, zone)
    if (!LIVE.has(v.status)) throw new ProviderError(`instance ${name} is ${v.status} while starting`, 'gcp.vm-launch', GCP, ctx.credential)
    if (Date.now() >= deadline || c.signal?.aborted) {
      throw new ProviderError(`instance ${name} did not reach RUNNING with an external address within ${Math.round(ctx.timing.operationTimeoutMs / 1000)} s (last: ${v.status})`, 'gcp.vm-timeout', GCP, ctx.credential)
    }
    await sleep(ctx.timing.pollMs, c.signal)
  }
}

/** Deletes one instance (requestId), waits for the operation, confirms it is gone. 404 is success. */
export async function deleteInstance(ctx: ComputeContext, zone: string, name: string, c: ProviderCallContext): Promise<void> {
  try {
    const [op] = await call(ctx, `instances.delete ${zone}/${name}`, (cl) => cl.instances.delete({project: ctx.project, zone, instance: name, requestId: requestIdOf(`${c.deployment.deploymentId}|delete|${zone}|${name}|${Date.now() >> 16}`)}), c.signal)
    c.progress(`deleting instance ${name} in ${zone}`)
    await waitOperation(ctx, latest(op), zone, c.signal)
  } catch (error) {
    if (!isNotFound(error) && (error as {code?: string}).code !== 'cloud.not-found') throw error
  }
  const deadline = Date.now() + ctx.timing.operationTimeoutMs
  while (await getInstance(ctx, zone, name)) {
    if (Date.now() > deadline) throw new ProviderError(`instance ${zone}/${name} still exists after its delete`, 'gcp.vm-delete', GCP, ctx.credential)
    await sleep(ctx.timing.pollMs, c.signal)
  }
}

/** Deletes the recorded VM and any other instance labelled for this deployment; confirms. */
export async function deleteVm(ctx: ComputeContext, record: ResourceRecord, c: ProviderCallContext): Promise<void> {
  const {deploymentId} = c.deployment
  const name = vmName(deploymentId)
  const targets = new Map<string, string>()
  const zone = recordZone(record, c.deployment)
  if (zone) {
    const v = await getInstance(ctx, zone, name)
    if (v && ownedByLabels(v.labels, deploymentId)) targets.set(`${zone}/${name}`, zone)
    else if (v) c.progress(`kept instance ${zone}/${name}: not anycloud's for deployment ${deploymentId}`)
  }
  for (const v of await findInstances(ctx, {'anycloud-deployment': labelsOf({d: deploymentId}).d!})) {
    if (ownedByLabels(v.labels, deploymentId)) targets.set(`${v.zone}/${v.name}`, v.zone)
  }
  for (const [key, z] of targets) await deleteInstance(ctx, z, key.split('/')[1]!, c)
  forgetHostKeys(c.deployment)
}
