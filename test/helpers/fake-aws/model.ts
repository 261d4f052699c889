/**
 * The fake's in-memory model: what EC2, IAM and STS hold, as plain objects tests can inspect
 * (`fake.state.instances.get(id).metadataOptions.httpTokens`, `fake.state.roles.get(name)`, …).
 */
import {createHash, randomBytes} from 'node:crypto'

/** The account every fake credential belongs to. */
export const FAKE_ACCOUNT_ID = '123456789012'
/** Canonical's AWS account: owner of the Ubuntu images. */
export const CANONICAL_OWNER_ID = '099720109477'

/** EC2 instance lifecycle states the fake models. */
export type InstanceStateName = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped'

/** EC2's numeric state codes. */
export const INSTANCE_STATE_CODES: Record<InstanceStateName, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
}

/** Tags as a plain map (insertion ordered). */
export type Tags = Record<string, string>

/** One EBS volume (root or extra) of an instance. */
export interface FakeVolume {
  volumeId: string
  region: string
  availabilityZone: string
  size: number
  volumeType: string
  iops?: number
  throughput?: number
  encrypted: boolean
  deleteOnTermination: boolean
  deviceName: string
  /** `in-use` while attached, `available` after its instance terminated (when not deleted). */
  state: 'in-use' | 'available' | 'deleted'
  instanceId?: string
  createTime: Date
  tags: Tags
}

/** Instance metadata service settings, as sent in `MetadataOptions`. */
export interface FakeMetadataOptions {
  httpTokens: 'optional' | 'required'
  httpPutResponseHopLimit: number
  httpEndpoint: 'enabled' | 'disabled'
  httpProtocolIpv6: 'enabled' | 'disabled'
  instanceMetadataTags: 'enabled' | 'disabled'
}

/** An EC2 instance. */
export interface FakeInstance {
  instanceId: string
  reservationId: string
  region: string
  availabilityZone: string
  vpcId: string
  subnetId: string
  imageId: string
  instanceType: string
  architecture: string
  keyName?: string
  /** The key pair's OpenSSH public key, copied at launch as EC2 does (deleting the key pair later changes nothing). */
  keyPairPublicKey?: string
  securityGroupIds: string[]
  state: InstanceStateName
  /** `StateReason` (e.g. `Server.SpotInstanceTermination`), set on abnormal transitions. */
  stateReason?: {code: string; message: string}
  stateTransitionReason: string
  launchTime: Date
  /** When the current state was entered (fake clock). */
  stateSince: Date
  clientToken?: string
  tags: Tags
  market: 'on-demand' | 'spot'
  spotOptions?: {maxPrice?: string; spotInstanceType: string; instanceInterruptionBehavior: string}
  spotInstanceRequestId?: string
  metadataOptions: FakeMetadataOptions
  iamInstanceProfile?: {arn: string; id: string; name: string}
  /** Decoded user data (UTF-8 text, gunzipped if it was gzip). */
  userData?: string
  /** User data exactly as sent (base64). */
  userDataBase64?: string
  privateIpAddress: string
  publicIpAddress?: string
  privateDnsName: string
  publicDnsName?: string
  volumeIds: string[]
  ebsOptimized: boolean
  /** Whatever the instance backend reported at launch (netns name, sshd pid, …). */
  backend?: Record<string, unknown>
  /** Describe calls that saw this instance in its current state (drives `describe` transitions). */
  describesInState: number
}

/** A RunInstances reservation. */
export interface FakeReservation {
  reservationId: string
  region: string
  instanceIds: string[]
  clientToken?: string
  securityGroupIds: string[]
}

/** A key pair (the fake keeps the public key so the VM can accept it). */
export interface FakeKeyPair {
  keyPairId: string
  keyName: string
  region: string
  keyType: 'rsa' | 'ed25519'
  keyFingerprint: string
  /** OpenSSH public key line. */
  publicKey: string
  createTime: Date
  tags: Tags
}

/** A security group rule, normalised. */
export interface FakeIpPermission {
  ipProtocol: string
  fromPort?: number
  toPort?: number
  ipRanges: {cidrIp: string; description?: string}[]
  ipv6Ranges: {cidrIpv6: string; description?: string}[]
  groups: {groupId: string; description?: string}[]
}

/** A security group. */
export interface FakeSecurityGroup {
  groupId: string
  groupName: string
  description: string
  region: string
  vpcId: string
  ingress: FakeIpPermission[]
  egress: FakeIpPermission[]
  tags: Tags
  isDefault: boolean
}

