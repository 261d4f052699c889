/**
 * The `azure` provider (SPEC §6, issue 10): blob containers in continent-shared storage accounts,
 * and jobs on Azure VMs, through Azure Resource Manager with the real `@azure/arm-*` SDKs.
 *
 * Files, as the aws provider's:
 * - clients.ts: credentials (service principal from `${env:…}` or the Azure CLI login; never the
 *   metadata-probing default chain), `cloud`/`endpoints`, lazily built ARM clients, a retry budget.
 * - buckets.ts: containers in `anycloud{continent}{subscriptionPrefix}` (resource group
 *   `anycloud-storage-{continent}`, created on first use, race-safe, never deleted by a destroy),
 *   made and deleted through ARM; the data plane (emptiness, SAS) with the key ARM lists.
 * - identity.ts: `PROFILE.identity`, a user-assigned managed identity with Storage Blob Data
 *   Contributor on each of the deployment's containers (container scope).
 * - compute.ts: `PROFILE.network` (region group + shared VNet; NSG SSH-only, Standard public IP,
 *   NIC), `PROFILE.sshkey` (local key pair), `PROFILE.vm` (Ubuntu 24.04 LTS gen2, spot Delete/-1,
 *   GPU sizes from the catalog, host key through cloud-init custom data, pinned).
 * - bootstrap.ts: `PROFILE.bootstrap` / `PROFILE.workload` over SSH (shared machine logic).
 * - errors.ts, names.ts.
 *
 * Storage-only mode: with the credential's `endpoint` set (azurite, or one existing account), the
 * provider keeps its earlier behaviour: the account the URL names, reached with its shared key
 * (`clientSecret` without tenantId/clientId, AZURE_STORAGE_KEY, or azurite's published key); it
 * then manages no compute.
 *
 * rclone (RcloneRemoteSpec): on an Azure VM of this credential, `{type: azureblob, account,
 * use_msi: true}` plus `msi_client_id` (the identity's client id, learned at apply time); elsewhere
 * (ssh hosts, other clouds' VMs, or ANYCLOUD_AZURE_BLOB_AUTH=sas) a container SAS as `sas_url`,
 * minted at apply time and never stored.
 *
 * Knobs (environment): ANYCLOUD_AZURE_SSH_USER (login user; default `anycloud`, the VM's admin),
 * ANYCLOUD_AZURE_POLL_MS (long-running operation and VM polls), ANYCLOUD_AZURE_BLOB_AUTH
 * (`msi` or `sas`), and, shared with the ssh provider, ANYCLOUD_REMOTE_PREFIX and
 * ANYCLOUD_STORAGE_CHECK.
 */
import type {NamedCredential} from '../../config/types.js'
import type {AzureCredential} from '../../config/schema-types.js'
import type {RcloneRemoteSpec} from '../../bootstrap/types.js'
import {ProviderError, UsageError} from '../../errors/index.js'
import {bucketNameProblems} from '../../model/bucket-names.js'
import {canonicalRegion, continentOf, type Continent} from '../../model/continents.js'
import {bucketOf} from '../../model/deployment-spec.js'
import type {ActualResource, DeploymentContext, DesiredResource, ResourceKind} from '../../model/resources.js'
import {registerSecret} from '../../util/redact.js'
import {kindTable, type KindTable, type Provider, type RcloneRequest} from '../provider.js'
import {cloudKinds} from '../cloud-kinds.js'
import {CloudProvider} from '../cloud-provider.js'
import type {BucketHead, BucketStore} from '../owned-buckets.js'
import {compact} from '../../util/object.js'
import type {ProviderFactory, ProviderFactoryOptions} from '../provider.js'
import {AzureMachine} from './bootstrap.js'
import {
  AZURITE_ACCOUNT,
  AZURITE_WELL_KNOWN_KEY,
  ArmStorage,
  AzureBlobStore,
  SAS_DEFAULT_SECONDS,
  SAS_PERMISSIONS,
  containerScope,
  metadataToTags,
  parseBlobEndpoint,
  storageAccountName,
  tagsToMetadata,
  type ArmContainer,
  type BlobEndpoint,
  type ContainerState,
  type StorageAccountInfo,
} from './buckets.js'
import {AzureClients, type AzureSdkOverrides} from './clients.js'
import * as computeModule from './compute.js'
import {ADMIN_USER, DEFAULT_TIMING, vmSizeFor, type AzureTiming, type ComputeContext} from './compute.js'
import {AZURE, armErrorInfo, azureErrorInfo, hasAzureCode, toAzureError} from './errors.js'
import * as identity from './identity.js'
import {deploymentResourceName} from './names.js'

