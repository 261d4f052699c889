/**
 * Azure Blob storage for anycloud buckets: names, ownership metadata, and a thin data-plane
 * wrapper over `@azure/storage-blob` (loaded lazily: only when a bucket call is made).
 *
 * Layout (reference/anycloud-bucket-sync-internals.txt, notes/azure-provider.md §3): one storage
 * account per continent, `anycloud{continent}{subscriptionPrefix}` in the resource group
 * `anycloud-storage-{continent}`; an anycloud bucket is a container in it. With the credential's
 * `endpoint` set, the account is the one that endpoint names (azurite's `devstoreaccount1`, or an
 * existing real account), reached with its shared key.
 *
 * Container metadata names must be C# identifiers, so the ownership tags `anycloud-managed`… are
 * stored as `anycloud_managed`… (Azure returns metadata names lower-cased).
 */
import type {BlobServiceClient, StorageSharedKeyCredential} from '@azure/storage-blob'

import {NotFoundError, ProviderError} from '../../errors/index.js'
import type {Continent} from '../../model/continents.js'
import type {BucketRole} from '../../model/resources.js'
import {sleep} from '../../util/process.js'
import {registerSecret} from '../../util/redact.js'
import type {AzureClients} from './clients.js'
import {AZURE, armErrorInfo, isAzureNotFound, hasAzureCode} from './errors.js'
import {blobSdk} from '../../util/azure-sdk.js'

/** `anycloud` (8) + the longest continent code `latam` (5) + 11 = 24, Azure's account name limit. */
export const SUBSCRIPTION_PREFIX_LENGTH = 11

/**
 * The continent's shared storage account: `anycloud{continent}{first 11 hex digits of the
 * subscription id}`, at most 24 lower-case letters and digits (the same prefix for every
 * continent, so the accounts of one subscription are recognisable together).
 */
export function storageAccountName(continent: Continent, subscriptionId: string): string {
  const prefix = subscriptionId.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, SUBSCRIPTION_PREFIX_LENGTH)
  return `anycloud${continent}${prefix}`
}

/** The resource group holding a continent's storage account. */
export function storageResourceGroup(continent: Continent): string {
  return `anycloud-storage-${continent}`
}

/** `anycloud-managed` → `anycloud_managed` (metadata names are C# identifiers). */
export function tagsToMetadata(tags: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(tags)) out[k.toLowerCase().replace(/[^a-z0-9_]/g, '_')] = v
  return out
}

/** Container metadata → ownership tags (`anycloud_managed` → `anycloud-managed`); other names are dropped. */
export function metadataToTags(metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(metadata ?? {})) {
    const key = k.toLowerCase()
    if (key.startsWith('anycloud_') || key.startsWith('anycloud-')) out[key.replace(/_/g, '-')] = v
  }
  return out
}

/** SAS permissions per bucket role: input is read-only; output never deletes; checkpoint may. */
export const SAS_PERMISSIONS: Readonly<Record<BucketRole, string>> = {input: 'rl', output: 'racwl', checkpoint: 'racwdl'}

/** Default and maximum lifetime of a minted SAS (7 days: the user-delegation key limit). */
export const SAS_DEFAULT_SECONDS = 7 * 24 * 3600
export const SAS_MAX_SECONDS = 7 * 24 * 3600
const SAS_MIN_SECONDS = 300
/** Start time margin for clock skew between here and the storage service. */
const SAS_SKEW_MS = 5 * 60_000

/** Azurite's development account and its public, documented key (not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1'
export const AZURITE_WELL_KNOWN_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

/** A blob service endpoint and the account it names. */
export interface BlobEndpoint {
  /** Normalised service URL without a trailing slash: `https://acct.blob.core.windows.net`, `http://127.0.0.1:10000/devstoreaccount1`. */
  url: string
  accountName: string
  /** The account is the first path segment (emulators, IP hosts) rather than the first host label. */
  pathStyle: boolean
  secure: boolean
}

/**
 * Parses the credential's `endpoint`: path style when the URL has a path (`http://127.0.0.1:PORT/
 * devstoreaccount1`: the account is the first segment), else host style (`https://acct.blob.
 * core.windows.net`: the first host label). Throws a plain Error with the reason.
 */
