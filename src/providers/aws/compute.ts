/**
 * EC2 resources of a deployment: the security group (`PROFILE.network`: SSH in, nothing else), the
 * key pair (`PROFILE.sshkey`) and the instance (`PROFILE.vm`).
 *
 * Guarantees (provider.ts), and how they are kept here:
 * - Reads never mutate; they find resources by the id in state, else by deterministic name and
 *   anycloud's tags (a run killed before saving state finds what it made).
 * - Creates are idempotent: RunInstances carries `ClientToken = ctx.token` (recorded by the engine
 *   as an intent before the call, replayed after a crash); before launching, a live instance with
 *   this deployment's tags or that token is adopted; the user data of a replay is byte-identical
 *   (the host key generated for a token is kept in a 0600 file until the create completes). A
 *   token reused with different parameters is an error shown to the user, never a new token.
 * - A failed create leaves nothing behind: an instance that never became usable is terminated.
 * - Deletes only touch resources carrying anycloud's tags for this deployment, and confirm with
 *   the API: an instance is terminated (waiter) before its security group goes.
 * - The key pair's PRIVATE key never enters state: it is written to a 0600 file under
 *   `<stateDir>/keys/<deploymentId>` (atomically) and state keeps its path and fingerprint.
 * - The VM's host key is generated here and installed through cloud-init user data, so the key
 *   anycloud pins is known before first contact; state keeps only its public half.
 * - Instances require IMDSv2 (`HttpTokens=required`) with a hop limit of 1 (containers behind a
 *   bridge cannot reach the metadata service), and have an encrypted gp3 root volume.
 */
import type {EC2Client, Instance} from '@aws-sdk/client-ec2'

import {ProviderError, CapacityError, UsageError} from '../../errors/index.js'
import {zonesFor} from '../../model/continents.js'
import {resolveGpuInstance} from '../../model/gpu-catalog.js'
import {sleep} from '../../util/process.js'
import {addressOf, type ActualResource, type DeploymentContext, type DesiredResource, type ResourceRecord} from '../../model/resources.js'
import {fingerprintSha256, parsePublicKey, renderCloudInitHostKeys, sameKey, type HostKeyPair} from '../../remote/host-keys.js'
import {ensureLoginKey, forgetHostKeys, hostKeyFor, keyPath, localPublicKey, removeLoginKey} from '../vm-keys.js'
import {ownershipTags, type ProviderCallContext, type ResourceLookup} from '../provider.js'
import type {AwsClients} from './clients.js'
import {awsCall, awsCode, describeAwsError, isCapacity, isEc2NotFound, PROVIDER, toProviderError} from './errors.js'
import {ec2Name, iamName, ownedBy, tagList, tagMap} from './names.js'
import {ec2Sdk} from '../../util/aws-sdk.js'

/** Canonical's AWS account: the owner of the official Ubuntu images. */
export const CANONICAL_OWNER = '099720109477'
/** The instance type when the profile sets neither vmType nor gpuType. */
export const DEFAULT_INSTANCE_TYPE = 't3.medium'
/** Root volume size when the profile sets no diskSizeGb (the Ubuntu image's 8 GB is too small for images). */
export const DEFAULT_DISK_GB = 30
/** Ubuntu's login user on EC2. */
export const DEFAULT_SSH_USER = 'ubuntu'

/** Waits and bounds; production defaults, tests shrink them. */
export interface AwsTiming {
  /** Pause between polls of an instance's state (the first poll is immediate). */
  pollMs: number
  /** Until a new instance runs. */
  runningTimeoutMs: number
  /** Until a terminated instance is confirmed gone (waiter). */
  terminateTimeoutMs: number
  /** RunInstances retried while a fresh instance profile propagates (the fake injects the error). */
  iamPropagationTimeoutMs: number
  /** First pause of those retries (doubles up to 10 s). */
  iamPropagationInitialMs: number
  /** DeleteSecurityGroup retried on DependencyViolation while the instance's interface is released. */
  sgDeleteTimeoutMs: number
  /** SSH to a new instance: until it answers (boot, cloud-init). */
  sshWaitMs: number
  /** SSH during a refresh (plan): short, the VM is up or reported lost. */
  sshReadWaitMs: number
}

export const DEFAULT_TIMING: AwsTiming = {
  pollMs: 2_000,
  runningTimeoutMs: 10 * 60_000,
  terminateTimeoutMs: 10 * 60_000,
  iamPropagationTimeoutMs: 2 * 60_000,
  iamPropagationInitialMs: 2_000,
  sgDeleteTimeoutMs: 5 * 60_000,
  sshWaitMs: 10 * 60_000,
  sshReadWaitMs: 30_000,
}

export interface ComputeContext {
  clients: AwsClients
  credential: string
  timing: AwsTiming
  sshUser: string
  /** Zones per region learned from DescribeAvailabilityZones. */
  zones: Map<string, string[]>
}

function ec2Of(ctx: ComputeContext, region: string): Promise<EC2Client> {
  return ctx.clients.ec2(region)
}

/** Where a recorded EC2 resource lives: the region it was made in, else the deployment's. */
export function recordRegion(record: ResourceRecord | undefined, deployment: DeploymentContext): string {
  const r = record?.outputs?.region ?? record?.attributes?.region
  return typeof r === 'string' && r ? r : deployment.placement.region
}

// -------------------------------------------------------------------------------------------------
// Zones and instance types

/** The zones of a region: as EC2 listed them for this account (cached), else the fixed table. */
export function zonesOf(ctx: ComputeContext, region: string): string[] {
  return ctx.zones.get(region) ?? [...(zonesFor('aws', region) ?? [])]
}

// Zone lookups in flight, so the deployments of one plan share one DescribeAvailabilityZones per region.
const learning = new WeakMap<ComputeContext, Map<string, Promise<string[]>>>()

