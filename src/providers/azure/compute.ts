/**
 * ARM resources of a deployment's machine: `PROFILE.network` (the region's shared resource group
 * and VNet, then per deployment an NSG allowing SSH only, a Standard static public IP and a NIC),
 * `PROFILE.sshkey` (an ed25519 login key pair kept in a 0600 file under the state directory: Azure
 * takes the public half in the VM body, so there is no cloud resource) and `PROFILE.vm`.
 *
 * Guarantees (provider.ts) and how they are kept:
 * - Every create is a PUT by a deterministic name (names.ts) with the ownership tags, so a retried
 *   or lost PUT, or a replayed apply, lands on the same resource. Before a VM PUT the VM is read:
 *   a live one of this deployment is adopted, one still `Creating` is waited for, a `Failed` one is
 *   deleted first.
 * - A failed VM create leaves no VM behind (ARM keeps a failed VM resource: it is deleted).
 * - `deleteOption: Delete` on the OS disk, the NIC reference and the public IP: a VM delete
 *   cascades. Deletes still remove NIC, IP and NSG one by one (a cascade may not take the NIC, and
 *   an evicted VM leaves them) and confirm each by reading it back (404).
 * - The VM's SSH host key is generated here and installed through cloud-init custom data (write
 *   only in ARM), so the key anycloud pins is known before first contact; state keeps the public
 *   half only.
 * - Errors: capacity and quota (SkuNotAvailable, AllocationFailed, OperationNotAllowed … quota)
 *   raise CapacityError (the engine moves on), credential errors AuthError, bad requests a
 *   ProviderError naming the code; a failed long-running operation is parsed for its code.
 */

import {AuthError, CapacityError, NotFoundError, ProviderError, UsageError} from '../../errors/index.js'
import {resolveGpuInstance} from '../../model/gpu-catalog.js'
import {addressOf, type ActualResource, type DeploymentContext, type DesiredResource, type ResourceRecord} from '../../model/resources.js'
import {fingerprintSha256, parsePublicKey, renderCloudInitHostKeys, type HostKeyPair} from '../../remote/host-keys.js'
import {ensureLoginKey, forgetHostKeys, hostKeyFor, keyPath, localPublicKey, removeLoginKey} from '../vm-keys.js'
import {sleep} from '../../util/process.js'
import {ownershipTags, type ProviderCallContext, type ResourceLookup} from '../provider.js'
import type {AzureClients} from './clients.js'
import {AZURE, armErrorInfo} from './errors.js'
import {deploymentResourceName, ownedBy, regionGroup, SUBNET_NAME, SUBNET_PREFIX, VNET_NAME, VNET_PREFIX} from './names.js'

/** The VM size when the profile sets neither vmType nor gpuType. */
export const DEFAULT_VM_SIZE = 'Standard_D2s_v5'
export const DEFAULT_DISK_GB = 30
/** The VM's admin user (Azure refuses `root` and a few others). */
export const ADMIN_USER = 'anycloud'

export interface AzureTiming {
  /** Pause between polls of a VM that another run is still creating. */
  pollMs: number
  /** Until a VM another run is creating finishes. */
  createWaitMs: number
  /** Deletes retried while a resource is still referenced (NIC reserved ≤ 180 s, NSG/IP in use). */
  inUseWaitMs: number
  /** SSH to a new VM: until it answers. */
  sshWaitMs: number
  /** SSH during a refresh. */
  sshReadWaitMs: number
  /** Role assignment PUT retried while a new identity's principal propagates. */
  principalWaitMs: number
}

export const DEFAULT_TIMING: AzureTiming = {
  pollMs: 5_000,
  createWaitMs: 15 * 60_000,
  inUseWaitMs: 4 * 60_000,
  sshWaitMs: 10 * 60_000,
  sshReadWaitMs: 30_000,
  principalWaitMs: 4 * 60_000,
}

export interface ComputeContext {
  clients: AzureClients
  credential: string
  timing: AzureTiming
  sshUser: string
}

/** Where a recorded resource lives: the region it was made in, else the deployment's. */
export function recordRegion(record: ResourceRecord | undefined, deployment: DeploymentContext): string {
  const r = record?.outputs?.region ?? record?.attributes?.region
  return typeof r === 'string' && r ? r : deployment.placement.region
}