export {
  AZURITE_ACCOUNT,
  SAS_DEFAULT_SECONDS,
  SAS_MAX_SECONDS,
  SAS_PERMISSIONS,
  SUBSCRIPTION_PREFIX_LENGTH,
  metadataToTags,
  parseBlobEndpoint,
  storageAccountName,
  storageResourceGroup,
  tagsToMetadata,
  type BlobEndpoint,
} from './buckets.js'
export {azureErrorInfo, toAzureError, armErrorInfo, classifyArm, toArmError} from './errors.js'
export {AZURE_CLOUDS, cloudEndpoints, authMode, type AzureSdkOverrides} from './clients.js'
export {DEFAULT_TIMING, DEFAULT_VM_SIZE, vmSizeFor, vmBody, renderCustomData, ubuntuImage, isArmSize, taggedResources, type AzureTiming} from './compute.js'
export {deploymentResourceName, regionGroup, roleAssignmentName, STORAGE_BLOB_DATA_CONTRIBUTOR} from './names.js'
export {CONTINENT_ACCOUNT_REGION, containerScope} from './buckets.js'

/** The region used when neither the profile nor the credential sets one. */
export const AZURE_DEFAULT_REGION = 'eastus'
/** The environment variable holding a storage account's shared key (endpoint mode). */
export const AZURE_STORAGE_KEY_ENV = 'AZURE_STORAGE_KEY'

/** How the provider reaches blob storage, resolved from the credential (no I/O). */
export type AzureStorageAccess =
  | {mode: 'endpoint'; endpoint: BlobEndpoint; accountKey?: string; keySource?: string}
  | {mode: 'arm'; subscriptionId: string}

/** A container found for a delete (its metadata are the tags). */
type AzureHead = BucketHead

/**
 * A container listing the credential may not make (403: AuthorizationPermissionMismatch, a role
 * scoped to single containers, an ARM role without the list action): read by name instead.
 */
function listingRefused(error: unknown): boolean {
  const raw = (error as {cause?: unknown})?.cause ?? error
  return azureErrorInfo(raw).status === 403 || armErrorInfo(raw).status === 403
}

/** The containers of every continent account, one listing per account (the first account wins a name, as findContainer); undefined when refused. */
async function listArmContainers(storage: ArmStorage): Promise<Map<string, ArmContainer> | undefined> {
  const out = new Map<string, ArmContainer>()
  try {
    for (const account of await storage.listAccounts()) for (const [name, c] of await storage.listContainers(account)) if (!out.has(name)) out.set(name, c)
  } catch (error) {
    if (listingRefused(error)) return undefined
    throw error
  }
  return out
}

/** Options beyond the credential (tests: the fake's CA, fast polls and retries). */
export interface AzureProviderOptions {
  maxTries?: number
  factory?: ProviderFactoryOptions
  sdk?: AzureSdkOverrides
  timing?: Partial<AzureTiming>
}

export class AzureProvider extends CloudProvider<unknown, AzureHead> implements Provider {
  readonly kind = 'azure' as const
  /** ARM: VMs and what they need; endpoint mode (one storage account): none. */
  readonly compute: KindTable

