/**
 * The fake EC2 API (Query protocol, version 2016-11-15): instances with ClientToken idempotency,
 * images, key pairs, security groups, the default VPC and subnets, tags, volumes, instance types
 * and spot prices, with the real error codes and HTTP statuses.
 */
import {createHash, createPrivateKey, createPublicKey, generateKeyPairSync} from 'node:crypto'
import ssh2 from 'ssh2'
import type {InstanceBackend} from './backend.js'
import {decodeUserData} from './cloud-init.js'
import type {FakeClock} from './clock.js'
import {decodeNextToken, encodeNextToken, globMatch, type ActionHandler, type RequestContext} from './context.js'
import {AwsApiError, badRequest} from './errors.js'
import {vcpuLimitError, type FaultInjector} from './faults.js'
import {
  FAKE_ACCOUNT_ID,
  INSTANCE_STATE_CODES,
  ec2Id,
  imagesFor,
  instanceTypeInfo,
  INSTANCE_TYPES,
  spotPrice,
  stableId,
  zonesFor,
  type FakeAwsState,
  type FakeImage,
  type FakeInstance,
  type FakeIpPermission,
  type FakeKeyPair,
  type FakeSecurityGroup,
  type FakeSubnet,
  type FakeVolume,
  type FakeVpc,
  type InstanceStateName,
  type InstanceTypeInfo,
  type Tags,
} from './model.js'
import {QueryParams} from './query.js'
import {ec2List, type XmlObject, type XmlValue} from './xml.js'

/** How instances move through pending → running and shutting-down → terminated. */
export type TransitionMode =
  /** On DescribeInstances/DescribeInstanceStatus: after N describes that saw the state (default 1: the next describe). */
  | {mode: 'describe'; pendingDescribes?: number; shuttingDownDescribes?: number}
  /** By the fake clock: after `pendingMs` / `shuttingDownMs` (advance with `fake.clock.advance`). */
  | {mode: 'clock'; pendingMs?: number; shuttingDownMs?: number}
  /** Only when the test calls `fake.stepInstances()`. */
  | {mode: 'manual'}

/** Per-region vCPU quotas by bucket (standard, G/VT, P), as EC2's "Running On-Demand … instances". */
export type VcpuLimits = Partial<Record<InstanceTypeInfo['quotaBucket'], number>>

/** What the EC2 service needs from the fake. */
export interface Ec2Host {
  readonly state: FakeAwsState
  readonly faults: FaultInjector
  readonly clock: FakeClock
  readonly backend: InstanceBackend
  readonly transitions: TransitionMode
  readonly iamPropagationDelayMs: number
  readonly vcpuLimits: VcpuLimits
  readonly spotVcpuLimits: VcpuLimits
  readonly terminatedVisibleMs: number
  log(message: string): void
}

interface Filter {
  name: string
  values: string[]
}

type FieldValue = string | number | boolean | undefined | (string | undefined)[]

interface FilterSpec<T> {
  fields: Record<string, (item: T) => FieldValue>
  tags?: (item: T) => Tags
}

const VOLUME_TYPES = ['standard', 'io1', 'io2', 'gp2', 'sc1', 'st1', 'gp3']
const TAGGABLE_ON_RUN = ['instance', 'volume', 'spot-instances-request', 'network-interface']

/** The EC2 actions and the instance lifecycle. */
export class Ec2Service {
  private readonly host: Ec2Host
  /** In-flight backend terminations by instance id. */
  private readonly terminating = new Map<string, Promise<void>>()
  /** The action handlers by name. */
  readonly handlers: Record<string, ActionHandler>

  constructor(host: Ec2Host) {
    this.host = host
    this.handlers = {
      RunInstances: (ctx) => this.runInstances(ctx),
      DescribeInstances: (ctx) => this.describeInstances(ctx),
      DescribeInstanceStatus: (ctx) => this.describeInstanceStatus(ctx),
      TerminateInstances: (ctx) => this.terminateInstances(ctx),
      DescribeImages: (ctx) => this.describeImages(ctx),
      CreateKeyPair: (ctx) => this.createKeyPair(ctx),
      ImportKeyPair: (ctx) => this.importKeyPair(ctx),
      DescribeKeyPairs: (ctx) => this.describeKeyPairs(ctx),
      DeleteKeyPair: (ctx) => this.deleteKeyPair(ctx),
      CreateSecurityGroup: (ctx) => this.createSecurityGroup(ctx),
      AuthorizeSecurityGroupIngress: (ctx) => this.changeIngress(ctx, 'authorize'),
      RevokeSecurityGroupIngress: (ctx) => this.changeIngress(ctx, 'revoke'),
      DescribeSecurityGroups: (ctx) => this.describeSecurityGroups(ctx),
      DeleteSecurityGroup: (ctx) => this.deleteSecurityGroup(ctx),
      DescribeVpcs: (ctx) => this.describeVpcs(ctx),
      DescribeSubnets: (ctx) => this.describeSubnets(ctx),
      DescribeAvailabilityZones: (ctx) => this.describeAvailabilityZones(ctx),
      CreateTags: (ctx) => this.changeTags(ctx, 'create'),
      DeleteTags: (ctx) => this.changeTags(ctx, 'delete'),
      DescribeInstanceTypes: (ctx) => this.describeInstanceTypes(ctx),
      DescribeSpotPriceHistory: (ctx) => this.describeSpotPriceHistory(ctx),
      DescribeVolumes: (ctx) => this.describeVolumes(ctx),
      DeleteVolume: (ctx) => this.deleteVolume(ctx),
    }
  }

  private get state(): FakeAwsState {
    return this.host.state
  }

  // ---------------------------------------------------------------- region seed

  /** Creates the default VPC, one default subnet per zone and the default security group of a region. */
  seedRegion(region: string): void {
    if (this.state.seededRegions.has(region)) return
    this.state.seededRegions.add(region)
    const vpc: FakeVpc = {vpcId: stableId('vpc', region, 'default'), region, cidrBlock: '172.31.0.0/16', isDefault: true, tags: {}}
    this.state.vpcs.set(vpc.vpcId, vpc)
    zonesFor(region).forEach((z, i) => {
      const subnet: FakeSubnet = {
        subnetId: stableId('subnet', region, z.zoneName),
        vpcId: vpc.vpcId,
        region,
        availabilityZone: z.zoneName,
        availabilityZoneId: z.zoneId,
        cidrBlock: `172.31.${i * 16}.0/20`,
        nextHost: 0,
        defaultForAz: true,
        mapPublicIpOnLaunch: true,
        tags: {},
      }
      this.state.subnets.set(subnet.subnetId, subnet)
    })
    const sg: FakeSecurityGroup = {
      groupId: stableId('sg', region, 'default'),
      groupName: 'default',
      description: 'default VPC security group',
      region,
      vpcId: vpc.vpcId,
      ingress: [],
      egress: [allTraffic()],
      tags: {},
      isDefault: true,
    }
    sg.ingress.push({ipProtocol: '-1', ipRanges: [], ipv6Ranges: [], groups: [{groupId: sg.groupId}]})
    this.state.securityGroups.set(sg.groupId, sg)
  }

  private defaultVpc(region: string): FakeVpc {
    this.seedRegion(region)
    const vpc = [...this.state.vpcs.values()].find((v) => v.region === region && v.isDefault)
    if (!vpc) throw new AwsApiError('VPCIdNotSpecified', 'No default VPC for this user', 400)
    return vpc
  }

  // ---------------------------------------------------------------- instances

  private async runInstances(ctx: RequestContext): Promise<XmlObject> {
    const {params: p, region} = ctx
    const token = p.str('ClientToken')
    if (token !== undefined && token.length > 64) throw badRequest('InvalidParameterValue', `Value (${token}) for parameter clientToken is invalid. Must be at most 64 characters.`)
    // DryRun validates and answers DryRunOperation without touching the token's record.
    if (p.bool('DryRun') === true) return (await this.launch(ctx, token)).xml
    const fingerprint = fingerprintOf(p)
    const key = token !== undefined ? `${region}|${token}` : undefined
    if (key !== undefined) {
      for (;;) {
        const existing = this.state.clientTokens.get(key)
        if (!existing) break
        if (existing.inFlight) {
          await existing.inFlight
          continue
        }
        if (existing.fingerprint !== fingerprint) {
          throw badRequest('IdempotentParameterMismatch', 'Arguments on this idempotent request are inconsistent with arguments used in previous request(s).')
        }
        const reservation = existing.reservationId ? this.state.reservations.get(existing.reservationId) : undefined
        if (reservation) {
          const instances = reservation.instanceIds.map((id) => this.state.instances.get(id)).filter((i): i is FakeInstance => i !== undefined)
          if (instances.length > 0 && instances.every((i) => i.state === 'terminated')) {
            throw badRequest('IdempotentInstanceTerminated', 'The client token you have provided is associated with a resource that is already deleted. Please use a different client token.')
          }
          this.host.log(`RunInstances ${token}: idempotent replay of ${reservation.reservationId}`)
          return this.reservationXml(reservation.reservationId, instances)
        }
        break
      }
    }
    let release: () => void = () => {}
    if (key !== undefined && token !== undefined) {
      const inFlight = new Promise<void>((resolve) => {
        release = resolve
      })
      this.state.clientTokens.set(key, {token, region, fingerprint, inFlight})
    }
    try {
      const out = await this.launch(ctx, token)
      if (key !== undefined && token !== undefined) this.state.clientTokens.set(key, {token, region, fingerprint, reservationId: out.reservationId})
      return out.xml
    } catch (err) {
      if (key !== undefined) this.state.clientTokens.delete(key)
      throw err
    } finally {
      release()
    }
  }

