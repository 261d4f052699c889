/**
 * Proves the GCS JSON API fake (gcs-fake.ts) with `@google-cloud/storage` 7 and real rclone.
 */
import assert from 'node:assert/strict';
import {createHash} from 'node:crypto';
import {Storage, type Bucket} from '@google-cloud/storage';
import {crc32c, crc32cBase64, gcsClientOptions, rcloneGcsEnv, startGcsFake, type GcsFake} from './gcs-fake.js';
import {rcloneEnv, runRclone} from './rclone.js';
import {readTree, SAMPLE_TREE, TempDirs, writeTree} from './tree.js';
import {loopbackOnly, withEnv} from './test-env.js';

/**
 * Runs `fn`, expecting an HTTP error from the SDK (an `ApiError`, or a `GaxiosError` from
 * resumable uploads); returns its status code and message.
 */
async function apiError(fn: () => Promise<unknown>): Promise<{code: number; message: string}> {
  try {
    await fn();
  } catch (err) {
    const e = err as {code?: unknown; status?: unknown; response?: {status?: unknown}; message?: string};
    const code = Number(typeof e.code === 'number' ? e.code : e.status ?? e.response?.status ?? e.code);
    assert.ok(Number.isInteger(code), `expected an HTTP error, got ${String(err)}`);
    return {code, message: String(e.message)};
  }
  assert.fail('expected the call to fail');
}