/** Asks EC2 which zones this account has in a region (opt-in zones and local zones excluded); once per region. */
export async function learnZones(ctx: ComputeContext, region: string): Promise<string[]> {
  const cached = ctx.zones.get(region)
  if (cached) return cached
  let inFlight = learning.get(ctx)
  if (!inFlight) learning.set(ctx, (inFlight = new Map()))
  let p = inFlight.get(region)
  if (!p) {
    p = describeZones(ctx, region).finally(() => inFlight.delete(region))
    inFlight.set(region, p)
  }
  return p
}

async function describeZones(ctx: ComputeContext, region: string): Promise<string[]> {
  const {DescribeAvailabilityZonesCommand} = await ec2Sdk()
  const ec2 = await ec2Of(ctx, region)
  const out = await awsCall(`DescribeAvailabilityZones in ${region}`, ctx.credential, () =>
    ec2.send(new DescribeAvailabilityZonesCommand({Filters: [{Name: 'state', Values: ['available']}, {Name: 'zone-type', Values: ['availability-zone']}]})),
  )
  const zones = (out.AvailabilityZones ?? []).map((z) => z.ZoneName ?? '').filter(Boolean).sort()
  if (zones.length > 0) ctx.zones.set(region, zones)
  return zones
}

/** The instance type of a deployment: vmType, else the catalog's pick for gpuType, else the default. Pure. */
export function instanceTypeFor(deployment: DeploymentContext): string {
  if (deployment.placement.vmType) return deployment.placement.vmType
  const hw = deployment.spec.hardware.request
  if (hw.kind === 'vm') return hw.vmType
  if (hw.kind === 'gpu') {
    const pick = resolveGpuInstance('aws', {name: hw.name, count: hw.count})
    if (!pick) {
      throw new UsageError(`gpuType '${hw.gpuType}' has no AWS instance type${hw.count === 'all' ? '' : ` with ${hw.count} GPU(s)`}`, [
        'Set vmType to an EC2 instance type, or choose a GPU that EC2 offers (see `anycloud validate`).',
      ], 'aws.gpu-unavailable')
    }
    return pick.instanceType
  }
  return DEFAULT_INSTANCE_TYPE
}

/** Graviton (arm64) families carry a `g` right after the generation digit: t4g, m7g, c6gn, x2gd, g5g, im4gn. */
export function architectureOf(instanceType: string): 'arm64' | 'x86_64' {
  return /^[a-z]+\d+g[a-z]*\./.test(instanceType) ? 'arm64' : 'x86_64'
}

// -------------------------------------------------------------------------------------------------
// Images

const imageCache = new Map<string, Promise<{imageId: string; rootDeviceName: string; name: string}>>()

/** The newest Ubuntu LTS image (24.04, else 22.04) of Canonical in a region for an architecture. */
export async function ubuntuImage(ctx: ComputeContext, region: string, arch: 'arm64' | 'x86_64'): Promise<{imageId: string; rootDeviceName: string; name: string}> {
  const key = `${ctx.credential}|${ctx.clients.spec.endpoints?.ec2 ?? ''}|${region}|${arch}`
  let p = imageCache.get(key)
  if (!p) {
    p = (async () => {
      const {DescribeImagesCommand} = await ec2Sdk()
      const ec2 = await ec2Of(ctx, region)
      const a = arch === 'arm64' ? 'arm64' : 'amd64'
      const images: Array<{ImageId?: string; Name?: string; CreationDate?: string; RootDeviceName?: string}> = []
      let token: string | undefined
      do {
        const out = await awsCall(`DescribeImages (Ubuntu LTS, ${arch}) in ${region}`, ctx.credential, () =>
          ec2.send(
            new DescribeImagesCommand({
              Owners: [CANONICAL_OWNER],
              Filters: [
                {Name: 'name', Values: [`ubuntu/images/hvm-ssd*/ubuntu-*-24.04-${a}-server-*`, `ubuntu/images/hvm-ssd*/ubuntu-*-22.04-${a}-server-*`]},
                {Name: 'state', Values: ['available']},
                {Name: 'architecture', Values: [arch]},
              ],
              NextToken: token,
            }),
          ),
        )
        images.push(...(out.Images ?? []))
        token = out.NextToken
      } while (token)
      const rank = (n: string | undefined) => (n?.includes('-24.04-') ? 1 : 0)
      images.sort((x, y) => rank(y.Name) - rank(x.Name) || String(y.CreationDate).localeCompare(String(x.CreationDate)))
      const best = images[0]
      if (!best?.ImageId) {
        throw new ProviderError(`no Ubuntu LTS image (${arch}) of Canonical (${CANONICAL_OWNER}) found in ${region}`, 'aws.no-image', PROVIDER, ctx.credential)
      }
      return {imageId: best.ImageId, rootDeviceName: best.RootDeviceName ?? '/dev/sda1', name: best.Name ?? ''}
    })()
    p.catch(() => imageCache.delete(key))
    imageCache.set(key, p)
  }
  return p
}

// -------------------------------------------------------------------------------------------------
// Security group (network)

interface GroupInfo {
  id: string
  vpcId?: string
  tags: Record<string, string>
  ssh: boolean
  /** The CIDR blocks port 22 is open to (sorted). */
  sshFrom: string[]
}

/** Where SSH may come from: the profile's `sshAllowFrom`, else the credential's, else anywhere (keys are pinned, logins key-only). */
export function sshAllowFrom(deployment: DeploymentContext, credential: {sshAllowFrom?: string[]}): string[] {
  return [...(deployment.spec.placement.sshAllowFrom ?? credential.sshAllowFrom ?? ['0.0.0.0/0'])].sort()
}

type SdkGroup = {GroupId?: string; GroupName?: string; VpcId?: string; Tags?: Array<{Key?: string; Value?: string}>; IpPermissions?: Array<{IpProtocol?: string; FromPort?: number; ToPort?: number; IpRanges?: Array<{CidrIp?: string}>}>}