  private async launch(ctx: RequestContext, token: string | undefined): Promise<{reservationId: string; xml: XmlObject}> {
    const {params: p, region} = ctx
    this.seedRegion(region)
    const minCount = requiredInt(p, 'MinCount')
    const maxCount = requiredInt(p, 'MaxCount')
    if (minCount < 1) throw badRequest('InvalidParameterValue', `Value (${minCount}) for parameter minCount is invalid. Expected a positive integer.`)
    if (maxCount < minCount) throw badRequest('InvalidParameterValue', `Value (${maxCount}) for parameter maxCount is invalid. Must be greater than or equal to minCount.`)
    const imageId = p.str('ImageId')
    if (!imageId) throw badRequest('MissingParameter', 'The request must contain the parameter ImageId')
    const image = this.findImage(region, imageId)
    const instanceType = p.str('InstanceType') ?? 'm1.small'
    const typeInfo = instanceTypeInfo(instanceType)
    if (!typeInfo) throw badRequest('InvalidParameterValue', `Invalid value '${instanceType}' for InstanceType.`)
    if (typeInfo.architecture !== image.architecture) {
      throw badRequest(
        'InvalidParameterValue',
        `The architecture '${typeInfo.architecture}' of the specified instance type does not match the architecture '${image.architecture}' of the specified AMI. Specify an instance type and an AMI that have matching architectures, and try again. You can use 'describe-instance-types' or 'describe-images' to discover the architecture of the instance type or AMI.`,
      )
    }
    const keyName = p.str('KeyName')
    const keyPair = keyName !== undefined ? this.state.keyPairs.get(`${region}/${keyName}`) : undefined
    if (keyName !== undefined && !keyPair) throw badRequest('InvalidKeyPair.NotFound', `The key pair '${keyName}' does not exist`)

    // Placement: subnet first, else the zone asked for, else the first zone.
    const zones = zonesFor(region)
    const azParam = p.str('Placement.AvailabilityZone')
    if (azParam !== undefined && !zones.some((z) => z.zoneName === azParam)) throw badRequest('InvalidParameterValue', `Invalid availability zone: [${azParam}]`)
    let subnet: FakeSubnet | undefined
    const subnetId = p.str('SubnetId')
    if (subnetId !== undefined) {
      subnet = this.state.subnets.get(subnetId)
      if (!subnet || subnet.region !== region) throw badRequest('InvalidSubnetID.NotFound', `The subnet ID '${subnetId}' does not exist`)
      if (azParam !== undefined && azParam !== subnet.availabilityZone) {
        throw badRequest('InvalidParameterValue', `Value (${azParam}) for parameter availabilityZone is invalid. Subnet '${subnetId}' is in the availability zone ${subnet.availabilityZone}`)
      }
    } else {
      const zone = azParam ?? (zones[0] as {zoneName: string}).zoneName
      subnet = [...this.state.subnets.values()].find((s) => s.region === region && s.defaultForAz && s.availabilityZone === zone)
      if (!subnet) throw badRequest('InvalidParameterValue', `No default subnet for availability zone: [${zone}]`)
    }
    const sgIds = p.strList('SecurityGroupId')
    const sgNames = p.strList('SecurityGroup')
    const groups: FakeSecurityGroup[] = []
    for (const id of sgIds) {
      const sg = this.state.securityGroups.get(id)
      if (!sg || sg.region !== region) throw badRequest('InvalidGroup.NotFound', `The security group '${id}' does not exist in VPC '${subnet.vpcId}'`)
      groups.push(sg)
    }
    for (const name of sgNames) {
      const sg = [...this.state.securityGroups.values()].find((g) => g.region === region && g.vpcId === subnet.vpcId && g.groupName === name)
      if (!sg) throw badRequest('InvalidGroup.NotFound', `The security group '${name}' does not exist in VPC '${subnet.vpcId}'`)
      groups.push(sg)
    }
    for (const sg of groups) {
      if (sg.vpcId !== subnet.vpcId) throw badRequest('InvalidParameter', `Security group ${sg.groupId} and subnet ${subnet.subnetId} belong to different networks.`)
    }
    if (groups.length === 0) {
      const def = [...this.state.securityGroups.values()].find((g) => g.region === region && g.vpcId === subnet.vpcId && g.isDefault)
      if (def) groups.push(def)
    }

    // User data.
    const userDataBase64 = p.str('UserData')
    let userData = ''
    if (userDataBase64 !== undefined) {
      const raw = Buffer.from(userDataBase64.replace(/\s+/g, ''), 'base64')
      const decoded = decodeUserData(userDataBase64)
      if (decoded === undefined) throw badRequest('InvalidParameterValue', 'Invalid BASE64 encoding of user data.')
      if (raw.length > 16384) throw badRequest('InvalidParameterValue', 'User data is limited to 16384 bytes')
      userData = decoded
    }

    // Instance metadata options.
    const mo = p.struct('MetadataOptions')
    const httpTokens = mo.str('HttpTokens') ?? 'optional'
    if (httpTokens !== 'optional' && httpTokens !== 'required') throw badRequest('InvalidParameterValue', `Value (${httpTokens}) for parameter HttpTokens is invalid. Valid values: optional, required`)
    const hopLimit = mo.int('HttpPutResponseHopLimit') ?? 1
    if (!Number.isInteger(hopLimit) || hopLimit < 1 || hopLimit > 64) {
      throw badRequest('InvalidParameterValue', `Value (${mo.str('HttpPutResponseHopLimit')}) for parameter HttpPutResponseHopLimit is invalid. Valid values: 1-64`)
    }
    const httpEndpoint = mo.str('HttpEndpoint') ?? 'enabled'
    const httpProtocolIpv6 = mo.str('HttpProtocolIpv6') ?? 'disabled'
    const instanceMetadataTags = mo.str('InstanceMetadataTags') ?? 'disabled'
    for (const [name, v] of [
      ['HttpEndpoint', httpEndpoint],
      ['HttpProtocolIpv6', httpProtocolIpv6],
      ['InstanceMetadataTags', instanceMetadataTags],
    ] as const) {
      if (v !== 'enabled' && v !== 'disabled') throw badRequest('InvalidParameterValue', `Value (${v}) for parameter ${name} is invalid. Valid values: enabled, disabled`)
    }

    // Market options.
    const marketType = p.str('InstanceMarketOptions.MarketType')
    if (marketType !== undefined && marketType !== 'spot') throw badRequest('InvalidParameterValue', `Value (${marketType}) for parameter MarketType is invalid. Valid values: spot`)
    const market: 'spot' | 'on-demand' = marketType === 'spot' ? 'spot' : 'on-demand'
    const so = p.struct('InstanceMarketOptions.SpotOptions')
    const spotInstanceType = so.str('SpotInstanceType') ?? 'one-time'
    const interruption = so.str('InstanceInterruptionBehavior') ?? 'terminate'
    const maxPrice = so.str('MaxPrice')
    if (market === 'spot') {
      if (spotInstanceType !== 'one-time' && spotInstanceType !== 'persistent') throw badRequest('InvalidParameterValue', `Value (${spotInstanceType}) for parameter SpotInstanceType is invalid.`)
      if (spotInstanceType === 'one-time' && interruption !== 'terminate') {
        throw badRequest('InvalidParameterCombination', 'Instance interruption behavior must be terminate for one-time Spot Instance requests.')
      }
      if (maxPrice !== undefined && !(Number(maxPrice) > 0)) throw badRequest('InvalidParameterValue', `Value (${maxPrice}) for parameter MaxPrice is invalid.`)
    }

    // Instance profile (IAM propagation is the classic first-launch failure).
    const profileName = p.str('IamInstanceProfile.Name')
    const profileArn = p.str('IamInstanceProfile.Arn')
    let profile: FakeInstance['iamInstanceProfile']
    if (profileName !== undefined || profileArn !== undefined) {
      const found =
        profileName !== undefined ? this.state.instanceProfiles.get(profileName) : [...this.state.instanceProfiles.values()].find((ip) => ip.arn === profileArn)
      const invalid =
        profileName !== undefined
          ? badRequest('InvalidParameterValue', `Value (${profileName}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name`)
          : badRequest('InvalidParameterValue', `Value (${profileArn}) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN`)
      if (!found) throw invalid
      if (this.host.clock.nowMs() - found.changedAt.getTime() < this.host.iamPropagationDelayMs) throw invalid
      if (this.host.faults.takePropagationFailure(found.instanceProfileName)) throw invalid
      profile = {arn: found.arn, id: found.instanceProfileId, name: found.instanceProfileName}
    }

    // Block devices.
    const volumesSpec = this.blockDevices(p, image)

    // Tags.
    const tagSpecs = readTagSpecifications(p, TAGGABLE_ON_RUN)

    if (p.bool('DryRun') === true) throw new AwsApiError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412)

    // Capacity, price and quota.
    const launchReq = {
      region,
      availabilityZone: subnet.availabilityZone,
      instanceType,
      market,
      ...(maxPrice !== undefined ? {maxPrice} : {}),
      count: maxCount,
      vcpus: typeInfo.vcpus * maxCount,
    }
    const fault = this.host.faults.takeLaunchFault(launchReq)
    if (fault) throw fault
    if (market === 'spot' && maxPrice !== undefined) {
      const current = spotPrice(typeInfo, subnet.availabilityZone)
      if (Number(maxPrice) < current) {
        throw badRequest('SpotMaxPriceTooLow', `Your Spot request price of ${maxPrice} is lower than the minimum required Spot request fulfillment price of ${current}.`)
      }
    }
    const limits = market === 'spot' ? this.host.spotVcpuLimits : this.host.vcpuLimits
    const limit = limits[typeInfo.quotaBucket]
    if (limit !== undefined) {
      const used = this.state
        .instancesIn(region)
        .filter((i) => i.market === market && i.state !== 'terminated' && instanceTypeInfo(i.instanceType)?.quotaBucket === typeInfo.quotaBucket)
        .reduce((n, i) => n + (instanceTypeInfo(i.instanceType)?.vcpus ?? 0), 0)
      if (used + typeInfo.vcpus * maxCount > limit) {
        if (market === 'spot') throw badRequest('MaxSpotInstanceCountExceeded', 'Max spot instance count exceeded')
        throw vcpuLimitError(limit)
      }
    }

    // Create.
    const now = this.host.clock.now()
    const reservationId = ec2Id('r')
    const instances: FakeInstance[] = []
    for (let n = 0; n < maxCount; n++) {
      const instanceId = ec2Id('i')
      const privateIp = allocateIp(subnet)
      const inst: FakeInstance = {
        instanceId,
        reservationId,
        region,
        availabilityZone: subnet.availabilityZone,
        vpcId: subnet.vpcId,
        subnetId: subnet.subnetId,
        imageId: image.imageId,
        instanceType,
        architecture: image.architecture,
        ...(keyName !== undefined ? {keyName} : {}),
        ...(keyPair ? {keyPairPublicKey: keyPair.publicKey} : {}),
        securityGroupIds: groups.map((g) => g.groupId),
        state: 'pending',
        stateTransitionReason: '',
        launchTime: now,
        stateSince: now,
        ...(token !== undefined ? {clientToken: token} : {}),
        tags: {...(tagSpecs.get('instance') ?? {})},
        market,
        ...(market === 'spot'
          ? {
              spotOptions: {...(maxPrice !== undefined ? {maxPrice} : {}), spotInstanceType, instanceInterruptionBehavior: interruption},
              spotInstanceRequestId: `sir-${ec2Id('x').slice(2, 10)}`,
            }
          : {}),
        metadataOptions: {
          httpTokens,
          httpPutResponseHopLimit: hopLimit,
          httpEndpoint: httpEndpoint as 'enabled' | 'disabled',
          httpProtocolIpv6: httpProtocolIpv6 as 'enabled' | 'disabled',
          instanceMetadataTags: instanceMetadataTags as 'enabled' | 'disabled',
        },
        ...(profile ? {iamInstanceProfile: profile} : {}),
        ...(userDataBase64 !== undefined ? {userData, userDataBase64} : {}),
        privateIpAddress: privateIp,
        privateDnsName: privateDnsName(region, privateIp),
        volumeIds: [],
        ebsOptimized: p.bool('EbsOptimized') ?? false,
        describesInState: 0,
      }
      for (const spec of volumesSpec) {
        const vol: FakeVolume = {
          ...spec,
          volumeId: ec2Id('vol'),
          region,
          availabilityZone: subnet.availabilityZone,
          state: 'in-use',
          instanceId,
          createTime: now,
          tags: {...(tagSpecs.get('volume') ?? {})},
        }
        this.state.volumes.set(vol.volumeId, vol)
        inst.volumeIds.push(vol.volumeId)
      }
      this.state.instances.set(instanceId, inst)
      instances.push(inst)
    }
    this.state.reservations.set(reservationId, {
      reservationId,
      region,
      instanceIds: instances.map((i) => i.instanceId),
      ...(token !== undefined ? {clientToken: token} : {}),
      securityGroupIds: groups.map((g) => g.groupId),
    })
    if (token !== undefined) {
      const rec = this.state.clientTokens.get(`${region}|${token}`)
      if (rec) rec.reservationId = reservationId
    }
    this.host.log(`RunInstances: ${instances.map((i) => i.instanceId).join(', ')} (${instanceType}, ${market}, ${subnet.availabilityZone})`)

