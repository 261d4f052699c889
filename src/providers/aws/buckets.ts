/**
 * S3 buckets of one `aws` credential (SPEC §5, reference "Bucket Sync Internals", AWS S3).
 *
 * - Reads look before they touch: HeadBucket (404: absent), GetBucketLocation (the region, which
 *   is what delete and rclone need, even after a spot recovery moved the deployment), the tags
 *   (ownership and continent), and one ListObjectsV2 key (empty or not).
 * - Create is never blind: HeadBucket first (a CreateBucket on a bucket we own in us-east-1
 *   answers 200 and resets its ACLs), then CreateBucket with a LocationConstraint except in
 *   us-east-1, then PutBucketTagging with anycloud's ownership tags and the continent. A name
 *   owned by another account fails at once; BucketAlreadyOwnedByYou is success only when our
 *   tags and the region match. A create that fails after the bucket exists removes it again.
 * - Delete finds the region first, deletes only buckets carrying anycloud's tags (and this
 *   deployment's id), empties checkpoint buckets (`force`) and keeps output buckets with data.
 */
import type {S3Client} from '@aws-sdk/client-s3'

import {ProviderError} from '../../errors/index.js'
import {continentOf, isContinent, s3RegionFromLocationConstraint, type Continent} from '../../model/continents.js'
import type {ActualResource, DesiredResource} from '../../model/resources.js'
import type {BucketHead, BucketPlacement, BucketStore} from '../owned-buckets.js'
import type {AwsClients} from './clients.js'
import {awsCall, awsCode, httpStatus, listingDenied, PROVIDER, toProviderError} from './errors.js'
import {ownedBy, tagList, tagMap} from './names.js'
import {s3Sdk} from '../../util/aws-sdk.js'

/** The tag carrying the bucket's continent (the continent rule reads it). */
export const CONTINENT_TAG = 'anycloud-continent'

/** What bucket operations need from the provider. */
export interface BucketContext {
  clients: AwsClients
  credential: string
  /** Known bucket regions (filled by reads and creates; rclone remotes read it). */
  regions: Map<string, string>
}

const isMissingBucket = (code: string, status?: number) => code === 'NoSuchBucket' || code === 'NotFound' || (status === 404 && code !== 'NoSuchKey' && code !== 'NoSuchTagSet')

export function continentOfAwsRegion(region: string): Continent | undefined {
  return continentOf('aws', region, {inferUnknown: true})
}

async function s3For(ctx: BucketContext, region?: string): Promise<S3Client> {
  return ctx.clients.s3(region ?? ctx.clients.defaultRegion())
}

/** HeadBucket: whether it exists, and whether it answered 403 (another account's, or no permission). */
async function headBucket(ctx: BucketContext, name: string): Promise<{exists: boolean; forbidden?: unknown; region?: string}> {
  const {HeadBucketCommand} = await s3Sdk()
  const s3 = await s3For(ctx)
  try {
    const out = await s3.send(new HeadBucketCommand({Bucket: name}))
    return {exists: true, ...(out.BucketRegion ? {region: out.BucketRegion} : {})}
  } catch (error) {
    const code = awsCode(error)
    const status = httpStatus(error)
    if (isMissingBucket(code, status)) return {exists: false}
    if (status === 403 || code === 'Forbidden' || code === 'AccessDenied') return {exists: true, forbidden: error}
    throw toProviderError(error, `HeadBucket ${name}`, ctx.credential)
  }
}

function forbidden(ctx: BucketContext, name: string, cause: unknown): ProviderError {
  return new ProviderError(
    `S3 bucket '${name}' exists but credential '${ctx.credential}' may not use it (403): the name is taken by another AWS account, or this credential lacks s3:ListBucket on it`,
    'aws.bucket-forbidden',
    PROVIDER,
    ctx.credential,
    cause,
    ['Pick another bucket name in anycloud.yaml, or grant this credential access to the bucket.'],
  )
}

/** The bucket's region from GetBucketLocation (us-east-1 answers an empty constraint). Undefined when it is gone. */
export async function bucketRegion(ctx: BucketContext, name: string): Promise<string | undefined> {
  const {GetBucketLocationCommand} = await s3Sdk()
  const s3 = await s3For(ctx)
  try {
    const out = await s3.send(new GetBucketLocationCommand({Bucket: name}))
    const region = s3RegionFromLocationConstraint(out.LocationConstraint)
    ctx.regions.set(name, region)
    return region
  } catch (error) {
    if (isMissingBucket(awsCode(error), httpStatus(error))) return undefined
    throw toProviderError(error, `GetBucketLocation ${name}`, ctx.credential)
  }
}