  private store?: Promise<AzureBlobStore>
  private arm?: {clients: AzureClients; storage: ArmStorage; compute: ComputeContext; machine: AzureMachine; identity: identity.IdentityContext}
  /** Continent of each bucket on this credential known this run (rclone's `account`). */
  private readonly continents = new Map<string, Continent>()
  /** The containers of the continent accounts as prepare first listed them (undefined: the listing was refused). */
  private prepareListing?: Promise<Map<string, ArmContainer> | undefined>
  private readonly env: NodeJS.ProcessEnv

  constructor(
    readonly credential: NamedCredential,
    readonly access: AzureStorageAccess,
    private readonly region: string | undefined,
    private readonly options: AzureProviderOptions = {},
  ) {
    super(options.factory)
    this.env = options.factory?.env ?? {}
    this.compute = kindTable([])
    if (access.mode === 'arm') {
      const clients = new AzureClients(credential, this.sdkOverrides())
      const poll = Number(this.env.ANYCLOUD_AZURE_POLL_MS)
      const timing: AzureTiming = {...DEFAULT_TIMING, ...(this.env.ANYCLOUD_AZURE_POLL_MS && Number.isFinite(poll) ? {pollMs: poll} : {}), ...(options.timing ?? {})}
      const compute: ComputeContext = {clients, credential: credential.name, timing, sshUser: this.env.ANYCLOUD_AZURE_SSH_USER || ADMIN_USER}
      const storage = new ArmStorage({clients, credential: credential.name})
      const blobAuth = this.env.ANYCLOUD_AZURE_BLOB_AUTH ?? 'msi'
      if (blobAuth !== 'msi' && blobAuth !== 'sas') throw new UsageError(`ANYCLOUD_AZURE_BLOB_AUTH must be msi or sas, not '${blobAuth}'`)
      const machine = new AzureMachine({
        compute,
        env: this.env,
        credential: credential.name,
        storageFor: (name) => this.storageProvider(name),
        storageOf: (name) => this.storageOf(name),
        useIdentity: blobAuth === 'msi',
      })
      const arm = {clients, storage, compute, machine, identity: {clients, credential: credential.name, storage, timing, clientIds: new Map()}}
      this.arm = arm
      this.compute = kindTable(cloudKinds({
        cloud: 'azure', credential: credential.name,
        identity: {
          read: (lookup, call) => identity.readIdentity(arm.identity, lookup.record, call),
          create: (resource, call) => identity.createIdentity(arm.identity, resource, call),
          update: (resource, record, call) => identity.updateIdentity(arm.identity, resource, record, call),
          delete: (record, call) => identity.deleteIdentity(arm.identity, record, call),
        },
        compute: {context: compute, module: computeModule},
        machine,
        prepare: (deployment) => this.prepare(deployment),
      }))
    }
  }

  /** Endpoint mode: compute is not available on this credential, and how to get it. */
  noKind(kind: ResourceKind): Error | undefined {
    return this.arm ? undefined : this.computeUnavailable(kind)
  }

  private sdkOverrides(): AzureSdkOverrides {
    const o = {...(this.options.sdk ?? {})}
    const poll = Number(this.env.ANYCLOUD_AZURE_POLL_MS)
    if (o.updateIntervalInMs === undefined && this.env.ANYCLOUD_AZURE_POLL_MS && Number.isFinite(poll)) o.updateIntervalInMs = poll
    return o
  }

  private get name(): string {
    return this.credential.name
  }

  /** Storage-only (endpoint) mode cannot do `what`, and how to get compute. */
  private computeUnavailable(what: string): ProviderError {
    return new ProviderError(
      `azure credential '${this.name}' sets \`endpoint\` (one storage account, storage only): it cannot manage ${what}`,
      'provider.compute-unavailable',
      AZURE,
      this.name,
      undefined,
      ['Remove `endpoint` (and give a service principal or use `az login`) to run VMs on Azure; keep it to use this credential as storage for an ssh host or another cloud.'],
    )
  }