/** The VM size of a deployment: vmType, else the catalog's Azure size for gpuType, else the default. Pure. */
export function vmSizeFor(deployment: DeploymentContext): string {
  if (deployment.placement.vmType) return deployment.placement.vmType
  const hw = deployment.spec.hardware.request
  if (hw.kind === 'vm') return hw.vmType
  if (hw.kind === 'gpu') {
    const pick = resolveGpuInstance('azure', {name: hw.name, count: hw.count})
    if (!pick) {
      throw new UsageError(`profile '${deployment.spec.name}' (credential '${deployment.placement.credential}'): gpuType '${hw.gpuType}' has no Azure VM size${hw.count === 'all' ? '' : ` with ${hw.count} GPU(s)`}`, [
        'Set vmType to an Azure VM size (e.g. Standard_NC24ads_A100_v4), or choose a GPU Azure offers (see `anycloud validate`).',
      ], 'azure.gpu-unavailable')
    }
    return pick.instanceType
  }
  return DEFAULT_VM_SIZE
}

/** Arm64 (Ampere) sizes carry a `p` in the family's feature letters: Standard_D4ps_v5, Standard_E8pds_v5. */
export function isArmSize(size: string): boolean {
  return /^Standard_[A-Z]+\d+[a-z]*p[a-z]*_v\d+$/i.test(size)
}

/** Ubuntu 24.04 LTS, generation 2, from Canonical. */
export function ubuntuImage(size: string): {publisher: string; offer: string; sku: string; version: string} {
  return {publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: isArmSize(size) ? 'server-arm64' : 'server', version: 'latest'}
}

const is404 = (error: unknown) => error instanceof NotFoundError

/** A GET that answers undefined for 404. */
async function getOrUndefined<T>(ctx: ComputeContext, what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await ctx.clients.call(what, fn)
  } catch (error) {
    if (is404(error)) return undefined
    throw error
  }
}

/** A DELETE (long-running or not) that treats 404 as done and retries while the resource is still referenced. */
async function deleteRetrying(ctx: ComputeContext, what: string, fn: () => Promise<unknown>, call: ProviderCallContext, inUse: string[]): Promise<void> {
  const deadline = Date.now() + ctx.timing.inUseWaitMs
  let pause = Math.min(2_000, ctx.timing.pollMs)
  for (;;) {
    try {
      await ctx.clients.call(what, fn, {signal: call.signal})
      return
    } catch (error) {
      if (is404(error)) return
      const code = armErrorInfo((error as {cause?: unknown}).cause ?? error).code
      if (code && inUse.includes(code) && Date.now() < deadline && !call.signal?.aborted) {
        call.progress(`${what}: ${code}; waiting for it to be released`)
        await sleep(pause, call.signal)
        pause = Math.min(pause * 2, 15_000)
        continue
      }
      throw error
    }
  }
}

// -------------------------------------------------------------------------------------------------
// network: resource group, shared VNet, NSG, public IP, NIC

export interface NetworkNames {
  group: string
  nsg: string
  pip: string
  nic: string
}

export function networkNames(deploymentId: string, region: string): NetworkNames {
  return {group: regionGroup(region), nsg: deploymentResourceName(deploymentId, 'nsg'), pip: deploymentResourceName(deploymentId, 'pip'), nic: deploymentResourceName(deploymentId, 'nic')}
}

const SSH_RULE = {
  name: 'anycloud-ssh',
  protocol: 'Tcp',
  access: 'Allow',
  direction: 'Inbound',
  priority: 1000,
  sourceAddressPrefix: '*',
  sourcePortRange: '*',
  destinationAddressPrefix: '*',
  destinationPortRange: '22',
  description: 'anycloud: SSH',
} as const

