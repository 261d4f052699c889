/**
 * The `azure` provider: for now only its STORAGE side (buckets as Blob containers, and how rclone
 * on a machine reaches them), so that an ssh host (or another cloud) can keep its buckets on
 * Azure. Azure compute comes later: `kinds` is empty and read/create/update/delete of any other
 * kind raise a clear error.
 *
 * Two ways to reach storage:
 * - **`endpoint` set** (azurite, or one existing real account): the account is the one the URL
 *   names (`http://127.0.0.1:10000/devstoreaccount1`, `https://myacct.blob.core.windows.net`),
 *   reached with its shared key, taken from, in order: the credential's `clientSecret` (a
 *   `${env:…}` reference; used as the account key only when `tenantId`/`clientId` are not set,
 *   i.e. when it is not a service principal's secret), the `AZURE_STORAGE_KEY` environment
 *   variable, or, for azurite's `devstoreaccount1`, azurite's published development key.
 * - **no `endpoint`** (the real cloud): containers live in the continent's shared account
 *   `anycloud{continent}{subscriptionPrefix}` (buckets.ts). Creating and finding that account needs
 *   Azure Resource Manager (`@azure/arm-storage`), which this version does not ship, so every
 *   storage call raises `azure.storage-unavailable` naming the workaround (an `endpoint`).
 *
 * Bucket semantics (provider.ts): containers carry the ownership tags as metadata
 * (`anycloud_managed`…); `readBucket` → `{id: container URL, owned, empty, region, continent}`;
 * `createBucket` is idempotent (an existing container with anycloud's metadata is adopted; one
 * without is "name taken"); `deleteBucket` deletes only owned containers of the record's
 * deployment, keeps a non-empty one unless forced.
 *
 * rclone (RcloneRemoteSpec): with instance identity, `{type: azureblob, account, use_msi: true}`;
 * without (ssh hosts), a container SAS with a bounded lifetime as `sas_url` (the only form rclone
 * 1.60 accepts against azurite), minted at apply time by `rcloneSecrets` and never stored.
 */
import type {NamedCredential} from '../../config/types.js'
import type {AzureCredential} from '../../config/schema-types.js'
import type {RcloneRemoteSpec} from '../../bootstrap/types.js'
import {ProviderError, UsageError} from '../../errors/index.js'
import {bucketNameProblems} from '../../model/bucket-names.js'
import {canonicalRegion, continentOf} from '../../model/continents.js'
import type {ActualResource, DesiredResource, ResourceRecord} from '../../model/resources.js'
import {registerSecret} from '../../util/redact.js'
import {bucketDeployment, type Provider, type RcloneRequest} from '../provider.js'
import {compact} from '../../util/object.js'
import {StorageOnlyProvider} from '../storage-only.js'
import type {ProviderFactory} from '../provider.js'
import {
  AZURITE_ACCOUNT,
  AZURITE_WELL_KNOWN_KEY,
  AzureBlobStore,
  SAS_DEFAULT_SECONDS,
  SAS_PERMISSIONS,
  metadataToTags,
  parseBlobEndpoint,
  tagsToMetadata,
  type BlobEndpoint,
  type ContainerState,
} from './buckets.js'
import {AZURE, hasAzureCode, toAzureError} from './errors.js'

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
export {azureErrorInfo, toAzureError} from './errors.js'

/** The region used when neither the profile nor the credential sets one. */
export const AZURE_DEFAULT_REGION = 'eastus'
/** The environment variable holding a storage account's shared key (endpoint mode). */
export const AZURE_STORAGE_KEY_ENV = 'AZURE_STORAGE_KEY'

/** The message of every non-bucket operation until Azure compute lands. */
export const AZURE_COMPUTE_UNAVAILABLE = 'compute on azure is not available yet: use this credential as storage for an ssh host or another cloud'

