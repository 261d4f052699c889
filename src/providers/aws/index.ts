/**
 * The `aws` provider (SPEC §6, issue 5): S3 buckets, and jobs on EC2.
 *
 * Resources and files:
 * - buckets (buckets.ts): S3, tagged with anycloud's ownership tags and the continent.
 * - `identity` (identity.ts): IAM role + instance profile `anycloud-<deploymentId>` (≤ 64
 *   characters) with one inline policy naming exactly the deployment's buckets.
 * - `network`, `sshkey`, `vm` (compute.ts): a security group (SSH in only), an imported ed25519
 *   key pair (private half in a 0600 file under the state directory, never in state), and the
 *   instance (Ubuntu LTS, IMDSv2 only, hop limit 1, gp3 root, spot via InstanceMarketOptions,
 *   host key installed through cloud-init, ClientToken = the engine's intent token).
 * - `bootstrap`, `workload` (bootstrap.ts): the machine logic shared with the ssh provider
 *   (src/bootstrap/machine.ts) over an SSH runner whose host key is pinned to the one anycloud
 *   generated for the instance.
 * - rclone (rclone.ts): how a machine reaches one of this credential's buckets (instance role,
 *   scoped STS credentials, or the credential's own keys for S3-compatible endpoints).
 * - errors (errors.ts): SDK errors → AuthError / CapacityError / ThrottledError / NotFoundError.
 *
 * Knobs (environment): ANYCLOUD_AWS_SSH_USER (the image's login user; default `ubuntu`),
 * ANYCLOUD_AWS_POLL_MS (instance polls), ANYCLOUD_AWS_SSH_READ_WAIT_MS (how long a refresh, `logs`
 * or a cleanup waits for a running VM's SSH; default 30 s), and, shared with the ssh provider,
 * ANYCLOUD_REMOTE_PREFIX and ANYCLOUD_STORAGE_CHECK (see src/providers/ssh).
 */
import type {NamedCredential} from '../../config/types.js'
import {AnycloudError, AuthError, UsageError} from '../../errors/index.js'
import {isKnownRegion} from '../../model/continents.js'
import {addressOf, type ActualResource, type BucketRole, type DeploymentContext, type DesiredResource} from '../../model/resources.js'
import type {RcloneRemoteSpec} from '../../bootstrap/types.js'
import {kindOf, kindTable, type KindTable, type Provider, type ProviderCallContext, type RcloneRequest, type ReadRequest, type ReadResult, type ResourceLookup} from '../provider.js'
import {cloudKinds} from '../cloud-kinds.js'
import {CloudProvider} from '../cloud-provider.js'
import type {BucketStore} from '../owned-buckets.js'
import {createLimiter} from '../../util/limit.js'
import type {ProviderFactory, ProviderFactoryOptions} from '../provider.js'
import {AwsMachine} from './bootstrap.js'
import * as buckets from './buckets.js'
import {AwsClients, type AwsSdkOverrides} from './clients.js'
import * as compute from './compute.js'
import {DEFAULT_SSH_USER, DEFAULT_TIMING, type AwsTiming, type ComputeContext} from './compute.js'
import {listingDenied, PROVIDER, toProviderError} from './errors.js'
import * as identity from './identity.js'
import * as rclone from './rclone.js'
import {stsSdk} from '../../util/aws-sdk.js'

export {iamName, ec2Name, IAM_NAME_MAX, ROLE_POLICY_NAME} from './names.js'
export {bucketSessionPolicy, callerKind, stsLimit, partitionOf, FEDERATION_MAX_SECONDS, CHAINED_MAX_SECONDS, mintScopedCredentials, type ScopedCredentials} from './rclone.js'
export {rolePolicyDocument, EC2_TRUST_POLICY} from './identity.js'
export {keyPath} from '../vm-keys.js'
export {architectureOf, instanceTypeFor, renderUserData, DEFAULT_TIMING, DEFAULT_INSTANCE_TYPE, DEFAULT_DISK_GB, CANONICAL_OWNER, type AwsTiming} from './compute.js'
export {CONTINENT_TAG} from './buckets.js'
export {DEFAULT_MAX_ATTEMPTS, type AwsSdkOverrides} from './clients.js'

