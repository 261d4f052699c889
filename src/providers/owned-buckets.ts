/**
 * The owned-bucket lifecycle, once for every cloud: how anycloud reads, creates and deletes the
 * buckets it owns (output and checkpoint buckets; S3 buckets, GCS buckets, Azure containers) over a
 * small {@link BucketStore} port that each cloud implements with its own SDK calls and error
 * mapping.
 *
 * The rules it keeps:
 * - Reads in a batch: one listing of what the credential can list (ListBuckets, the project's GCS
 *   buckets, the containers of each storage account), then a read by name only for a name the
 *   listing does not show (absent, or somebody else's). A listing the credential may not make
 *   (the store answers `undefined`) reads every name on its own. A bad name fails only its read.
 * - Create is idempotent and never claims what is not anycloud's: a name that already is a bucket
 *   is adopted only when it carries anycloud's tags; what a create still owes after the bucket
 *   exists (S3: its tags) failing removes the bucket again, so a failed create leaves nothing.
 * - Delete only what carries anycloud's tags for this deployment (the record's `deployment`, or a
 *   checkpoint bucket's own name); a store without bucket tagging goes by what state recorded. A
 *   bucket holding data is kept unless `force` (checkpoint buckets), which empties it first; a
 *   missing bucket is success. Objects a last sync wrote during a forced delete get a second round.
 */
import type {ActualResource, DesiredResource, ResourceRecord} from '../model/resources.js'
import {createLimiter} from '../util/limit.js'
import {bucketDeployment, type ReadResult} from './provider.js'

/** Where and how a bucket is created. */
export interface BucketPlacement {
  region: string
  /** anycloud's ownership tags (the store turns them into labels or metadata as it must). */
  tags: Record<string, string>
}

/** A bucket found by name for a delete. */
export interface BucketHead {
  /**
   * Its ownership tags as anycloud wrote them (labels or metadata turned back into tags);
   * undefined when the store keeps no bucket tags at all (some S3-compatible stores).
   */
  tags: Record<string, string> | undefined
  /** Whether it holds no object, when the read already told. */
  empty?: boolean
}

/** What a cloud's bucket store does; {@link OwnedBuckets} does the rest. Errors come out mapped (ProviderError…). */
export interface BucketStore<Listed = unknown, Head extends BucketHead = BucketHead> {
  /** Throws (UsageError) for a name the cloud would refuse. */
  checkName?(name: string): void
  /**
   * Every bucket the credential's listing shows, with what the listing tells of each; `undefined`
   * when the credential may not list (the batch then reads each name on its own).
   */
  list?(): Promise<Map<string, Listed> | undefined>
  /** A bucket the listing showed (it exists and is this credential's): no existence check needed. */
  readListed?(name: string, listed: Listed): Promise<ActualResource | null>
  /** One bucket by name; null when it does not exist. */
  read(name: string): Promise<ActualResource | null>

  /** Makes the bucket with the tags; `exists` when the name already is a bucket (anybody's). */
  create(resource: DesiredResource, placement: BucketPlacement): Promise<'created' | 'exists'>
  /**
   * What a new bucket still needs once it exists (S3: its tags). A failure removes the bucket
   * again. May answer how the read-back is to be completed (a store that cannot tag: ownership
   * from the create itself).
   */
  finishCreate?(resource: DesiredResource, placement: BucketPlacement): Promise<((actual: ActualResource) => ActualResource) | void>
  /** An existing bucket met by a create, when the cloud checks more than its tags (S3: region). Default: read back, owned or taken. */
  adopt?(resource: DesiredResource, placement: BucketPlacement): Promise<ActualResource>
  /** The read after a create (default {@link read}); `outcome` tells whether the name already existed. */
  readCreated?(name: string, outcome: 'created' | 'exists'): Promise<ActualResource | null>
  /** The bucket was not there when read back right after the create. */
  vanished(name: string, outcome: 'created' | 'exists'): Error
  /** The name is a bucket anycloud did not create. */
  taken(name: string, actual: ActualResource): Error

  /** A bucket by name for a delete: null when missing; `{keep}` when it must be left alone (unreadable). */
  head(name: string): Promise<Head | null | {keep: string}>
  /** A tag value as the store keeps it (GCS labels: lower case, `_` for other characters). Default: as is. */
  tagValue?(value: string): string
  isEmpty(bucket: Head, name: string): Promise<boolean>
  /** Deletes every object (a forced delete); absent when the store deletes a bucket with its contents. */
  emptyBucket?(bucket: Head, name: string): Promise<void>
  /** `not-empty`: the store refused because objects are left. */
  remove(bucket: Head, name: string): Promise<'deleted' | 'missing' | 'not-empty'>
}