const toInfo = (g: SdkGroup): GroupInfo => {
  const ssh = (g.IpPermissions ?? []).filter((p) => p.IpProtocol === 'tcp' && p.FromPort === 22 && p.ToPort === 22)
  return {
    id: g.GroupId ?? '',
    ...(g.VpcId ? {vpcId: g.VpcId} : {}),
    tags: tagMap(g.Tags),
    ssh: ssh.length > 0,
    sshFrom: [...new Set(ssh.flatMap((p) => (p.IpRanges ?? []).flatMap((r) => (r.CidrIp ? [r.CidrIp] : []))))].sort(),
  }
}

async function findGroup(ctx: ComputeContext, region: string, name: string, id: string | undefined, deploymentId: string, owned?: OwnedInRegion): Promise<GroupInfo | undefined> {
  if (owned) {
    // The batch holds every group tagged with the project: by id, else by name and deployment tag.
    return owned.groups.find((g) => id && g.id === id) ?? owned.groups.find((g) => g.name === name && g.tags['anycloud-deployment'] === deploymentId)
  }
  const {DescribeSecurityGroupsCommand} = await ec2Sdk()
  const ec2 = await ec2Of(ctx, region)
  if (id && id.startsWith('sg-')) {
    try {
      const out = await ec2.send(new DescribeSecurityGroupsCommand({GroupIds: [id]}))
      const g = out.SecurityGroups?.[0]
      if (g) return toInfo(g)
    } catch (error) {
      if (!isEc2NotFound(awsCode(error))) throw toProviderError(error, `DescribeSecurityGroups ${id} in ${region}`, ctx.credential)
    }
  }
  const out = await awsCall(`DescribeSecurityGroups ${name} in ${region}`, ctx.credential, () =>
    ec2.send(new DescribeSecurityGroupsCommand({Filters: [{Name: 'group-name', Values: [name]}, {Name: 'tag:anycloud-deployment', Values: [deploymentId]}]})),
  )
  const g = out.SecurityGroups?.[0]
  return g ? toInfo(g) : undefined
}

function groupActual(g: GroupInfo, region: string, name: string): ActualResource {
  return {id: g.id, attributes: {ingress: g.ssh ? 'ssh' : 'none', region, ...(g.ssh ? {sshAllowFrom: g.sshFrom} : {})}, outputs: {groupId: g.id, groupName: name, region, ...(g.vpcId ? {vpcId: g.vpcId} : {})}}
}

export async function readNetwork(ctx: ComputeContext, lookup: ResourceLookup, call: ProviderCallContext, owned?: OwnedInRegion): Promise<ActualResource | null> {
  const region = recordRegion(lookup.record, call.deployment)
  const name = ec2Name(call.deployment.deploymentId)
  const g = await findGroup(ctx, region, name, lookup.record?.id, call.deployment.deploymentId, owned)
  if (!g || !ownedBy(g.tags, call.deployment.deploymentId)) return null
  return groupActual(g, region, name)
}

const sshIngress = (cidrs: string[]) => [{IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: cidrs.map((c) => ({CidrIp: c, Description: 'anycloud: SSH'}))}]

export async function createNetwork(ctx: ComputeContext, resource: DesiredResource, call: ProviderCallContext): Promise<ActualResource> {
  const {CreateSecurityGroupCommand, AuthorizeSecurityGroupIngressCommand, DeleteSecurityGroupCommand} = await ec2Sdk()
  const {deploymentId, project} = call.deployment
  const region = call.deployment.placement.region
  const name = ec2Name(deploymentId)
  const ec2 = await ec2Of(ctx, region)
  const allowFrom = Array.isArray(resource.attributes.sshAllowFrom) ? (resource.attributes.sshAllowFrom as string[]) : ['0.0.0.0/0']
  let group = await findGroup(ctx, region, name, undefined, deploymentId)
  let made = false
  if (!group) {
    call.progress(`creating security group ${name} in ${region}`)
    try {
      const out = await ec2.send(
        new CreateSecurityGroupCommand({
          GroupName: name,
          Description: `anycloud ${deploymentId}: SSH in only`,
          TagSpecifications: [{ResourceType: 'security-group', Tags: tagList({...ownershipTags(project, deploymentId, resource.address), Name: name})}],
        }),
      )
      group = {id: out.GroupId ?? '', tags: ownershipTags(project, deploymentId, resource.address), ssh: false, sshFrom: []}
      made = true
    } catch (error) {
      if (awsCode(error) !== 'InvalidGroup.Duplicate') throw toProviderError(error, `CreateSecurityGroup ${name} in ${region}`, ctx.credential)
      // Same name without our tags: someone else's.
      throw new ProviderError(`security group ${name} exists in ${region} but is not anycloud's for deployment ${deploymentId}: refusing to use it`, 'aws.network-foreign', PROVIDER, ctx.credential)
    }
  } else if (!ownedBy(group.tags, deploymentId)) {
    throw new ProviderError(`security group ${name} (${group.id}) is not anycloud's for deployment ${deploymentId}`, 'aws.network-foreign', PROVIDER, ctx.credential)
  }
  if (!group.ssh) {
    try {
      await ec2.send(new AuthorizeSecurityGroupIngressCommand({GroupId: group.id, IpPermissions: sshIngress(allowFrom)}))
    } catch (error) {
      if (awsCode(error) !== 'InvalidPermission.Duplicate') {
        if (made) await ec2.send(new DeleteSecurityGroupCommand({GroupId: group.id})).catch(() => undefined)
        throw toProviderError(error, `AuthorizeSecurityGroupIngress ${group.id}`, ctx.credential)
      }
    }
    group.ssh = true
    group.sshFrom = allowFrom
  }
  return groupActual(group, region, name)
}

