/**
 * GCS buckets for anycloud: label rules, locations, and a thin wrapper over
 * `@google-cloud/storage` 7 (loaded lazily: only when a bucket call is made).
 *
 * Ownership tags are bucket labels. GCS label keys and values are at most 63 characters of
 * lower-case letters, digits, `_` and `-` (international lower-case letters allowed; keys start
 * with a letter), so a value such as the address `train.bucket.output` is stored as
 * `train_bucket_output`; comparisons go through the same {@link labelValue}.
 * https://cloud.google.com/storage/docs/tags-and-labels
 */
import type {Bucket, Storage, StorageOptions} from '@google-cloud/storage'

import {canonicalRegion, continentOfGcsLocation, type Continent} from '../../model/continents.js'
import {gcpStatus} from './errors.js'
import {gcsSdk} from '../../util/gcs-sdk.js'

/** A label value as GCS accepts it: lower-cased, other characters → `_`, at most 63 characters. */
export function labelValue(value: string): string {
  return value.toLowerCase().replace(/[^\p{Ll}\p{Lo}\p{N}_-]/gu, '_').slice(0, 63)
}

/** A label key: like a value, and starting with a lower-case letter. */
export function labelKey(key: string): string {
  const v = labelValue(key)
  return /^[\p{Ll}\p{Lo}]/u.test(v) ? v : `k${v}`.slice(0, 63)
}

/** Ownership tags → bucket labels. */
export function tagsToLabels(tags: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(tags)) out[labelKey(k)] = labelValue(v)
  return out
}

/** The region anycloud uses when nothing else says one. */
export const GCP_DEFAULT_REGION = 'us-central1'

/**
 * The location a new bucket gets: the requested region when it is a GCP region (any case), else
 * the fallback (the credential's region, else us-central1). An ssh host's placement region, for
 * example, is not a GCP region.
 */
export function bucketLocation(region: string | undefined, fallback: string): string {
  const r = region ? canonicalRegion('gcp', region) : undefined
  return r ?? canonicalRegion('gcp', fallback) ?? GCP_DEFAULT_REGION
}

/** What a bucket looks like to anycloud. */
export interface BucketState {
  name: string
  labels: Record<string, string>
  /** As GCS answers it: upper case (`US`, `EUROPE-WEST4`). */
  location?: string
  locationType?: string
  /** `us-central1` for a single region, the upper-case code for multi- and dual-regions. */
  region?: string
  continent?: Continent
  projectNumber?: string
  /** Whether it holds no object; unknown when read from the project's listing (a plan does not need it). */
  empty?: boolean
}

/** A bucket's metadata as far as anycloud reads it. */
interface BucketMetadataLike {
  labels?: Record<string, string | null> | null
  location?: string
  locationType?: string
  projectNumber?: string | number
  customPlacementConfig?: {dataLocations?: string[]}
}

export function bucketState(name: string, metadata: BucketMetadataLike, empty?: boolean): BucketState {
  const labels: Record<string, string> = {}
  for (const [k, v] of Object.entries(metadata.labels ?? {})) if (typeof v === 'string') labels[k] = v
  const location = typeof metadata.location === 'string' ? metadata.location.toUpperCase() : undefined
  const locationType = typeof metadata.locationType === 'string' ? metadata.locationType : undefined
  const continent = location ? continentOfGcsLocation(location, metadata.customPlacementConfig?.dataLocations ?? []) : undefined
  const region = location ? (locationType === 'region' || canonicalRegion('gcp', location) ? location.toLowerCase() : location) : undefined
  return {
    name,
    labels,
    ...(location ? {location} : {}),
    ...(locationType ? {locationType} : {}),
    ...(region ? {region} : {}),
    ...(continent ? {continent} : {}),
    ...(metadata.projectNumber !== undefined ? {projectNumber: String(metadata.projectNumber)} : {}),
    ...(empty !== undefined ? {empty} : {}),
  }
}

/**
 * The bucket calls anycloud makes. Raw SDK errors propagate (the provider maps them with
 * `toGcpError`); a missing bucket is answered as null, never thrown.
 */
export class GcsStore {
  private constructor(
    readonly storage: Storage,
    readonly project: string,
  ) {}

  static async open(options: StorageOptions & {projectId: string}): Promise<GcsStore> {
    const {Storage} = await gcsSdk()
    return new GcsStore(new Storage(options), options.projectId)
  }

  bucket(name: string): Bucket {
    return this.storage.bucket(name)
  }

  /** One authenticated list call (at most one bucket of the project). */
  async probe(): Promise<void> {
    await this.storage.getBuckets({maxResults: 1, autoPaginate: false})
  }

  /** Every bucket of the project with its metadata (buckets.list, every page): one call per 1,000 buckets. */
  async list(): Promise<Map<string, BucketState>> {
    const [buckets] = await this.storage.getBuckets({autoPaginate: true, maxResults: 1000})
    const out = new Map<string, BucketState>()
    for (const b of buckets) if (b.name) out.set(b.name, bucketState(b.name, b.metadata as BucketMetadataLike))
    return out
  }

  /** null on 404; other errors (403 included) propagate. */
  async read(name: string): Promise<BucketState | null> {
    let metadata: BucketMetadataLike
    try {
      ;[metadata] = (await this.bucket(name).getMetadata()) as unknown as [BucketMetadataLike]
    } catch (error) {
      if (gcpStatus(error) === 404) return null
      throw error
    }
    let empty: boolean
    try {
      empty = await this.isEmpty(name)
    } catch (error) {
      if (gcpStatus(error) === 404) return null
      throw error
    }
    return bucketState(name, metadata, empty)
  }

  async isEmpty(name: string): Promise<boolean> {
    const [files] = await this.bucket(name).getFiles({maxResults: 1, autoPaginate: false})
    return files.length === 0
  }

  /**
   * `created`, or `conflict` on 409 (the name exists: ours from an earlier try, or anybody's:
   * GCS bucket names are global). Uniform bucket-level access on, public access prevented.
   */
  async create(name: string, options: {location: string; labels: Record<string, string>}): Promise<'created' | 'conflict'> {
    try {
      await this.storage.createBucket(name, {
        location: options.location,
        storageClass: 'STANDARD',
        labels: options.labels,
        iamConfiguration: {uniformBucketLevelAccess: {enabled: true}, publicAccessPrevention: 'enforced'},
      })
      return 'created'
    } catch (error) {
      if (gcpStatus(error) === 409) return 'conflict'
      throw error
    }
  }

  /** Deletes every object (the SDK lists and deletes; errors are collected and thrown at the end). */
  async emptyBucket(name: string): Promise<void> {
    await this.bucket(name).deleteFiles({force: true})
  }

  /** `deleted`, `missing` (404), or `not-empty` (409: GCS refuses to delete a bucket holding objects). */
  async remove(name: string): Promise<'deleted' | 'missing' | 'not-empty'> {
    try {
      await this.bucket(name).delete()
      return 'deleted'
    } catch (error) {
      const status = gcpStatus(error)
      if (status === 404) return 'missing'
      if (status === 409) return 'not-empty'
      throw error
    }
  }
}
