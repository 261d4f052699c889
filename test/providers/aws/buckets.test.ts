import assert from 'node:assert/strict'

import {CreateBucketCommand, PutBucketTaggingCommand, PutObjectCommand, S3Client} from '@aws-sdk/client-s3'

import {continentMismatchMessage} from '../../../src/model/continents.js'
import type {DesiredResource} from '../../../src/model/resources.js'
import {ownershipTags} from '../../../src/providers/provider.js'
import type {AwsProvider} from '../../../src/providers/aws/index.js'
import {s3ClientConfig} from '../../helpers/storage/index.js'
import {awsCredential, makeProvider, recordOf, startRigs, stopRigs, type Rigs} from './helpers.js'

const DEPLOYMENT = 'acme-train-abc123'

function bucketResource(name: string, role: 'output' | 'checkpoint' | 'input', region = 'us-east-1'): DesiredResource {
  return {address: `train.bucket.${role}`, profile: 'train', kind: 'bucket', role, credential: 'aws', provider: 'aws', name, dependsOn: [], attributes: {name, role, region}}
}

const tags = (role: string) => ownershipTags('acme', DEPLOYMENT, `train.bucket.${role}`)

describe('aws provider: S3 buckets (s3rver)', function () {
  let rigs: Rigs
  let provider: AwsProvider
  let s3: S3Client

  before(async () => {
    rigs = await startRigs()
  })
  after(async () => {
    await provider?.close()
    await stopRigs(rigs)
  })
  beforeEach(async () => {
    await rigs.s3.reset()
    rigs.s3.settings.legacyUsEast1Recreate = false
    rigs.s3.foreignBuckets.clear()
    provider = makeProvider(awsCredential('aws', rigs))
    s3 = new S3Client(s3ClientConfig(rigs.s3))
  })
  afterEach(() => s3.destroy())

  const bucketPath = (name: string) => (path: string) => path.replace(/\/$/, '') === `/${name}`
  const creates = (name: string) => rigs.s3.requests.filter((r) => r.method === 'PUT' && bucketPath(name)(r.path) && r.query === '')

  it('reads a missing bucket as null', async () => {
    assert.equal(await provider.readBucket('nothing-here'), null)
  })

  it('creates in us-east-1 without a LocationConstraint, tags it, and reads it back (region, continent, owned, empty)', async () => {
    const actual = await provider.createBucket(bucketResource('out-east', 'output'), {region: 'us-east-1', tags: tags('output')})
    // s3rver answers InvalidLocationConstraint to an explicit us-east-1 constraint: the create went through without one.
    assert.equal(rigs.s3.bucketState('out-east')?.region, 'us-east-1')
    assert.deepEqual(rigs.s3.bucketState('out-east')?.tags, {...tags('output'), 'anycloud-continent': 'us'})
    assert.equal(actual.region, 'us-east-1')
    assert.equal(actual.continent, 'us')
    assert.equal(actual.owned, true)
    assert.equal(actual.empty, true)
    assert.equal(actual.outputs?.deployment, DEPLOYMENT)
    const head = rigs.s3.requests.findIndex((r) => r.method === 'HEAD' && bucketPath('out-east')(r.path))
    const put = rigs.s3.requests.findIndex((r) => r.method === 'PUT' && bucketPath('out-east')(r.path) && r.query === '')
    assert.ok(head >= 0 && head < put, 'HeadBucket before CreateBucket')
  })

  it('creates in eu-west-1 with its LocationConstraint; the continent is eu and the mismatch message names both continents', async () => {
    const actual = await provider.createBucket(bucketResource('out-west', 'output', 'eu-west-1'), {region: 'eu-west-1', tags: tags('output')})
    assert.equal(rigs.s3.bucketState('out-west')?.region, 'eu-west-1')
    assert.equal(actual.region, 'eu-west-1')
    assert.equal(actual.continent, 'eu')
    const read = await provider.readBucket('out-west')
    assert.equal(read?.continent, 'eu')
    assert.match(continentMismatchMessage('out-west', 'eu', 'us'), /continent 'eu' but you are deploying to continent 'us'/)
  })

  it('HeadBucket first: a bucket we own in us-east-1 is never re-created (no CreateBucket, no ACL reset)', async () => {
    rigs.s3.settings.legacyUsEast1Recreate = true
    await provider.createBucket(bucketResource('out-once', 'output'), {region: 'us-east-1', tags: tags('output')})
    const again = await provider.createBucket(bucketResource('out-once', 'output'), {region: 'us-east-1', tags: tags('output')})
    assert.equal(again.owned, true)
    assert.equal(creates('out-once').length, 1, 'one CreateBucket in all')
    assert.equal(rigs.s3.bucketState('out-once')?.recreates, 0)
  })

  it('BucketAlreadyOwnedByYou: success when our tags and region match', async () => {
    await provider.createBucket(bucketResource('out-race', 'output'), {region: 'us-east-1', tags: tags('output')})
    // The next HeadBucket misses it (a racing create), so CreateBucket answers BucketAlreadyOwnedByYou.
    rigs.s3.faults.add({method: 'HEAD', path: /^\/out-race\/?$/, status: 404, code: 'NotFound'})
    const actual = await provider.createBucket(bucketResource('out-race', 'output'), {region: 'us-east-1', tags: tags('output')})
    assert.equal(actual.owned, true)
    assert.equal(creates('out-race').length, 2)
  })

  it('BucketAlreadyOwnedByYou: an error when the bucket lacks our tags or lives in another region', async () => {
    await s3.send(new CreateBucketCommand({Bucket: 'users-own'}))
    rigs.s3.faults.add({method: 'HEAD', path: /^\/users-own\/?$/, status: 404, code: 'NotFound'})
    await assert.rejects(provider.createBucket(bucketResource('users-own', 'output'), {region: 'us-east-1', tags: tags('output')}), (e: Error & {code?: string}) => {
      assert.equal(e.code, 'aws.bucket-conflict')
      assert.match(e.message, /does not carry anycloud's tags/)
      return true
    })
    assert.equal(rigs.s3.bucketState('users-own')?.tags, undefined, 'not claimed')

    await provider.createBucket(bucketResource('out-region', 'output', 'eu-west-1'), {region: 'eu-west-1', tags: tags('output')})
    rigs.s3.faults.add({method: 'HEAD', path: /^\/out-region\/?$/, status: 404, code: 'NotFound'})
    await assert.rejects(provider.createBucket(bucketResource('out-region', 'output'), {region: 'us-east-1', tags: tags('output')}), /in eu-west-1, not in us-east-1/)
  })

  it('a checkpoint bucket left untagged by an interrupted create is completed (its name is the deployment id)', async () => {
    await s3.send(new CreateBucketCommand({Bucket: DEPLOYMENT}))
    const actual = await provider.createBucket(bucketResource(DEPLOYMENT, 'checkpoint'), {region: 'us-east-1', tags: tags('checkpoint')})
    assert.equal(actual.owned, true)
    assert.equal(rigs.s3.bucketState(DEPLOYMENT)?.tags?.['anycloud-deployment'], DEPLOYMENT)
  })

  it('BucketAlreadyExists (another account): fails at once with "name taken", no retry', async () => {
    rigs.s3.foreignBuckets.add('someone-elses')
    rigs.s3.faults.add({method: 'HEAD', path: /^\/someone-elses\/?$/, status: 404, code: 'NotFound'})
    await assert.rejects(provider.createBucket(bucketResource('someone-elses', 'output'), {region: 'us-east-1', tags: tags('output')}), (e: Error & {code?: string}) => {
      assert.equal(e.code, 'aws.bucket-name-taken')
      assert.match(e.message, /taken by another AWS account/)
      return true
    })
    assert.equal(creates('someone-elses').length, 1, 'exactly one CreateBucket')
  })

  it('a bucket of another account seen by HeadBucket (403) is "name taken" for create and an error for read', async () => {
    rigs.s3.foreignBuckets.add('theirs')
    await assert.rejects(provider.createBucket(bucketResource('theirs', 'output'), {region: 'us-east-1', tags: tags('output')}), /taken by another AWS account/)
    assert.equal(creates('theirs').length, 0)
    await assert.rejects(provider.readBucket('theirs'), (e: Error & {code?: string}) => e.code === 'aws.bucket-forbidden')
  })

  it('a failed tagging removes the bucket it just created (a failed create leaves nothing behind)', async () => {
    rigs.s3.faults.add({method: 'PUT', path: /^\/half-made\/?$/, when: (q) => q.has('tagging'), status: 400, code: 'InvalidTag'})
    await assert.rejects(provider.createBucket(bucketResource('half-made', 'output'), {region: 'us-east-1', tags: tags('output')}))
    assert.equal(await provider.readBucket('half-made'), null)
  })

  it('readBucket: a user bucket is not owned; `empty` follows its objects', async () => {
    await s3.send(new CreateBucketCommand({Bucket: 'inputs'}))
    let read = await provider.readBucket('inputs')
    assert.equal(read?.owned, false)
    assert.equal(read?.empty, true)
    assert.equal(read?.continent, 'us')
    await s3.send(new PutObjectCommand({Bucket: 'inputs', Key: 'a.txt', Body: 'a'}))
    read = await provider.readBucket('inputs')
    assert.equal(read?.empty, false)
    // Two keys: a truncated V2 listing (s3rver cannot make its continuation token; V1 is asked instead).
    await s3.send(new PutObjectCommand({Bucket: 'inputs', Key: 'b.txt', Body: 'b'}))
    assert.equal((await provider.readBucket('inputs'))?.empty, false)
    assert.ok(rigs.s3.requests.some((r) => r.method === 'GET' && r.query.includes('max-keys=1') && r.query.includes('list-type=2')), 'ListObjectsV2 MaxKeys 1 first')
  })

  describe('deleteBucket', () => {
    it('finds the region with GetBucketLocation, empties and deletes a checkpoint bucket (force)', async () => {
      await provider.createBucket(bucketResource(DEPLOYMENT, 'checkpoint', 'eu-west-1'), {region: 'eu-west-1', tags: tags('checkpoint')})
      const west = new S3Client(s3ClientConfig(rigs.s3, 'eu-west-1'))
      for (const k of ['ckpt/1', 'ckpt/2', 'state.json']) await west.send(new PutObjectCommand({Bucket: DEPLOYMENT, Key: k, Body: k}))
      west.destroy()
      const fresh = makeProvider(awsCredential('aws', rigs))
      const r = await fresh.deleteBucket(recordOf('train.bucket.checkpoint', 'bucket', DEPLOYMENT, {id: DEPLOYMENT, attributes: {}}, {role: 'checkpoint'}), {force: true})
      assert.deepEqual(r, {deleted: true})
      assert.ok(rigs.s3.requests.some((q) => q.method === 'GET' && bucketPath(DEPLOYMENT)(q.path) && q.query.startsWith('location')), 'GetBucketLocation')
      assert.equal(await fresh.readBucket(DEPLOYMENT), null)
      await fresh.close()
    })

    it('keeps a non-empty output bucket, and deletes an empty one', async () => {
      await provider.createBucket(bucketResource('results', 'output'), {region: 'us-east-1', tags: tags('output')})
      await s3.send(new PutObjectCommand({Bucket: 'results', Key: 'r.txt', Body: 'r'}))
      const record = recordOf('train.bucket.output', 'bucket', 'results', {id: 'results', attributes: {}, outputs: {deployment: DEPLOYMENT}}, {role: 'output'})
      const kept = await provider.deleteBucket(record, {force: false})
      assert.equal(kept.deleted, false)
      assert.match(kept.reason ?? '', /holds data/)
      assert.ok(await provider.readBucket('results'))

      await provider.createBucket(bucketResource('results-empty', 'output'), {region: 'us-east-1', tags: tags('output')})
      assert.deepEqual(await provider.deleteBucket({...record, name: 'results-empty', id: 'results-empty'}, {force: false}), {deleted: true})
      assert.equal(await provider.readBucket('results-empty'), null)
    })

    it('keeps buckets without our tags or tagged for another deployment; a missing bucket is success', async () => {
      await s3.send(new CreateBucketCommand({Bucket: 'not-ours'}))
      const rec = recordOf('train.bucket.output', 'bucket', 'not-ours', {id: 'not-ours', attributes: {}}, {role: 'output'})
      const r1 = await provider.deleteBucket(rec, {force: true})
      assert.equal(r1.deleted, false)
      assert.match(r1.reason ?? '', /no ownership tags/)

      await s3.send(new CreateBucketCommand({Bucket: 'other-dep'}))
      await s3.send(new PutBucketTaggingCommand({Bucket: 'other-dep', Tagging: {TagSet: Object.entries(ownershipTags('acme', 'acme-other-zzz999', 'x.bucket.output')).map(([Key, Value]) => ({Key, Value}))}}))
      const r2 = await provider.deleteBucket({...rec, name: 'other-dep', id: 'other-dep', outputs: {deployment: DEPLOYMENT}}, {force: true})
      assert.equal(r2.deleted, false)
      assert.match(r2.reason ?? '', /acme-other-zzz999/)
      assert.ok(await provider.readBucket('other-dep'))

      assert.deepEqual(await provider.deleteBucket({...rec, name: 'never-was', id: 'never-was'}, {force: false}), {deleted: true})
    })
  })
})