    // Boot the VMs.
    await Promise.all(
      instances.map(async (inst) => {
        try {
          const res = await this.host.backend.launch(inst, userData)
          if (res.privateIpAddress) {
            inst.privateIpAddress = res.privateIpAddress
            inst.privateDnsName = privateDnsName(region, res.privateIpAddress)
          }
          if (res.publicIpAddress) {
            inst.publicIpAddress = res.publicIpAddress
            inst.publicDnsName = publicDnsName(region, res.publicIpAddress)
          }
          if (res.details) inst.backend = res.details
        } catch (err) {
          this.host.log(`backend ${this.host.backend.name} failed to launch ${inst.instanceId}: ${(err as Error).message}`)
          this.setState(inst, 'terminated', {code: 'Server.InternalError', message: 'Server.InternalError: Internal error on launch'})
          inst.backend = {launchError: (err as Error).message}
        }
      }),
    )
    return {reservationId, xml: this.reservationXml(reservationId, instances)}
  }

  private blockDevices(p: QueryParams, image: FakeImage): Omit<FakeVolume, 'volumeId' | 'region' | 'availabilityZone' | 'state' | 'instanceId' | 'createTime' | 'tags'>[] {
    const root = {
      deviceName: image.rootDeviceName,
      size: image.rootVolumeSize,
      volumeType: image.rootVolumeType,
      encrypted: false,
      deleteOnTermination: true,
    } as {deviceName: string; size: number; volumeType: string; encrypted: boolean; deleteOnTermination: boolean; iops?: number; throughput?: number}
    const extra: (typeof root)[] = []
    for (const m of p.structList('BlockDeviceMapping')) {
      const deviceName = m.str('DeviceName')
      if (!deviceName) throw badRequest('MissingParameter', 'The request must contain the parameter deviceName')
      if (m.has('NoDevice') || m.has('VirtualName') || !m.has('Ebs')) continue
      const ebs = m.struct('Ebs')
      const isRoot = deviceName === image.rootDeviceName
      const target = isRoot ? root : {deviceName, size: 0, volumeType: 'gp2', encrypted: false, deleteOnTermination: true}
      const size = ebs.int('VolumeSize')
      if (size !== undefined) {
        if (!Number.isInteger(size) || size < 1 || size > 65536) throw badRequest('InvalidParameterValue', `Value (${ebs.str('VolumeSize')}) for parameter volumeSize is invalid.`)
        if (isRoot && size < image.rootVolumeSize) {
          throw badRequest('InvalidBlockDeviceMapping', `Volume of size ${size}GB is smaller than snapshot '${image.snapshotId}', expect size >= ${image.rootVolumeSize}GB`)
        }
        target.size = size
      } else if (!isRoot) {
        throw badRequest('InvalidBlockDeviceMapping', `The device '${deviceName}' requires a volume size or snapshot.`)
      }
      const type = ebs.str('VolumeType')
      if (type !== undefined) {
        if (!VOLUME_TYPES.includes(type)) {
          throw badRequest('InvalidParameterValue', `Value (${type}) for parameter volumeType is invalid. Valid volume types are: ${VOLUME_TYPES.join(', ')}`)
        }
        target.volumeType = type
      }
      const iops = ebs.int('Iops')
      const throughput = ebs.int('Throughput')
      if (throughput !== undefined) {
        if (target.volumeType !== 'gp3') throw badRequest('InvalidParameterCombination', `Throughput is only valid for gp3 volumes.`)
        if (!(throughput >= 125 && throughput <= 1000)) throw badRequest('InvalidParameterValue', `Value (${throughput}) for parameter throughput is invalid. Throughput must be between 125 and 1000 MiB/s.`)
        target.throughput = throughput
      }
      if (iops !== undefined) {
        if (target.volumeType === 'gp3' && !(iops >= 3000 && iops <= 16000)) throw badRequest('InvalidParameterValue', `Value (${iops}) for parameter iops is invalid. Iops must be between 3000 and 16000 for gp3.`)
        target.iops = iops
      }
      if (target.volumeType === 'gp3') {
        target.iops ??= 3000
        target.throughput ??= 125
      }
      const enc = ebs.bool('Encrypted')
      if (enc !== undefined) target.encrypted = enc
      const dot = ebs.bool('DeleteOnTermination')
      if (dot !== undefined) target.deleteOnTermination = dot
      if (!isRoot) extra.push(target)
    }
    if (root.volumeType === 'gp3') {
      root.iops ??= 3000
      root.throughput ??= 125
    }
    return [root, ...extra]
  }

  private reservationXml(reservationId: string, instances: FakeInstance[]): XmlObject {
    return {
      reservationId,
      ownerId: FAKE_ACCOUNT_ID,
      groupSet: {},
      instancesSet: ec2List(instances, (i) => this.instanceXml(i)),
    }
  }

  private instanceXml(i: FakeInstance): XmlObject {
    const live = i.state !== 'terminated'
    const showPublic = i.state === 'running' || i.state === 'shutting-down'
    const volumes = i.volumeIds.map((id) => this.state.volumes.get(id)).filter((v): v is FakeVolume => v !== undefined && v.instanceId === i.instanceId)
    const index = this.state.reservations.get(i.reservationId)?.instanceIds.indexOf(i.instanceId) ?? 0
    return {
      instanceId: i.instanceId,
      imageId: i.imageId,
      instanceState: {code: INSTANCE_STATE_CODES[i.state], name: i.state},
      privateDnsName: live ? i.privateDnsName : '',
      dnsName: showPublic ? (i.publicDnsName ?? '') : '',
      reason: i.stateTransitionReason,
      keyName: i.keyName,
      amiLaunchIndex: index,
      productCodes: {},
      instanceType: i.instanceType,
      launchTime: i.launchTime,
      placement: {availabilityZone: i.availabilityZone, groupName: '', tenancy: 'default'},
      monitoring: {state: 'disabled'},
      subnetId: live ? i.subnetId : undefined,
      vpcId: live ? i.vpcId : undefined,
      privateIpAddress: live ? i.privateIpAddress : undefined,
      ipAddress: showPublic ? i.publicIpAddress : undefined,
      sourceDestCheck: live ? true : undefined,
      groupSet: ec2List(i.securityGroupIds, (id) => ({groupId: id, groupName: this.state.securityGroups.get(id)?.groupName ?? ''})),
      stateReason: i.stateReason ? {code: i.stateReason.code, message: i.stateReason.message} : undefined,
      architecture: i.architecture,
      rootDeviceType: 'ebs',
      rootDeviceName: '/dev/sda1',
      blockDeviceMapping: ec2List(volumes, (v) => ({
        deviceName: v.deviceName,
        ebs: {volumeId: v.volumeId, status: 'attached', attachTime: v.createTime, deleteOnTermination: v.deleteOnTermination},
      })),
      instanceLifecycle: i.market === 'spot' ? 'spot' : undefined,
      spotInstanceRequestId: i.spotInstanceRequestId,
      virtualizationType: 'hvm',
      clientToken: i.clientToken ?? '',
      tagSet: tagSetXml(i.tags),
      hypervisor: 'xen',
      networkInterfaceSet: live
        ? ec2List([i], () => ({
            networkInterfaceId: stableId('eni', i.instanceId),
            subnetId: i.subnetId,
            vpcId: i.vpcId,
            ownerId: FAKE_ACCOUNT_ID,
            status: 'in-use',
            privateIpAddress: i.privateIpAddress,
            privateDnsName: i.privateDnsName,
            sourceDestCheck: true,
            groupSet: ec2List(i.securityGroupIds, (id) => ({groupId: id, groupName: this.state.securityGroups.get(id)?.groupName ?? ''})),
            association: showPublic && i.publicIpAddress ? {publicIp: i.publicIpAddress, publicDnsName: i.publicDnsName ?? '', ipOwnerId: 'amazon'} : undefined,
            interfaceType: 'interface',
          }))
        : {},
      iamInstanceProfile: i.iamInstanceProfile ? {arn: i.iamInstanceProfile.arn, id: i.iamInstanceProfile.id} : undefined,
      ebsOptimized: i.ebsOptimized,
      enaSupport: true,
      cpuOptions: {coreCount: Math.max(1, Math.floor((instanceTypeInfo(i.instanceType)?.vcpus ?? 2) / 2)), threadsPerCore: 2},
      capacityReservationSpecification: {capacityReservationPreference: 'open'},
      hibernationOptions: {configured: false},
      enclaveOptions: {enabled: false},
      metadataOptions: {
        state: i.state === 'pending' ? 'pending' : 'applied',
        httpTokens: i.metadataOptions.httpTokens,
        httpPutResponseHopLimit: i.metadataOptions.httpPutResponseHopLimit,
        httpEndpoint: i.metadataOptions.httpEndpoint,
        httpProtocolIpv6: i.metadataOptions.httpProtocolIpv6,
        instanceMetadataTags: i.metadataOptions.instanceMetadataTags,
      },
      maintenanceOptions: {autoRecovery: 'default'},
      platformDetails: 'Linux/UNIX',
      usageOperation: 'RunInstances',
      usageOperationUpdateTime: i.launchTime,
      privateDnsNameOptions: {hostnameType: 'ip-name', enableResourceNameDnsARecord: false, enableResourceNameDnsAAAARecord: false},
      bootMode: 'uefi-preferred',
      currentInstanceBootMode: 'legacy-bios',
    }
  }

  /** Sets an instance's state and its bookkeeping. */
  setState(inst: FakeInstance, state: InstanceStateName, reason?: {code: string; message: string}): void {
    if (inst.state === state) return
    inst.state = state
    inst.stateSince = this.host.clock.now()
    inst.describesInState = 0
    if (reason) inst.stateReason = reason
    if (state === 'terminated') {
      for (const vid of inst.volumeIds) {
        const v = this.state.volumes.get(vid)
        if (!v || v.instanceId !== inst.instanceId) continue
        if (v.deleteOnTermination) this.state.volumes.delete(vid)
        else {
          v.state = 'available'
          delete v.instanceId
        }
      }
    }
  }

  /** Starts the backend's terminate once; the returned promise settles when it is done. */
  private beginTerminate(inst: FakeInstance): Promise<void> {
    let p = this.terminating.get(inst.instanceId)
    if (!p) {
      p = this.host.backend.terminate(inst).catch((err: unknown) => {
        this.host.log(`backend ${this.host.backend.name} failed to terminate ${inst.instanceId}: ${(err as Error).message}`)
      })
      this.terminating.set(inst.instanceId, p)
    }
    return p
  }

  /** Moves one instance one step (pending → running, shutting-down → terminated). */
  async step(inst: FakeInstance): Promise<void> {
    if (inst.state === 'pending') {
      this.setState(inst, 'running')
    } else if (inst.state === 'shutting-down') {
      await this.beginTerminate(inst)
      this.setState(inst, 'terminated')
    }
  }

  /** Applies the configured transition mode to instances a describe call is about to show. */
  private async applyTransitions(instances: FakeInstance[], byDescribe: boolean): Promise<void> {
    const t = this.host.transitions
    for (const inst of instances) {
      if (inst.state !== 'pending' && inst.state !== 'shutting-down') continue
      if (t.mode === 'describe') {
        if (!byDescribe) continue
        inst.describesInState++
        const needed = inst.state === 'pending' ? (t.pendingDescribes ?? 1) : (t.shuttingDownDescribes ?? 1)
        if (inst.describesInState >= needed) await this.step(inst)
      } else if (t.mode === 'clock') {
        const needed = inst.state === 'pending' ? (t.pendingMs ?? 0) : (t.shuttingDownMs ?? 0)
        if (this.host.clock.nowMs() - inst.stateSince.getTime() >= needed) await this.step(inst)
      }
    }
  }

  /** Time-driven transitions for every instance (called on each request in `clock` mode). */
  async tick(): Promise<void> {
    if (this.host.transitions.mode === 'clock') await this.applyTransitions([...this.state.instances.values()], false)
  }

  /** Terminates a spot instance the way a spot interruption does. */
  async preempt(instanceId: string): Promise<void> {
    const inst = this.state.instances.get(instanceId)
    if (!inst) throw new Error(`fake-aws: no instance ${instanceId}`)
    if (inst.market !== 'spot') throw new Error(`fake-aws: ${instanceId} is not a spot instance`)
    if (inst.state === 'terminated') return
    inst.stateTransitionReason = `Service initiated (${gmt(this.host.clock.now())})`
    await this.beginTerminate(inst)
    this.setState(inst, 'terminated', {code: 'Server.SpotInstanceTermination', message: 'Server.SpotInstanceTermination: Spot instance termination'})
  }

  /** Stops every backend VM (no state change). */
  async stopAllVms(): Promise<void> {
    await Promise.all([...this.state.instances.values()].filter((i) => i.state !== 'terminated').map((i) => this.beginTerminate(i)))
    await Promise.all([...this.terminating.values()])
    this.terminating.clear()
  }

  private visible(inst: FakeInstance): boolean {
    return !(inst.state === 'terminated' && this.host.clock.nowMs() - inst.stateSince.getTime() > this.host.terminatedVisibleMs)
  }

  private selectInstances(ctx: RequestContext): FakeInstance[] {
    const ids = ctx.params.strList('InstanceId')
    if (ids.length === 0) return this.state.instancesIn(ctx.region).filter((i) => this.visible(i))
    const missing: string[] = []
    const out: FakeInstance[] = []
    for (const id of ids) {
      if (!/^i-[0-9a-f]{8,17}$/.test(id)) throw badRequest('InvalidInstanceID.Malformed', `Invalid id: "${id}"`)
      const inst = this.state.instances.get(id)
      if (!inst || inst.region !== ctx.region || !this.visible(inst)) missing.push(id)
      else if (!out.includes(inst)) out.push(inst)
    }
    if (missing.length === 1) throw badRequest('InvalidInstanceID.NotFound', `The instance ID '${missing[0]}' does not exist`)
    if (missing.length > 1) throw badRequest('InvalidInstanceID.NotFound', `The instance IDs '${missing.join(', ')}' do not exist`)
    return out
  }

  private async describeInstances(ctx: RequestContext): Promise<XmlObject> {
    const p = ctx.params
    if (p.strList('InstanceId').length > 0 && p.has('MaxResults')) {
      throw badRequest('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults')
    }
    const candidates = this.selectInstances(ctx)
    await this.applyTransitions(candidates, true)
    const matched = filterItems(candidates, readFilters(p), INSTANCE_FILTERS)
    const {page, nextToken} = paginate(matched, p, `DescribeInstances/${ctx.region}`, 5, 1000)
    const groups: FakeInstance[][] = []
    for (const inst of page) {
      const last = groups[groups.length - 1]
      if (last && last[0]?.reservationId === inst.reservationId) last.push(inst)
      else groups.push([inst])
    }
    return {
      reservationSet: ec2List(groups, (g) => this.reservationXml((g[0] as FakeInstance).reservationId, g)),
      nextToken,
    }
  }

  private async describeInstanceStatus(ctx: RequestContext): Promise<XmlObject> {
    const p = ctx.params
    const candidates = this.selectInstances(ctx)
    await this.applyTransitions(candidates, true)
    const includeAll = p.bool('IncludeAllInstances') ?? false
    const shown = candidates.filter((i) => includeAll || i.state === 'running')
    const matched = filterItems(shown, readFilters(p), {
      fields: {
        'availability-zone': (i) => i.availabilityZone,
        'instance-state-name': (i) => i.state,
        'instance-state-code': (i) => INSTANCE_STATE_CODES[i.state],
        'instance-status.status': (i) => (i.state === 'running' ? 'ok' : 'not-applicable'),
        'system-status.status': (i) => (i.state === 'running' ? 'ok' : 'not-applicable'),
      },
    })
    const {page, nextToken} = paginate(matched, p, `DescribeInstanceStatus/${ctx.region}`, 5, 1000)
    const status = (i: FakeInstance): XmlObject => {
      const s = i.state === 'running' ? 'ok' : 'not-applicable'
      return {status: s, details: ec2List(i.state === 'running' ? [1] : [], () => ({name: 'reachability', status: 'passed'}))}
    }
    return {
      instanceStatusSet: ec2List(page, (i) => ({
        instanceId: i.instanceId,
        availabilityZone: i.availabilityZone,
        instanceState: {code: INSTANCE_STATE_CODES[i.state], name: i.state},
        instanceStatus: status(i),
        systemStatus: status(i),
        eventsSet: {},
      })),
      nextToken,
    }
  }

  private async terminateInstances(ctx: RequestContext): Promise<XmlObject> {
    const ids = ctx.params.strList('InstanceId')
    if (ids.length === 0) throw badRequest('MissingParameter', 'The request must contain the parameter InstanceId')
    const instances = this.selectInstances(ctx)
    const out: XmlValue[] = []
    for (const inst of instances) {
      const previous = inst.state
      if (previous !== 'terminated' && previous !== 'shutting-down') {
        inst.stateTransitionReason = `User initiated (${gmt(this.host.clock.now())})`
        this.setState(inst, 'shutting-down', {code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown'})
        void this.beginTerminate(inst)
      }
      out.push({
        instanceId: inst.instanceId,
        currentState: {code: INSTANCE_STATE_CODES[inst.state], name: inst.state},
        previousState: {code: INSTANCE_STATE_CODES[previous], name: previous},
      })
    }
    this.host.log(`TerminateInstances: ${instances.map((i) => i.instanceId).join(', ')}`)
    return {instancesSet: {item: out}}
  }

  // ---------------------------------------------------------------- images

  private findImage(region: string, imageId: string): FakeImage {
    if (!/^ami-[0-9a-f]{8,17}$/.test(imageId)) throw badRequest('InvalidAMIID.Malformed', `Invalid id: "${imageId}" (expecting "ami-...")`)
    const image = imagesFor(region).find((i) => i.imageId === imageId)
    if (!image) throw badRequest('InvalidAMIID.NotFound', `The image id '[${imageId}]' does not exist`)
    return image
  }

  private describeImages(ctx: RequestContext): XmlObject {
    const p = ctx.params
    let images = imagesFor(ctx.region)
    const ids = p.strList('ImageId')
    if (ids.length > 0) {
      for (const id of ids) this.findImage(ctx.region, id)
      images = images.filter((i) => ids.includes(i.imageId))
    }
    const owners = p.strList('Owner')
    if (owners.length > 0) {
      images = images.filter((i) => owners.some((o) => o === i.ownerId || o === 'amazon' || (o === 'self' && i.ownerId === FAKE_ACCOUNT_ID)))
    }
    const matched = filterItems(images, readFilters(p), {
      fields: {
        name: (i) => i.name,
        'image-id': (i) => i.imageId,
        'owner-id': (i) => i.ownerId,
        'owner-alias': () => 'amazon',
        architecture: (i) => i.architecture,
        state: () => 'available',
        'virtualization-type': () => 'hvm',
        'root-device-type': () => 'ebs',
        'root-device-name': (i) => i.rootDeviceName,
        'is-public': () => true,
        'image-type': () => 'machine',
        description: (i) => i.description,
        platform: () => undefined,
        'platform-details': () => 'Linux/UNIX',
        hypervisor: () => 'xen',
        'ena-support': () => true,
        'block-device-mapping.volume-type': (i) => i.rootVolumeType,
        'block-device-mapping.volume-size': (i) => i.rootVolumeSize,
        'creation-date': (i) => i.creationDate,
      },
    })
    const {page, nextToken} = paginate(matched, p, `DescribeImages/${ctx.region}`, 5, 1000)
    return {
      imagesSet: ec2List(page, (i) => ({
        imageId: i.imageId,
        imageLocation: `amazon/${i.name}`,
        imageState: 'available',
        imageOwnerId: i.ownerId,
        creationDate: i.creationDate,
        isPublic: true,
        architecture: i.architecture,
        imageType: 'machine',
        sriovNetSupport: 'simple',
        imageOwnerAlias: 'amazon',
        name: i.name,
        description: i.description,
        rootDeviceType: 'ebs',
        rootDeviceName: i.rootDeviceName,
        blockDeviceMapping: {
          item: [
            {
              deviceName: i.rootDeviceName,
              ebs: {snapshotId: i.snapshotId, volumeSize: i.rootVolumeSize, deleteOnTermination: true, volumeType: i.rootVolumeType, encrypted: false},
            },
            {deviceName: '/dev/sdb', virtualName: 'ephemeral0'},
            {deviceName: '/dev/sdc', virtualName: 'ephemeral1'},
          ],
        },
        virtualizationType: 'hvm',
        hypervisor: 'xen',
        enaSupport: true,
        platformDetails: 'Linux/UNIX',
        usageOperation: 'RunInstances',
        bootMode: 'uefi-preferred',
        deprecationTime: new Date(Date.parse(i.creationDate) + 2 * 365 * 86400_000).toISOString(),
      })),
      nextToken,
    }
  }

  // ---------------------------------------------------------------- key pairs

  private keyPairXml(k: FakeKeyPair, withPublic: boolean): XmlObject {
    return {
      keyPairId: k.keyPairId,
      keyType: k.keyType,
      tagSet: tagSetXml(k.tags),
      publicKey: withPublic ? k.publicKey : undefined,
      createTime: k.createTime,
      keyName: k.keyName,
      keyFingerprint: k.keyFingerprint,
    }
  }

  private validateKeyName(region: string, name: string | undefined): string {
    if (!name) throw badRequest('MissingParameter', 'The request must contain the parameter KeyName')
    if (name.length > 255) throw badRequest('InvalidParameterValue', `Value (${name}) for parameter keyName is invalid. Length exceeds maximum of 255.`)
    if (this.state.keyPairs.has(`${region}/${name}`)) throw badRequest('InvalidKeyPair.Duplicate', `The keypair '${name}' already exists.`)
    return name
  }

  private createKeyPair(ctx: RequestContext): XmlObject {
    const p = ctx.params
    const name = this.validateKeyName(ctx.region, p.str('KeyName'))
    const keyType = p.str('KeyType') ?? 'rsa'
    if (keyType !== 'rsa' && keyType !== 'ed25519') throw badRequest('InvalidParameterValue', `Value (${keyType}) for parameter KeyType is invalid.`)
    const format = p.str('KeyFormat') ?? 'pem'
    if (format !== 'pem' && format !== 'ppk') throw badRequest('InvalidParameterValue', `Value (${format}) for parameter KeyFormat is invalid.`)
    const tags = readTagSpecifications(p, ['key-pair']).get('key-pair') ?? {}
    if (p.bool('DryRun') === true) throw new AwsApiError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412)
    let privateKey: string
    let publicKey: string
    let fingerprint: string
    if (keyType === 'ed25519') {
      const k = ssh2.utils.generateKeyPairSync('ed25519')
      privateKey = k.private
      publicKey = k.public.split(' ').slice(0, 2).join(' ')
      fingerprint = ed25519Fingerprint(publicKey)
    } else {
      const k = generateKeyPairSync('rsa', {modulusLength: 2048})
      privateKey = k.privateKey.export({type: 'pkcs1', format: 'pem'}).toString()
      const parsed = ssh2.utils.parseKey(privateKey)
      if (parsed instanceof Error) throw parsed
      publicKey = `ssh-rsa ${(Array.isArray(parsed) ? parsed[0] : parsed).getPublicSSH().toString('base64')}`
      fingerprint = colonHex(createHash('sha1').update(k.privateKey.export({type: 'pkcs8', format: 'der'})).digest())
    }
    const kp: FakeKeyPair = {keyPairId: ec2Id('key'), keyName: name, region: ctx.region, keyType, keyFingerprint: fingerprint, publicKey, createTime: this.host.clock.now(), tags}
    this.state.keyPairs.set(`${ctx.region}/${name}`, kp)
    return {keyName: name, keyFingerprint: fingerprint, keyMaterial: privateKey, keyPairId: kp.keyPairId, tagSet: tagSetXml(tags)}
  }

  private importKeyPair(ctx: RequestContext): XmlObject {
    const p = ctx.params
    const name = this.validateKeyName(ctx.region, p.str('KeyName'))
    const material = p.str('PublicKeyMaterial')
    if (!material) throw badRequest('MissingParameter', 'The request must contain the parameter PublicKeyMaterial')
    const text = Buffer.from(material, 'base64').toString('utf8').trim()
    const parsed = ssh2.utils.parseKey(text)
    const key = Array.isArray(parsed) ? parsed[0] : parsed
    if (!key || key instanceof Error || (key.type !== 'ssh-ed25519' && key.type !== 'ssh-rsa')) {
      throw badRequest('InvalidKey.Format', 'Key is not in valid OpenSSH public key format')
    }
    const tags = readTagSpecifications(p, ['key-pair']).get('key-pair') ?? {}
    const publicKey = `${key.type} ${key.getPublicSSH().toString('base64')}`
    const fingerprint =
      key.type === 'ssh-ed25519'
        ? ed25519Fingerprint(publicKey)
        : colonHex(createHash('md5').update(createPublicKey(key.getPublicPEM()).export({type: 'spki', format: 'der'})).digest())
    const kp: FakeKeyPair = {
      keyPairId: ec2Id('key'),
      keyName: name,
      region: ctx.region,
      keyType: key.type === 'ssh-ed25519' ? 'ed25519' : 'rsa',
      keyFingerprint: fingerprint,
      publicKey,
      createTime: this.host.clock.now(),
      tags,
    }
    this.state.keyPairs.set(`${ctx.region}/${name}`, kp)
    return {keyFingerprint: fingerprint, keyName: name, keyPairId: kp.keyPairId, tagSet: tagSetXml(tags)}
  }

  private describeKeyPairs(ctx: RequestContext): XmlObject {
    const p = ctx.params
    let keys = [...this.state.keyPairs.values()].filter((k) => k.region === ctx.region)
    const names = p.strList('KeyName')
    for (const n of names) if (!keys.some((k) => k.keyName === n)) throw badRequest('InvalidKeyPair.NotFound', `The key pair '${n}' does not exist`)
    if (names.length > 0) keys = keys.filter((k) => names.includes(k.keyName))
    const ids = p.strList('KeyPairId')
    for (const id of ids) if (!keys.some((k) => k.keyPairId === id)) throw badRequest('InvalidKeyPair.NotFound', `The key pair '${id}' does not exist`)
    if (ids.length > 0) keys = keys.filter((k) => ids.includes(k.keyPairId))
    const matched = filterItems(keys, readFilters(p), {
      fields: {'key-name': (k) => k.keyName, 'key-pair-id': (k) => k.keyPairId, fingerprint: (k) => k.keyFingerprint, 'key-type': (k) => k.keyType},
      tags: (k) => k.tags,
    })
    const withPublic = p.bool('IncludePublicKey') ?? false
    return {keySet: ec2List(matched, (k) => this.keyPairXml(k, withPublic))}
  }

  private deleteKeyPair(ctx: RequestContext): XmlObject {
    const p = ctx.params
    const name = p.str('KeyName')
    const id = p.str('KeyPairId')
    if (!name && !id) throw badRequest('MissingParameter', 'The request must contain the parameter KeyName or KeyPairId')
    const kp = [...this.state.keyPairs.values()].find((k) => k.region === ctx.region && (name ? k.keyName === name : k.keyPairId === id))
    if (!kp && id) throw badRequest('InvalidKeyPair.NotFound', `The key pair '${id}' does not exist`)
    if (kp) this.state.keyPairs.delete(`${kp.region}/${kp.keyName}`)
    return {return: true, keyPairId: kp?.keyPairId}
  }

  // ---------------------------------------------------------------- security groups

  private findGroup(region: string, id: string | undefined, name: string | undefined): FakeSecurityGroup {
    this.seedRegion(region)
    if (id !== undefined) {
      const sg = this.state.securityGroups.get(id)
      if (!sg || sg.region !== region) throw badRequest('InvalidGroup.NotFound', `The security group '${id}' does not exist`)
      return sg
    }
    if (name !== undefined) {
      const vpc = this.defaultVpc(region)
      const sg = [...this.state.securityGroups.values()].find((g) => g.region === region && g.vpcId === vpc.vpcId && g.groupName === name)
      if (!sg) throw badRequest('InvalidGroup.NotFound', `The security group '${name}' does not exist in default VPC '${vpc.vpcId}'`)
      return sg
    }
    throw badRequest('MissingParameter', 'The request must contain the parameter groupName or groupId')
  }

  private createSecurityGroup(ctx: RequestContext): XmlObject {
    const p = ctx.params
    const name = p.str('GroupName')
    const description = p.str('GroupDescription')
    if (!name) throw badRequest('MissingParameter', 'The request must contain the parameter GroupName')
    if (description === undefined) throw badRequest('MissingParameter', 'The request must contain the parameter GroupDescription')
    if (name.length > 255 || description.length > 255) throw badRequest('InvalidParameterValue', 'Group name and description are limited to 255 characters.')
    if (name === 'default') throw badRequest('InvalidGroup.Reserved', "The security group 'default' is reserved")
    if (/^sg-/i.test(name)) throw badRequest('InvalidParameterValue', "Value (sg-) for parameter GroupName is invalid. Group names may not be in the format sg-*.")
    const vpcId = p.str('VpcId') ?? this.defaultVpc(ctx.region).vpcId
    this.seedRegion(ctx.region)
    const vpc = this.state.vpcs.get(vpcId)
    if (!vpc || vpc.region !== ctx.region) throw badRequest('InvalidVpcID.NotFound', `The vpc ID '${vpcId}' does not exist`)
    if ([...this.state.securityGroups.values()].some((g) => g.vpcId === vpcId && g.groupName === name)) {
      throw badRequest('InvalidGroup.Duplicate', `The security group '${name}' already exists for VPC '${vpcId}'`)
    }
    const tags = readTagSpecifications(p, ['security-group']).get('security-group') ?? {}
    if (p.bool('DryRun') === true) throw new AwsApiError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412)
    const sg: FakeSecurityGroup = {groupId: ec2Id('sg'), groupName: name, description, region: ctx.region, vpcId, ingress: [], egress: [allTraffic()], tags, isDefault: false}
    this.state.securityGroups.set(sg.groupId, sg)
    return {groupId: sg.groupId, tagSet: tagSetXml(tags), securityGroupArn: `arn:aws:ec2:${ctx.region}:${FAKE_ACCOUNT_ID}:security-group/${sg.groupId}`}
  }

  private changeIngress(ctx: RequestContext, op: 'authorize' | 'revoke'): XmlObject {
    const p = ctx.params
    const sg = this.findGroup(ctx.region, p.str('GroupId'), p.str('GroupName'))
    const perms: FakeIpPermission[] = p.structList('IpPermissions').map((ip) => readPermission(ip))
    if (p.has('IpProtocol')) {
      const legacy = readPermission(p)
      const cidr = p.str('CidrIp')
      if (cidr) legacy.ipRanges.push({cidrIp: cidr})
      perms.push(legacy)
    }
    if (perms.length === 0) throw badRequest('MissingParameter', 'The request must contain the parameter ipPermissions')
    for (const perm of perms) {
      for (const g of perm.groups) {
        if (!this.state.securityGroups.has(g.groupId)) throw badRequest('InvalidGroup.NotFound', `The security group '${g.groupId}' does not exist`)
      }
    }
    if (p.bool('DryRun') === true) throw new AwsApiError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412)
    const rules: XmlValue[] = []
    for (const perm of perms) {
      for (const single of explode(perm)) {
        const idx = sg.ingress.findIndex((r) => sameRule(r, single))
        if (op === 'authorize') {
          if (idx >= 0) throw badRequest('InvalidPermission.Duplicate', `the specified rule "${describeRule(single)}" already exists`)
          sg.ingress.push(single)
        } else {
          if (idx < 0) throw badRequest('InvalidPermission.NotFound', 'The specified rule does not exist in this security group.')
          sg.ingress.splice(idx, 1)
        }
        rules.push({
          securityGroupRuleId: stableId('sgr', sg.groupId, describeRule(single)),
          groupId: sg.groupId,
          groupOwnerId: FAKE_ACCOUNT_ID,
          isEgress: false,
          ipProtocol: single.ipProtocol,
          fromPort: single.fromPort ?? -1,
          toPort: single.toPort ?? -1,
          cidrIpv4: single.ipRanges[0]?.cidrIp,
          cidrIpv6: single.ipv6Ranges[0]?.cidrIpv6,
          referencedGroupInfo: single.groups[0] ? {groupId: single.groups[0].groupId, userId: FAKE_ACCOUNT_ID} : undefined,
          description: single.ipRanges[0]?.description ?? single.ipv6Ranges[0]?.description ?? single.groups[0]?.description,
        })
      }
    }
    return op === 'authorize' ? {return: true, securityGroupRuleSet: {item: rules}} : {return: true}
  }

  private describeSecurityGroups(ctx: RequestContext): XmlObject {
    const p = ctx.params
    this.seedRegion(ctx.region)
    const ids = p.strList('GroupId')
    const names = p.strList('GroupName')
    if (ids.length > 0 && p.has('MaxResults')) throw badRequest('InvalidParameterCombination', 'The parameter groupIdSet cannot be used with the parameter maxResults')
    let groups = [...this.state.securityGroups.values()].filter((g) => g.region === ctx.region)
    if (ids.length > 0) {
      for (const id of ids) this.findGroup(ctx.region, id, undefined)
      groups = groups.filter((g) => ids.includes(g.groupId))
    }
    if (names.length > 0) {
      const found = names.map((n) => this.findGroup(ctx.region, undefined, n))
      groups = groups.filter((g) => found.includes(g))
    }
    const matched = filterItems(groups, readFilters(p), {
      fields: {
        'group-name': (g) => g.groupName,
        'group-id': (g) => g.groupId,
        'vpc-id': (g) => g.vpcId,
        description: (g) => g.description,
        'owner-id': () => FAKE_ACCOUNT_ID,
        'ip-permission.from-port': (g) => g.ingress.map((r) => (r.fromPort === undefined ? undefined : String(r.fromPort))),
        'ip-permission.to-port': (g) => g.ingress.map((r) => (r.toPort === undefined ? undefined : String(r.toPort))),
        'ip-permission.protocol': (g) => g.ingress.map((r) => r.ipProtocol),
        'ip-permission.cidr': (g) => g.ingress.flatMap((r) => r.ipRanges.map((x) => x.cidrIp)),
      },
      tags: (g) => g.tags,
    })
    const {page, nextToken} = paginate(matched, p, `DescribeSecurityGroups/${ctx.region}`, 5, 1000)
    return {
      securityGroupInfo: ec2List(page, (g) => ({
        ownerId: FAKE_ACCOUNT_ID,
        groupId: g.groupId,
        groupName: g.groupName,
        groupDescription: g.description,
        vpcId: g.vpcId,
        securityGroupArn: `arn:aws:ec2:${g.region}:${FAKE_ACCOUNT_ID}:security-group/${g.groupId}`,
        ipPermissions: ec2List(g.ingress, permissionXml),
        ipPermissionsEgress: ec2List(g.egress, permissionXml),
        tagSet: tagSetXml(g.tags),
      })),
      nextToken,
    }
  }

  private deleteSecurityGroup(ctx: RequestContext): XmlObject {
    const p = ctx.params
    const sg = this.findGroup(ctx.region, p.str('GroupId'), p.str('GroupName'))
    if (sg.isDefault) throw badRequest('CannotDelete', `the specified group: "${sg.groupId}" name: "default" cannot be deleted by a user`)
    const user = [...this.state.instances.values()].find((i) => i.state !== 'terminated' && i.securityGroupIds.includes(sg.groupId))
    const referencing = [...this.state.securityGroups.values()].find((g) => g !== sg && g.ingress.some((r) => r.groups.some((x) => x.groupId === sg.groupId)))
    if (user || referencing) throw badRequest('DependencyViolation', `resource ${sg.groupId} has a dependent object`)
    if (p.bool('DryRun') === true) throw new AwsApiError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412)
    this.state.securityGroups.delete(sg.groupId)
    return {return: true, groupId: sg.groupId}
  }

  // ---------------------------------------------------------------- network

  private describeVpcs(ctx: RequestContext): XmlObject {
    const p = ctx.params
    this.seedRegion(ctx.region)
    let vpcs = [...this.state.vpcs.values()].filter((v) => v.region === ctx.region)
    const ids = p.strList('VpcId')
    for (const id of ids) if (!vpcs.some((v) => v.vpcId === id)) throw badRequest('InvalidVpcID.NotFound', `The vpc ID '${id}' does not exist`)
    if (ids.length > 0) vpcs = vpcs.filter((v) => ids.includes(v.vpcId))
    const matched = filterItems(vpcs, readFilters(p), {
      fields: {
        'vpc-id': (v) => v.vpcId,
        'is-default': (v) => v.isDefault,
        isDefault: (v) => v.isDefault,
        'cidr-block': (v) => v.cidrBlock,
        cidr: (v) => v.cidrBlock,
        state: () => 'available',
        'owner-id': () => FAKE_ACCOUNT_ID,
      },
      tags: (v) => v.tags,
    })
    const {page, nextToken} = paginate(matched, p, `DescribeVpcs/${ctx.region}`, 5, 1000)
    return {
      vpcSet: ec2List(page, (v) => ({
        vpcId: v.vpcId,
        ownerId: FAKE_ACCOUNT_ID,
        state: 'available',
        cidrBlock: v.cidrBlock,
        cidrBlockAssociationSet: ec2List([v], () => ({cidrBlock: v.cidrBlock, associationId: stableId('vpc-cidr-assoc', v.vpcId), cidrBlockState: {state: 'associated'}})),
        dhcpOptionsId: stableId('dopt', v.region),
        instanceTenancy: 'default',
        isDefault: v.isDefault,
        tagSet: tagSetXml(v.tags),
      })),
      nextToken,
    }
  }

  private describeSubnets(ctx: RequestContext): XmlObject {
    const p = ctx.params
    this.seedRegion(ctx.region)
    let subnets = [...this.state.subnets.values()].filter((s) => s.region === ctx.region)
    const ids = p.strList('SubnetId')
    for (const id of ids) if (!subnets.some((s) => s.subnetId === id)) throw badRequest('InvalidSubnetID.NotFound', `The subnet ID '${id}' does not exist`)
    if (ids.length > 0) subnets = subnets.filter((s) => ids.includes(s.subnetId))
    const matched = filterItems(subnets, readFilters(p), {
      fields: {
        'subnet-id': (s) => s.subnetId,
        'vpc-id': (s) => s.vpcId,
        'availability-zone': (s) => s.availabilityZone,
        availabilityZone: (s) => s.availabilityZone,
        'availability-zone-id': (s) => s.availabilityZoneId,
        'default-for-az': (s) => s.defaultForAz,
        defaultForAz: (s) => s.defaultForAz,
        'cidr-block': (s) => s.cidrBlock,
        state: () => 'available',
        'map-public-ip-on-launch': (s) => s.mapPublicIpOnLaunch,
        'owner-id': () => FAKE_ACCOUNT_ID,
      },
      tags: (s) => s.tags,
    })
    const {page, nextToken} = paginate(matched, p, `DescribeSubnets/${ctx.region}`, 5, 1000)
    return {
      subnetSet: ec2List(page, (s) => ({
        subnetId: s.subnetId,
        subnetArn: `arn:aws:ec2:${s.region}:${FAKE_ACCOUNT_ID}:subnet/${s.subnetId}`,
        state: 'available',
        ownerId: FAKE_ACCOUNT_ID,
        vpcId: s.vpcId,
        cidrBlock: s.cidrBlock,
        ipv6CidrBlockAssociationSet: {},
        availableIpAddressCount: 4091 - s.nextHost,
        availabilityZone: s.availabilityZone,
        availabilityZoneId: s.availabilityZoneId,
        defaultForAz: s.defaultForAz,
        mapPublicIpOnLaunch: s.mapPublicIpOnLaunch,
        assignIpv6AddressOnCreation: false,
        tagSet: tagSetXml(s.tags),
      })),
      nextToken,
    }
  }

  private describeAvailabilityZones(ctx: RequestContext): XmlObject {
    const p = ctx.params
    let zones = zonesFor(ctx.region)
    const names = p.strList('ZoneName')
    for (const n of names) if (!zones.some((z) => z.zoneName === n)) throw badRequest('InvalidParameterValue', `Invalid availability zone: [${n}]`)
    if (names.length > 0) zones = zones.filter((z) => names.includes(z.zoneName))
    const zoneIds = p.strList('ZoneId')
    if (zoneIds.length > 0) zones = zones.filter((z) => zoneIds.includes(z.zoneId))
    const matched = filterItems(zones, readFilters(p), {
      fields: {
        'zone-name': (z) => z.zoneName,
        'zone-id': (z) => z.zoneId,
        state: () => 'available',
        'region-name': () => ctx.region,
        'group-name': () => ctx.region,
        'zone-type': () => 'availability-zone',
        'opt-in-status': () => 'opt-in-not-required',
        'network-border-group': () => ctx.region,
      },
    })
    return {
      availabilityZoneInfo: ec2List(matched, (z) => ({
        zoneName: z.zoneName,
        zoneState: 'available',
        regionName: ctx.region,
        zoneId: z.zoneId,
        groupName: ctx.region,
        networkBorderGroup: ctx.region,
        optInStatus: 'opt-in-not-required',
        zoneType: 'availability-zone',
        messageSet: {},
      })),
    }
  }

  // ---------------------------------------------------------------- tags

  private taggable(region: string, id: string): {tags: Tags} {
    this.seedRegion(region)
    const lookups: [RegExp, () => {tags: Tags; region: string} | undefined, string][] = [
      [/^i-/, () => this.state.instances.get(id), `InvalidInstanceID.NotFound|The instance ID '${id}' does not exist`],
      [/^vol-/, () => this.state.volumes.get(id), `InvalidVolume.NotFound|The volume '${id}' does not exist.`],
      [/^sg-/, () => this.state.securityGroups.get(id), `InvalidGroup.NotFound|The security group '${id}' does not exist`],
      [/^key-/, () => [...this.state.keyPairs.values()].find((k) => k.keyPairId === id), `InvalidKeyPair.NotFound|The key pair '${id}' does not exist`],
      [/^vpc-/, () => this.state.vpcs.get(id), `InvalidVpcID.NotFound|The vpc ID '${id}' does not exist`],
      [/^subnet-/, () => this.state.subnets.get(id), `InvalidSubnetID.NotFound|The subnet ID '${id}' does not exist`],
    ]
    for (const [re, get, err] of lookups) {
      if (!re.test(id)) continue
      const r = get()
      if (!r || r.region !== region) {
        const [code, message] = err.split('|') as [string, string]
        throw badRequest(code, message)
      }
      return r
    }
    throw badRequest('InvalidID', `The ID '${id}' is not valid`)
  }

  private changeTags(ctx: RequestContext, op: 'create' | 'delete'): XmlObject {
    const p = ctx.params
    const ids = p.strList('ResourceId')
    if (ids.length === 0) throw badRequest('MissingParameter', 'The request must contain the parameter resourceIdSet')
    const resources = ids.map((id) => this.taggable(ctx.region, id))
    if (op === 'create') {
      const tags = readTags(p.structList('Tag'), true)
      if (p.bool('DryRun') === true) throw new AwsApiError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412)
      for (const r of resources) {
        const merged = {...r.tags, ...tags}
        if (Object.keys(merged).length > 50) throw badRequest('TagLimitExceeded', 'The maximum number of Tags for a resource has been reached.')
      }
      for (const r of resources) Object.assign(r.tags, tags)
    } else {
      const specs = p.structList('Tag').map((t) => ({key: t.str('Key') ?? '', value: t.str('Value')}))
      if (p.bool('DryRun') === true) throw new AwsApiError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412)
      for (const r of resources) {
        if (specs.length === 0) {
          for (const k of Object.keys(r.tags)) if (!k.startsWith('aws:')) delete r.tags[k]
        }
        for (const s of specs) if (s.value === undefined || r.tags[s.key] === s.value) delete r.tags[s.key]
      }
    }
    return {return: true}
  }

  // ---------------------------------------------------------------- catalogue

  private describeInstanceTypes(ctx: RequestContext): XmlObject {
    const p = ctx.params
    let types = [...INSTANCE_TYPES]
    const wanted = p.strList('InstanceType')
    const unknown = wanted.filter((w) => !types.some((t) => t.instanceType === w))
    if (unknown.length > 0) throw badRequest('InvalidInstanceType', `The following supplied instance types do not exist: [${unknown.join(', ')}]`)
    if (wanted.length > 0) types = types.filter((t) => wanted.includes(t.instanceType))
    const matched = filterItems(types, readFilters(p), {
      fields: {
        'instance-type': (t) => t.instanceType,
        'current-generation': (t) => t.currentGeneration,
        'processor-info.supported-architecture': (t) => t.architecture,
        'vcpu-info.default-vcpus': (t) => t.vcpus,
        'memory-info.size-in-mib': (t) => t.memoryMiB,
        'gpu-info.manufacturer': (t) => t.gpu?.manufacturer,
        'gpu-info.name': (t) => t.gpu?.name,
        'gpu-info.count': (t) => t.gpu?.count,
        'instance-storage-supported': () => false,
        'supported-usage-class': (t) => (t.currentGeneration ? ['on-demand', 'spot'] : ['on-demand']),
        'bare-metal': () => false,
        hypervisor: () => 'nitro',
      },
    })
    const {page, nextToken} = paginate(matched, p, `DescribeInstanceTypes/${ctx.region}`, 5, 100)
    return {
      instanceTypeSet: ec2List(page, (t) => ({
        instanceType: t.instanceType,
        currentGeneration: t.currentGeneration,
        freeTierEligible: t.instanceType === 't3.micro',
        supportedUsageClasses: {item: t.currentGeneration ? ['on-demand', 'spot'] : ['on-demand']},
        supportedRootDeviceTypes: {item: ['ebs']},
        supportedVirtualizationTypes: {item: ['hvm']},
        bareMetal: false,
        hypervisor: 'nitro',
        processorInfo: {supportedArchitectures: {item: [t.architecture]}, sustainedClockSpeedInGhz: 3.1, manufacturer: t.architecture === 'arm64' ? 'AWS' : 'Intel'},
        vCpuInfo: {defaultVCpus: t.vcpus, defaultCores: Math.max(1, Math.floor(t.vcpus / 2)), defaultThreadsPerCore: t.vcpus > 1 ? 2 : 1},
        memoryInfo: {sizeInMiB: t.memoryMiB},
        instanceStorageSupported: false,
        ebsInfo: {ebsOptimizedSupport: 'default', encryptionSupport: 'supported', nvmeSupport: 'required'},
        networkInfo: {networkPerformance: 'Up to 10 Gigabit', maximumNetworkInterfaces: 4, ipv4AddressesPerInterface: 15, ipv6Supported: true, enaSupport: 'required'},
        gpuInfo: t.gpu
          ? {
              gpus: {item: [{name: t.gpu.name, manufacturer: t.gpu.manufacturer, count: t.gpu.count, memoryInfo: {sizeInMiB: t.gpu.memoryMiB}}]},
              totalGpuMemoryInMiB: t.gpu.count * t.gpu.memoryMiB,
            }
          : undefined,
        placementGroupInfo: {supportedStrategies: {item: ['cluster', 'partition', 'spread']}},
        hibernationSupported: false,
        burstablePerformanceSupported: t.instanceType.startsWith('t'),
        dedicatedHostsSupported: false,
        autoRecoverySupported: true,
        supportedBootModes: {item: ['legacy-bios', 'uefi']},
      })),
      nextToken,
    }
  }

  private describeSpotPriceHistory(ctx: RequestContext): XmlObject {
    const p = ctx.params
    const types = p.strList('InstanceType')
    const descriptions = p.strList('ProductDescription')
    const az = p.str('AvailabilityZone')
    const rows: {zone: string; type: InstanceTypeInfo; price: number}[] = []
    for (const z of zonesFor(ctx.region)) {
      if (az !== undefined && z.zoneName !== az) continue
      for (const t of INSTANCE_TYPES) {
        if (!t.currentGeneration) continue
        if (types.length > 0 && !types.includes(t.instanceType)) continue
        rows.push({zone: z.zoneName, type: t, price: spotPrice(t, z.zoneName)})
      }
    }
    const product = 'Linux/UNIX'
    const shown = descriptions.length > 0 && !descriptions.includes(product) ? [] : rows
    const matched = filterItems(shown, readFilters(p), {
      fields: {
        'availability-zone': (r) => r.zone,
        'instance-type': (r) => r.type.instanceType,
        'product-description': () => product,
        'spot-price': (r) => r.price.toFixed(6),
      },
    })
    const {page, nextToken} = paginate(matched, p, `DescribeSpotPriceHistory/${ctx.region}`, 1, 10000)
    const stamp = new Date(this.host.clock.nowMs() - 3600_000)
    return {
      spotPriceHistorySet: ec2List(page, (r) => ({
        instanceType: r.type.instanceType,
        productDescription: product,
        spotPrice: r.price.toFixed(6),
        timestamp: stamp,
        availabilityZone: r.zone,
      })),
      nextToken: nextToken ?? '',
    }
  }

  // ---------------------------------------------------------------- volumes

  private describeVolumes(ctx: RequestContext): XmlObject {
    const p = ctx.params
    let vols = [...this.state.volumes.values()].filter((v) => v.region === ctx.region)
    const ids = p.strList('VolumeId')
    for (const id of ids) if (!vols.some((v) => v.volumeId === id)) throw badRequest('InvalidVolume.NotFound', `The volume '${id}' does not exist.`)
    if (ids.length > 0) vols = vols.filter((v) => ids.includes(v.volumeId))
    const matched = filterItems(vols, readFilters(p), {
      fields: {
        'volume-id': (v) => v.volumeId,
        status: (v) => v.state,
        'availability-zone': (v) => v.availabilityZone,
        'volume-type': (v) => v.volumeType,
        size: (v) => v.size,
        encrypted: (v) => v.encrypted,
        'attachment.instance-id': (v) => v.instanceId,
        'attachment.device': (v) => (v.instanceId ? v.deviceName : undefined),
        'attachment.status': (v) => (v.instanceId ? 'attached' : undefined),
        'attachment.delete-on-termination': (v) => (v.instanceId ? v.deleteOnTermination : undefined),
      },
      tags: (v) => v.tags,
    })
    const {page, nextToken} = paginate(matched, p, `DescribeVolumes/${ctx.region}`, 5, 1000)
    return {
      volumeSet: ec2List(page, (v) => ({
        volumeId: v.volumeId,
        size: v.size,
        snapshotId: '',
        availabilityZone: v.availabilityZone,
        status: v.state,
        createTime: v.createTime,
        attachmentSet: ec2List(v.instanceId ? [v] : [], () => ({
          volumeId: v.volumeId,
          instanceId: v.instanceId,
          device: v.deviceName,
          status: 'attached',
          attachTime: v.createTime,
          deleteOnTermination: v.deleteOnTermination,
        })),
        volumeType: v.volumeType,
        iops: v.iops,
        throughput: v.throughput,
        encrypted: v.encrypted,
        multiAttachEnabled: false,
        tagSet: tagSetXml(v.tags),
      })),
      nextToken,
    }
  }

  private deleteVolume(ctx: RequestContext): XmlObject {
    const id = ctx.params.str('VolumeId')
    if (!id) throw badRequest('MissingParameter', 'The request must contain the parameter VolumeId')
    const v = this.state.volumes.get(id)
    if (!v || v.region !== ctx.region) throw badRequest('InvalidVolume.NotFound', `The volume '${id}' does not exist.`)
    if (v.instanceId) throw badRequest('VolumeInUse', `Volume ${id} is currently attached to ${v.instanceId}`)
    this.state.volumes.delete(id)
    return {return: true}
  }
}