/** The region's resource group and shared VNet (created once, kept: other deployments use them). */
export async function ensureRegion(ctx: ComputeContext, region: string, call: ProviderCallContext): Promise<{subnetId: string}> {
  const resources = await ctx.clients.resources()
  const network = await ctx.clients.network()
  const group = regionGroup(region)
  await ctx.clients.call(`creating resource group '${group}'`, () => resources.resourceGroups.createOrUpdate(group, {location: region, tags: {'anycloud-managed': 'true'}}), {where: region, signal: call.signal})
  const existing = await getOrUndefined(ctx, `reading VNet '${VNET_NAME}' in '${group}'`, () => network.virtualNetworks.get(group, VNET_NAME))
  const subnet = existing?.subnets?.find((s) => s.name === SUBNET_NAME)
  if (existing && subnet?.id) return {subnetId: subnet.id}
  call.progress(`creating VNet ${VNET_NAME} in ${group}`)
  const vnet = await ctx.clients.call(`creating VNet '${VNET_NAME}' in '${group}'`, () =>
    network.virtualNetworks.beginCreateOrUpdateAndWait(group, VNET_NAME, {
      location: region,
      addressSpace: {addressPrefixes: [VNET_PREFIX]},
      subnets: [{name: SUBNET_NAME, addressPrefix: SUBNET_PREFIX}],
      tags: {'anycloud-managed': 'true'},
    }, ctx.clients.lro), {where: region, signal: call.signal})
  const id = vnet.subnets?.find((s) => s.name === SUBNET_NAME)?.id
  if (!id) throw new ProviderError(`azure: VNet '${VNET_NAME}' in '${group}' came back without subnet '${SUBNET_NAME}'`, 'azure.network', AZURE, ctx.credential)
  return {subnetId: id}
}

interface NetworkView {
  nsg?: {id: string; tags: Record<string, string>; ssh: boolean}
  pip?: {id: string; tags: Record<string, string>; ipAddress?: string}
  nic?: {id: string; tags: Record<string, string>; vm?: string}
}

async function viewNetwork(ctx: ComputeContext, names: NetworkNames): Promise<NetworkView> {
  const network = await ctx.clients.network()
  const [nsg, pip, nic] = await Promise.all([
    getOrUndefined(ctx, `reading NSG '${names.nsg}'`, () => network.networkSecurityGroups.get(names.group, names.nsg)).catch(rethrowUnlessGroupMissing),
    getOrUndefined(ctx, `reading public IP '${names.pip}'`, () => network.publicIPAddresses.get(names.group, names.pip)).catch(rethrowUnlessGroupMissing),
    getOrUndefined(ctx, `reading NIC '${names.nic}'`, () => network.networkInterfaces.get(names.group, names.nic)).catch(rethrowUnlessGroupMissing),
  ])
  return {
    ...(nsg?.id ? {nsg: {id: nsg.id, tags: nsg.tags ?? {}, ssh: (nsg.securityRules ?? []).some((r) => r.destinationPortRange === '22' && r.access === 'Allow' && r.direction === 'Inbound')}} : {}),
    ...(pip?.id ? {pip: {id: pip.id, tags: pip.tags ?? {}, ...(pip.ipAddress ? {ipAddress: pip.ipAddress} : {})}} : {}),
    ...(nic?.id ? {nic: {id: nic.id, tags: nic.tags ?? {}, ...(nic.virtualMachine?.id ? {vm: nic.virtualMachine.id} : {})}} : {}),
  }
}

function rethrowUnlessGroupMissing(error: unknown): undefined {
  const code = armErrorInfo((error as {cause?: unknown}).cause ?? error).code
  if (code === 'ResourceGroupNotFound') return undefined
  throw error
}

function networkActual(names: NetworkNames, region: string, v: NetworkView): ActualResource {
  return {
    id: v.nic?.id ?? names.nic,
    attributes: {ingress: v.nsg?.ssh ? 'ssh' : 'none', region},
    outputs: {region, group: names.group, nsgId: v.nsg?.id, publicIpId: v.pip?.id, nicId: v.nic?.id, ...(v.pip?.ipAddress ? {publicIp: v.pip.ipAddress} : {})},
  }
}

export async function readNetwork(ctx: ComputeContext, lookup: ResourceLookup, call: ProviderCallContext): Promise<ActualResource | null> {
  const region = recordRegion(lookup.record, call.deployment)
  const names = networkNames(call.deployment.deploymentId, region)
  const v = await viewNetwork(ctx, names)
  const d = call.deployment.deploymentId
  // All three, ours: the network is there. Any missing: create (idempotent PUTs) repairs it.
  if (!v.nsg || !v.pip || !v.nic) return null
  if (!ownedBy(v.nsg.tags, d) || !ownedBy(v.pip.tags, d) || !ownedBy(v.nic.tags, d)) return null
  return networkActual(names, region, v)
}