export type DeleteOutcome = {deleted: boolean; reason?: string}

const KEPT_WITH_DATA: DeleteOutcome = {deleted: false, reason: 'holds data'}

/** Whether the tags let a delete go ahead for this record: undefined when they do, else why not. */
export function ownershipVerdict(record: ResourceRecord, found: Record<string, string> | undefined, tagValue: (v: string) => string = (v) => v): DeleteOutcome | undefined {
  const expected = bucketDeployment(record)
  // A store without bucket tagging: only what state recorded at create says the bucket is ours.
  if (!found && expected === undefined) return {deleted: false, reason: 'its store has no bucket tagging and state does not record that anycloud created it'}
  const tags = found ?? {'anycloud-managed': 'true', 'anycloud-deployment': tagValue(expected!)}
  if (tags['anycloud-managed'] !== 'true') return {deleted: false, reason: 'not created by anycloud (no ownership tags)'}
  if (expected !== undefined && tags['anycloud-deployment'] !== tagValue(expected)) {
    return {deleted: false, reason: `owned by deployment '${tags['anycloud-deployment'] ?? '?'}', not '${expected}'`}
  }
  return undefined
}

/** The owned-bucket lifecycle over one credential's {@link BucketStore}: the Provider's bucket methods. */
export class OwnedBuckets<Listed = unknown, Head extends BucketHead = BucketHead> {
  constructor(
    private readonly store: BucketStore<Listed, Head>,
    private readonly readConcurrency = 16,
  ) {}

  async read(name: string): Promise<ActualResource | null> {
    this.store.checkName?.(name)
    return this.store.read(name)
  }

  /** One listing, then a read by name only for what it does not show. Same order as `names`. */
  async readMany(names: readonly string[]): Promise<ReadResult[]> {
    const listed = this.store.list ? await this.store.list() : undefined
    const limit = createLimiter(this.readConcurrency)
    return Promise.all(names.map((name) => limit(async (): Promise<ReadResult> => {
      try {
        this.store.checkName?.(name)
        return {value: listed?.has(name) && this.store.readListed ? await this.store.readListed(name, listed.get(name) as Listed) : await this.store.read(name)}
      } catch (error) {
        return {error}
      }
    })))
  }

  async create(resource: DesiredResource, placement: BucketPlacement): Promise<ActualResource> {
    const name = resource.name
    this.store.checkName?.(name)
    const outcome = await this.store.create(resource, placement)
    if (outcome === 'exists' && this.store.adopt) return this.store.adopt(resource, placement)
    let complete: ((actual: ActualResource) => ActualResource) | void = undefined
    if (outcome === 'created' && this.store.finishCreate) {
      try {
        complete = await this.store.finishCreate(resource, placement)
      } catch (error) {
        // A failed create leaves nothing behind: the bucket is new and empty.
        await this.removeQuietly(name)
        throw error
      }
    }
    const read = await (this.store.readCreated ? this.store.readCreated(name, outcome) : this.store.read(name))
    if (!read) throw this.store.vanished(name, outcome)
    const actual = complete ? complete(read) : read
    if (!actual.owned) throw this.store.taken(name, actual)
    return actual
  }

  async delete(record: ResourceRecord, options: {force: boolean}): Promise<DeleteOutcome> {
    const name = record.name
    this.store.checkName?.(name)
    const head = await this.store.head(name)
    if (!head) return {deleted: true}
    if ('keep' in head) return {deleted: false, reason: head.keep}
    const verdict = ownershipVerdict(record, head.tags, this.store.tagValue)
    if (verdict) return verdict
    if (!options.force && !(head.empty ?? (await this.store.isEmpty(head, name)))) return KEPT_WITH_DATA
    // Two rounds at most: objects a last sync wrote while the first round ran are caught by the second.
    for (let round = 0; round < 2; round++) {
      if (options.force && this.store.emptyBucket) await this.store.emptyBucket(head, name)
      const outcome = await this.store.remove(head, name)
      if (outcome !== 'not-empty') return {deleted: true}
      if (!options.force) break
    }
    return KEPT_WITH_DATA
  }

  private async removeQuietly(name: string): Promise<void> {
    try {
      const head = await this.store.head(name)
      if (head && !('keep' in head)) await this.store.remove(head, name)
    } catch {
      // best effort: the create's own error is what the caller needs
    }
  }
}