  /**
   * Endpoint mode: lists at most one container (a wrong key answers 403). ARM: a token, then one
   * resource group listing: a refused login or an unknown subscription is an AuthError, so the
   * engine moves to the next credential.
   */
  async checkAuth(): Promise<{account?: string}> {
    if (this.arm) {
      const {clients} = this.arm
      const what = `authenticating to Azure (subscription ${clients.subscriptionId}, ${clients.mode === 'service-principal' ? `service principal ${clients.spec.clientId}` : 'Azure CLI login'})`
      const resources = await clients.resources()
      await clients.call(what, () => resources.resourceGroups.list({top: 1}).byPage().next())
      return {account: `subscription ${clients.subscriptionId} (${clients.endpoints.resourceManager})`}
    }
    const store = await this.blobStore()
    try {
      await store.probe()
    } catch (error) {
      throw toAzureError(error, `listing containers of storage account '${store.accountName}'`, this.name, store.endpoint.url)
    }
    return {account: `${store.accountName} (${store.endpoint.url})`}
  }

  defaultRegion(): string {
    return this.region ?? AZURE_DEFAULT_REGION
  }

  /** The cloud picks the zone (anycloud pins none, as SkyPilot). */
  zones(_region: string): string[] {
    return []
  }

  // ---- plan-time ------------------------------------------------------------------------------

  /** The continent of the account holding a bucket: found this run, else the deployment's or the default region's. */
  private continentFor(bucket: string, region?: string): Continent {
    return this.continents.get(bucket) ?? continentOf('azure', region ?? this.defaultRegion()) ?? 'us'
  }

  protected async prepareOnce(ctx: DeploymentContext): Promise<void> {
    if (!this.arm) return
    const storage = this.arm.storage
    const placementContinent = ctx.placement.provider === 'azure' ? continentOf('azure', ctx.placement.region) : undefined
    for (const b of [bucketOf(ctx.spec, 'input')?.name, bucketOf(ctx.spec, 'output')?.name, ctx.deploymentId]) {
      if (b && !this.continents.has(b)) {
        // Where a container lives does not change within a run: one listing per account serves every deployment.
        this.prepareListing ??= listArmContainers(storage).catch(() => undefined)
        const listed = await this.prepareListing
        const found = listed ? (listed.get(b) ?? null) : await storage.findContainer(b).catch(() => null)
        const c = found?.account.continent ?? placementContinent
        if (c) this.continents.set(b, c)
      }
    }
    if (ctx.placement.credential === this.credential.name) {
      await this.arm.machine.prepareStorage(ctx)
    }
  }

  protected kindAttributes(resource: DesiredResource, ctx: DeploymentContext): Record<string, unknown> {
    if (!this.arm) return {}
    switch (resource.kind) {
      case 'vm':
        return {vmSize: vmSizeFor(ctx)}
      case 'network':
        return {region: ctx.placement.region}
      default:
        return {}
    }
  }

  // ---- buckets --------------------------------------------------------------------------------

  /** Containers through ARM (the continent accounts), or in the one account `endpoint` names. */
  protected bucketStore(): BucketStore<unknown, AzureHead> {
    return (this.arm ? this.armBucketStore(this.arm.storage) : this.endpointBucketStore()) as BucketStore<unknown, AzureHead>
  }