export async function deleteNetwork(ctx: ComputeContext, record: ResourceRecord, call: ProviderCallContext): Promise<void> {
  const {DeleteSecurityGroupCommand} = await ec2Sdk()
  const region = recordRegion(record, call.deployment)
  const name = ec2Name(call.deployment.deploymentId)
  const group = await findGroup(ctx, region, name, record.id, call.deployment.deploymentId)
  if (!group) return
  if (!ownedBy(group.tags, call.deployment.deploymentId)) {
    call.progress(`kept security group ${group.id}: not anycloud's for deployment ${call.deployment.deploymentId}`)
    return
  }
  const ec2 = await ec2Of(ctx, region)
  const deadline = Date.now() + ctx.timing.sgDeleteTimeoutMs
  let wait = ctx.timing.pollMs
  for (;;) {
    try {
      await ec2.send(new DeleteSecurityGroupCommand({GroupId: group.id}))
      break
    } catch (error) {
      const code = awsCode(error)
      if (isEc2NotFound(code)) break
      // An instance (or its network interface) still uses the group: it is on its way out.
      if (code === 'DependencyViolation' && Date.now() < deadline && !call.signal?.aborted) {
        call.progress(`security group ${group.id} still in use; waiting for its instance to go`)
        await sleep(wait, call.signal)
        wait = Math.min(wait * 2, 15_000)
        continue
      }
      throw toProviderError(error, `DeleteSecurityGroup ${group.id} in ${region}`, ctx.credential)
    }
  }
  if (await findGroup(ctx, region, name, group.id, call.deployment.deploymentId)) {
    throw new ProviderError(`security group ${group.id} still exists after DeleteSecurityGroup`, 'aws.network-delete', PROVIDER, ctx.credential)
  }
}

// -------------------------------------------------------------------------------------------------
// Key pair (sshkey)


interface KeyPairInfo {
  id: string
  fingerprint: string
  publicKey?: string
  tags: Record<string, string>
}

async function findKeyPair(ctx: ComputeContext, region: string, name: string): Promise<KeyPairInfo | undefined> {
  const {DescribeKeyPairsCommand} = await ec2Sdk()
  const ec2 = await ec2Of(ctx, region)
  const out = await awsCall(`DescribeKeyPairs ${name} in ${region}`, ctx.credential, () =>
    ec2.send(new DescribeKeyPairsCommand({Filters: [{Name: 'key-name', Values: [name]}], IncludePublicKey: true})),
  )
  const k = out.KeyPairs?.[0]
  if (!k) return undefined
  return {id: k.KeyPairId ?? '', fingerprint: k.KeyFingerprint ?? '', ...(k.PublicKey ? {publicKey: k.PublicKey.trim()} : {}), tags: tagMap(k.Tags)}
}

function keyMatches(k: KeyPairInfo, local: string | undefined): boolean {
  if (!local || !k.publicKey) return false
  try {
    return sameKey(k.publicKey, local)
  } catch {
    return false
  }
}

function keyActual(k: KeyPairInfo, region: string, name: string, deployment: DeploymentContext, publicKey: string): ActualResource {
  return {
    id: k.id || name,
    attributes: {algorithm: 'ed25519', region},
    outputs: {keyName: name, keyPairId: k.id, region, publicKey, fingerprint: fingerprintSha256(publicKey), privateKeyPath: keyPath(deployment)},
  }
}

/** The key pair exists, is ours, and this machine holds its private key; else null (create repairs). */
export async function readSshKey(ctx: ComputeContext, lookup: ResourceLookup, call: ProviderCallContext, owned?: OwnedInRegion): Promise<ActualResource | null> {
  const region = recordRegion(lookup.record, call.deployment)
  const name = ec2Name(call.deployment.deploymentId)
  const k = owned ? owned.keys.find((key) => key.name === name) : await findKeyPair(ctx, region, name)
  if (!k || !ownedBy(k.tags, call.deployment.deploymentId)) return null
  const local = localPublicKey(call.deployment)
  if (!local || !keyMatches(k, local)) return null
  return keyActual(k, region, name, call.deployment, local)
}

export async function createSshKey(ctx: ComputeContext, resource: DesiredResource, call: ProviderCallContext): Promise<ActualResource> {
  const {ImportKeyPairCommand, DeleteKeyPairCommand} = await ec2Sdk()
  const {deploymentId, project} = call.deployment
  const region = call.deployment.placement.region
  const name = ec2Name(deploymentId)
  const ec2 = await ec2Of(ctx, region)
  // A key written by an interrupted create is reused, so a replay imports the same public key.
  const publicKey = ensureLoginKey(call.deployment)
  const existing = await findKeyPair(ctx, region, name)
  if (existing) {
    if (!ownedBy(existing.tags, deploymentId)) {
      throw new ProviderError(`key pair ${name} exists in ${region} but is not anycloud's for deployment ${deploymentId}`, 'aws.sshkey-foreign', PROVIDER, ctx.credential)
    }
    if (keyMatches(existing, publicKey)) return keyActual(existing, region, name, call.deployment, publicKey)
    // Ours, but this machine no longer holds its private key: replace it with ours.
    call.progress(`key pair ${name} does not match the local private key: re-importing it`)
    await awsCall(`DeleteKeyPair ${name}`, ctx.credential, () => ec2.send(new DeleteKeyPairCommand({KeyName: name})))
  }
  call.progress(`importing key pair ${name} in ${region}`)
  const out = await awsCall(`ImportKeyPair ${name} in ${region}`, ctx.credential, () =>
    ec2.send(
      new ImportKeyPairCommand({
        KeyName: name,
        PublicKeyMaterial: Buffer.from(publicKey!.split(' ').slice(0, 2).join(' ')),
        TagSpecifications: [{ResourceType: 'key-pair', Tags: tagList(ownershipTags(project, deploymentId, resource.address))}],
      }),
    ),
  )
  return keyActual({id: out.KeyPairId ?? '', fingerprint: out.KeyFingerprint ?? '', publicKey, tags: {}}, region, name, call.deployment, publicKey)
}