// ------------------------------------------------------------------ helpers

const INSTANCE_FILTERS: FilterSpec<FakeInstance> = {
  fields: {
    'instance-id': (i) => i.instanceId,
    'instance-state-name': (i) => i.state,
    'instance-state-code': (i) => INSTANCE_STATE_CODES[i.state],
    'instance-type': (i) => i.instanceType,
    'image-id': (i) => i.imageId,
    'availability-zone': (i) => i.availabilityZone,
    'subnet-id': (i) => i.subnetId,
    'vpc-id': (i) => i.vpcId,
    'key-name': (i) => i.keyName,
    'client-token': (i) => i.clientToken,
    'reservation-id': (i) => i.reservationId,
    'instance-lifecycle': (i) => (i.market === 'spot' ? 'spot' : undefined),
    'spot-instance-request-id': (i) => i.spotInstanceRequestId,
    'private-ip-address': (i) => i.privateIpAddress,
    'ip-address': (i) => i.publicIpAddress,
    'iam-instance-profile.arn': (i) => i.iamInstanceProfile?.arn,
    'instance.group-id': (i) => i.securityGroupIds,
    'group-id': (i) => i.securityGroupIds,
    architecture: (i) => i.architecture,
    'metadata-options.http-tokens': (i) => i.metadataOptions.httpTokens,
    'metadata-options.http-put-response-hop-limit': (i) => i.metadataOptions.httpPutResponseHopLimit,
    'state-reason-code': (i) => i.stateReason?.code,
    'owner-id': () => FAKE_ACCOUNT_ID,
  },
  tags: (i) => i.tags,
}