/** How the provider reaches blob storage, resolved from the credential (no I/O). */
export type AzureStorageAccess =
  | {mode: 'endpoint'; endpoint: BlobEndpoint; accountKey?: string; keySource?: string}
  | {mode: 'arm'; subscriptionId: string}

export class AzureProvider extends StorageOnlyProvider implements Provider {
  readonly kind = 'azure' as const
  readonly readConcurrency = 16

  private store?: Promise<AzureBlobStore>

  constructor(
    readonly credential: NamedCredential,
    readonly access: AzureStorageAccess,
    private readonly region: string | undefined,
    private readonly options: {maxTries?: number} = {},
  ) {
    super()
  }

  private get name(): string {
    return this.credential.name
  }

  /** Lists at most one container: a wrong or revoked key answers 403 → AuthError. */
  async checkAuth(): Promise<{account?: string}> {
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

  /** Azure zones are `1`–`3` per subscription and region; the cloud picks (compute is not here yet). */
  zones(_region: string): string[] {
    return []
  }

  // ---------------------------------------------------------------------------------------------
  // Buckets

  async readBucket(name: string): Promise<ActualResource | null> {
    this.checkName(name)
    const store = await this.blobStore()
    let state: ContainerState | null
    try {
      state = await store.read(name)
    } catch (error) {
      throw toAzureError(error, `reading container '${name}' of storage account '${store.accountName}'`, this.name, store.endpoint.url)
    }
    return state ? this.actual(store, state) : null
  }

  /**
   * Creates the container with the ownership tags as metadata. Idempotent: when the name exists
   * already, a container carrying `anycloud_managed=true` is adopted as is; one without is
   * somebody else's and the create fails ("name taken"), touching nothing.
   */
  async createBucket(resource: DesiredResource, ctx: {region: string; tags: Record<string, string>}): Promise<ActualResource> {
    const name = resource.name
    this.checkName(name)
    const store = await this.blobStore()
    const where = `storage account '${store.accountName}'`
    try {
      await store.create(name, tagsToMetadata(ctx.tags))
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
    let state: ContainerState | null
    try {
      state = await store.read(name)
    } catch (error) {
      throw toAzureError(error, `reading container '${name}' of ${where}`, this.name, store.endpoint.url)
    }
    if (!state) throw new ProviderError(`azure: container '${name}' in ${where} vanished right after it was created`, 'azure.storage', AZURE, this.name)
    const actual = this.actual(store, state)
    if (!actual.owned) {
      throw new ProviderError(
        `azure: the name '${name}' is taken: a container of that name already exists in ${where} and was not created by anycloud`,
        'azure.bucket-taken',
        AZURE,
        this.name,
        undefined,
        ['Pick another bucket name in anycloud.yaml, or name this container as an input bucket (anycloud never writes to or deletes what it did not create).'],
      )
    }
    return actual
  }

  /**
   * Deletes a container only when its metadata carries anycloud's tags and, when the record names
   * its deployment (`outputs.deployment`, or a checkpoint bucket's name), that deployment. Without
   * `force` a container holding any blob is kept. A missing container is success.
   */
  async deleteBucket(record: ResourceRecord, options: {force: boolean}): Promise<{deleted: boolean; reason?: string}> {
    const name = record.name
    this.checkName(name)
    const store = await this.blobStore()
    const where = `storage account '${store.accountName}'`
    let state: ContainerState | null
    try {
      state = await store.read(name)
    } catch (error) {
      throw toAzureError(error, `reading container '${name}' of ${where}`, this.name, store.endpoint.url)
    }
    if (!state) return {deleted: true}
    const tags = metadataToTags(state.metadata)
    if (tags['anycloud-managed'] !== 'true') return {deleted: false, reason: 'not created by anycloud (no ownership tags)'}
    const expected = bucketDeployment(record)
    if (expected !== undefined && tags['anycloud-deployment'] !== expected) {
      return {deleted: false, reason: `owned by deployment '${tags['anycloud-deployment'] ?? '?'}', not '${expected}'`}
    }
    // Azure has no "delete only if empty": between this check and the delete a new blob could
    // still arrive. Callers delete output buckets only after their workload stopped writing.
    if (!options.force && !state.empty) return {deleted: false, reason: 'holds data'}
    try {
      await store.remove(name)
    } catch (error) {
      throw toAzureError(error, `deleting container '${name}' of ${where}`, this.name, store.endpoint.url)
    }
    return {deleted: true}
  }

  // ---------------------------------------------------------------------------------------------
  // rclone

  /**
   * Pure. Instance identity: `use_msi` with the account (no secret; the VM's managed identity
   * needs a Storage Blob Data role on the container). Otherwise one secret option, `sas_url`: a
   * SAS for that container alone, minted per apply (so no fingerprint: it must not make every plan
   * show a change).
   */
  rcloneRemote(request: RcloneRequest): RcloneRemoteSpec {
    this.checkName(request.bucket)
    const endpoint = this.endpointOrUnavailable()
    if (request.instanceIdentity) {
      return {type: 'azureblob', options: {account: endpoint.accountName, use_msi: 'true'}, path: request.bucket, secretOptions: [], secretsFingerprint: ''}
    }
    return {type: 'azureblob', options: {}, path: request.bucket, secretOptions: ['sas_url'], secretsFingerprint: ''}
  }

  /**
   * `{sas_url}`: `<endpoint>/<container>?<SAS>` signed with the account key, permissions by role
   * (input `rl`, output `racwl`, checkpoint `racwdl`), lifetime `expiresInSeconds` (default and
   * maximum 7 days). `{}` with instance identity.
   */
  async rcloneSecrets(request: RcloneRequest): Promise<Record<string, string>> {
    this.checkName(request.bucket)
    if (request.instanceIdentity) {
      this.endpointOrUnavailable()
      return {}
    }
    const store = await this.blobStore()
    const sasUrl = store.containerSasUrl(request.bucket, SAS_PERMISSIONS[request.role], request.expiresInSeconds ?? SAS_DEFAULT_SECONDS)
    registerSecret(sasUrl)
    registerSecret(new URL(sasUrl).searchParams.get('sig') ?? undefined)
    return {sas_url: sasUrl}
  }

  // ---------------------------------------------------------------------------------------------

  private actual(store: AzureBlobStore, state: ContainerState): ActualResource {
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
      empty: state.empty,
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
    throw this.armUnavailable()
  }

  private blobStore(): Promise<AzureBlobStore> {
    if (!this.store) {
      const access = this.access
      if (access.mode !== 'endpoint') return Promise.reject(this.armUnavailable())
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

  private armUnavailable(): ProviderError {
    return new ProviderError(
      `azure credential '${this.name}': storage on Azure without an \`endpoint\` needs Azure Resource Manager (to create and find the continent's storage account anycloud{continent}{subscription}), which is not available in this version of anycloud yet`,
      'azure.storage-unavailable',
      AZURE,
      this.name,
      undefined,
      [
        'To use an existing storage account, set the credential\'s `endpoint` to its blob URL (https://ACCOUNT.blob.core.windows.net) and give its key through clientSecret: ${env:NAME} or AZURE_STORAGE_KEY.',
      ],
    )
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

/** {@link ProviderFactory} of the `azure` provider (registry.ts imports it lazily). */
export const createAzureProvider: ProviderFactory = async (options) => {
  const spec = options.credential.spec
  if (spec.provider !== 'azure') {
    throw new UsageError(`credential '${options.credential.name}' is a ${spec.provider} credential, not an azure one`, [], 'provider.mismatch')
  }
  const access = azureStorageAccess(options.credential.name, spec, options.env)
  if (access.mode === 'endpoint' && access.keySource !== 'azurite') registerSecret(access.accountKey)
  const region = spec.region ? (canonicalRegion('azure', spec.region) ?? spec.region) : undefined
  return new AzureProvider(options.credential, access, region)
}