export async function deleteSshKey(ctx: ComputeContext, record: ResourceRecord, call: ProviderCallContext): Promise<void> {
  const {DeleteKeyPairCommand} = await ec2Sdk()
  const region = recordRegion(record, call.deployment)
  const name = ec2Name(call.deployment.deploymentId)
  const k = await findKeyPair(ctx, region, name)
  if (k && !ownedBy(k.tags, call.deployment.deploymentId)) {
    call.progress(`kept key pair ${name}: not anycloud's for deployment ${call.deployment.deploymentId}`)
  } else if (k) {
    const ec2 = await ec2Of(ctx, region)
    await awsCall(`DeleteKeyPair ${name}`, ctx.credential, () => ec2.send(new DeleteKeyPairCommand({KeyName: name})), {notFound: isEc2NotFound}).catch((error: unknown) => {
      if ((error as {code?: string}).code !== 'cloud.not-found') throw error
    })
    if (await findKeyPair(ctx, region, name)) throw new ProviderError(`key pair ${name} still exists after DeleteKeyPair`, 'aws.sshkey-delete', PROVIDER, ctx.credential)
  }
  removeLoginKey(call.deployment)
}

// -------------------------------------------------------------------------------------------------
// Instance (vm)

const LIVE_STATES = ['pending', 'running']
const TAG_HOST_KEY = 'anycloud-host-key'
const TAG_SPEC = 'anycloud-spec'

/** What state and anycloud know about an instance. */
export interface InstanceView {
  id: string
  state: string
  zone?: string
  publicIp?: string
  privateIp?: string
  instanceType?: string
  spot: boolean
  tags: Record<string, string>
  reason?: string
  clientToken?: string
  launchTime?: string
  imageId?: string
}

function viewOf(i: Instance): InstanceView {
  return {
    id: i.InstanceId ?? '',
    state: i.State?.Name ?? 'unknown',
    ...(i.Placement?.AvailabilityZone ? {zone: i.Placement.AvailabilityZone} : {}),
    ...(i.PublicIpAddress ? {publicIp: i.PublicIpAddress} : {}),
    ...(i.PrivateIpAddress ? {privateIp: i.PrivateIpAddress} : {}),
    ...(i.InstanceType ? {instanceType: String(i.InstanceType)} : {}),
    spot: i.InstanceLifecycle === 'spot',
    tags: tagMap(i.Tags),
    ...(i.StateReason?.Code ? {reason: i.StateReason.Code} : {}),
    ...(i.ClientToken ? {clientToken: i.ClientToken} : {}),
    ...(i.LaunchTime ? {launchTime: new Date(i.LaunchTime).toISOString()} : {}),
    ...(i.ImageId ? {imageId: i.ImageId} : {}),
  }
}

/** One instance by id; undefined when EC2 does not know it (any more). */
export async function describeInstance(ctx: ComputeContext, region: string, id: string): Promise<InstanceView | undefined> {
  const {DescribeInstancesCommand} = await ec2Sdk()
  const ec2 = await ec2Of(ctx, region)
  try {
    const out = await ec2.send(new DescribeInstancesCommand({InstanceIds: [id]}))
    const i = out.Reservations?.flatMap((r) => r.Instances ?? [])[0]
    return i ? viewOf(i) : undefined
  } catch (error) {
    if (isEc2NotFound(awsCode(error))) return undefined
    throw toProviderError(error, `DescribeInstances ${id} in ${region}`, ctx.credential)
  }
}

/** Instances matching filters (every page). */
async function describeInstances(ctx: ComputeContext, region: string, filters: Array<{Name: string; Values: string[]}>): Promise<InstanceView[]> {
  const {DescribeInstancesCommand} = await ec2Sdk()
  const ec2 = await ec2Of(ctx, region)
  const out: InstanceView[] = []
  let token: string | undefined
  do {
    const page = await awsCall(`DescribeInstances in ${region}`, ctx.credential, () => ec2.send(new DescribeInstancesCommand({Filters: filters, NextToken: token})))
    for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) out.push(viewOf(i))
    token = page.NextToken
  } while (token)
  return out
}

function liveOf(instances: InstanceView[], deploymentId: string, address: string): InstanceView[] {
  return instances
    .filter((i) => i.tags['anycloud-deployment'] === deploymentId && i.tags['anycloud-address'] === address && LIVE_STATES.includes(i.state))
    .sort((a, b) => String(b.launchTime).localeCompare(String(a.launchTime)))
}

/**
 * Everything anycloud owns in a region for a project, one call per resource type (refresh's
 * batch): instances, security groups and key pairs carrying the project's tag. Only the types in
 * `kinds` are asked for. Reads never mutate.
 */
export interface OwnedInRegion {
  instances: InstanceView[]
  groups: Array<GroupInfo & {name: string}>
  keys: Array<KeyPairInfo & {name: string}>
}