describe('test rig: GCS JSON API fake', function () {
  describe('crc32c', function () {
    it('matches the CRC-32C check value and GCS base64 encoding', function () {
      assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
      assert.equal(crc32c(Buffer.alloc(0)), 0);
      assert.equal(crc32cBase64(Buffer.alloc(0)), 'AAAAAA==');
      assert.equal(crc32c(Buffer.from('hello world')), 0xc99465aa);
      assert.equal(crc32cBase64(Buffer.from('hello world')), 'yZRlqg==');
    });
  });

  describe('with @google-cloud/storage', function () {
    let rig: GcsFake;
    let storage: Storage;
    let noRetry: Storage;
    let allowAllNet: () => void;

    before(async function () {
      allowAllNet = loopbackOnly();
      rig = await startGcsFake({foreignBuckets: ['someone-elses-bucket']});
      storage = new Storage(gcsClientOptions(rig));
      noRetry = new Storage(gcsClientOptions(rig, {retryOptions: {autoRetry: false}}));
    });

    afterEach(function () {
      rig.reset();
    });

    after(async function () {
      await rig?.stop();
      allowAllNet?.();
    });

    async function makeBucket(name = 'test-bucket'): Promise<Bucket> {
      const [bucket] = await storage.createBucket(name);
      return bucket;
    }

    it('listens on 127.0.0.1 with an OS-chosen port', function () {
      assert.match(rig.apiEndpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    });

    it('creates a bucket with location and labels; duplicate insert is 409; missing is 404', async function () {
      const [bucket] = await storage.createBucket('labelled-bucket', {location: 'europe-west1', labels: {'anycloud-test': 'r1'}});
      const [meta] = await bucket.getMetadata();
      assert.equal(meta.location, 'EUROPE-WEST1');
      assert.equal(meta.locationType, 'region');
      assert.deepEqual(meta.labels, {'anycloud-test': 'r1'});
      assert.equal(meta.metageneration, '1');

      const dup = await apiError(() => storage.createBucket('labelled-bucket'));
      assert.equal(dup.code, 409);
      assert.match(dup.message, /already own it/);

      const [exists] = await storage.bucket('missing-bucket').exists();
      assert.equal(exists, false);
      const [buckets] = await storage.getBuckets();
      assert.deepEqual(buckets.map((b) => b.name), ['labelled-bucket']);
    });

    it('answers 409 for a name taken by another project and 403 for reading it', async function () {
      const taken = await apiError(() => storage.createBucket('someone-elses-bucket'));
      assert.equal(taken.code, 409);
      assert.match(taken.message, /not available/);
      const read = await apiError(() => storage.bucket('someone-elses-bucket').getMetadata());
      assert.equal(read.code, 403);
    });

    it('patches labels (merge, delete) and bumps metageneration; ifMetagenerationMatch guards it', async function () {
      const bucket = await makeBucket();
      await bucket.setLabels({a: 'one', b: 'two'});
      await bucket.deleteLabels('a');
      const [meta] = await bucket.getMetadata();
      assert.deepEqual(meta.labels, {b: 'two'});
      assert.equal(meta.metageneration, '3');
      const stale = await apiError(() =>
        noRetry.bucket('test-bucket').setMetadata({labels: {c: 'x'}}, {ifMetagenerationMatch: 1}));
      assert.equal(stale.code, 412);
    });

    it('uploads (multipart and resumable), lists with prefix/delimiter, downloads and validates hashes', async function () {
      const bucket = await makeBucket();
      await bucket.file('jobs/a/out.txt').save('alpha', {resumable: false, contentType: 'text/plain', metadata: {metadata: {k: 'v'}}});
      const big = Buffer.alloc(700_000, 0x61);
      await bucket.file('jobs/b/big.bin').save(big, {resumable: true, chunkSize: 256 * 1024});
      await bucket.file('top.txt').save('top', {resumable: false});

      const [meta] = await bucket.file('jobs/a/out.txt').getMetadata();
      assert.equal(meta.size, '5');
      assert.equal(typeof meta.generation, 'string');
      assert.equal(meta.metageneration, '1');
      assert.equal(meta.crc32c, crc32cBase64(Buffer.from('alpha')));
      assert.equal(meta.md5Hash, createHash('md5').update('alpha').digest('base64'));
      assert.equal(meta.contentType, 'text/plain');
      assert.deepEqual(meta.metadata, {k: 'v'});
      assert.match(String(meta.mediaLink), /^http:\/\/127\.0\.0\.1:\d+\/download\/storage\/v1\/b\/test-bucket\/o\/jobs%2Fa%2Fout\.txt\?/);

      const [files, , listing] = await bucket.getFiles({delimiter: '/', autoPaginate: false});
      assert.deepEqual(files.map((f) => f.name), ['top.txt']);
      assert.deepEqual((listing as {prefixes?: string[]}).prefixes, ['jobs/']);
      const [under] = await bucket.getFiles({prefix: 'jobs/'});
      assert.deepEqual(under.map((f) => f.name), ['jobs/a/out.txt', 'jobs/b/big.bin']);

      const [alpha] = await bucket.file('jobs/a/out.txt').download();
      assert.equal(alpha.toString(), 'alpha');
      const [bigBack] = await bucket.file('jobs/b/big.bin').download();
      assert.ok(bigBack.equals(big));
      const resumablePuts = rig.state.requests.filter((r) => r.method === 'PUT' && r.query.includes('upload_id='));
      assert.ok(resumablePuts.length >= 3, `expected chunked resumable PUTs, saw ${resumablePuts.length}`);
      assert.ok(resumablePuts.slice(0, -1).every((r) => r.status === 308));
    });

    it('paginates listings with maxResults and pageToken', async function () {
      const bucket = await makeBucket();
      for (const name of ['k1', 'k2', 'k3', 'k4', 'k5']) await bucket.file(name).save(name, {resumable: false});
      const pages: string[][] = [];
      let pageToken: string | undefined;
      do {
        const [files, next] = await bucket.getFiles({maxResults: 2, autoPaginate: false, pageToken});
        pages.push(files.map((f) => f.name));
        pageToken = (next as {pageToken?: string} | null)?.pageToken;
      } while (pageToken);
      assert.deepEqual(pages, [['k1', 'k2'], ['k3', 'k4'], ['k5']]);
    });

    it('enforces ifGenerationMatch (0 = must not exist) with 412 on writes and deletes', async function () {
      const bucket = await makeBucket();
      const lock = bucket.file('locks/state.lock');
      await lock.save('owner-1', {resumable: false, preconditionOpts: {ifGenerationMatch: 0}});
      const [meta] = await lock.getMetadata();

      const exists = await apiError(() => lock.save('owner-2', {resumable: false, preconditionOpts: {ifGenerationMatch: 0}}));
      assert.equal(exists.code, 412);
      const resumable = await apiError(() => lock.save('owner-2', {resumable: true, preconditionOpts: {ifGenerationMatch: 0}}));
      assert.equal(resumable.code, 412);

      await lock.save('owner-1b', {resumable: false, preconditionOpts: {ifGenerationMatch: Number(meta.generation)}});
      const staleWrite = await apiError(() =>
        lock.save('owner-3', {resumable: false, preconditionOpts: {ifGenerationMatch: Number(meta.generation)}}));
      assert.equal(staleWrite.code, 412);
      const staleDelete = await apiError(() => lock.delete({ifGenerationMatch: Number(meta.generation)}));
      assert.equal(staleDelete.code, 412);
      assert.equal((await lock.download())[0].toString(), 'owner-1b');

      const [current] = await lock.getMetadata();
      await lock.delete({ifGenerationMatch: Number(current.generation)});
      assert.equal((await lock.exists())[0], false);
    });

    it('copies objects and refuses to delete a non-empty bucket', async function () {
      const bucket = await makeBucket();
      await bucket.file('src.txt').save('copy me', {resumable: false, metadata: {metadata: {origin: 'src'}}});
      await bucket.file('src.txt').copy(bucket.file('dst/copy.txt'));
      const [copied] = await bucket.file('dst/copy.txt').download();
      assert.equal(copied.toString(), 'copy me');
      const [meta] = await bucket.file('dst/copy.txt').getMetadata();
      assert.deepEqual(meta.metadata, {origin: 'src'});

      const notEmpty = await apiError(() => bucket.delete());
      assert.equal(notEmpty.code, 409);
      await bucket.deleteFiles();
      await bucket.delete();
      assert.equal((await bucket.exists())[0], false);
    });

    it('supports bucket IAM read-modify-write with etag; a stale etag is 409', async function () {
      const bucket = await makeBucket();
      const [policy] = await bucket.iam.getPolicy();
      assert.ok(policy.etag);
      const member = 'serviceAccount:runner@anycloud-test.iam.gserviceaccount.com';
      await bucket.iam.setPolicy({
        ...policy,
        bindings: [...policy.bindings, {role: 'roles/storage.objectAdmin', members: [member]}],
      });
      const [updated] = await bucket.iam.getPolicy();
      assert.notEqual(updated.etag, policy.etag);
      assert.ok(updated.bindings.some((b) => b.role === 'roles/storage.objectAdmin' && b.members.includes(member)));

      const stale = await apiError(() => noRetry.bucket('test-bucket').iam.setPolicy({...policy, bindings: []}));
      assert.equal(stale.code, 409);
      const bad = await apiError(() =>
        noRetry.bucket('test-bucket').iam.setPolicy({bindings: [{role: 'roles/storage.objectAdmin', members: ['nobody']}]}));
      assert.equal(bad.code, 400);
    });

    it('serves the API without the /storage/v1 prefix (STORAGE_EMULATOR_HOST mode)', async function () {
      const env = withEnv({STORAGE_EMULATOR_HOST: rig.apiEndpoint});
      env.apply();
      let emulatorClient: Storage;
      try {
        emulatorClient = new Storage({projectId: 'anycloud-test'});
      } finally {
        env.restore();
      }
      const [bucket] = await emulatorClient.createBucket('prefixless-bucket');
      await bucket.file('x').save('via emulator host', {resumable: false});
      assert.equal((await bucket.file('x').download())[0].toString(), 'via emulator host');
      assert.ok(rig.state.requests.some((r) => r.path === '/b'));
    });

    it('injects faults: 503 is retried by the SDK, or surfaces with retries off; lost responses too', async function () {
      const bucket = await makeBucket();
      await bucket.file('f').save('data', {resumable: false});

      // A fresh client: @google-cloud/storage 7.22 switches `retryOptions.autoRetry` off for
      // the whole Storage object after an unconditional simple upload (like the one above).
      const retrying = new Storage(gcsClientOptions(rig, {retryOptions: {maxRetryDelay: 0.05}}));
      const retried = rig.faults.add({method: 'GET', path: /\/o\/f$/, status: 503});
      const [meta] = await retrying.bucket('test-bucket').file('f').getMetadata();
      assert.equal(meta.size, '4');
      assert.equal(retried.hits, 1);

      rig.faults.add({method: 'GET', path: /\/o\/f$/, status: 503, code: 'backendError'});
      const surfaced = await apiError(() => noRetry.bucket('test-bucket').file('f').getMetadata());
      assert.equal(surfaced.code, 503);

      rig.faults.add({method: 'POST', path: /\/upload\//, mode: 'lose-response'});
      await assert.rejects(noRetry.bucket('test-bucket').file('lost').save('committed', {resumable: false}));
      assert.equal((await bucket.file('lost').download())[0].toString(), 'committed');
    });
  });

  describe('with rclone', function () {
    let rig: GcsFake;
    const temp = new TempDirs();

    before(async function () {
      rig = await startGcsFake();
    });

    after(async function () {
      await rig?.stop();
      await temp.cleanup();
    });

    it('creates a bucket, copies a directory up and syncs it back down', async function () {
      const up = await temp.make();
      const down = await temp.make();
      await writeTree(up, SAMPLE_TREE);
      const env = rcloneEnv(rcloneGcsEnv(rig));
      await runRclone(['mkdir', 'GCS:rclone-bucket'], {env});
      await runRclone(['copy', up, 'GCS:rclone-bucket/job/input'], {env});
      const objects = rig.state.buckets.get('rclone-bucket')!.objects;
      assert.deepEqual([...objects.keys()].sort(), Object.keys(SAMPLE_TREE).map((k) => `job/input/${k}`).sort());
      for (const [k, v] of Object.entries(SAMPLE_TREE)) assert.equal(objects.get(`job/input/${k}`)!.data.toString(), v);

      await runRclone(['sync', 'GCS:rclone-bucket/job/input', down], {env});
      assert.deepEqual(await readTree(down), await readTree(up));
      // a second copy finds everything unchanged (sizes, hashes and mtimes round-trip)
      const before = rig.state.requests.length;
      await runRclone(['copy', up, 'GCS:rclone-bucket/job/input'], {env});
      assert.ok(!rig.state.requests.slice(before).some((r) => r.method === 'POST'));
    });
  });
});