/** Options beyond the factory's (tests: fast retries and waits). */
export interface AwsProviderOptions extends ProviderFactoryOptions {
  sdk?: AwsSdkOverrides
  timing?: Partial<AwsTiming>
}

/** Regions AWS may launch later: `xx-name-N`. */
const AWS_REGION_SHAPE = /^[a-z]{2}(-[a-z]+)+-\d+$/

export class AwsProvider extends CloudProvider<{region?: string}, buckets.S3Head> implements Provider {
  readonly kind = 'aws' as const
  readonly credential: NamedCredential
  readonly compute: KindTable
  readonly clients: AwsClients
  /** Bucket regions known to this run (reads, creates, prepare). */
  readonly regions = new Map<string, string>()
  private readonly computeContext: ComputeContext
  private readonly machine: AwsMachine
  private caller: Promise<{account: string; arn: string}> | undefined

  constructor(options: AwsProviderOptions) {
    super(options)
    this.credential = options.credential
    this.clients = new AwsClients(options.credential, options.env, options.sdk)
    const env = options.env
    const poll = Number(env.ANYCLOUD_AWS_POLL_MS)
    const readWait = Number(env.ANYCLOUD_AWS_SSH_READ_WAIT_MS)
    const timing: AwsTiming = {
      ...DEFAULT_TIMING,
      ...(Number.isFinite(poll) && poll >= 0 && env.ANYCLOUD_AWS_POLL_MS ? {pollMs: poll} : {}),
      ...(Number.isFinite(readWait) && readWait > 0 ? {sshReadWaitMs: readWait} : {}),
      ...(options.timing ?? {}),
    }
    this.computeContext = {clients: this.clients, credential: this.credential.name, timing, sshUser: env.ANYCLOUD_AWS_SSH_USER || DEFAULT_SSH_USER, zones: new Map()}
    this.machine = new AwsMachine({
      compute: this.computeContext,
      env,
      credential: this.credential.name,
      storageFor: (name) => this.storageProvider(name),
      storageOf: (name) => this.storageOf(name),
    })
    const ids = () => this.identityContext()
    this.compute = kindTable(cloudKinds<ComputeContext, compute.OwnedInRegion>({
      cloud: 'aws', credential: this.credential.name,
      identity: {
        read: (lookup, call) => identity.readIdentity(ids(), lookup.record?.name ?? lookup.name, call),
        create: (resource, call) => identity.createIdentity(ids(), resource, call),
        update: (resource, record, call) => identity.updateIdentity(ids(), resource, record, call),
        delete: (record, call) => identity.deleteIdentity(ids(), record, call),
      },
      compute: {context: this.computeContext, module: compute},
      machine: this.machine,
      prepare: (deployment) => this.prepare(deployment),
    }))
  }

  // ---- identity of the credential ------------------------------------------------------------

  private bucketContext(): buckets.BucketContext {
    return {clients: this.clients, credential: this.credential.name, regions: this.regions}
  }

  private rcloneContext(): rclone.RcloneContext {
    return {clients: this.clients, credential: this.credential.name, regions: this.regions, callerArn: async () => (await this.callerIdentity()).arn}
  }

  /** GetCallerIdentity, once per run (a failure is not cached). */
  private callerIdentity(): Promise<{account: string; arn: string}> {
    if (!this.caller) {
      this.caller = (async () => {
        const {GetCallerIdentityCommand} = await stsSdk()
        const sts = await this.clients.sts()
        try {
          const out = await sts.send(new GetCallerIdentityCommand({}))
          return {account: out.Account ?? '', arn: out.Arn ?? ''}
        } catch (error) {
          const mapped = toProviderError(error, 'GetCallerIdentity', this.credential.name)
          // No credential found by the chain, or a profile that does not exist: an auth failure too.
          const name = (error as Error)?.name ?? ''
          if (!(mapped instanceof AuthError) && !(error instanceof AnycloudError) && (name === 'CredentialsProviderError' || /credential|profile/i.test((error as Error)?.message ?? '') && !(error as {$metadata?: unknown}).$metadata)) {
            throw new AuthError(`aws credential '${this.credential.name}': no usable credentials (${(error as Error).message})`, PROVIDER, this.credential.name, error)
          }
          throw mapped
        }
      })()
      this.caller.catch(() => (this.caller = undefined))
    }
    return this.caller
  }