export async function createNetwork(ctx: ComputeContext, resource: DesiredResource, call: ProviderCallContext): Promise<ActualResource> {
  const {deploymentId, project} = call.deployment
  const region = call.deployment.placement.region
  const names = networkNames(deploymentId, region)
  const tags = ownershipTags(project, deploymentId, resource.address)
  const before = await viewNetwork(ctx, names)
  for (const [what, r] of [['NSG', before.nsg], ['public IP', before.pip], ['NIC', before.nic]] as const) {
    if (r && !ownedBy(r.tags, deploymentId)) {
      throw new ProviderError(`azure: ${what} ${r.id} exists but is not anycloud's for deployment ${deploymentId}: refusing to use it`, 'azure.network-foreign', AZURE, ctx.credential)
    }
  }
  const {subnetId} = await ensureRegion(ctx, region, call)
  const network = await ctx.clients.network()
  const opts = {where: region, signal: call.signal}
  call.progress(`creating NSG ${names.nsg} (SSH only), public IP ${names.pip} and NIC ${names.nic} in ${names.group}`)
  const [nsg, pip] = await Promise.all([
    ctx.clients.call(`creating NSG '${names.nsg}'`, () => network.networkSecurityGroups.beginCreateOrUpdateAndWait(names.group, names.nsg, {location: region, securityRules: [SSH_RULE], tags}, ctx.clients.lro), opts),
    ctx.clients.call(`creating public IP '${names.pip}'`, () =>
      network.publicIPAddresses.beginCreateOrUpdateAndWait(names.group, names.pip, {
        location: region,
        sku: {name: 'Standard', tier: 'Regional'},
        publicIPAllocationMethod: 'Static',
        publicIPAddressVersion: 'IPv4',
        deleteOption: 'Delete',
        tags,
      }, ctx.clients.lro), opts),
  ])
  const nic = await ctx.clients.call(`creating NIC '${names.nic}'`, () =>
    network.networkInterfaces.beginCreateOrUpdateAndWait(names.group, names.nic, {
      location: region,
      ipConfigurations: [{name: 'ipconfig1', primary: true, subnet: {id: subnetId}, publicIPAddress: {id: pip.id}, privateIPAllocationMethod: 'Dynamic'}],
      networkSecurityGroup: {id: nsg.id},
      tags,
    }, ctx.clients.lro), opts)
  return networkActual(names, region, {nsg: {id: nsg.id!, tags, ssh: true}, pip: {id: pip.id!, tags, ...(pip.ipAddress ? {ipAddress: pip.ipAddress} : {})}, nic: {id: nic.id!, tags}})
}

/** NIC, then public IP, then NSG (each retried while still referenced), each confirmed gone. */
export async function deleteNetwork(ctx: ComputeContext, record: ResourceRecord, call: ProviderCallContext): Promise<void> {
  const region = recordRegion(record, call.deployment)
  const d = call.deployment.deploymentId
  const names = networkNames(d, region)
  const v = await viewNetwork(ctx, names)
  const network = await ctx.clients.network()
  const lro = ctx.clients.lro
  if (v.nic) {
    if (ownedBy(v.nic.tags, d)) await deleteRetrying(ctx, `deleting NIC '${names.nic}'`, () => network.networkInterfaces.beginDeleteAndWait(names.group, names.nic, lro), call, ['NicReservedForAnotherVm', 'NicInUse', 'AnotherOperationInProgress'])
    else call.progress(`kept NIC ${v.nic.id}: not anycloud's for deployment ${d}`)
  }
  if (v.pip) {
    if (ownedBy(v.pip.tags, d)) await deleteRetrying(ctx, `deleting public IP '${names.pip}'`, () => network.publicIPAddresses.beginDeleteAndWait(names.group, names.pip, lro), call, ['PublicIPAddressCannotBeDeleted', 'InUsePublicIpAddressCannotBeDeleted', 'AnotherOperationInProgress'])
    else call.progress(`kept public IP ${v.pip.id}: not anycloud's for deployment ${d}`)
  }
  if (v.nsg) {
    if (ownedBy(v.nsg.tags, d)) await deleteRetrying(ctx, `deleting NSG '${names.nsg}'`, () => network.networkSecurityGroups.beginDeleteAndWait(names.group, names.nsg, lro), call, ['InUseNetworkSecurityGroupCannotBeDeleted', 'AnotherOperationInProgress'])
    else call.progress(`kept NSG ${v.nsg.id}: not anycloud's for deployment ${d}`)
  }
  const after = await viewNetwork(ctx, names)
  const left = [after.nic && ownedBy(after.nic.tags, d) ? after.nic.id : undefined, after.pip && ownedBy(after.pip.tags, d) ? after.pip.id : undefined, after.nsg && ownedBy(after.nsg.tags, d) ? after.nsg.id : undefined].filter(Boolean)
  if (left.length > 0) throw new ProviderError(`azure: still present after their delete: ${left.join(', ')}`, 'azure.network-delete', AZURE, ctx.credential)
}