function readFilters(p: QueryParams): Filter[] {
  return p.structList('Filter').map((f) => ({name: f.str('Name') ?? '', values: f.strList('Value')}))
}

function asStrings(v: FieldValue): string[] {
  if (v === undefined) return []
  if (Array.isArray(v)) return v.filter((x): x is string => x !== undefined)
  return [String(v)]
}

function filterItems<T>(items: T[], filters: Filter[], spec: FilterSpec<T>): T[] {
  for (const f of filters) {
    const known = f.name in spec.fields || (spec.tags !== undefined && (f.name.startsWith('tag:') || f.name === 'tag-key' || f.name === 'tag-value'))
    if (!known) throw badRequest('InvalidParameterValue', `The filter '${f.name}' is invalid`)
    if (f.values.length === 0) throw badRequest('InvalidParameterValue', `The filter '${f.name}' must have at least one value`)
  }
  return items.filter((item) =>
    filters.every((f) => {
      let actual: string[]
      if (f.name.startsWith('tag:')) {
        const v = spec.tags?.(item)[f.name.slice(4)]
        actual = v === undefined ? [] : [v]
      } else if (f.name === 'tag-key') actual = Object.keys(spec.tags?.(item) ?? {})
      else if (f.name === 'tag-value') actual = Object.values(spec.tags?.(item) ?? {})
      else actual = asStrings((spec.fields[f.name] as (t: T) => FieldValue)(item))
      return f.values.some((pattern) => actual.some((a) => globMatch(pattern, a)))
    }),
  )
}