/** A (default) VPC. */
export interface FakeVpc {
  vpcId: string
  region: string
  cidrBlock: string
  isDefault: boolean
  tags: Tags
}

/** A subnet (one default subnet per availability zone). */
export interface FakeSubnet {
  subnetId: string
  vpcId: string
  region: string
  availabilityZone: string
  availabilityZoneId: string
  cidrBlock: string
  /** Third octet base used to hand out private addresses. */
  nextHost: number
  defaultForAz: boolean
  mapPublicIpOnLaunch: boolean
  tags: Tags
}

/** An IAM role. */
export interface FakeRole {
  roleName: string
  roleId: string
  arn: string
  path: string
  createDate: Date
  /** The trust policy as sent (JSON text, URL-decoded). */
  assumeRolePolicyDocument: string
  description?: string
  maxSessionDuration: number
  tags: Tags
  /** Inline policies: name → JSON text exactly as sent. */
  inlinePolicies: Map<string, string>
  /** Managed policy ARNs attached. */
  attachedPolicies: Set<string>
}

/** An IAM instance profile. */
export interface FakeInstanceProfile {
  instanceProfileName: string
  instanceProfileId: string
  arn: string
  path: string
  createDate: Date
  /** Role names (at most one). */
  roles: string[]
  tags: Tags
  /** Last create/add-role time: EC2 sees the profile only after the propagation delay from here. */
  changedAt: Date
}

/** A credential the fake accepts (long-term or minted by STS). */
export interface FakeCredential {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
  kind: 'user' | 'assumed-role' | 'federated-user' | 'session'
  account: string
  /** Caller ARN as GetCallerIdentity shows it. */
  arn: string
  /** `UserId` as GetCallerIdentity shows it. */
  userId: string
  issuedAt: Date
  expiration?: Date
  /** Forced expiry (fault): EC2 `RequestExpired`, IAM/STS `ExpiredToken`. */
  expired?: boolean
  /** Revoked/unknown (fault): EC2 `AuthFailure`, IAM/STS `InvalidClientTokenId`. */
  revoked?: boolean
  /** For assumed roles. */
  roleName?: string
  roleArn?: string
  sessionName?: string
  /** True when minted by AssumeRole called with role credentials (role chaining, 1 h max). */
  chained?: boolean
  /** Session policy JSON text (AssumeRole/GetFederationToken `Policy`). */
  sessionPolicy?: string
  policyArns?: string[]
  /** Access key that called STS to mint this one. */
  sourceAccessKeyId?: string
}

/** A record of an STS call that minted credentials, for asserting scoping. */
export interface IssuedSession {
  /** `InstanceProfile`: credentials the fake handed to a VM as its instance-profile role. */
  action: 'AssumeRole' | 'GetFederationToken' | 'GetSessionToken' | 'InstanceProfile'
  accessKeyId: string
  sourceAccessKeyId: string
  roleArn?: string
  name: string
  durationSeconds: number
  expiration: Date
  /** Session policy JSON text as sent. */
  policy?: string
  /** Session policy parsed (undefined when absent or not JSON). */
  policyJson?: unknown
  policyArns: string[]
  chained: boolean
}

/** A RunInstances idempotency record (per region and token). */
export interface ClientTokenRecord {
  token: string
  region: string
  fingerprint: string
  reservationId?: string
  /** Present while the first request with this token is still in flight. */
  inFlight?: Promise<void>
}

/** Everything the fake holds; all maps keyed by id (key pairs by `region/name`). */
export class FakeAwsState {
  readonly instances = new Map<string, FakeInstance>()
  readonly reservations = new Map<string, FakeReservation>()
  readonly clientTokens = new Map<string, ClientTokenRecord>()
  readonly volumes = new Map<string, FakeVolume>()
  readonly keyPairs = new Map<string, FakeKeyPair>()
  readonly securityGroups = new Map<string, FakeSecurityGroup>()
  readonly vpcs = new Map<string, FakeVpc>()
  readonly subnets = new Map<string, FakeSubnet>()
  readonly roles = new Map<string, FakeRole>()
  readonly instanceProfiles = new Map<string, FakeInstanceProfile>()
  /** Managed policies: only ARNs are modelled; any `arn:aws:iam::aws:policy/…` attaches. */
  readonly credentials = new Map<string, FakeCredential>()
  readonly sessions: IssuedSession[] = []
  /** Regions whose default VPC, subnets and default security group exist. */
  readonly seededRegions = new Set<string>()