/** What `bucketTags` says when the store has no bucket tagging (Cloudflare R2, Backblaze B2, s3rver). */
export const NO_TAGGING = 'unsupported'

/** The store cannot tag buckets: it answers NotImplemented (HTTP 501). */
function taggingUnsupported(error: unknown): boolean {
  return awsCode(error) === 'NotImplemented' || httpStatus(error) === 501
}

/** The bucket's tags; `undefined` when the store has no bucket tagging at all. */
async function bucketTags(ctx: BucketContext, name: string, region: string): Promise<Record<string, string> | undefined> {
  const {GetBucketTaggingCommand} = await s3Sdk()
  const s3 = await s3For(ctx, region)
  try {
    return tagMap((await s3.send(new GetBucketTaggingCommand({Bucket: name}))).TagSet)
  } catch (error) {
    if (awsCode(error) === 'NoSuchTagSet') return {}
    if (taggingUnsupported(error)) return undefined
    throw toProviderError(error, `GetBucketTagging ${name}`, ctx.credential)
  }
}

async function isEmpty(ctx: BucketContext, name: string, region: string): Promise<boolean> {
  const {ListObjectsV2Command, ListObjectsCommand} = await s3Sdk()
  const s3 = await s3For(ctx, region)
  try {
    const out = await s3.send(new ListObjectsV2Command({Bucket: name, MaxKeys: 1}))
    return (out.KeyCount ?? out.Contents?.length ?? 0) === 0
  } catch (error) {
    // Some S3-compatible stores cannot truncate a V2 listing (s3rver 3.7 on OpenSSL 3 fails to
    // make the continuation token and answers 500): V1 with one key needs no token.
    const status = httpStatus(error) ?? 0
    if (!ctx.clients.spec.endpoints?.s3 || (status < 500 && awsCode(error) !== 'NotImplemented')) throw toProviderError(error, `ListObjectsV2 ${name}`, ctx.credential)
    const out = await awsCall(`ListObjects ${name}`, ctx.credential, () => s3.send(new ListObjectsCommand({Bucket: name, MaxKeys: 1})))
    return (out.Contents?.length ?? 0) === 0
  }
}

/** null when the bucket does not exist; otherwise where it is, whether it is anycloud's, and whether it is empty. */
export async function readBucket(ctx: BucketContext, name: string): Promise<ActualResource | null> {
  const head = await headBucket(ctx, name)
  if (!head.exists) return null
  if (head.forbidden) throw forbidden(ctx, name, head.forbidden)
  const region = (await bucketRegion(ctx, name)) ?? head.region
  if (!region) return null
  const tags = await bucketTags(ctx, name, region)
  return {...describeBucket(name, region, tags), empty: await isEmpty(ctx, name, region)}
}

/** What a read reports of a bucket in `region` with `tags` (undefined: the store has no bucket tagging). */
function describeBucket(name: string, region: string, tags: Record<string, string> | undefined): ActualResource {
  const tagged = tags?.[CONTINENT_TAG]
  const continent = tagged && isContinent(tagged) ? tagged : continentOfAwsRegion(region)
  // Without bucket tagging (an S3-compatible store), ownership is what state recorded at create.
  const owned = tags ? ownedBy(tags) : undefined
  return {
    id: name,
    attributes: {name, region},
    region,
    ...(continent ? {continent} : {}),
    ...(owned !== undefined ? {owned} : {}),
    outputs: {region, ...(tags && owned && tags['anycloud-deployment'] ? {deployment: tags['anycloud-deployment']} : {}), ...(tags ? {} : {tagging: NO_TAGGING})},
  }
}

/**
 * The buckets this credential's account owns, with the region S3 names in the listing (real S3
 * does; some S3-compatible stores do not): ListBuckets, every page.
 */
export async function listOwnBuckets(ctx: BucketContext): Promise<Map<string, {region?: string}>> {
  const {ListBucketsCommand} = await s3Sdk()
  const s3 = await s3For(ctx)
  const out = new Map<string, {region?: string}>()
  let token: string | undefined
  do {
    const page = await awsCall('ListBuckets', ctx.credential, () => s3.send(new ListBucketsCommand({MaxBuckets: 10_000, ...(token ? {ContinuationToken: token} : {})})))
    for (const b of page.Buckets ?? []) if (b.Name) out.set(b.Name, b.BucketRegion ? {region: b.BucketRegion} : {})
    if (page.ContinuationToken && page.ContinuationToken === token) throw new ProviderError('ListBuckets answered the same continuation token twice', 'aws.bucket-listing', PROVIDER, ctx.credential)
    token = page.ContinuationToken
  } while (token)
  return out
}