function paginate<T>(items: T[], p: QueryParams, listing: string, min: number, max: number): {page: T[]; nextToken?: string} {
  const maxResults = p.int('MaxResults')
  const token = p.str('NextToken')
  let offset = 0
  if (token !== undefined && token !== '') {
    const o = decodeNextToken(listing, token)
    if (o === undefined) throw badRequest('InvalidParameterValue', `Invalid value '${token}' for nextToken`)
    offset = o
  }
  if (maxResults === undefined) return {page: items.slice(offset)}
  if (!Number.isInteger(maxResults) || maxResults < min || maxResults > max) {
    throw badRequest('InvalidParameterValue', `Value ( ${p.str('MaxResults')} ) for parameter maxResults is invalid. Parameter must be between ${min} and ${max}.`)
  }
  const page = items.slice(offset, offset + maxResults)
  const next = offset + maxResults
  return next < items.length ? {page, nextToken: encodeNextToken(listing, next)} : {page}
}

function requiredInt(p: QueryParams, name: string): number {
  const v = p.int(name)
  if (v === undefined) throw badRequest('MissingParameter', `The request must contain the parameter ${name}`)
  if (!Number.isInteger(v)) throw badRequest('InvalidParameterValue', `Value (${p.str(name)}) for parameter ${name} is invalid.`)
  return v
}