export async function describeOwned(ctx: ComputeContext, region: string, project: string, kinds: ReadonlySet<string>): Promise<OwnedInRegion> {
  const {DescribeSecurityGroupsCommand, DescribeKeyPairsCommand} = await ec2Sdk()
  const ec2 = await ec2Of(ctx, region)
  const byProject = [{Name: 'tag:anycloud-project', Values: [project]}]
  const groups = async () => {
    const out: OwnedInRegion['groups'] = []
    let token: string | undefined
    do {
      const page = await awsCall(`DescribeSecurityGroups in ${region}`, ctx.credential, () => ec2.send(new DescribeSecurityGroupsCommand({Filters: byProject, NextToken: token})))
      for (const g of page.SecurityGroups ?? []) out.push({...toInfo(g), name: g.GroupName ?? ''})
      token = page.NextToken
    } while (token)
    return out
  }
  const keys = async () => {
    const page = await awsCall(`DescribeKeyPairs in ${region}`, ctx.credential, () => ec2.send(new DescribeKeyPairsCommand({Filters: byProject, IncludePublicKey: true})))
    return (page.KeyPairs ?? []).map((k) => ({id: k.KeyPairId ?? '', fingerprint: k.KeyFingerprint ?? '', ...(k.PublicKey ? {publicKey: k.PublicKey.trim()} : {}), tags: tagMap(k.Tags), name: k.KeyName ?? ''}))
  }
  const [instances, g, k] = await Promise.all([
    kinds.has('vm') ? describeInstances(ctx, region, byProject) : [],
    kinds.has('network') ? groups() : [],
    kinds.has('sshkey') ? keys() : [],
  ])
  return {instances, groups: g, keys: k}
}

/** Live (pending/running) instances of this deployment's VM address, newest first. */
export async function liveInstancesOf(ctx: ComputeContext, region: string, deploymentId: string, address: string): Promise<InstanceView[]> {
  const found = await describeInstances(ctx, region, [
    {Name: 'tag:anycloud-deployment', Values: [deploymentId]},
    {Name: 'tag:anycloud-address', Values: [address]},
    {Name: 'instance-state-name', Values: LIVE_STATES},
  ])
  return found.sort((a, b) => String(b.launchTime).localeCompare(String(a.launchTime)))
}

function vmOutputs(v: InstanceView, region: string, sshUser: string, hostKey: string | undefined): Record<string, unknown> {
  return {
    instanceId: v.id,
    region,
    ...(v.zone ? {zone: v.zone} : {}),
    ...(v.publicIp ? {publicIp: v.publicIp} : {}),
    ...(v.privateIp ? {privateIp: v.privateIp} : {}),
    address: v.publicIp ?? v.privateIp,
    sshUser,
    ...(hostKey ? {hostKey, hostKeyFingerprint: fingerprintSha256(hostKey)} : {}),
    ...(v.instanceType ? {instanceType: v.instanceType} : {}),
    spot: v.spot,
    state: v.state,
    ...(v.imageId ? {imageId: v.imageId} : {}),
    ...(v.launchTime ? {launchTime: v.launchTime} : {}),
  }
}