/**
 * A bucket the listing shows: it exists and is this account's, so no HeadBucket; the region from
 * the listing when S3 gave it (else GetBucketLocation), and the tags (ownership, continent). Not
 * whether it is empty: a plan does not need that, and delete reads the bucket again.
 */
async function readListedBucket(ctx: BucketContext, name: string, listed: {region?: string}): Promise<ActualResource | null> {
  let region = listed.region
  if (region) ctx.regions.set(name, region)
  else region = await bucketRegion(ctx, name)
  if (!region) return null
  return describeBucket(name, region, await bucketTags(ctx, name, region))
}

function takenMessage(name: string): string {
  return `S3 bucket name '${name}' is taken by another AWS account (bucket names are global across all accounts)`
}

/**
 * The S3 side of the owned-bucket lifecycle (owned-buckets.ts): HeadBucket before CreateBucket
 * (a CreateBucket on a bucket we own in us-east-1 answers 200 and resets its ACLs), the tags put
 * after it, an existing bucket confirmed by region and tags, and the delete in the bucket's own
 * region (a spot recovery may have moved the deployment since it was created).
 */
export function s3BucketStore(ctx: BucketContext, regionOf: (region: string) => string): BucketStore<{region?: string}, S3Head> {
  /** The placement in an AWS region (a profile placed elsewhere, e.g. on an ssh host, gets the credential's default). */
  const at = (wanted: BucketPlacement): BucketPlacement => ({...wanted, region: regionOf(wanted.region)})
  const withContinent = (placement: BucketPlacement): Record<string, string> => {
    const continent = continentOfAwsRegion(placement.region)
    return {...placement.tags, ...(continent ? {[CONTINENT_TAG]: continent} : {})}
  }
  return {
    // Without s3:ListAllMyBuckets (AccessDenied): every name is read on its own.
    list: () => listOwnBuckets(ctx).catch(listingDenied),
    readListed: (name, listed) => readListedBucket(ctx, name, listed),
    read: (name) => readBucket(ctx, name),
    async create(resource, wanted) {
      const name = resource.name
      const placement = at(wanted)
      const head = await headBucket(ctx, name)
      if (head.forbidden) {
        throw new ProviderError(`${takenMessage(name)}, or credential '${ctx.credential}' may not see it (HeadBucket answered 403)`, 'aws.bucket-name-taken', PROVIDER, ctx.credential, head.forbidden, [
          'Pick another bucket name in anycloud.yaml.',
        ])
      }
      if (head.exists) return 'exists'
      const {CreateBucketCommand} = await s3Sdk()
      // A client of the bucket's region: the SDK fills LocationConstraint from it outside us-east-1;
      // us-east-1 must have none (an explicit `us-east-1` constraint is an error).
      const region = placement.region
      const s3 = await s3For(ctx, region)
      try {
        await s3.send(new CreateBucketCommand({Bucket: name, ...(region === 'us-east-1' ? {} : {CreateBucketConfiguration: {LocationConstraint: region as never}})}))
      } catch (error) {
        const code = awsCode(error)
        if (code === 'BucketAlreadyExists') {
          throw new ProviderError(takenMessage(name), 'aws.bucket-name-taken', PROVIDER, ctx.credential, error, ['Pick another bucket name in anycloud.yaml.'])
        }
        if (code === 'BucketAlreadyOwnedByYou') return 'exists'
        throw toProviderError(error, `CreateBucket ${name} in ${region}`, ctx.credential)
      }
      ctx.regions.set(name, region)
      return 'created'
    },
    async finishCreate(resource, wanted) {
      const placement = at(wanted)
      const {PutBucketTaggingCommand} = await s3Sdk()
      const s3 = await s3For(ctx, placement.region)
      try {
        await s3.send(new PutBucketTaggingCommand({Bucket: resource.name, Tagging: {TagSet: tagList(withContinent(placement))}}))
      } catch (error) {
        if (!taggingUnsupported(error)) throw toProviderError(error, `PutBucketTagging ${resource.name}`, ctx.credential)
        // An S3-compatible store without bucket tagging: the record in state is the ownership proof.
        return (actual) => ({...actual, owned: true, outputs: {...actual.outputs, deployment: placement.tags['anycloud-deployment']}})
      }
    },
    adopt: (resource, wanted) => {
      const placement = at(wanted)
      return confirmOurs(ctx, resource, placement.region, withContinent(placement), 'exists already')
    },
    vanished: (name) => new ProviderError(`S3 bucket '${name}' vanished right after it was created`, 'aws.bucket-create', PROVIDER, ctx.credential),
    taken: (name) => new ProviderError(takenMessage(name), 'aws.bucket-name-taken', PROVIDER, ctx.credential, undefined, ['Pick another bucket name in anycloud.yaml.']),
    async head(name) {
      const region = await bucketRegion(ctx, name)
      return region ? {region, tags: await bucketTags(ctx, name, region)} : null
    },
    isEmpty: (bucket, name) => isEmpty(ctx, name, bucket.region),
    emptyBucket: async (bucket, name) => void (await emptyBucket(ctx, name, bucket.region)),
    remove: (bucket, name) => removeBucket(ctx, name, bucket.region),
  }
}