  /** Containers through ARM: found in the continent accounts, listed per account, made in the account of the region's continent. */
  private armBucketStore(storage: ArmStorage): BucketStore<ArmContainer, AzureHead & {container: ArmContainer}> {
    /** The account each container was just created in (the read-back looks there, not in every account). */
    const createdIn = new Map<string, StorageAccountInfo>()
    const found = async (c: ArmContainer | null, withEmpty = true) => {
      if (!c) return null
      this.continents.set(c.name, c.account.continent)
      return this.armActual(c, withEmpty)
    }
    return {
      checkName: (name) => this.checkName(name),
      list: () => listArmContainers(storage),
      // A plan does not need the emptiness of a listed container (a delete reads it again).
      readListed: (_name, c) => found(c, false),
      read: async (name) => found(await storage.findContainer(name)),
      create: async (resource, placement) => {
        const region = canonicalRegion('azure', placement.region) ?? placement.region
        const continent = continentOf('azure', region) ?? continentOf('azure', this.defaultRegion()) ?? 'us'
        const account = await storage.ensureAccount(continent)
        createdIn.set(resource.name, account)
        if (await storage.getContainer(account, resource.name)) return 'exists'
        await storage.createContainer(account, resource.name, tagsToMetadata(placement.tags))
        return 'created'
      },
      readCreated: async (name) => found(await storage.getContainer(createdIn.get(name)!, name)),
      vanished: (name) => new ProviderError(`azure: container '${name}' in storage account '${createdIn.get(name)?.name}' vanished right after it was created`, 'azure.storage', AZURE, this.name),
      taken: (name) => this.taken(name, `storage account '${createdIn.get(name)?.name}'`),
      head: async (name) => {
        const c = await storage.findContainer(name)
        return c ? {container: c, tags: metadataToTags(c.metadata)} : null
      },
      isEmpty: async (head) => (await this.armActual(head.container)).empty === true,
      remove: async (head, name) => {
        await storage.deleteContainer(head.container.account, name)
        return 'deleted'
      },
    }
  }

  /** Containers of the one account `endpoint` names, through its data plane with the shared key. */
  private endpointBucketStore(): BucketStore<Record<string, string>, AzureHead> {
    const mapped = async <T>(what: (where: string) => string, fn: (store: AzureBlobStore) => Promise<T>): Promise<T> => {
      const store = await this.blobStore()
      try {
        return await fn(store)
      } catch (error) {
        throw toAzureError(error, what(`storage account '${store.accountName}'`), this.name, store.endpoint.url)
      }
    }
    const read = (name: string) => mapped((where) => `reading container '${name}' of ${where}`, (store) => store.read(name))
    return {
      checkName: (name) => this.checkName(name),
      list: async () => {
        const store = await this.blobStore()
        try {
          return await store.list()
        } catch (error) {
          if (listingRefused(error)) return undefined
          throw toAzureError(error, `listing containers of storage account '${store.accountName}'`, this.name, store.endpoint.url)
        }
      },
      readListed: async (name, metadata) => this.actual(await this.blobStore(), {name, metadata}),
      read: async (name) => {
        const state = await read(name)
        return state ? this.actual(await this.blobStore(), state) : null
      },
      create: async (resource, placement) => {
        const name = resource.name
        const store = await this.blobStore()
        const where = `storage account '${store.accountName}'`
        try {
          return await store.create(name, tagsToMetadata(placement.tags))
        } catch (error) {
          if (hasAzureCode(error, 'ContainerBeingDeleted')) {
            throw new ProviderError(
              `azure: container '${name}' in ${where} is still being deleted, so it cannot be created again yet`,
              'azure.container-being-deleted',
              AZURE,
              this.name,
              error,
              ['Azure takes up to a minute to finish deleting a container: apply again shortly.'],
            )
          }
          throw toAzureError(error, `creating container '${name}' in ${where}`, this.name, store.endpoint.url)
        }
      },
      vanished: (name) => new ProviderError(`azure: container '${name}' in storage account '${this.endpointOrUnavailable().accountName}' vanished right after it was created`, 'azure.storage', AZURE, this.name),
      taken: (name) => this.taken(name, `storage account '${this.endpointOrUnavailable().accountName}'`),
      head: async (name) => {
        const state = await read(name)
        return state ? {tags: metadataToTags(state.metadata), empty: state.empty} : null
      },
      isEmpty: (_head, name) => mapped(() => `listing blobs of container '${name}'`, (store) => store.isEmpty(name)),
      // Azure has no "delete only if empty": between the check and the delete a new blob could
      // still arrive. Callers delete output buckets only after their workload stopped writing.
      remove: (_head, name) => mapped((where) => `deleting container '${name}' of ${where}`, (store) => store.remove(name)),
    }
  }