// -------------------------------------------------------------------------------------------------
// sshkey: the login key pair, local only

/** `<stateDir>/keys/<deploymentId>`: the private key (0600); `.pub` next to it. */
function keyActual(deployment: DeploymentContext, publicKey: string): ActualResource {
  return {id: `${deployment.deploymentId}-key`, attributes: {algorithm: 'ed25519'}, outputs: {publicKey, fingerprint: fingerprintSha256(publicKey), privateKeyPath: keyPath(deployment)}}
}

export async function readSshKey(_ctx: ComputeContext, _lookup: ResourceLookup, call: ProviderCallContext): Promise<ActualResource | null> {
  const pub = localPublicKey(call.deployment)
  return pub ? keyActual(call.deployment, pub) : null
}

export async function createSshKey(_ctx: ComputeContext, _resource: DesiredResource, call: ProviderCallContext): Promise<ActualResource> {
  return keyActual(call.deployment, ensureLoginKey(call.deployment))
}

export async function deleteSshKey(_ctx: ComputeContext, _record: ResourceRecord, call: ProviderCallContext): Promise<void> {
  removeLoginKey(call.deployment)
}

// -------------------------------------------------------------------------------------------------
// vm

/** What anycloud knows about a VM. */
export interface VmView {
  id: string
  name: string
  group: string
  provisioningState: string
  power?: string
  vmSize?: string
  spot: boolean
  tags: Record<string, string>
}

export function vmName(deploymentId: string): string {
  return deploymentResourceName(deploymentId, 'vm')
}

/** The VM of a deployment in a region (instance view included); undefined when ARM does not know it. */
export async function describeVm(ctx: ComputeContext, region: string, deploymentId: string): Promise<VmView | undefined> {
  const compute = await ctx.clients.compute()
  const group = regionGroup(region)
  const name = vmName(deploymentId)
  let vm
  try {
    vm = await ctx.clients.call(`reading VM '${name}' in '${group}'`, () => compute.virtualMachines.get(group, name, {expand: 'instanceView'}))
  } catch (error) {
    if (is404(error)) return undefined
    throw error
  }
  const statuses = vm.instanceView?.statuses ?? []
  const power = statuses.map((s) => s.code ?? '').find((c) => c.startsWith('PowerState/'))?.slice('PowerState/'.length)
  return {
    id: vm.id ?? '',
    name,
    group,
    provisioningState: vm.provisioningState ?? 'Unknown',
    ...(power ? {power} : {}),
    ...(vm.hardwareProfile?.vmSize ? {vmSize: vm.hardwareProfile.vmSize} : {}),
    spot: vm.priority === 'Spot',
    tags: (vm.tags ?? {}) as Record<string, string>,
  }
}

/** Whether a VM is usable: provisioned and not stopped or deallocated. */
export function vmLive(v: VmView | undefined): boolean {
  return Boolean(v && v.provisioningState === 'Succeeded' && (!v.power || v.power === 'running' || v.power === 'starting'))
}

