import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {mkdir, readdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {addressOf, type DesiredResource} from '../../../src/model/resources.js'
import {ownershipTags} from '../../../src/providers/provider.js'
import {makeRig, recordOf, type Rig} from './helpers.js'

function bucket(name: string, role: 'input' | 'output' | 'checkpoint'): DesiredResource {
  return {address: addressOf('train', 'bucket', role), profile: 'train', kind: 'bucket', role, credential: 'laptop', provider: 'local', name, dependsOn: [], attributes: {name, role}}
}

const tags = (deploymentId = 'proj-train-abc123', role = 'output') => ownershipTags('proj', deploymentId, `train.bucket.${role}`)

describe('local provider: buckets', () => {
  let rig: Rig
  beforeEach(async () => {
    rig = await makeRig()
  })
  afterEach(async () => {
    await rig.cleanup()
  })

  it('uses the default root .anycloud/local relative to the config dir, or the credential root', async () => {
    assert.equal(rig.root, join(rig.dir, '.anycloud', 'local'))
    const other = await makeRig({root: 'elsewhere/cloud'})
    try {
      assert.equal(other.root, join(other.dir, 'elsewhere', 'cloud'))
    } finally {
      await other.cleanup()
    }
  })

  it('reads a missing bucket as null and a user-seeded one as not owned', async () => {
    assert.equal(await rig.provider.readBucket('data'), null)
    await mkdir(join(rig.root, 'buckets', 'data'), {recursive: true})
    let read = await rig.provider.readBucket('data')
    assert.deepEqual({id: read?.id, region: read?.region, empty: read?.empty, owned: read?.owned}, {id: join(rig.root, 'buckets', 'data'), region: 'local', empty: true, owned: false})
    await writeFile(join(rig.root, 'buckets', 'data', 'a.txt'), 'a')
    read = await rig.provider.readBucket('data')
    assert.equal(read?.empty, false)
  })

  it('refuses names that are not one plain path segment', async () => {
    await assert.rejects(rig.provider.readBucket('../etc'), /cannot be a local bucket/)
    await assert.rejects(rig.provider.createBucket(bucket('a/b', 'output'), {region: 'local', tags: tags()}), /cannot be a local bucket/)
  })

  it('creates idempotently, keeps ownership meta outside the bucket', async () => {
    const first = await rig.provider.createBucket(bucket('results', 'output'), {region: 'local', tags: tags()})
    const second = await rig.provider.createBucket(bucket('results', 'output'), {region: 'local', tags: tags()})
    assert.deepEqual(second, first)
    assert.equal(first.owned, true)
    assert.equal(first.empty, true)
    assert.equal(first.outputs?.deployment, 'proj-train-abc123')
    assert.deepEqual(await readdir(join(rig.root, 'buckets', 'results')), [], 'nothing of anycloud inside the bucket')
    assert.ok(existsSync(join(rig.root, '.meta', 'buckets', 'results.json')))
  })

  it('adopts but never claims a directory the user made', async () => {
    await mkdir(join(rig.root, 'buckets', 'mine'), {recursive: true})
    await writeFile(join(rig.root, 'buckets', 'mine', 'keep.txt'), 'k')
    const created = await rig.provider.createBucket(bucket('mine', 'output'), {region: 'local', tags: tags()})
    assert.equal(created.owned, false)
    const r = recordOf(bucket('mine', 'output'), created.id, created.outputs)
    assert.deepEqual(await rig.provider.deleteBucket(r, {force: true}), {deleted: false, reason: 'not created by anycloud (no ownership tags)'})
    assert.ok(existsSync(join(rig.root, 'buckets', 'mine', 'keep.txt')))
  })

  it('deletes an empty owned bucket, keeps one holding data unless forced', async () => {
    const created = await rig.provider.createBucket(bucket('results', 'output'), {region: 'local', tags: tags()})
    const record = recordOf(bucket('results', 'output'), created.id, created.outputs)
    await writeFile(join(created.id, 'model.bin'), 'weights')
    assert.deepEqual(await rig.provider.deleteBucket(record, {force: false}), {deleted: false, reason: 'holds data'})
    assert.ok(existsSync(join(created.id, 'model.bin')))
    await mkdir(join(created.id, 'sub'))
    await writeFile(join(created.id, 'sub', 'x'), 'x')
    assert.deepEqual(await rig.provider.deleteBucket(record, {force: true}), {deleted: true})
    assert.equal(existsSync(created.id), false)
    assert.equal(existsSync(join(rig.root, '.meta', 'buckets', 'results.json')), false)
    assert.equal(await rig.provider.readBucket('results'), null)

    const again = await rig.provider.createBucket(bucket('results', 'output'), {region: 'local', tags: tags()})
    assert.deepEqual(await rig.provider.deleteBucket(recordOf(bucket('results', 'output'), again.id, again.outputs), {force: false}), {deleted: true})
    assert.equal(existsSync(again.id), false)
  })

  it('treats a missing bucket as deleted', async () => {
    const r = recordOf(bucket('gone', 'checkpoint'), join(rig.root, 'buckets', 'gone'))
    assert.deepEqual(await rig.provider.deleteBucket(r, {force: true}), {deleted: true})
  })

  it("never deletes another deployment's bucket", async () => {
    const created = await rig.provider.createBucket(bucket('proj-train-zzz999', 'checkpoint'), {region: 'local', tags: tags('proj-train-zzz999', 'checkpoint')})
    // A record claiming the bucket for another deployment (outputs.deployment).
    const foreign = recordOf(bucket('proj-train-zzz999', 'checkpoint'), created.id, {deployment: 'proj-train-abc123'})
    const result = await rig.provider.deleteBucket(foreign, {force: true})
    assert.equal(result.deleted, false)
    assert.match(result.reason ?? '', /owned by deployment 'proj-train-zzz999'/)
    assert.ok(existsSync(created.id))
    // Its own record (checkpoint bucket named after the deployment) deletes it.
    assert.deepEqual(await rig.provider.deleteBucket(recordOf(bucket('proj-train-zzz999', 'checkpoint'), created.id), {force: true}), {deleted: true})
  })
})