  private async armActual(c: ArmContainer, withEmpty = true): Promise<ActualResource> {
    const tags = metadataToTags(c.metadata)
    const owned = tags['anycloud-managed'] === 'true'
    let empty: boolean | undefined
    if (withEmpty) {
      const store = await this.arm!.storage.store(c.account)
      try {
        empty = await store.isEmpty(c.name)
      } catch (error) {
        throw toAzureError(error, `listing blobs of container '${c.name}' in storage account '${c.account.name}'`, this.name, c.account.blobEndpoint)
      }
    }
    return {
      id: containerScope(this.arm!.clients.subscriptionId, c.account, c.name),
      attributes: {name: c.name},
      region: c.account.location,
      continent: c.account.continent,
      ...(empty !== undefined ? {empty} : {}),
      owned,
      outputs: compact({account: c.account.name, group: c.account.group, url: `${c.account.blobEndpoint}/${c.name}`, deployment: owned ? tags['anycloud-deployment'] : undefined}),
    }
  }

  private taken(name: string, where: string): ProviderError {
    return new ProviderError(
      `azure: the name '${name}' is taken: a container of that name already exists in ${where} and was not created by anycloud`,
      'azure.bucket-taken',
      AZURE,
      this.name,
      undefined,
      ['Pick another bucket name in anycloud.yaml, or name this container as an input bucket (anycloud never writes to or deletes what it did not create).'],
    )
  }

  // ---- rclone ---------------------------------------------------------------------------------

  /**
   * Pure. Instance identity (an Azure VM of this credential): `use_msi` with the account, and the
   * identity's client id as an apply-time option (not known at plan time; not secret, but it goes
   * with the minted options). Otherwise `sas_url`: a SAS for that container alone, minted per apply.
   */
  rcloneRemote(request: RcloneRequest): RcloneRemoteSpec {
    this.checkName(request.bucket)
    if (this.arm) {
      if (request.instanceIdentity) {
        const account = storageAccountName(this.continentFor(request.bucket), this.arm.clients.subscriptionId)
        // A container-scoped role cannot create or list containers: no_check_container (rclone ≥ 1.61).
        return {type: 'azureblob', options: {account, use_msi: 'true', no_check_container: 'true'}, path: request.bucket, secretOptions: ['msi_client_id'], secretsFingerprint: '', rcloneMinVersion: '1.61.0'}
      }
      return {type: 'azureblob', options: {}, path: request.bucket, secretOptions: ['sas_url'], secretsFingerprint: ''}
    }
    const endpoint = this.endpointOrUnavailable()
    if (request.instanceIdentity) {
      return {type: 'azureblob', options: {account: endpoint.accountName, use_msi: 'true'}, path: request.bucket, secretOptions: [], secretsFingerprint: ''}
    }
    return {type: 'azureblob', options: {}, path: request.bucket, secretOptions: ['sas_url'], secretsFingerprint: ''}
  }

  /**
   * `{msi_client_id}` with instance identity (the deployment's managed identity, read from ARM if
   * this run has not seen it), else `{sas_url}`: `<blob endpoint>/<container>?<SAS>` signed with
   * the account key, permissions by role (input `rl`, output `racwl`, checkpoint `racwdl`),
   * lifetime `expiresInSeconds` (default and maximum 7 days).
   */
  async rcloneSecrets(request: RcloneRequest): Promise<Record<string, string>> {
    this.checkName(request.bucket)
    this.minted.delete(request.bucket)
    if (this.arm) {
      if (request.instanceIdentity) {
        const clientId = this.arm.identity.clientIds.get(request.deploymentId) ?? (await this.findClientId(request.deploymentId))
        return {msi_client_id: clientId}
      }
      const c = await this.arm.storage.findContainer(request.bucket)
      if (!c) throw new ProviderError(`azure: container '${request.bucket}' not found in any anycloud storage account: cannot mint its SAS`, 'azure.container-missing', AZURE, this.name)
      const store = await this.arm.storage.store(c.account)
      return {sas_url: this.mintSas(store, request)}
    }
    if (request.instanceIdentity) {
      this.endpointOrUnavailable()
      return {}
    }
    const store = await this.blobStore()
    return {sas_url: this.mintSas(store, request)}
  }