  async checkAuth(): Promise<{account?: string}> {
    const id = await this.callerIdentity()
    const expected = this.clients.spec.accountId
    if (expected && id.account !== expected) {
      throw new AuthError(
        `aws credential '${this.credential.name}' belongs to account ${id.account}, not ${expected} (accountId in anycloud.yaml): refusing to act`,
        PROVIDER,
        this.credential.name,
      )
    }
    return {account: `${id.account} (${id.arn})`}
  }

  defaultRegion(): string {
    return this.clients.defaultRegion()
  }

  zones(region: string): string[] {
    return compute.zonesOf(this.computeContext, region)
  }

  /** A region valid for S3/EC2: `region` when it is an AWS region, else this credential's default. */
  private awsRegion(region: string | undefined): string {
    if (region && (isKnownRegion('aws', region) || AWS_REGION_SHAPE.test(region))) return region
    return this.defaultRegion()
  }

  // ---- plan-time ------------------------------------------------------------------------------

  /** Buckets of a deployment on this credential's storage, with the region each has or will have. */
  private bucketsHere(ctx: DeploymentContext): Array<{role: BucketRole; name: string; region: string}> {
    const placementStorage = this.storageOf(ctx.placement.credential)
    return ctx.spec.buckets
      .filter((b) => (b.explicitCredential ? b.credential : placementStorage) === this.credential.name)
      .map((b) => ({role: b.role, name: b.name, region: this.awsRegion(b.region ?? ctx.placement.region)}))
  }

  /**
   * Loads what the pure hooks need: the regions of this credential's buckets (the rclone remotes
   * name them, and the bootstrap hash covers the remotes), the zones of the region, and the
   * providers of the other storage credentials the machine syncs with.
   */
  protected async prepareOnce(ctx: DeploymentContext): Promise<void> {
    const bctx = this.bucketContext()
    await Promise.all(
      this.bucketsHere(ctx).map(async (b) => {
        if (this.regions.has(b.name)) return
        const region = await buckets.bucketRegion(bctx, b.name)
        if (!this.regions.has(b.name)) this.regions.set(b.name, region ?? b.region)
      }),
    )
    if (ctx.placement.credential === this.credential.name) {
      await compute.learnZones(this.computeContext, ctx.placement.region).catch(() => undefined)
      await this.machine.prepareStorage(ctx)
    }
  }

  protected kindAttributes(resource: DesiredResource, ctx: DeploymentContext): Record<string, unknown> {
    switch (resource.kind) {
      case 'vm':
        return {instanceType: compute.instanceTypeFor(ctx)}
      case 'network':
        // Regional: a region change replaces it; so does another set of SSH sources.
        return {region: ctx.placement.region, sshAllowFrom: compute.sshAllowFrom(ctx, this.credential.spec as {sshAllowFrom?: string[]})}
      case 'sshkey':
        // Regional: a region change replaces it.
        return {region: ctx.placement.region}
      default:
        return {}
    }
  }

  // ---- buckets --------------------------------------------------------------------------------

  /** S3 as the owned-bucket lifecycle's store (one ListBuckets per refresh, HeadBucket only for names it does not show). */
  protected bucketStore(): BucketStore<{region?: string}, buckets.S3Head> {
    return buckets.s3BucketStore(this.bucketContext(), (region) => this.awsRegion(region))
  }

  async newestObject(name: string): Promise<{key: string; modified: string} | null> {
    return buckets.newestObject(this.bucketContext(), name)
  }

  rcloneRemote(request: RcloneRequest): RcloneRemoteSpec {
    return rclone.rcloneRemote(this.rcloneContext(), request)
  }

  /** Expiry of the credentials last minted per bucket in this run (see Provider.rcloneSecretsExpiry). */
  private readonly minted = new Map<string, {expiresAt: string; durationSeconds: number}>()

  async rcloneSecrets(request: RcloneRequest): Promise<Record<string, string>> {
    const r = await rclone.rcloneSecretsWithExpiry(this.rcloneContext(), request)
    if (r.expiresAt && r.durationSeconds) this.minted.set(request.bucket, {expiresAt: r.expiresAt, durationSeconds: r.durationSeconds})
    else this.minted.delete(request.bucket)
    return r.values
  }