function specFromTags(tags: Record<string, string>): Record<string, unknown> | undefined {
  const raw = tags[TAG_SPEC]
  if (!raw) return undefined
  try {
    const v = JSON.parse(raw) as unknown
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/**
 * The VM: live → its address and pinned host key; terminated, shutting down or stopped → an
 * actual with `note` (EC2's StateReason code, e.g. `Server.SpotInstanceTermination`) so the plan
 * explains the replacement; not found at all → null.
 */
export async function readVm(ctx: ComputeContext, lookup: ResourceLookup, call: ProviderCallContext, owned?: OwnedInRegion): Promise<ActualResource | null> {
  const region = recordRegion(lookup.record, call.deployment)
  const {deploymentId} = call.deployment
  let view: InstanceView | undefined
  const id = lookup.record?.id
  if (id && id.startsWith('i-')) view = owned ? owned.instances.find((i) => i.id === id) : await describeInstance(ctx, region, id)
  if (!view || (lookup.record?.status === 'pending' && !LIVE_STATES.includes(view.state))) {
    // State lost it, or the create never confirmed: find it by tags.
    const live = owned ? liveOf(owned.instances, deploymentId, lookup.address) : await liveInstancesOf(ctx, region, deploymentId, lookup.address)
    if (live[0]) view = live[0]
  }
  if (!view) return null
  if (!ownedBy(view.tags, deploymentId)) return null
  const attributes = lookup.record?.attributes ?? specFromTags(view.tags) ?? {}
  const hostKey = (lookup.record?.outputs?.instanceId === view.id ? (lookup.record?.outputs?.hostKey as string | undefined) : undefined) ?? view.tags[TAG_HOST_KEY]
  const outputs = vmOutputs(view, region, ctx.sshUser, hostKey)
  if (!LIVE_STATES.includes(view.state)) {
    // EC2 says a spot interruption took it back (Server.SpotInstanceTermination / …Shutdown).
    const preempted = /^Server\.SpotInstance/.test(view.reason ?? '')
    return {id: view.id, attributes, outputs, note: view.reason ?? `instance ${view.state}`, ...(preempted ? {preempted} : {})}
  }
  return {id: view.id, attributes, outputs}
}

/** The user data: only the host key (the key pair installs the login key). */
export function renderUserData(hostKey: HostKeyPair): string {
  return `#cloud-config\n${renderCloudInitHostKeys(hostKey)}`
}

function isProfilePropagation(error: unknown): boolean {
  const e = error as {message?: string}
  return awsCode(error) === 'InvalidParameterValue' && /Invalid IAM Instance Profile/i.test(e.message ?? '')
}

function isInvalidZone(error: unknown): boolean {
  const e = error as {message?: string}
  return awsCode(error) === 'InvalidParameterValue' && /availability zone/i.test(e.message ?? '')
}

/** StateReason codes of an instance EC2 took back at launch for lack of capacity. */
const CAPACITY_REASONS = /InsufficientInstanceCapacity|SpotInstanceTermination|Spot|capacity/i

/**
 * Launches (or adopts) the deployment's instance and waits until it runs with an address.
 * Capacity and quota errors raise CapacityError (the engine tries the next zone).
 */
export async function createVm(ctx: ComputeContext, resource: DesiredResource, call: ProviderCallContext): Promise<ActualResource> {
  const {RunInstancesCommand} = await ec2Sdk()
  const {deployment} = call
  const {deploymentId, project} = deployment
  const region = deployment.placement.region
  const zone = deployment.placement.zone
  const instanceType = String(resource.attributes.instanceType ?? instanceTypeFor(deployment))
  const token = call.token
  const ec2 = await ec2Of(ctx, region)

  // 1. Adopt a live instance of this VM address (a replayed create, or one state lost).
  const live = await liveInstancesOf(ctx, region, deploymentId, resource.address)
  const mine = live.find((v) => token && v.clientToken === token) ?? live[0]
  if (mine) {
    if (mine.instanceType && mine.instanceType !== instanceType) {
      throw new ProviderError(
        `instance ${mine.id} of ${resource.address} is a ${mine.instanceType}, not the ${instanceType} now wanted: refusing to adopt it`,
        'aws.idempotent-mismatch',
        PROVIDER,
        ctx.credential,
        undefined,
        [`Replace it: \`anycloud apply --replace ${resource.address}\`.`],
      )
    }
    call.progress(`adopting instance ${mine.id} (${mine.state})`)
    return waitRunning(ctx, region, mine.id, resource, call, mine.tags[TAG_HOST_KEY])
  }

  // 2. What it needs: image, key pair, security group, instance profile (from state).
  const p = deployment.spec.name
  const sshkey = call.records[addressOf(p, 'sshkey')]
  const network = call.records[addressOf(p, 'network')]
  const identity = call.records[addressOf(p, 'identity')]
  if (!sshkey || !network) {
    throw new ProviderError(`${resource.address} needs ${addressOf(p, 'sshkey')} and ${addressOf(p, 'network')} first`, 'aws.vm-dependencies', PROVIDER, ctx.credential)
  }
  const image = await ubuntuImage(ctx, region, architectureOf(instanceType))
  const hostKey = hostKeyFor(deployment, token ?? `${deploymentId}-untokened`)
  const hostPublic = parsePublicKey(hostKey.publicKey)
  const hostLine = `${hostPublic.type} ${hostPublic.blob.toString('base64')}`
  const tags = {...ownershipTags(project, deploymentId, resource.address), Name: ec2Name(deploymentId)}
  const spec = JSON.stringify(resource.attributes)
  const instanceTags = {...tags, [TAG_HOST_KEY]: hostLine, ...(spec.length <= 256 ? {[TAG_SPEC]: spec} : {})}
  const spot = resource.attributes.spot === true
  const diskGb = typeof resource.attributes.diskSizeGb === 'number' ? resource.attributes.diskSizeGb : DEFAULT_DISK_GB
  const profileName = identity ? String(identity.outputs?.instanceProfileName ?? iamName(identity.name)) : undefined
  const input = {
    ImageId: image.imageId,
    InstanceType: instanceType as never,
    MinCount: 1,
    MaxCount: 1,
    KeyName: String(sshkey.outputs?.keyName ?? ec2Name(deploymentId)),
    SecurityGroupIds: [String(network.outputs?.groupId ?? network.id)],
    ...(profileName ? {IamInstanceProfile: {Name: profileName}} : {}),
    ...(zone ? {Placement: {AvailabilityZone: zone}} : {}),
    ...(spot ? {InstanceMarketOptions: {MarketType: 'spot' as const, SpotOptions: {SpotInstanceType: 'one-time' as const, InstanceInterruptionBehavior: 'terminate' as const}}} : {}),
    BlockDeviceMappings: [{DeviceName: image.rootDeviceName, Ebs: {VolumeSize: diskGb, VolumeType: 'gp3' as const, DeleteOnTermination: true, Encrypted: true}}],
    MetadataOptions: {HttpTokens: 'required' as const, HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled' as const},
    UserData: Buffer.from(renderUserData(hostKey)).toString('base64'),
    TagSpecifications: [
      {ResourceType: 'instance' as const, Tags: tagList(instanceTags)},
      {ResourceType: 'volume' as const, Tags: tagList(tags)},
      ...(spot ? [{ResourceType: 'spot-instances-request' as const, Tags: tagList(tags)}] : []),
    ],
  }

  // 3. RunInstances with the intent's token; retried while a fresh instance profile propagates.
  const where = `${zone ?? region}`
  const deadline = Date.now() + ctx.timing.iamPropagationTimeoutMs
  let wait = ctx.timing.iamPropagationInitialMs
  let attemptToken = token
  let generation = 0
  let instanceId: string | undefined
  call.progress(`launching a ${spot ? 'spot ' : ''}${instanceType} in ${where}`)
  for (;;) {
    try {
      const out = await ec2.send(new RunInstancesCommand({...input, ...(attemptToken ? {ClientToken: attemptToken} : {})}))
      instanceId = out.Instances?.[0]?.InstanceId
      break
    } catch (error) {
      const code = awsCode(error)
      if (isProfilePropagation(error)) {
        if (Date.now() >= deadline || call.signal?.aborted) {
          throw new ProviderError(
            `RunInstances in ${where} still says instance profile '${profileName}' is invalid after ${Math.round(ctx.timing.iamPropagationTimeoutMs / 1000)} s: ${describeAwsError(error)}`,
            'aws.iam-propagation',
            PROVIDER,
            ctx.credential,
            error,
            [`Check that instance profile ${profileName} exists and holds its role (aws iam get-instance-profile --instance-profile-name ${profileName}), then apply again.`],
          )
        }
        call.progress(`instance profile ${profileName} is not visible to EC2 yet (IAM propagation); retrying`)
        await sleep(wait, call.signal)
        wait = Math.min(wait * 2, 10_000)
        continue
      }
      if (code === 'IdempotentInstanceTerminated' && attemptToken && generation < 3) {
        // The token's instance was terminated (preempted right after launch): its successor token.
        generation++
        attemptToken = `${token}.${generation}`
        continue
      }
      if (code === 'IdempotentParameterMismatch') {
        throw new ProviderError(
          `RunInstances with ClientToken ${attemptToken} was already used with other parameters (${describeAwsError(error)}): a previous, interrupted apply asked for something else. anycloud does not mint a new token on its own.`,
          'aws.idempotent-mismatch',
          PROVIDER,
          ctx.credential,
          error,
          [`Look for an instance tagged anycloud-deployment=${deploymentId}; then \`anycloud state rm ${resource.address}\` and plan again, or replace it with --replace ${resource.address}.`],
        )
      }
      if (isCapacity(error) || isInvalidZone(error)) {
        throw new CapacityError(`no ${spot ? 'spot ' : ''}${instanceType} in ${where}: ${describeAwsError(error)}`, PROVIDER, where, error)
      }
      throw toProviderError(error, `RunInstances (${instanceType} in ${where})`, ctx.credential)
    }
  }
  if (!instanceId) throw new ProviderError(`RunInstances in ${where} answered without an instance`, 'aws.vm-create', PROVIDER, ctx.credential)
  call.progress(`instance ${instanceId} launched; waiting for it to run`)
  try {
    const actual = await waitRunning(ctx, region, instanceId, resource, call, hostLine)
    forgetHostKeys(deployment)
    return actual
  } catch (error) {
    if (!(error instanceof CapacityError)) {
      // A failed create leaves nothing behind.
      call.progress(`terminating ${instanceId}: it did not come up`)
      await terminateAndWait(ctx, region, [instanceId], call).catch(() => undefined)
    }
    throw error
  }
}

/** Polls until the instance runs with an address; a launch EC2 took back for capacity is a CapacityError. */
async function waitRunning(ctx: ComputeContext, region: string, instanceId: string, resource: DesiredResource, call: ProviderCallContext, hostKey: string | undefined): Promise<ActualResource> {
  const deadline = Date.now() + ctx.timing.runningTimeoutMs
  for (;;) {
    // Right after RunInstances, DescribeInstances may not know the id yet (eventual consistency).
    const v = await describeInstance(ctx, region, instanceId)
    if (v && v.state === 'running' && (v.publicIp || v.privateIp)) {
      return {id: v.id, attributes: resource.attributes, outputs: vmOutputs(v, region, ctx.sshUser, hostKey ?? v.tags[TAG_HOST_KEY])}
    }
    if (v && (v.state === 'terminated' || v.state === 'shutting-down' || v.state === 'stopped' || v.state === 'stopping')) {
      const why = v.reason ?? v.state
      if (CAPACITY_REASONS.test(why)) throw new CapacityError(`instance ${instanceId} in ${v.zone ?? region} was taken back at launch (${why})`, PROVIDER, v.zone ?? region)
      throw new ProviderError(`instance ${instanceId} ${v.state} while starting (${why})`, 'aws.vm-launch', PROVIDER, ctx.credential)
    }
    if (Date.now() >= deadline || call.signal?.aborted) {
      throw new ProviderError(`instance ${instanceId} did not reach 'running' with an address within ${Math.round(ctx.timing.runningTimeoutMs / 1000)} s (last: ${v?.state ?? 'unknown'})`, 'aws.vm-timeout', PROVIDER, ctx.credential)
    }
    await sleep(ctx.timing.pollMs, call.signal)
  }
}

/** Terminates instances and waits (SDK waiter) until EC2 says they are terminated. */
export async function terminateAndWait(ctx: ComputeContext, region: string, ids: string[], call: ProviderCallContext): Promise<void> {
  if (ids.length === 0) return
  const {TerminateInstancesCommand, waitUntilInstanceTerminated} = await ec2Sdk()
  const ec2 = await ec2Of(ctx, region)
  try {
    await ec2.send(new TerminateInstancesCommand({InstanceIds: ids}))
  } catch (error) {
    if (isEc2NotFound(awsCode(error))) return
    throw toProviderError(error, `TerminateInstances ${ids.join(', ')}`, ctx.credential)
  }
  call.progress(`waiting for ${ids.join(', ')} to terminate`)
  const minDelay = Math.max(1, Math.round(ctx.timing.pollMs / 1000))
  const result = await waitUntilInstanceTerminated(
    {client: ec2, maxWaitTime: Math.max(minDelay + 1, Math.round(ctx.timing.terminateTimeoutMs / 1000)), minDelay, maxDelay: Math.max(minDelay, 15), ...(call.signal ? {abortSignal: call.signal as never} : {})},
    {InstanceIds: ids},
  ).catch((error: unknown) => {
    if (isEc2NotFound(awsCode(error))) return {state: 'SUCCESS'}
    throw toProviderError(error, `waiting for ${ids.join(', ')} to terminate`, ctx.credential)
  })
  if (result.state !== 'SUCCESS') {
    throw new ProviderError(`instance(s) ${ids.join(', ')} not confirmed terminated (${result.state})`, 'aws.vm-delete', PROVIDER, ctx.credential)
  }
}

/** Terminates the recorded instance, and any other live instance tagged for this VM address; confirms. */
export async function deleteVm(ctx: ComputeContext, record: ResourceRecord, call: ProviderCallContext): Promise<void> {
  const region = recordRegion(record, call.deployment)
  const {deploymentId} = call.deployment
  const ids = new Set<string>()
  if (record.id.startsWith('i-')) {
    const v = await describeInstance(ctx, region, record.id)
    if (v && v.state !== 'terminated') {
      if (ownedBy(v.tags, deploymentId)) ids.add(v.id)
      else call.progress(`kept instance ${v.id}: not anycloud's for deployment ${deploymentId}`)
    }
  }
  for (const v of await liveInstancesOf(ctx, region, deploymentId, record.address)) ids.add(v.id)
  await terminateAndWait(ctx, region, [...ids], call)
  forgetHostKeys(call.deployment)
}
