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

import type {Continent} from '../../model/continents.js'
import type {BucketRole} from '../../model/resources.js'
import {isAzureNotFound, hasAzureCode} from './errors.js'

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
    const sdk = await import('@azure/storage-blob')
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