  rcloneSecretsExpiry(bucket: string): {expiresAt: string; durationSeconds: number} | undefined {
    return this.minted.get(bucket)
  }

  // ---- other resources ------------------------------------------------------------------------

  /**
   * Refresh's batch: per region, one DescribeInstances, DescribeSecurityGroups and DescribeKeyPairs
   * filtered by the project tag (EC2 meters these reads); IAM identities from one listing of the
   * project's path; then each resource is read from those.
   * The machine's own VM lookup (bootstrap, workload) is served from the same batch.
   */
  async readMany(requests: readonly ReadRequest[]): Promise<ReadResult[]> {
    const wanted = new Map<string, Set<string>>()
    const regionOf = (r: ReadRequest) => {
      const vm = r.ctx.records[addressOf(r.ctx.deployment.spec.name, 'vm')]
      return compute.recordRegion(r.lookup.kind === 'bootstrap' || r.lookup.kind === 'workload' ? vm : r.lookup.record, r.ctx.deployment)
    }
    for (const r of requests) {
      if (r.lookup.kind === 'identity') continue
      const kind = r.lookup.kind === 'bootstrap' || r.lookup.kind === 'workload' ? 'vm' : r.lookup.kind
      const key = `${r.ctx.deployment.project}\u0000${regionOf(r)}`
      wanted.set(key, (wanted.get(key) ?? new Set()).add(kind))
    }
    const owned = new Map<string, Promise<compute.OwnedInRegion>>()
    for (const [key, kinds] of wanted) {
      const [project, region] = key.split('\u0000')
      const p = compute.describeOwned(this.computeContext, region, project, kinds)
      p.catch(() => undefined)
      owned.set(key, p)
    }
    // IAM is global: one listing of the project's path for every identity.
    const listings = new Map<string, Promise<identity.ListedIdentities>>()
    for (const r of requests) {
      const project = r.ctx.deployment.project
      if (r.lookup.kind !== 'identity' || listings.has(project)) continue
      const p = identity.listIdentities(this.identityContext(), project)
      p.catch(() => undefined)
      listings.set(project, p)
    }
    const limit = createLimiter(this.readConcurrency)
    return Promise.all(requests.map((r) => limit(async (): Promise<ReadResult> => {
      try {
        if (r.lookup.kind === 'identity') {
          const name = r.lookup.record?.name ?? r.lookup.name
          const listed = await listings.get(r.ctx.deployment.project)!.catch(listingDenied)
          // A credential allowed iam:GetRole but not iam:ListRoles: read by name, as before.
          if (!listed) return {value: await identity.readIdentity(this.identityContext(), name, r.ctx)}
          return {value: await identity.readListedIdentity(this.identityContext(), listed, name, r.ctx, Boolean(r.lookup.record))}
        }
        const batch = await owned.get(`${r.ctx.deployment.project}\u0000${regionOf(r)}`)
        return {value: await this.readOne(r.lookup, r.ctx, batch)}
      } catch (error) {
        return {error}
      }
    })))
  }

  private async readOne(resource: ResourceLookup, ctx: ProviderCallContext, owned?: compute.OwnedInRegion): Promise<ActualResource | null> {
    if (owned && (resource.kind === 'bootstrap' || resource.kind === 'workload')) {
      const vm = ctx.records[addressOf(ctx.deployment.spec.name, 'vm')]
      this.machine.seedVm(ctx, owned.instances.find((i) => i.id === vm?.id))
    }
    return kindOf(this, resource.kind).read(resource, ctx, owned)
  }

  protected vmMachine(): AwsMachine {
    return this.machine
  }

  async close(): Promise<void> {
    await this.machine.close()
    await this.clients.destroy()
  }

  private identityContext(): identity.IdentityContext {
    return {clients: this.clients, credential: this.credential.name}
  }

}

/** {@link ProviderFactory} of the `aws` provider (registry.ts imports it lazily). */
export const createAwsProvider: ProviderFactory = async (options) => {
  if (options.credential.spec.provider !== 'aws') {
    throw new UsageError(`credential '${options.credential.name}' is a ${options.credential.spec.provider} credential, not an aws one`, [], 'provider.mismatch')
  }
  return new AwsProvider(options)
}