async function vmOutputs(ctx: ComputeContext, v: VmView, region: string, hostKey: string | undefined, deploymentId: string): Promise<Record<string, unknown>> {
  const network = await ctx.clients.network()
  const names = networkNames(deploymentId, region)
  const pip = await getOrUndefined(ctx, `reading public IP '${names.pip}'`, () => network.publicIPAddresses.get(names.group, names.pip))
  return {
    vmId: v.id,
    name: v.name,
    group: v.group,
    region,
    ...(pip?.ipAddress ? {publicIp: pip.ipAddress, address: pip.ipAddress} : {}),
    sshUser: ctx.sshUser,
    ...(hostKey ? {hostKey, hostKeyFingerprint: fingerprintSha256(hostKey)} : {}),
    ...(v.vmSize ? {vmSize: v.vmSize} : {}),
    spot: v.spot,
    state: v.power ?? v.provisioningState,
  }
}

/**
 * Live and ours → its address and pinned host key. Recorded but gone (a spot VM Azure evicted is
 * deleted with policy Delete), deallocated, stopped or failed → an actual with `note` saying so,
 * so the plan shows a replace with Azure's reason. Never recorded and not found → null.
 */
export async function readVm(ctx: ComputeContext, lookup: ResourceLookup, call: ProviderCallContext): Promise<ActualResource | null> {
  const region = recordRegion(lookup.record, call.deployment)
  const d = call.deployment.deploymentId
  const v = await describeVm(ctx, region, d)
  const record = lookup.record
  if (!v) {
    if (!record || record.status !== 'created') return null
    const spot = record.attributes?.spot === true || record.outputs?.spot === true
    return {
      id: record.id,
      attributes: record.attributes,
      outputs: record.outputs ?? {},
      note: spot ? 'Azure evicted the spot VM: eviction policy Delete removed it' : `Azure no longer has VM ${vmName(d)} (deleted outside anycloud?)`,
      ...(spot ? {preempted: true} : {}),
    }
  }
  if (!ownedBy(v.tags, d)) return null
  const hostKey = (record?.outputs?.vmId === v.id ? (record?.outputs?.hostKey as string | undefined) : undefined) ?? v.tags[TAG_HOST_KEY]
  const outputs = await vmOutputs(ctx, v, region, hostKey, d)
  const attributes = record?.attributes ?? {}
  if (!vmLive(v)) return {id: v.id, attributes, outputs, note: `ProvisioningState/${v.provisioningState}${v.power ? `, PowerState/${v.power}` : ''}`}
  return {id: v.id, attributes, outputs}
}

const TAG_HOST_KEY = 'anycloud-host-key'


/** The custom data: the host key only (the login key goes in osProfile). */
export function renderCustomData(hostKey: Pick<HostKeyPair, 'privateKey' | 'publicKey'>): string {
  return `#cloud-config\n${renderCloudInitHostKeys(hostKey)}`
}

/** The VM body (modular SDK shape: flat; the serializer adds the `properties` envelope). */
export function vmBody(input: {
  region: string
  size: string
  diskGb: number
  spot: boolean
  nicId: string
  identityId?: string
  loginKey: string
  hostKey: Pick<HostKeyPair, 'privateKey' | 'publicKey'>
  tags: Record<string, string>
  computerName: string
}): Record<string, unknown> {
  return {
    location: input.region,
    tags: input.tags,
    hardwareProfile: {vmSize: input.size},
    ...(input.identityId ? {identity: {type: 'UserAssigned', userAssignedIdentities: {[input.identityId]: {}}}} : {}),
    storageProfile: {
      imageReference: ubuntuImage(input.size),
      osDisk: {createOption: 'FromImage', diskSizeGB: input.diskGb, deleteOption: 'Delete', managedDisk: {storageAccountType: 'StandardSSD_LRS'}},
    },
    osProfile: {
      computerName: input.computerName.slice(0, 64),
      adminUsername: ADMIN_USER,
      customData: Buffer.from(renderCustomData(input.hostKey)).toString('base64'),
      linuxConfiguration: {disablePasswordAuthentication: true, ssh: {publicKeys: [{path: `/home/${ADMIN_USER}/.ssh/authorized_keys`, keyData: input.loginKey}]}, provisionVMAgent: true},
    },
    networkProfile: {networkInterfaces: [{id: input.nicId, primary: true, deleteOption: 'Delete'}]},
    ...(input.spot ? {priority: 'Spot', evictionPolicy: 'Delete', billingProfile: {maxPrice: -1}} : {priority: 'Regular'}),
  }
}

