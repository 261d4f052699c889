/**
 * The shared owned-bucket lifecycle (src/providers/owned-buckets.ts) against an in-memory
 * BucketStore: the rules every cloud gets from it, with the store's calls counted.
 */
import assert from 'node:assert/strict'

import type {ActualResource, DesiredResource, ResourceRecord} from '../../src/model/resources.js'
import {OwnedBuckets, ownershipVerdict, type BucketHead, type BucketPlacement, type BucketStore} from '../../src/providers/owned-buckets.js'

const DEPLOYMENT = 'proj-train-abc123'
const TAGS = {'anycloud-managed': 'true', 'anycloud-deployment': DEPLOYMENT}

interface Bucket {
  tags: Record<string, string> | undefined
  objects: number
}

/** A cloud in a map: `calls` logs every port call; knobs make it refuse listings, tagging or deletes. */
class MemoryStore implements BucketStore<Record<string, string> | undefined, BucketHead> {
  readonly buckets = new Map<string, Bucket>()
  readonly calls: string[] = []
  listing: 'ok' | 'refused' | 'broken' = 'ok'
  failFinish = false
  /** Objects a sync writes while a forced delete runs (per round). */
  arrivals: number[] = []
  /** Names another account owns: create answers `exists`, reads show them untagged. */
  readonly foreign = new Set<string>()

  checkName(name: string): void {
    if (!/^[a-z0-9-]{3,63}$/.test(name)) throw new Error(`bad name ${name}`)
  }

  async list(): Promise<Map<string, Record<string, string> | undefined> | undefined> {
    this.calls.push('list')
    if (this.listing === 'refused') return undefined
    if (this.listing === 'broken') throw new Error('listing failed')
    return new Map([...this.buckets].map(([name, b]) => [name, b.tags]))
  }

  async readListed(name: string, tags: Record<string, string> | undefined): Promise<ActualResource | null> {
    this.calls.push(`readListed ${name}`)
    return this.actual(name, tags)
  }

  async read(name: string): Promise<ActualResource | null> {
    this.calls.push(`read ${name}`)
    if (this.foreign.has(name)) return {id: name, attributes: {name}, owned: false, outputs: {}}
    const b = this.buckets.get(name)
    return b ? {...this.actual(name, b.tags), empty: b.objects === 0} : null
  }

  async create(resource: DesiredResource, placement: BucketPlacement): Promise<'created' | 'exists'> {
    this.calls.push(`create ${resource.name}`)
    if (this.buckets.has(resource.name) || this.foreign.has(resource.name)) return 'exists'
    this.buckets.set(resource.name, {tags: undefined, objects: 0})
    void placement
    return 'created'
  }

  async finishCreate(resource: DesiredResource, placement: BucketPlacement): Promise<void> {
    this.calls.push(`finishCreate ${resource.name}`)
    if (this.failFinish) throw new Error('tagging refused')
    this.buckets.get(resource.name)!.tags = {...placement.tags}
  }

  vanished(name: string): Error {
    return new Error(`${name} vanished`)
  }

  taken(name: string): Error {
    return new Error(`${name} is taken`)
  }

  async head(name: string): Promise<BucketHead | null> {
    this.calls.push(`head ${name}`)
    const b = this.buckets.get(name)
    return b ? {tags: b.tags} : null
  }

  async isEmpty(_head: BucketHead, name: string): Promise<boolean> {
    this.calls.push(`isEmpty ${name}`)
    return this.buckets.get(name)!.objects === 0
  }

  async emptyBucket(_head: BucketHead, name: string): Promise<void> {
    this.calls.push(`emptyBucket ${name}`)
    this.buckets.get(name)!.objects = 0
  }

  async remove(_head: BucketHead, name: string): Promise<'deleted' | 'missing' | 'not-empty'> {
    this.calls.push(`remove ${name}`)
    const b = this.buckets.get(name)
    if (!b) return 'missing'
    b.objects += this.arrivals.shift() ?? 0
    if (b.objects > 0) return 'not-empty'
    this.buckets.delete(name)
    return 'deleted'
  }