/** A bucket found for a delete: its own region. */
export interface S3Head extends BucketHead {
  region: string
}

/**
 * A bucket that exists in our account: success only when it carries anycloud's tags for this
 * deployment and lives in the wanted region. A checkpoint bucket (named after the deployment id,
 * so nobody else's) that lacks tags is a create interrupted between CreateBucket and
 * PutBucketTagging: it is tagged now.
 */
async function confirmOurs(ctx: BucketContext, resource: DesiredResource, region: string, tags: Record<string, string>, why: string): Promise<ActualResource> {
  const name = resource.name
  const actualRegion = await bucketRegion(ctx, name)
  if (!actualRegion) throw new ProviderError(`S3 bucket '${name}' ${why} but then could not be found`, 'aws.bucket-create', PROVIDER, ctx.credential)
  const found = await bucketTags(ctx, name, actualRegion)
  const current = found ?? {}
  const deployment = tags['anycloud-deployment']
  if (actualRegion !== region) {
    throw new ProviderError(
      `S3 bucket '${name}' ${why}, in ${actualRegion}, not in ${region} where this deployment wants it`,
      'aws.bucket-conflict',
      PROVIDER,
      ctx.credential,
      undefined,
      ['Pick another bucket name, or set the region (or outputStorageRegion) to the bucket\'s region.'],
    )
  }
  if (!found && resource.role === 'checkpoint' && name === deployment) {
    // Named after the deployment, so nobody else's; the store cannot tag it: state records it.
    const actual = await readBucket(ctx, name)
    if (!actual) throw new ProviderError(`S3 bucket '${name}' vanished while it was checked`, 'aws.bucket-create', PROVIDER, ctx.credential)
    return {...actual, owned: true, outputs: {...actual.outputs, deployment}}
  } else if (Object.keys(current).length === 0 && resource.role === 'checkpoint' && name === deployment) {
    const {PutBucketTaggingCommand} = await s3Sdk()
    const s3 = await s3For(ctx, region)
    await awsCall(`PutBucketTagging ${name}`, ctx.credential, () => s3.send(new PutBucketTaggingCommand({Bucket: name, Tagging: {TagSet: tagList(tags)}})))
  } else if (!ownedBy(current, deployment)) {
    throw new ProviderError(
      `S3 bucket '${name}' ${why} but ${found ? `does not carry anycloud's tags for deployment '${deployment}'${current['anycloud-deployment'] ? ` (it is tagged for '${current['anycloud-deployment']}')` : ''}` : 'its store has no bucket tagging, so nothing shows anycloud created it'}: anycloud will not claim it`,
      'aws.bucket-conflict',
      PROVIDER,
      ctx.credential,
      undefined,
      ['Use the bucket as it is by running `anycloud plan` again (an existing output bucket is adopted, never claimed), or pick another name.'],
    )
  }
  const actual = await readBucket(ctx, name)
  if (!actual) throw new ProviderError(`S3 bucket '${name}' vanished while it was checked`, 'aws.bucket-create', PROVIDER, ctx.credential)
  return actual
}