/** Deletes the VM (long-running; 404 is done) and confirms it is gone. */
async function deleteVmNamed(ctx: ComputeContext, region: string, deploymentId: string, call: ProviderCallContext): Promise<void> {
  const compute = await ctx.clients.compute()
  const group = regionGroup(region)
  const name = vmName(deploymentId)
  try {
    await ctx.clients.call(`deleting VM '${name}'`, async () => {
      await compute.virtualMachines.delete(group, name, ctx.clients.lro)
    }, {signal: call.signal})
  } catch (error) {
    if (!is404(error)) throw error
  }
  if (await describeVm(ctx, region, deploymentId)) throw new ProviderError(`azure: VM '${name}' still exists after its delete`, 'azure.vm-delete', AZURE, ctx.credential)
}

/**
 * Creates (or adopts) the deployment's VM and waits for the long-running operation. Capacity and
 * quota errors raise CapacityError (the engine tries the next region/size); a VM left `Failed` by
 * ARM is deleted first.
 */
export async function createVm(ctx: ComputeContext, resource: DesiredResource, call: ProviderCallContext): Promise<ActualResource> {
  const {deployment} = call
  const {deploymentId, project} = deployment
  const region = deployment.placement.region
  const size = String(resource.attributes.vmSize ?? vmSizeFor(deployment))
  const spot = resource.attributes.spot === true
  const name = vmName(deploymentId)
  const group = regionGroup(region)
  const compute = await ctx.clients.compute()

  // 1. A VM by that name: adopt it (ours, live, same size), wait for it, or clear a failed one.
  let existing = await describeVm(ctx, region, deploymentId)
  if (existing && !ownedBy(existing.tags, deploymentId)) {
    throw new ProviderError(`azure: VM ${existing.id} exists but is not anycloud's for deployment ${deploymentId}: refusing to use it`, 'azure.vm-foreign', AZURE, ctx.credential)
  }
  const waitUntil = Date.now() + ctx.timing.createWaitMs
  while (existing && (existing.provisioningState === 'Creating' || existing.provisioningState === 'Updating') && Date.now() < waitUntil) {
    call.progress(`VM ${name} is ${existing.provisioningState.toLowerCase()} (an earlier run); waiting`)
    await sleep(ctx.timing.pollMs, call.signal)
    existing = await describeVm(ctx, region, deploymentId)
  }
  if (existing && vmLive(existing)) {
    if (existing.vmSize && existing.vmSize.toLowerCase() !== size.toLowerCase()) {
      throw new ProviderError(`azure: VM ${name} is a ${existing.vmSize}, not the ${size} now wanted: refusing to adopt it`, 'azure.idempotent-mismatch', AZURE, ctx.credential, undefined, [`Replace it: \`anycloud apply --replace ${resource.address}\`.`])
    }
    call.progress(`adopting VM ${name}`)
    const actual = {id: existing.id, attributes: resource.attributes, outputs: await vmOutputs(ctx, existing, region, existing.tags[TAG_HOST_KEY], deploymentId)}
    forgetHostKeys(deployment)
    return actual
  }
  if (existing) {
    call.progress(`deleting VM ${name} (${existing.provisioningState}${existing.power ? `, ${existing.power}` : ''}) before creating it again`)
    await deleteVmNamed(ctx, region, deploymentId, call)
  }

  // 2. What it needs: the NIC, the login key, the identity (from state).
  const p = deployment.spec.name
  const network = call.records[addressOf(p, 'network')]
  const identity = call.records[addressOf(p, 'identity')]
  let nicId: unknown = network?.outputs?.nicId
  const loginKey = localPublicKey(deployment)
  if (typeof nicId !== 'string' || !loginKey) {
    throw new ProviderError(`${resource.address} needs ${addressOf(p, 'network')} and ${addressOf(p, 'sshkey')} first`, 'azure.vm-dependencies', AZURE, ctx.credential)
  }
  // A VM delete cascades to its NIC and IP (deleteOption Delete): after a failed create or an
  // eviction they may be gone. The same PUTs by name bring them back.
  const net = await viewNetwork(ctx, networkNames(deploymentId, region))
  if (!net.nic || !net.pip || !net.nsg) {
    call.progress('the network of the previous VM went with it; creating it again')
    const again = await createNetwork(ctx, {address: addressOf(p, 'network'), profile: p, kind: 'network', credential: resource.credential, provider: resource.provider, name: resource.name, dependsOn: [], attributes: {ingress: 'ssh', region}}, call)
    nicId = String(again.outputs?.nicId)
  }
  const hostKey = hostKeyFor(deployment, call.token ?? `${deploymentId}-untokened`)
  const hostPublic = parsePublicKey(hostKey.publicKey)
  const hostLine = `${hostPublic.type} ${hostPublic.blob.toString('base64')}`
  const tags = {...ownershipTags(project, deploymentId, resource.address), [TAG_HOST_KEY]: hostLine}
  const diskGb = typeof resource.attributes.diskSizeGb === 'number' ? resource.attributes.diskSizeGb : DEFAULT_DISK_GB
  const identityId = typeof identity?.outputs?.identityId === 'string' ? identity.outputs.identityId : undefined
  const body = vmBody({region, size, diskGb, spot, nicId: String(nicId), identityId, loginKey: loginKey.split(' ').slice(0, 2).join(' '), hostKey, tags, computerName: name})

  // 3. The PUT, waited for. A lost response is retried by the SDK on the same name.
  call.progress(`creating a ${spot ? 'spot ' : ''}${size} VM ${name} in ${region}`)
  try {
    await ctx.clients.call(`creating VM '${name}' (${size})`, async () => {
      await compute.virtualMachines.createOrUpdate(group, name, body as never, ctx.clients.lro)
    }, {where: region, signal: call.signal})
  } catch (error) {
    // A failed create leaves nothing behind: ARM keeps a Failed VM resource.
    call.progress(`VM ${name} failed to create; deleting what is left of it`)
    await deleteVmNamed(ctx, region, deploymentId, call).catch(() => undefined)
    if (error instanceof CapacityError || error instanceof AuthError) throw error
    throw error
  }
  const made = await describeVm(ctx, region, deploymentId)
  if (!made) throw new ProviderError(`azure: VM ${name} vanished right after it was created (evicted at once?)`, 'azure.vm-create', AZURE, ctx.credential)
  const actual = {id: made.id, attributes: resource.attributes, outputs: await vmOutputs(ctx, made, region, hostLine, deploymentId)}
  if (typeof actual.outputs.address !== 'string') throw new ProviderError(`azure: VM ${name} has no public IP address`, 'azure.vm-address', AZURE, ctx.credential)
  forgetHostKeys(deployment)
  return actual
}