export function parseBlobEndpoint(endpoint: string): BlobEndpoint {
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    throw new Error(`'${endpoint}' is not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`'${endpoint}' must be an http(s) URL`)
  if (url.search || url.hash || url.username || url.password) throw new Error(`'${endpoint}' must not carry a query, fragment or user info (give the key separately)`)
  const segments = url.pathname.split('/').filter((s) => s !== '')
  if (segments.length > 1) throw new Error(`'${endpoint}' has more than one path segment: give the blob service URL, not a container URL`)
  const pathStyle = segments.length === 1
  const accountName = pathStyle ? decodeURIComponent(segments[0]!) : url.hostname.split('.')[0]!
  if (!/^[a-z0-9]{3,24}$/.test(accountName)) {
    throw new Error(`'${endpoint}' does not name a storage account (3–24 lower-case letters and digits, ${pathStyle ? 'as the first path segment' : 'as the first label of the host'})`)
  }
  const base = `${url.protocol}//${url.host}`
  return {url: pathStyle ? `${base}/${accountName}` : base, accountName, pathStyle, secure: url.protocol === 'https:'}
}

/** What a container looks like to anycloud. */
export interface ContainerState {
  name: string
  metadata: Record<string, string>
  empty: boolean
  lastModified?: Date
}

type BlobSdk = typeof import('@azure/storage-blob')

/**
 * The data plane of one storage account reached with its shared key. Raw SDK errors propagate
 * (the provider maps them with `toAzureError`); absence is answered as null/false, never thrown.
 */
export class AzureBlobStore {
  private constructor(
    private readonly sdk: BlobSdk,
    readonly endpoint: BlobEndpoint,
    private readonly service: BlobServiceClient,
    private readonly key: StorageSharedKeyCredential,
  ) {}

  /** Loads the SDK and builds the client. `maxTries` bounds the SDK's own retries (default 4). */
  static async open(endpoint: BlobEndpoint, accountKey: string, options: {maxTries?: number} = {}): Promise<AzureBlobStore> {
    const sdk = await blobSdk()
    let key: StorageSharedKeyCredential
    try {
      key = new sdk.StorageSharedKeyCredential(endpoint.accountName, accountKey)
    } catch (error) {
      throw new Error(`the account key of '${endpoint.accountName}' is not a base64 key (${(error as Error).message})`)
    }
    const service = new sdk.BlobServiceClient(endpoint.url, key, {
      retryOptions: {maxTries: options.maxTries ?? 4, retryDelayInMs: 500, maxRetryDelayInMs: 8_000, tryTimeoutInMs: 60_000},
    })
    return new AzureBlobStore(sdk, endpoint, service, key)
  }

  get accountName(): string {
    return this.endpoint.accountName
  }

  containerUrl(name: string): string {
    return `${this.endpoint.url}/${encodeURIComponent(name)}`
  }

  /** One authenticated list call (at most one container): proves the key works. */
  async probe(): Promise<void> {
    await this.service.listContainers().byPage({maxPageSize: 1}).next()
  }

  /** Every container of the account with its metadata: one call per 5,000 containers. */
  async list(): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>()
    for await (const c of this.service.listContainers({includeMetadata: true})) out.set(c.name, c.metadata ?? {})
    return out
  }

  /** null when the container does not exist. */
  async read(name: string): Promise<ContainerState | null> {
    const container = this.service.getContainerClient(name)
    let properties
    try {
      properties = await container.getProperties()
    } catch (error) {
      if (isAzureNotFound(error)) return null
      throw error
    }
    let empty: boolean
    try {
      empty = await this.isEmpty(name)
    } catch (error) {
      // Deleted between the two calls.
      if (isAzureNotFound(error)) return null
      throw error
    }
    return {name, metadata: properties.metadata ?? {}, empty, lastModified: properties.lastModified}
  }

  async isEmpty(name: string): Promise<boolean> {
    const page = await this.service.getContainerClient(name).listBlobsFlat().byPage({maxPageSize: 1}).next()
    if (page.done) return true
    return page.value.segment.blobItems.length === 0
  }

  /** `created`, or `exists` when the name is already a container (`ContainerAlreadyExists`). Other errors propagate (e.g. `ContainerBeingDeleted`). */
  async create(name: string, metadata: Record<string, string>): Promise<'created' | 'exists'> {
    try {
      await this.service.getContainerClient(name).create({metadata})
      return 'created'
    } catch (error) {
      if (hasAzureCode(error, 'ContainerAlreadyExists')) return 'exists'
      throw error
    }
  }

  /**
   * Deletes the container with everything in it (Azure deletes a container's blobs with it, so
   * "empty first" is the service's own job). `missing` when it was already gone.
   */
  async remove(name: string): Promise<'deleted' | 'missing'> {
    try {
      await this.service.getContainerClient(name).delete()
      return 'deleted'
    } catch (error) {
      if (isAzureNotFound(error)) return 'missing'
      throw error
    }
  }

  /**
   * A container-scoped service SAS URL signed with the account key (no network call): `racwdl`
   * letters, valid from 5 minutes ago (clock skew) for `seconds` (clamped to 5 min … 7 days).
   * HTTPS only when the endpoint is HTTPS; an http endpoint (an emulator) allows both.
   */
  containerSasUrl(name: string, permissions: string, seconds: number, now = new Date()): string {
    const lifetime = Math.min(Math.max(Math.floor(seconds), SAS_MIN_SECONDS), SAS_MAX_SECONDS)
    const sas = this.sdk.generateBlobSASQueryParameters(
      {
        containerName: name,
        permissions: this.sdk.ContainerSASPermissions.parse(permissions),
        startsOn: new Date(now.getTime() - SAS_SKEW_MS),
        expiresOn: new Date(now.getTime() + lifetime * 1000),
        protocol: this.endpoint.secure ? this.sdk.SASProtocol.Https : this.sdk.SASProtocol.HttpsAndHttp,
      },
      this.key,
    )
    return `${this.containerUrl(name)}?${sas.toString()}`
  }
}