  /** Empties everything. */
  clear(): void {
    this.instances.clear()
    this.reservations.clear()
    this.clientTokens.clear()
    this.volumes.clear()
    this.keyPairs.clear()
    this.securityGroups.clear()
    this.vpcs.clear()
    this.subnets.clear()
    this.roles.clear()
    this.instanceProfiles.clear()
    this.credentials.clear()
    this.sessions.length = 0
    this.seededRegions.clear()
  }

  /** Instances of one region, in launch order. */
  instancesIn(region: string): FakeInstance[] {
    return [...this.instances.values()].filter((i) => i.region === region)
  }
}

/** `prefix-` followed by 17 random hex digits, like modern EC2 ids. */
export function ec2Id(prefix: string): string {
  return `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`
}

/** A deterministic EC2-style id (same inputs, same id across runs). */
export function stableId(prefix: string, ...parts: string[]): string {
  return `${prefix}-${createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 17)}`
}

/** IAM unique ids: a 4-letter prefix and 17 upper-case alphanumerics. */
export function iamId(prefix: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let out = prefix
  for (const b of randomBytes(17)) out += alphabet[b % alphabet.length]
  return out
}

/** One instance type of the catalog. */
export interface InstanceTypeInfo {
  instanceType: string
  vcpus: number
  memoryMiB: number
  architecture: 'x86_64' | 'arm64'
  /** On-demand Linux price per hour in USD (spot is a fraction of it). */
  onDemandPrice: number
  currentGeneration: boolean
  gpu?: {name: string; manufacturer: string; count: number; memoryMiB: number}
  /** Instance families limited by the standard/G-and-VT/P vCPU quotas. */
  quotaBucket: 'standard' | 'g' | 'p'
}

/** The instance types the fake knows (others are `InvalidParameterValue`). */
export const INSTANCE_TYPES: readonly InstanceTypeInfo[] = [
  {instanceType: 'm1.small', vcpus: 1, memoryMiB: 1740, architecture: 'x86_64', onDemandPrice: 0.044, currentGeneration: false, quotaBucket: 'standard'},
  {instanceType: 't3.micro', vcpus: 2, memoryMiB: 1024, architecture: 'x86_64', onDemandPrice: 0.0104, currentGeneration: true, quotaBucket: 'standard'},
  {instanceType: 't3.medium', vcpus: 2, memoryMiB: 4096, architecture: 'x86_64', onDemandPrice: 0.0416, currentGeneration: true, quotaBucket: 'standard'},
  {instanceType: 't4g.small', vcpus: 2, memoryMiB: 2048, architecture: 'arm64', onDemandPrice: 0.0168, currentGeneration: true, quotaBucket: 'standard'},
  {instanceType: 'm5.large', vcpus: 2, memoryMiB: 8192, architecture: 'x86_64', onDemandPrice: 0.096, currentGeneration: true, quotaBucket: 'standard'},
  {instanceType: 'm6i.xlarge', vcpus: 4, memoryMiB: 16384, architecture: 'x86_64', onDemandPrice: 0.192, currentGeneration: true, quotaBucket: 'standard'},
  {instanceType: 'c5.xlarge', vcpus: 4, memoryMiB: 8192, architecture: 'x86_64', onDemandPrice: 0.17, currentGeneration: true, quotaBucket: 'standard'},
  {instanceType: 'c7g.xlarge', vcpus: 4, memoryMiB: 8192, architecture: 'arm64', onDemandPrice: 0.145, currentGeneration: true, quotaBucket: 'standard'},
  {instanceType: 'g4dn.xlarge', vcpus: 4, memoryMiB: 16384, architecture: 'x86_64', onDemandPrice: 0.526, currentGeneration: true, quotaBucket: 'g', gpu: {name: 'T4', manufacturer: 'NVIDIA', count: 1, memoryMiB: 16384}},
  {instanceType: 'g5.xlarge', vcpus: 4, memoryMiB: 16384, architecture: 'x86_64', onDemandPrice: 1.006, currentGeneration: true, quotaBucket: 'g', gpu: {name: 'A10G', manufacturer: 'NVIDIA', count: 1, memoryMiB: 24576}},
  {instanceType: 'p3.2xlarge', vcpus: 8, memoryMiB: 62464, architecture: 'x86_64', onDemandPrice: 3.06, currentGeneration: true, quotaBucket: 'p', gpu: {name: 'V100', manufacturer: 'NVIDIA', count: 1, memoryMiB: 16384}},
  {instanceType: 'p4d.24xlarge', vcpus: 96, memoryMiB: 1179648, architecture: 'x86_64', onDemandPrice: 32.7726, currentGeneration: true, quotaBucket: 'p', gpu: {name: 'A100', manufacturer: 'NVIDIA', count: 8, memoryMiB: 40960}},
]