  /** When the SAS last minted per bucket in this run expires (see Provider.rcloneSecretsExpiry). */
  private readonly minted = new Map<string, {expiresAt: string; durationSeconds: number}>()

  /** A SAS expires (7 days at most): the bootstrap records when, and `watch` mints a new one before. */
  rcloneSecretsExpiry(bucket: string): {expiresAt: string; durationSeconds: number} | undefined {
    return this.minted.get(bucket)
  }

  private mintSas(store: AzureBlobStore, request: RcloneRequest): string {
    const now = Date.now()
    const sasUrl = store.containerSasUrl(request.bucket, SAS_PERMISSIONS[request.role], request.expiresInSeconds ?? SAS_DEFAULT_SECONDS, new Date(now))
    const params = new URL(sasUrl).searchParams
    registerSecret(sasUrl)
    registerSecret(params.get('sig') ?? undefined)
    const expires = Date.parse(params.get('se') ?? '')
    if (Number.isFinite(expires)) this.minted.set(request.bucket, {expiresAt: new Date(expires).toISOString(), durationSeconds: Math.round((expires - now) / 1000)})
    return sasUrl
  }

  /** The client id of a deployment's identity, looked up by its deterministic name across the subscription. */
  private async findClientId(deploymentId: string): Promise<string> {
    const {clients} = this.arm!
    const msi = await clients.msi()
    const name = deploymentResourceName(deploymentId, 'id')
    const found = await clients.call(`finding managed identity '${name}'`, async () => {
      for await (const i of msi.userAssignedIdentities.listBySubscription()) if (i.name === name && i.clientId) return i.clientId
      return undefined
    })
    if (!found) throw new ProviderError(`azure: the managed identity ${name} of deployment ${deploymentId} does not exist: rclone on the VM cannot use it`, 'azure.identity-missing', AZURE, this.name)
    return found
  }

  // ---- other resources ------------------------------------------------------------------------

  protected vmMachine(): AzureMachine | undefined {
    return this.arm?.machine
  }

  protected override machineUnavailable(what: string): Error {
    return this.computeUnavailable(what)
  }

  async close(): Promise<void> {
    await this.arm?.machine.close()
  }

  /** The ARM clients (tests and the live suite's tag sweep). */
  get clients(): AzureClients | undefined {
    return this.arm?.clients
  }


  // ---------------------------------------------------------------------------------------------

  private actual(store: AzureBlobStore, state: Pick<ContainerState, 'name' | 'metadata'> & {empty?: boolean}): ActualResource {
    const tags = metadataToTags(state.metadata)
    const owned = tags['anycloud-managed'] === 'true'
    // The data plane does not tell an account's location: with an endpoint, the credential's
    // region (if any) is taken as where the account lives.
    const region = this.region
    const continent = region ? continentOf('azure', region) : undefined
    return {
      id: store.containerUrl(state.name),
      attributes: {name: state.name},
      ...(region ? {region} : {}),
      ...(continent ? {continent} : {}),
      ...(state.empty !== undefined ? {empty: state.empty} : {}),
      owned,
      outputs: compact({
        account: store.accountName,
        url: store.containerUrl(state.name),
        deployment: owned ? tags['anycloud-deployment'] : undefined,
      }),
    }
  }

  private checkName(name: string): void {
    const problems = bucketNameProblems(name, 'azure')
    if (problems.length > 0) {
      throw new UsageError(`'${name}' cannot be an Azure container: ${problems.join('; ')}`, [], 'bucket.invalid-name')
    }
  }