/** Deletes every object (and version, and unfinished upload) of a bucket. */
async function emptyBucket(ctx: BucketContext, name: string, region: string): Promise<number> {
  const {ListObjectsV2Command, DeleteObjectsCommand, ListObjectVersionsCommand, ListMultipartUploadsCommand, AbortMultipartUploadCommand} = await s3Sdk()
  const s3 = await s3For(ctx, region)
  let deleted = 0
  const deleteKeys = async (objects: Array<{Key: string; VersionId?: string}>) => {
    if (objects.length === 0) return
    const out = await awsCall(`DeleteObjects ${name}`, ctx.credential, () => s3.send(new DeleteObjectsCommand({Bucket: name, Delete: {Objects: objects, Quiet: true}})))
    const failed = out.Errors ?? []
    if (failed.length > 0) {
      throw new ProviderError(`could not empty S3 bucket '${name}': ${failed.length} object(s) refused (${failed[0]?.Code}: ${failed[0]?.Message})`, 'aws.bucket-empty', PROVIDER, ctx.credential)
    }
    deleted += objects.length
  }
  let token: string | undefined
  do {
    const page = await awsCall(`ListObjectsV2 ${name}`, ctx.credential, () => s3.send(new ListObjectsV2Command({Bucket: name, ContinuationToken: token})))
    await deleteKeys((page.Contents ?? []).flatMap((o) => (o.Key !== undefined ? [{Key: o.Key}] : [])))
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
  // Versions and unfinished multipart uploads also keep a bucket from being deleted; stores
  // without these APIs (some S3-compatible ones) answer NotImplemented, which is fine.
  try {
    let keyMarker: string | undefined
    let versionMarker: string | undefined
    do {
      const page = await s3.send(new ListObjectVersionsCommand({Bucket: name, KeyMarker: keyMarker, VersionIdMarker: versionMarker}))
      const all = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].flatMap((v) => (v.Key !== undefined && v.VersionId && v.VersionId !== 'null' ? [{Key: v.Key, VersionId: v.VersionId}] : []))
      await deleteKeys(all)
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined
      versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined
    } while (keyMarker)
  } catch (error) {
    if (error instanceof ProviderError) throw error
  }
  try {
    const uploads = await s3.send(new ListMultipartUploadsCommand({Bucket: name}))
    for (const u of uploads.Uploads ?? []) {
      if (u.Key && u.UploadId) await s3.send(new AbortMultipartUploadCommand({Bucket: name, Key: u.Key, UploadId: u.UploadId})).catch(() => undefined)
    }
  } catch {
    // not supported by the store: nothing to abort
  }
  return deleted
}

/** DeleteBucket, then confirmed with the API (bucket deletion can take a moment to show). */
async function removeBucket(ctx: BucketContext, name: string, region: string): Promise<'deleted' | 'missing' | 'not-empty'> {
  const {DeleteBucketCommand} = await s3Sdk()
  const s3 = await s3For(ctx, region)
  try {
    await s3.send(new DeleteBucketCommand({Bucket: name}))
  } catch (error) {
    const code = awsCode(error)
    if (isMissingBucket(code, httpStatus(error))) return 'missing'
    if (code === 'BucketNotEmpty') return 'not-empty'
    throw toProviderError(error, `DeleteBucket ${name}`, ctx.credential)
  }
  for (let i = 0; (await headBucket(ctx, name)).exists; i++) {
    if (i >= 5) throw new ProviderError(`S3 bucket '${name}' still answers after DeleteBucket`, 'aws.bucket-delete', PROVIDER, ctx.credential)
    await new Promise((r) => setTimeout(r, 200 * 2 ** i))
  }
  ctx.regions.delete(name)
  return 'deleted'
}

/** The most recently written object of a bucket (`status` shows the newest checkpoint's age); null when empty or missing. */
export async function newestObject(ctx: BucketContext, name: string): Promise<{key: string; modified: string} | null> {
  const {ListObjectsV2Command, ListObjectsCommand} = await s3Sdk()
  const region = await bucketRegion(ctx, name)
  const s3 = await s3For(ctx, region)
  let newest: {key: string; modified: string} | null = null
  const consider = (contents: Array<{Key?: string; LastModified?: Date}> | undefined) => {
    for (const o of contents ?? []) {
      if (o.Key === undefined || !o.LastModified) continue
      const modified = new Date(o.LastModified).toISOString()
      if (!newest || modified > newest.modified) newest = {key: o.Key, modified}
    }
  }
  let token: string | undefined
  try {
    do {
      const page = await s3.send(new ListObjectsV2Command({Bucket: name, ContinuationToken: token}))
      consider(page.Contents)
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)
  } catch (error) {
    if (awsCode(error) === 'NoSuchBucket') return null
    // S3-compatible stores that cannot page a V2 listing (see isEmpty): V1 with markers.
    if (!ctx.clients.spec.endpoints?.s3) throw toProviderError(error, `ListObjectsV2 ${name}`, ctx.credential)
    let marker: string | undefined
    do {
      const page = await awsCall(`ListObjects ${name}`, ctx.credential, () => s3.send(new ListObjectsCommand({Bucket: name, Marker: marker})))
      consider(page.Contents)
      marker = page.IsTruncated ? page.Contents?.at(-1)?.Key : undefined
    } while (marker)
  }
  return newest
}