/** Everything that defines a RunInstances request except the token itself. */
function fingerprintOf(p: QueryParams): string {
  const entries = Object.entries(p.flat)
    .filter(([k]) => !['Action', 'Version', 'ClientToken', 'DryRun'].includes(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return createHash('sha256').update(JSON.stringify(entries)).digest('hex')
}

function readTags(list: QueryParams[], strict: boolean): Tags {
  const tags: Tags = {}
  for (const t of list) {
    const key = t.str('Key')
    if (key === undefined || key === '') throw badRequest('InvalidParameterValue', 'Tag key cannot be empty')
    if (key.length > 128) throw badRequest('InvalidParameterValue', `Tag key exceeds the maximum length of 128 characters`)
    if (strict && key.toLowerCase().startsWith('aws:')) {
      throw badRequest('InvalidParameterValue', `Value ( ${key} ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use`)
    }
    const value = t.str('Value') ?? ''
    if (value.length > 256) throw badRequest('InvalidParameterValue', `Tag value exceeds the maximum length of 256 characters`)
    if (key in tags) throw badRequest('InvalidParameterValue', `Duplicate tag key '${key}' specified.`)
    tags[key] = value
  }
  if (Object.keys(tags).length > 50) throw badRequest('TagLimitExceeded', 'The maximum number of Tags for a resource has been reached.')
  return tags
}

function readTagSpecifications(p: QueryParams, allowed: string[]): Map<string, Tags> {
  const out = new Map<string, Tags>()
  for (const spec of p.structList('TagSpecification')) {
    const type = spec.str('ResourceType')
    if (!type) throw badRequest('MissingParameter', 'The request must contain the parameter TagSpecification.ResourceType')
    if (!allowed.includes(type)) throw badRequest('InvalidParameterValue', `'${type}' is not a valid taggable resource type for this operation.`)
    if (out.has(type)) throw badRequest('InvalidParameterValue', `The same resource type may not be specified more than once in tag specifications`)
    out.set(type, readTags(spec.structList('Tag'), true))
  }
  return out
}

function tagSetXml(tags: Tags): XmlObject {
  return ec2List(Object.entries(tags), ([key, value]) => ({key, value}))
}

function allTraffic(): FakeIpPermission {
  return {ipProtocol: '-1', ipRanges: [{cidrIp: '0.0.0.0/0'}], ipv6Ranges: [], groups: []}
}

const PROTOCOLS: Record<string, string> = {'6': 'tcp', '17': 'udp', '1': 'icmp', all: '-1', '-1': '-1', tcp: 'tcp', udp: 'udp', icmp: 'icmp', icmpv6: 'icmpv6', '58': 'icmpv6'}

function readPermission(ip: QueryParams): FakeIpPermission {
  const raw = (ip.str('IpProtocol') ?? '').toLowerCase()
  const ipProtocol = PROTOCOLS[raw]
  if (!ipProtocol) throw badRequest('InvalidParameterValue', `Invalid value '${raw}' for IP protocol. Unknown protocol.`)
  const fromPort = ip.int('FromPort')
  const toPort = ip.int('ToPort')
  if ((ipProtocol === 'tcp' || ipProtocol === 'udp') && (fromPort === undefined || toPort === undefined)) {
    throw badRequest('InvalidParameterValue', `Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange.`)
  }
  if (fromPort !== undefined && toPort !== undefined && ipProtocol !== '-1' && ipProtocol !== 'icmp' && toPort < fromPort) {
    throw badRequest('InvalidParameterValue', `Invalid TCP/UDP port range (${fromPort}:${toPort}).`)
  }
  const ipRanges = ip.structList('IpRanges').map((r) => {
    const cidrIp = r.str('CidrIp') ?? ''
    if (!/^[0-9]{1,3}(\.[0-9]{1,3}){3}\/[0-9]{1,2}$/.test(cidrIp)) throw badRequest('InvalidParameterValue', `CIDR block ${cidrIp} is malformed`)
    const d = r.str('Description')
    return {cidrIp, ...(d !== undefined ? {description: d} : {})}
  })
  const ipv6Ranges = ip.structList('Ipv6Ranges').map((r) => {
    const d = r.str('Description')
    return {cidrIpv6: r.str('CidrIpv6') ?? '', ...(d !== undefined ? {description: d} : {})}
  })
  const groups = ip.structList('Groups').map((g) => {
    const d = g.str('Description')
    return {groupId: g.str('GroupId') ?? '', ...(d !== undefined ? {description: d} : {})}
  })
  return {
    ipProtocol,
    ...(ipProtocol === '-1' ? {} : {...(fromPort !== undefined ? {fromPort} : {}), ...(toPort !== undefined ? {toPort} : {})}),
    ipRanges,
    ipv6Ranges,
    groups,
  }
}

/** One rule per source, so duplicates and revokes compare like EC2 does. */
function explode(perm: FakeIpPermission): FakeIpPermission[] {
  const base = {ipProtocol: perm.ipProtocol, ...(perm.fromPort !== undefined ? {fromPort: perm.fromPort} : {}), ...(perm.toPort !== undefined ? {toPort: perm.toPort} : {})}
  return [
    ...perm.ipRanges.map((r) => ({...base, ipRanges: [r], ipv6Ranges: [], groups: []})),
    ...perm.ipv6Ranges.map((r) => ({...base, ipRanges: [], ipv6Ranges: [r], groups: []})),
    ...perm.groups.map((g) => ({...base, ipRanges: [], ipv6Ranges: [], groups: [g]})),
  ]
}

function sameRule(a: FakeIpPermission, b: FakeIpPermission): boolean {
  return (
    a.ipProtocol === b.ipProtocol &&
    a.fromPort === b.fromPort &&
    a.toPort === b.toPort &&
    a.ipRanges[0]?.cidrIp === b.ipRanges[0]?.cidrIp &&
    a.ipv6Ranges[0]?.cidrIpv6 === b.ipv6Ranges[0]?.cidrIpv6 &&
    a.groups[0]?.groupId === b.groups[0]?.groupId
  )
}

function describeRule(r: FakeIpPermission): string {
  const peer = r.ipRanges[0]?.cidrIp ?? r.ipv6Ranges[0]?.cidrIpv6 ?? r.groups[0]?.groupId ?? ''
  const proto = r.ipProtocol === '-1' ? 'ALL' : r.ipProtocol.toUpperCase()
  return `peer: ${peer}, ${proto}, from port: ${r.fromPort ?? -1}, to port: ${r.toPort ?? -1}, ALLOW`
}

function permissionXml(r: FakeIpPermission): XmlObject {
  return {
    ipProtocol: r.ipProtocol,
    fromPort: r.fromPort,
    toPort: r.toPort,
    groups: ec2List(r.groups, (g) => ({groupId: g.groupId, userId: FAKE_ACCOUNT_ID, description: g.description})),
    ipRanges: ec2List(r.ipRanges, (x) => ({cidrIp: x.cidrIp, description: x.description})),
    ipv6Ranges: ec2List(r.ipv6Ranges, (x) => ({cidrIpv6: x.cidrIpv6, description: x.description})),
    prefixListIds: {},
  }
}

function allocateIp(subnet: FakeSubnet): string {
  const base = Number(subnet.cidrBlock.split('.')[2])
  const h = subnet.nextHost++
  return `172.31.${base + Math.floor((h + 4) / 256)}.${(h + 4) % 256}`
}

function privateDnsName(region: string, ip: string): string {
  return region === 'us-east-1' ? `ip-${ip.replace(/\./g, '-')}.ec2.internal` : `ip-${ip.replace(/\./g, '-')}.${region}.compute.internal`
}

function publicDnsName(region: string, ip: string): string {
  return region === 'us-east-1' ? `ec2-${ip.replace(/\./g, '-')}.compute-1.amazonaws.com` : `ec2-${ip.replace(/\./g, '-')}.${region}.compute.amazonaws.com`
}

function gmt(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} GMT`
}

function colonHex(buf: Buffer): string {
  return (buf.toString('hex').match(/../g) ?? []).join(':')
}

function ed25519Fingerprint(publicKeyLine: string): string {
  const blob = Buffer.from(publicKeyLine.split(' ')[1] ?? '', 'base64')
  return createHash('sha256').update(blob).digest('base64')
}

/** Re-exported for the sshd backend: an OpenSSH public key line for a private key. */
export function publicKeyOf(privateKey: string): string | undefined {
  const parsed = ssh2.utils.parseKey(privateKey)
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  if (!key || key instanceof Error) {
    try {
      const pub = createPublicKey(createPrivateKey(privateKey))
      const jwk = pub.export({format: 'jwk'})
      return jwk.kty === 'OKP' && typeof jwk.x === 'string' ? sshEd25519Line(Buffer.from(jwk.x, 'base64url')) : undefined
    } catch {
      return undefined
    }
  }
  return `${key.type} ${key.getPublicSSH().toString('base64')}`
}

function sshEd25519Line(raw: Buffer): string {
  const type = Buffer.from('ssh-ed25519')
  const len = (n: number): Buffer => {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(n)
    return b
  }
  return `ssh-ed25519 ${Buffer.concat([len(type.length), type, len(raw.length), raw]).toString('base64')}`
}