// -------------------------------------------------------------------------------------------------
// Through Azure Resource Manager (no `endpoint`): continent accounts, containers via ARM

/** Where each continent's shared account lives (the data's region). */
export const CONTINENT_ACCOUNT_REGION: Readonly<Record<Continent, string>> = {
  us: 'eastus',
  ca: 'canadacentral',
  latam: 'brazilsouth',
  eu: 'westeurope',
  apac: 'southeastasia',
  aus: 'australiaeast',
  mea: 'uaenorth',
}

/** The tag of a continent account naming its continent. */
export const CONTINENT_TAG = 'anycloud-continent'

/** A continent's storage account as ARM reports it. */
export interface StorageAccountInfo {
  name: string
  group: string
  continent: Continent
  location: string
  /** `primaryEndpoints.blob` (data plane), without a trailing slash. */
  blobEndpoint: string
  id: string
}

/** The ARM id of a container: the scope of its role assignments. */
export function containerScope(subscriptionId: string, account: StorageAccountInfo, container: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${account.group}/providers/Microsoft.Storage/storageAccounts/${account.name}/blobServices/default/containers/${container}`
}

/** The continent an account name stands for (`anycloud{continent}{prefix}`), if it is one of ours. */
export function continentOfAccount(name: string, subscriptionId: string): Continent | undefined {
  for (const c of Object.keys(CONTINENT_ACCOUNT_REGION) as Continent[]) if (storageAccountName(c, subscriptionId) === name) return c
  return undefined
}

/** What {@link ArmStorage} needs from the provider. */
export interface ArmStorageContext {
  clients: AzureClients
  credential: string
  /** Bounds the wait for another applier's account create (default 2 min). */
  accountWaitMs?: number
  progress?: (line: string) => void
}

/** A container as ARM reports it, with its account. */
export interface ArmContainer {
  account: StorageAccountInfo
  name: string
  metadata: Record<string, string>
}

/**
 * Continent accounts and their containers through ARM (`@azure/arm-storage`): the CLI's own
 * principal needs no Storage Blob data role to create, find or delete containers. The data plane
 * (emptiness, SAS for ssh hosts) uses the account key ARM lists (`listKeys`).
 */
export class ArmStorage {
  private readonly accounts = new Map<Continent, Promise<StorageAccountInfo | undefined>>()
  private readonly stores = new Map<string, Promise<AzureBlobStore>>()
  private listed: Promise<StorageAccountInfo[]> | undefined

  constructor(private readonly ctx: ArmStorageContext) {}

  private get sub(): string {
    return this.ctx.clients.subscriptionId
  }

  private info(a: {name?: string; id?: string; location?: string; tags?: Record<string, string>; primaryEndpoints?: {blob?: string}}, continent: Continent): StorageAccountInfo {
    const name = a.name ?? ''
    return {
      name,
      group: groupOfId(a.id ?? '') ?? storageResourceGroup(continent),
      continent,
      location: a.location ?? CONTINENT_ACCOUNT_REGION[continent],
      blobEndpoint: (a.primaryEndpoints?.blob ?? `https://${name}.blob.core.windows.net/`).replace(/\/+$/, ''),
      id: a.id ?? '',
    }
  }

  /** The continent's account when it exists (and finished creating), else undefined. */
  findAccount(continent: Continent): Promise<StorageAccountInfo | undefined> {
    let p = this.accounts.get(continent)
    if (!p) {
      p = this.getAccount(continent)
      p.catch(() => this.accounts.delete(continent))
      this.accounts.set(continent, p)
    }
    return p
  }

  private async getAccount(continent: Continent): Promise<StorageAccountInfo | undefined> {
    const storage = await this.ctx.clients.storage()
    const name = storageAccountName(continent, this.sub)
    const group = storageResourceGroup(continent)
    try {
      const a = await this.ctx.clients.call(`reading storage account '${name}' in resource group '${group}'`, () => storage.storageAccounts.getProperties(group, name))
      if (a.provisioningState && a.provisioningState !== 'Succeeded') return undefined
      return this.info(a, continent)
    } catch (error) {
      if (error instanceof NotFoundError) return undefined
      throw error
    }
  }

  /** Every continent account of this subscription (the containers of a bucket name are looked up in each). */
  listAccounts(): Promise<StorageAccountInfo[]> {
    if (!this.listed) {
      this.listed = (async () => {
        const out: StorageAccountInfo[] = []
        for (const c of Object.keys(CONTINENT_ACCOUNT_REGION) as Continent[]) {
          const a = await this.findAccount(c)
          if (a) out.push(a)
        }
        return out
      })()
      this.listed.catch(() => (this.listed = undefined))
    }
    return this.listed
  }

  /**
   * The continent's account, created on first use, race-safe: GET; else ensure the group and PUT;
   * on a conflict (another applier, a throttled PUT that went through) read again until it shows up
   * in our group. A name taken outside this subscription is fatal and says so.
   */
  async ensureAccount(continent: Continent): Promise<StorageAccountInfo> {
    const found = await this.findAccount(continent)
    if (found) return found
    this.accounts.delete(continent)
    this.listed = undefined
    const storage = await this.ctx.clients.storage()
    const resources = await this.ctx.clients.resources()
    const name = storageAccountName(continent, this.sub)
    const group = storageResourceGroup(continent)
    const location = CONTINENT_ACCOUNT_REGION[continent]
    const tags = {'anycloud-managed': 'true', [CONTINENT_TAG]: continent}
    this.ctx.progress?.(`creating storage account ${name} (${continent}) in ${location}`)
    await this.ctx.clients.call(`creating resource group '${group}'`, () => resources.resourceGroups.createOrUpdate(group, {location, tags}))
    try {
      await this.ctx.clients.call(`creating storage account '${name}' in '${group}'`, () =>
        storage.storageAccounts.create(group, name, {
          location,
          kind: 'StorageV2',
          sku: {name: 'Standard_LRS'},
          accessTier: 'Hot',
          allowBlobPublicAccess: false,
          minimumTlsVersion: 'TLS1_2',
          enableHttpsTrafficOnly: true,
          tags,
        } as never, this.ctx.clients.lro as never),
      )
    } catch (error) {
      const code = armErrorInfo((error as {cause?: unknown}).cause ?? error).code
      if (code === 'StorageAccountInAnotherResourceGroup') {
        throw new ProviderError(`azure: storage account '${name}' exists in another resource group of subscription ${this.sub}, not in '${group}'`, 'azure.storage-account-elsewhere', AZURE, this.ctx.credential, error, [
          `Move it to resource group '${group}' (az resource move), or delete it if it holds nothing you need.`,
        ])
      }
      if (code !== 'StorageAccountAlreadyTaken' && code !== 'StorageAccountAlreadyExists' && code !== 'StorageAccountOperationInProgress') throw error
      // Somebody made it: ours (a racing apply) shows up in our group; anybody else's never does.
      const deadline = Date.now() + (this.ctx.accountWaitMs ?? 120_000)
      for (let pause = 500; ; pause = Math.min(pause * 2, 10_000)) {
        this.accounts.delete(continent)
        const a = await this.findAccount(continent)
        if (a) return a
        if (Date.now() >= deadline) {
          throw new ProviderError(`azure: the storage account name '${name}' is taken outside subscription ${this.sub} (${code}): anycloud cannot create the ${continent} account`, 'azure.storage-name-taken', AZURE, this.ctx.credential, error, [
            'Storage account names are global across Azure. Use another subscription, or ask whoever holds the name to release it.',
          ])
        }
        await sleep(pause)
      }
    }
    this.accounts.delete(continent)
    const made = await this.findAccount(continent)
    if (!made) throw new ProviderError(`azure: storage account '${name}' did not show up after it was created`, 'azure.storage', AZURE, this.ctx.credential)
    return made
  }

  /** The data plane of an account, with the key ARM lists. */
  store(account: StorageAccountInfo): Promise<AzureBlobStore> {
    let s = this.stores.get(account.name)
    if (!s) {
      s = (async () => {
        const storage = await this.ctx.clients.storage()
        const keys = await this.ctx.clients.call(`listing the keys of storage account '${account.name}'`, () => storage.storageAccounts.listKeys(account.group, account.name))
        const key = keys.keys?.find((k) => k.value)?.value
        if (!key) throw new ProviderError(`azure: storage account '${account.name}' listed no usable key`, 'azure.storage-no-key', AZURE, this.ctx.credential, undefined, ['The account may forbid shared-key access (allowSharedKeyAccess=false): anycloud needs it for emptiness checks and SAS URLs.'])
        registerSecret(key)
        return AzureBlobStore.open(parseBlobEndpoint(account.blobEndpoint), key)
      })()
      s.catch(() => this.stores.delete(account.name))
      this.stores.set(account.name, s)
    }
    return s
  }

  async getContainer(account: StorageAccountInfo, name: string): Promise<ArmContainer | null> {
    const storage = await this.ctx.clients.storage()
    try {
      const c = await this.ctx.clients.call(`reading container '${name}' of storage account '${account.name}'`, () => storage.blobContainers.get(account.group, account.name, name))
      return {account, name, metadata: (c.metadata ?? {}) as Record<string, string>}
    } catch (error) {
      if (error instanceof NotFoundError) return null
      throw error
    }
  }

  /** The containers of one account, by name, from one ARM listing (every page). */
  async listContainers(account: StorageAccountInfo): Promise<Map<string, ArmContainer>> {
    const storage = await this.ctx.clients.storage()
    return this.ctx.clients.call(`listing the containers of storage account '${account.name}'`, async () => {
      const out = new Map<string, ArmContainer>()
      for await (const c of storage.blobContainers.list(account.group, account.name)) {
        if (c.name) out.set(c.name, {account, name: c.name, metadata: (c.metadata ?? {}) as Record<string, string>})
      }
      return out
    })
  }

  /** The container of that name in any continent account of this subscription. */
  async findContainer(name: string): Promise<ArmContainer | null> {
    for (const account of await this.listAccounts()) {
      const c = await this.getContainer(account, name)
      if (c) return c
    }
    return null
  }

  async createContainer(account: StorageAccountInfo, name: string, metadata: Record<string, string>): Promise<void> {
    const storage = await this.ctx.clients.storage()
    await this.ctx.clients.call(`creating container '${name}' in storage account '${account.name}'`, () => storage.blobContainers.create(account.group, account.name, name, {publicAccess: 'None', metadata} as never))
  }

  async deleteContainer(account: StorageAccountInfo, name: string): Promise<void> {
    const storage = await this.ctx.clients.storage()
    await this.ctx.clients.call(`deleting container '${name}' of storage account '${account.name}'`, () => storage.blobContainers.delete(account.group, account.name, name))
    // Confirm: ARM answers 404 once it is gone.
    if (await this.getContainer(account, name)) throw new ProviderError(`azure: container '${name}' of '${account.name}' still exists after its delete`, 'azure.container-delete', AZURE, this.ctx.credential)
  }
}

function groupOfId(id: string): string | undefined {
  return /\/resourceGroups\/([^/]+)/i.exec(id)?.[1]
}