  private endpointOrUnavailable(): BlobEndpoint {
    if (this.access.mode === 'endpoint') return this.access.endpoint
    throw new ProviderError(`azure credential '${this.name}': no blob endpoint`, 'azure.storage', AZURE, this.name)
  }

  private blobStore(): Promise<AzureBlobStore> {
    if (!this.store) {
      const access = this.access
      if (access.mode !== 'endpoint') return Promise.reject(new ProviderError(`azure credential '${this.name}': no blob endpoint`, 'azure.storage', AZURE, this.name))
      if (!access.accountKey) {
        return Promise.reject(
          new UsageError(
            `azure credential '${this.name}': no shared key for storage account '${access.endpoint.accountName}' at ${access.endpoint.url}`,
            [
              `Set the credential's clientSecret to \${env:NAME} with the account key in NAME (without tenantId/clientId), or export ${AZURE_STORAGE_KEY_ENV}.`,
            ],
            'azure.no-account-key',
          ),
        )
      }
      this.store = AzureBlobStore.open(access.endpoint, access.accountKey, this.options).catch((error: unknown) => {
        this.store = undefined
        throw new UsageError(`azure credential '${this.name}': ${(error as Error).message}`, [], 'azure.bad-account-key')
      })
    }
    return this.store
  }
}

/** Resolves how a credential reaches storage. Throws UsageError for a malformed `endpoint`. */
export function azureStorageAccess(name: string, spec: AzureCredential, env: NodeJS.ProcessEnv): AzureStorageAccess {
  if (!spec.endpoint) return {mode: 'arm', subscriptionId: spec.subscriptionId}
  let endpoint: BlobEndpoint
  try {
    endpoint = parseBlobEndpoint(spec.endpoint)
  } catch (error) {
    throw new UsageError(`azure credential '${name}': endpoint ${(error as Error).message}`, ['Give the blob service URL, e.g. http://127.0.0.1:10000/devstoreaccount1 or https://ACCOUNT.blob.core.windows.net.'], 'azure.bad-endpoint')
  }
  const servicePrincipal = Boolean(spec.tenantId || spec.clientId)
  if (spec.clientSecret && !servicePrincipal) return {mode: 'endpoint', endpoint, accountKey: spec.clientSecret, keySource: 'clientSecret'}
  const fromEnv = env[AZURE_STORAGE_KEY_ENV]
  if (fromEnv) return {mode: 'endpoint', endpoint, accountKey: fromEnv, keySource: AZURE_STORAGE_KEY_ENV}
  if (endpoint.accountName === AZURITE_ACCOUNT) return {mode: 'endpoint', endpoint, accountKey: AZURITE_WELL_KNOWN_KEY, keySource: 'azurite'}
  return {mode: 'endpoint', endpoint}
}

/** The factory's options plus test knobs (the fake's CA, fast polls and retries). */
export interface AzureFactoryOptions extends ProviderFactoryOptions {
  sdk?: AzureSdkOverrides
  timing?: Partial<AzureTiming>
}

/** {@link ProviderFactory} of the `azure` provider (registry.ts imports it lazily). */
export const createAzureProvider: ProviderFactory = async (factoryOptions) => {
  const options = factoryOptions as AzureFactoryOptions
  const spec = options.credential.spec
  if (spec.provider !== 'azure') {
    throw new UsageError(`credential '${options.credential.name}' is a ${spec.provider} credential, not an azure one`, [], 'provider.mismatch')
  }
  const access = azureStorageAccess(options.credential.name, spec, options.env)
  if (access.mode === 'endpoint' && access.keySource !== 'azurite') registerSecret(access.accountKey)
  const region = spec.region ? (canonicalRegion('azure', spec.region) ?? spec.region) : undefined
  return new AzureProvider(options.credential, access, region, {factory: options, ...(options.sdk ? {sdk: options.sdk} : {}), ...(options.timing ? {timing: options.timing} : {})})
}