  private actual(name: string, tags: Record<string, string> | undefined): ActualResource {
    const owned = tags?.['anycloud-managed'] === 'true'
    return {id: name, attributes: {name}, owned, outputs: owned ? {deployment: tags!['anycloud-deployment']} : {}}
  }
}

const desired = (name: string, role: 'output' | 'checkpoint' = 'output'): DesiredResource => ({address: `train.bucket.${role}`, kind: 'bucket', name, role}) as unknown as DesiredResource
const record = (name: string, role: 'output' | 'checkpoint', outputs: Record<string, unknown> = {}): ResourceRecord =>
  ({address: `train.bucket.${role}`, kind: 'bucket', name, role, id: name, credential: 'mem', attributes: {name}, outputs}) as unknown as ResourceRecord
const placement: BucketPlacement = {region: 'us-east-1', tags: TAGS}

describe('owned-bucket lifecycle (shared by aws, gcp and azure) over an in-memory store', () => {
  let store: MemoryStore
  let buckets: OwnedBuckets<Record<string, string> | undefined, BucketHead>

  beforeEach(() => {
    store = new MemoryStore()
    buckets = new OwnedBuckets(store, 4)
  })

  describe('reads in a batch', () => {
    it('one listing for every name; a read by name only for a name the listing does not show; same order', async () => {
      store.buckets.set('out-a', {tags: TAGS, objects: 0})
      store.buckets.set('out-b', {tags: undefined, objects: 3})
      const results = await buckets.readMany(['out-b', 'missing-c', 'out-a'])
      assert.deepEqual(store.calls.filter((c) => c === 'list').length, 1)
      assert.deepEqual(store.calls.filter((c) => c.startsWith('read ')), ['read missing-c'])
      assert.deepEqual(results.map((r) => ('value' in r ? r.value?.id ?? null : 'error')), ['out-b', null, 'out-a'])
      assert.equal('value' in results[2]! && results[2].value?.owned, true)
      assert.equal('value' in results[0]! && results[0].value?.owned, false)
    })

    it('a listing the credential may not make reads every name on its own, and gives the same answers', async () => {
      store.buckets.set('out-a', {tags: TAGS, objects: 0})
      const listed = await buckets.readMany(['out-a', 'missing-c'])
      store.calls.length = 0
      store.listing = 'refused'
      const byName = await buckets.readMany(['out-a', 'missing-c'])
      assert.deepEqual(store.calls, ['list', 'read out-a', 'read missing-c'])
      assert.deepEqual(byName.map((r) => ('value' in r ? r.value?.owned ?? null : 'error')), listed.map((r) => ('value' in r ? r.value?.owned ?? null : 'error')))
    })

    it('any other listing failure fails the batch; a bad name fails only its own read', async () => {
      store.listing = 'broken'
      await assert.rejects(buckets.readMany(['out-a']), /listing failed/)
      store.listing = 'ok'
      const results = await buckets.readMany(['Bad_Name', 'out-a'])
      assert.match(String(('error' in results[0]! && results[0].error) || ''), /bad name Bad_Name/)
      assert.deepEqual(results[1], {value: null})
    })
  })

  describe('create', () => {
    it('creates, finishes (tags) and reads back an owned bucket', async () => {
      const made = await buckets.create(desired('out-a'), placement)
      assert.equal(made.owned, true)
      assert.deepEqual(store.calls, ['create out-a', 'finishCreate out-a', 'read out-a'])
      assert.deepEqual(store.buckets.get('out-a')?.tags, TAGS)
    })

    it('a failed finishing step removes the bucket it just created: nothing is left behind', async () => {
      store.failFinish = true
      await assert.rejects(buckets.create(desired('out-a'), placement), /tagging refused/)
      assert.equal(store.buckets.has('out-a'), false)
      assert.deepEqual(store.calls, ['create out-a', 'finishCreate out-a', 'head out-a', 'remove out-a'])
    })

    it('a failed finishing step never removes a bucket that existed before (it is adopted or taken instead)', async () => {
      store.failFinish = true
      store.buckets.set('out-a', {tags: TAGS, objects: 2})
      assert.equal((await buckets.create(desired('out-a'), placement)).owned, true)
      assert.equal(store.buckets.get('out-a')?.objects, 2)
      store.foreign.add('theirs')
      await assert.rejects(buckets.create(desired('theirs'), placement), /theirs is taken/)
      assert.deepEqual(store.calls.filter((c) => c.startsWith('remove') || c.startsWith('finishCreate')), [])
    })
  })

  describe('delete', () => {
    it('missing is success; untagged and other deployments are kept; data is kept unless forced', async () => {
      assert.deepEqual(await buckets.delete(record('gone', 'output'), {force: false}), {deleted: true})
      store.buckets.set('users', {tags: {}, objects: 0})
      assert.deepEqual(await buckets.delete(record('users', 'output'), {force: true}), {deleted: false, reason: 'not created by anycloud (no ownership tags)'})
      store.buckets.set('other', {tags: {...TAGS, 'anycloud-deployment': 'proj-other-1'}, objects: 0})
      assert.deepEqual(await buckets.delete(record('other', 'output', {deployment: DEPLOYMENT}), {force: true}), {deleted: false, reason: `owned by deployment 'proj-other-1', not '${DEPLOYMENT}'`})
      store.buckets.set('out-a', {tags: TAGS, objects: 1})
      assert.deepEqual(await buckets.delete(record('out-a', 'output', {deployment: DEPLOYMENT}), {force: false}), {deleted: false, reason: 'holds data'})
      assert.equal(store.calls.includes('emptyBucket out-a'), false)
      assert.deepEqual(await buckets.delete(record('out-a', 'output', {deployment: DEPLOYMENT}), {force: true}), {deleted: true})
      assert.equal(store.buckets.has('out-a'), false)
    })

    it('a forced delete empties again when a last sync wrote during the first round; twice is the limit', async () => {
      store.buckets.set(DEPLOYMENT, {tags: TAGS, objects: 5})
      store.arrivals = [1]
      assert.deepEqual(await buckets.delete(record(DEPLOYMENT, 'checkpoint'), {force: true}), {deleted: true})
      assert.deepEqual(store.calls.filter((c) => c.startsWith('emptyBucket')).length, 2)
      store.buckets.set(DEPLOYMENT, {tags: TAGS, objects: 0})
      store.arrivals = [1, 1]
      assert.deepEqual(await buckets.delete(record(DEPLOYMENT, 'checkpoint'), {force: true}), {deleted: false, reason: 'holds data'})
    })

    it('a store without bucket tagging: state\'s record of the create is the only proof of ownership', async () => {
      store.buckets.set('out-a', {tags: undefined, objects: 0})
      assert.match((await buckets.delete(record('out-a', 'output'), {force: false})).reason ?? '', /no bucket tagging and state does not record/)
      assert.deepEqual(await buckets.delete(record('out-a', 'output', {deployment: DEPLOYMENT}), {force: false}), {deleted: true})
    })

    it('tag values compare as the store keeps them (GCS labels)', () => {
      const lower = (v: string) => v.toLowerCase()
      assert.equal(ownershipVerdict(record('x', 'output', {deployment: 'Proj-A'}), {'anycloud-managed': 'true', 'anycloud-deployment': 'proj-a'}, lower), undefined)
      assert.ok(ownershipVerdict(record('x', 'output', {deployment: 'Proj-A'}), {'anycloud-managed': 'true', 'anycloud-deployment': 'proj-a'}))
    })
  })
})