/** Looks up an instance type. */
export function instanceTypeInfo(type: string): InstanceTypeInfo | undefined {
  return INSTANCE_TYPES.find((t) => t.instanceType === type)
}

/** One machine image of the catalog. */
export interface FakeImage {
  imageId: string
  region: string
  name: string
  description: string
  ownerId: string
  architecture: 'x86_64' | 'arm64'
  creationDate: string
  rootDeviceName: string
  rootVolumeSize: number
  rootVolumeType: string
  snapshotId: string
}

const UBUNTU_RELEASES = [
  {codename: 'jammy', version: '22.04', prefix: 'ubuntu/images/hvm-ssd/ubuntu', volumeType: 'gp2', dates: ['20240501', '20241002']},
  {codename: 'noble', version: '24.04', prefix: 'ubuntu/images/hvm-ssd-gp3/ubuntu', volumeType: 'gp3', dates: ['20240801', '20250115']},
] as const

/** The Ubuntu LTS images of a region (deterministic ids, two builds per release and architecture). */
export function imagesFor(region: string): FakeImage[] {
  const out: FakeImage[] = []
  for (const rel of UBUNTU_RELEASES) {
    for (const arch of ['amd64', 'arm64'] as const) {
      for (const date of rel.dates) {
        const name = `${rel.prefix}-${rel.codename}-${rel.version}-${arch}-server-${date}`
        out.push({
          imageId: stableId('ami', region, name),
          region,
          name,
          description: `Canonical, Ubuntu, ${rel.version} LTS, ${arch} ${rel.codename} image build on ${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6)}`,
          ownerId: CANONICAL_OWNER_ID,
          architecture: arch === 'amd64' ? 'x86_64' : 'arm64',
          creationDate: `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6)}T12:00:00.000Z`,
          rootDeviceName: '/dev/sda1',
          rootVolumeSize: 8,
          rootVolumeType: rel.volumeType,
          snapshotId: stableId('snap', region, name),
        })
      }
    }
  }
  return out
}

const KNOWN_ZONES: Record<string, string[]> = {
  'us-east-1': ['a', 'b', 'c', 'd', 'f'],
  'us-east-2': ['a', 'b', 'c'],
  'us-west-2': ['a', 'b', 'c', 'd'],
  'eu-west-1': ['a', 'b', 'c'],
  'eu-central-1': ['a', 'b', 'c'],
  'ap-southeast-2': ['a', 'b', 'c'],
}

const ZONE_ID_PREFIX: Record<string, string> = {
  'us-east-1': 'use1',
  'us-east-2': 'use2',
  'us-west-2': 'usw2',
  'eu-west-1': 'euw1',
  'eu-central-1': 'euc1',
  'ap-southeast-2': 'apse2',
}

/** Whether a string looks like an AWS region name. */
export function isRegionName(region: string): boolean {
  return /^[a-z]{2}(-[a-z]+)+-[0-9]+$/.test(region)
}

/** The availability zones of a region (a, b, c for regions the catalog does not list). */
export function zonesFor(region: string): {zoneName: string; zoneId: string}[] {
  const letters = KNOWN_ZONES[region] ?? ['a', 'b', 'c']
  const idPrefix = ZONE_ID_PREFIX[region] ?? region.replace(/-/g, '').slice(0, 6)
  return letters.map((l, i) => ({zoneName: `${region}${l}`, zoneId: `${idPrefix}-az${i + 1}`}))
}

/** The deterministic spot price of a type in a zone (a fraction of on-demand that varies by zone). */
export function spotPrice(info: InstanceTypeInfo, zoneName: string): number {
  const h = createHash('sha256').update(`${zoneName}/${info.instanceType}`).digest()
  const fraction = 0.25 + ((h[0] as number) / 255) * 0.2
  return Math.round(info.onDemandPrice * fraction * 10000) / 10000
}