export async function deleteVm(ctx: ComputeContext, record: ResourceRecord, call: ProviderCallContext): Promise<void> {
  const region = recordRegion(record, call.deployment)
  const d = call.deployment.deploymentId
  const v = await describeVm(ctx, region, d)
  if (v && !ownedBy(v.tags, d)) {
    call.progress(`kept VM ${v.id}: not anycloud's for deployment ${d}`)
    return
  }
  if (v) {
    call.progress(`deleting VM ${v.name}`)
    await deleteVmNamed(ctx, region, d, call)
  }
  forgetHostKeys(call.deployment)
}

/**
 * Every resource in anycloud's region groups tagged for `deploymentId` (or, without it, every one
 * tagged `anycloud-managed=true`): for orphan sweeps after a lost state and the live suite.
 */
export async function taggedResources(ctx: ComputeContext, regions: string[], deploymentId?: string): Promise<Array<{id: string; type: string; name: string}>> {
  const resources = await ctx.clients.resources()
  const out: Array<{id: string; type: string; name: string}> = []
  for (const region of regions) {
    const group = regionGroup(region)
    try {
      for await (const r of resources.resources.listByResourceGroup(group)) {
        if (ownedBy(r.tags as Record<string, string> | undefined, deploymentId)) out.push({id: r.id ?? '', type: r.type ?? '', name: r.name ?? ''})
      }
    } catch (error) {
      const code = armErrorInfo(error).code
      if (code === 'ResourceGroupNotFound' || (error as {statusCode?: number}).statusCode === 404) continue
      throw error
    }
  }
  return out
}
