/**
 * Proves the S3 emulator rig (s3-emulator.ts) with the real AWS SDK v3 and real rclone.
 */
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {join} from 'node:path';
import {Readable} from 'node:stream';
import {
  CreateBucketCommand,
  DeleteBucketTaggingCommand,
  DeleteObjectCommand,
  GetBucketLocationCommand,
  GetBucketTaggingCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketTaggingCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import {rcloneS3Env, s3ClientConfig, startS3Emulator, type S3Emulator} from './s3-emulator.js';
import {rcloneEnv, runRclone} from './rclone.js';
import {readTree, SAMPLE_TREE, TempDirs, writeTree} from './tree.js';
import {loopbackOnly, withEnv} from './test-env.js';

/** Runs `fn`, expecting an S3 service error; returns it. */
async function s3Error(fn: () => Promise<unknown>): Promise<S3ServiceException> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof S3ServiceException, `expected an S3 service error, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

async function bodyText(client: S3Client, Bucket: string, Key: string): Promise<string> {
  const res = await client.send(new GetObjectCommand({Bucket, Key}));
  return res.Body!.transformToString();
}

describe('test rig: S3 emulator (s3rver + gap middleware)', function () {
  let rig: S3Emulator;
  let s3: S3Client;
  const restoreEnv = withEnv({AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true'});
  const clients: S3Client[] = [];
  let allowAllNet: () => void;

  /** A client for the rig; `maxAttempts: 1` unless given (retries are tested explicitly). */
  function client(overrides: Partial<ConstructorParameters<typeof S3Client>[0]> = {}): S3Client {
    const c = new S3Client({...s3ClientConfig(rig), maxAttempts: 1, ...overrides});
    clients.push(c);
    return c;
  }

  before(async function () {
    restoreEnv.apply();
    allowAllNet = loopbackOnly();
    rig = await startS3Emulator({foreignBuckets: ['someone-elses-bucket']});
    s3 = client();
  });

  afterEach(async function () {
    await rig.reset();
    rig.settings.ignoreConditionalHeaders = false;
    rig.settings.legacyUsEast1Recreate = false;
  });

  after(async function () {
    for (const c of clients) c.destroy();
    await rig?.stop();
    allowAllNet?.();
    restoreEnv.restore();
  });

  it('listens on 127.0.0.1 with an OS-chosen port', function () {
    assert.match(rig.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(new URL(rig.endpoint).port, '4568');
  });

  it('stop() closes the port and deletes the data directory, and is idempotent', async function () {
    const other = await startS3Emulator();
    const otherClient = client({endpoint: other.endpoint});
    await otherClient.send(new CreateBucketCommand({Bucket: 'short-lived'}));
    assert.ok(existsSync(join(other.dataDir, 'short-lived')));
    await other.stop();
    await other.stop();
    assert.equal(existsSync(other.dataDir), false);
    await assert.rejects(fetch(`${other.endpoint}/`));
  });

  describe('buckets', function () {
    it('creates a us-east-1 bucket with no constraint; GetBucketLocation is empty', async function () {
      await s3.send(new CreateBucketCommand({Bucket: 'east-bucket'}));
      const loc = await s3.send(new GetBucketLocationCommand({Bucket: 'east-bucket'}));
      assert.equal(loc.LocationConstraint ?? '', '');
      const head = await s3.send(new HeadBucketCommand({Bucket: 'east-bucket'}));
      assert.equal(head.BucketRegion, 'us-east-1');
      assert.equal(rig.bucketState('east-bucket')?.region, 'us-east-1');
    });

    it('creates an eu-west-1 bucket from its LocationConstraint and reports that region', async function () {
      const eu = client({region: 'eu-west-1'});
      await eu.send(new CreateBucketCommand({
        Bucket: 'west-bucket',
        CreateBucketConfiguration: {LocationConstraint: 'eu-west-1'},
      }));
      const loc = await s3.send(new GetBucketLocationCommand({Bucket: 'west-bucket'}));
      assert.equal(loc.LocationConstraint, 'eu-west-1');
      const head = await eu.send(new HeadBucketCommand({Bucket: 'west-bucket'}));
      assert.equal(head.BucketRegion, 'eu-west-1');
    });

    it('rejects an explicit us-east-1 constraint and a constraint that contradicts the signing region', async function () {
      const explicit = await s3Error(() => s3.send(new CreateBucketCommand({
        Bucket: 'bad-constraint',
        CreateBucketConfiguration: {LocationConstraint: 'us-east-1' as never},
      })));
      assert.equal(explicit.name, 'InvalidLocationConstraint');
      assert.equal(explicit.$metadata.httpStatusCode, 400);

      const eu = client({region: 'eu-west-1'});
      const contradicting = await s3Error(() => eu.send(new CreateBucketCommand({
        Bucket: 'contradicting',
        CreateBucketConfiguration: {LocationConstraint: 'ap-south-1'},
      })));
      assert.equal(contradicting.name, 'IllegalLocationConstraintException');
      assert.equal(contradicting.$metadata.httpStatusCode, 400);
    });

    it('sees the SDK fill in LocationConstraint from a non-us-east-1 client region', async function () {
      const eu = client({region: 'eu-west-1'});
      await eu.send(new CreateBucketCommand({Bucket: 'implicit-west'}));
      assert.equal(rig.bucketState('implicit-west')?.region, 'eu-west-1');
    });

    it('answers BucketAlreadyOwnedByYou (409) when re-creating our own bucket', async function () {
      await s3.send(new CreateBucketCommand({Bucket: 'owned-bucket'}));
      const err = await s3Error(() => s3.send(new CreateBucketCommand({Bucket: 'owned-bucket'})));
      assert.equal(err.name, 'BucketAlreadyOwnedByYou');
      assert.equal(err.$metadata.httpStatusCode, 409);
    });

    it('answers BucketAlreadyExists (409) for a foreign name, and 403 for any other access to it', async function () {
      const err = await s3Error(() => s3.send(new CreateBucketCommand({Bucket: 'someone-elses-bucket'})));
      assert.equal(err.name, 'BucketAlreadyExists');
      assert.equal(err.$metadata.httpStatusCode, 409);
      const head = await s3Error(() => s3.send(new HeadBucketCommand({Bucket: 'someone-elses-bucket'})));
      assert.equal(head.$metadata.httpStatusCode, 403);
      const put = await s3Error(() => s3.send(new PutObjectCommand({Bucket: 'someone-elses-bucket', Key: 'k', Body: 'x'})));
      assert.equal(put.name, 'AccessDenied');
    });

    it('can be switched to the legacy us-east-1 re-create (200), which the request log exposes', async function () {
      rig.settings.legacyUsEast1Recreate = true;
      await s3.send(new CreateBucketCommand({Bucket: 'legacy-bucket'}));
      await s3.send(new CreateBucketCommand({Bucket: 'legacy-bucket'}));
      assert.equal(rig.bucketState('legacy-bucket')?.recreates, 1);
      const creates = rig.requests.filter((r) => r.method === 'PUT' && r.path.startsWith('/legacy-bucket') && r.query === '');
      assert.deepEqual(creates.map((r) => r.status), [200, 200]);
    });

    it('stores, returns and deletes bucket tags; NoSuchTagSet when none; NoSuchBucket when missing', async function () {
      await s3.send(new CreateBucketCommand({Bucket: 'tagged-bucket'}));
      const none = await s3Error(() => s3.send(new GetBucketTaggingCommand({Bucket: 'tagged-bucket'})));
      assert.equal(none.name, 'NoSuchTagSet');
      assert.equal(none.$metadata.httpStatusCode, 404);

      const TagSet = [{Key: 'anycloud-owner', Value: 'run <1> & "two"'}, {Key: 'anycloud-test', Value: 'r-123'}];
      await s3.send(new PutBucketTaggingCommand({Bucket: 'tagged-bucket', Tagging: {TagSet}}));
      const got = await s3.send(new GetBucketTaggingCommand({Bucket: 'tagged-bucket'}));
      assert.deepEqual(got.TagSet, TagSet);
      assert.deepEqual(rig.bucketState('tagged-bucket')?.tags, {'anycloud-owner': 'run <1> & "two"', 'anycloud-test': 'r-123'});

      await s3.send(new DeleteBucketTaggingCommand({Bucket: 'tagged-bucket'}));
      const gone = await s3Error(() => s3.send(new GetBucketTaggingCommand({Bucket: 'tagged-bucket'})));
      assert.equal(gone.name, 'NoSuchTagSet');

      const missing = await s3Error(() => s3.send(new GetBucketTaggingCommand({Bucket: 'missing-bucket'})));
      assert.equal(missing.name, 'NoSuchBucket');
    });

    it('refuses a wrong access key on the routes it answers itself and on s3rver routes', async function () {
      await s3.send(new CreateBucketCommand({Bucket: 'key-bucket'}));
      const wrong = client({credentials: {accessKeyId: 'WRONG', secretAccessKey: 'WRONG'}});
      const tagging = await s3Error(() => wrong.send(new GetBucketTaggingCommand({Bucket: 'key-bucket'})));
      assert.equal(tagging.$metadata.httpStatusCode, 403);
      const list = await s3Error(() => wrong.send(new ListObjectsV2Command({Bucket: 'key-bucket'})));
      assert.equal(list.$metadata.httpStatusCode, 403);
    });
  });

  describe('conditional writes', function () {
    beforeEach(async function () {
      await s3.send(new CreateBucketCommand({Bucket: 'cond-bucket'}));
    });

    it('If-None-Match: * creates once, then answers 412 PreconditionFailed and keeps the first body', async function () {
      await s3.send(new PutObjectCommand({Bucket: 'cond-bucket', Key: 'lock', Body: 'first', IfNoneMatch: '*'}));
      const err = await s3Error(() =>
        s3.send(new PutObjectCommand({Bucket: 'cond-bucket', Key: 'lock', Body: 'second', IfNoneMatch: '*'})));
      assert.equal(err.name, 'PreconditionFailed');
      assert.equal(err.$metadata.httpStatusCode, 412);
      assert.equal(await bodyText(s3, 'cond-bucket', 'lock'), 'first');
    });

    it('If-Match writes only over the expected ETag; 404 NoSuchKey when there is no object', async function () {
      const first = await s3.send(new PutObjectCommand({Bucket: 'cond-bucket', Key: 'state', Body: 'v1'}));
      const second = await s3.send(new PutObjectCommand({Bucket: 'cond-bucket', Key: 'state', Body: 'v2', IfMatch: first.ETag}));
      assert.notEqual(second.ETag, first.ETag);
      const stale = await s3Error(() =>
        s3.send(new PutObjectCommand({Bucket: 'cond-bucket', Key: 'state', Body: 'v3', IfMatch: first.ETag})));
      assert.equal(stale.$metadata.httpStatusCode, 412);
      assert.equal(await bodyText(s3, 'cond-bucket', 'state'), 'v2');
      const missing = await s3Error(() =>
        s3.send(new PutObjectCommand({Bucket: 'cond-bucket', Key: 'nothing', Body: 'x', IfMatch: first.ETag})));
      assert.equal(missing.$metadata.httpStatusCode, 404);
    });

    it('DeleteObject with If-Match refuses a replaced object and deletes the expected one', async function () {
      const mine = await s3.send(new PutObjectCommand({Bucket: 'cond-bucket', Key: 'lock', Body: 'mine'}));
      const theirs = await s3.send(new PutObjectCommand({Bucket: 'cond-bucket', Key: 'lock', Body: 'theirs'}));
      const err = await s3Error(() => s3.send(new DeleteObjectCommand({Bucket: 'cond-bucket', Key: 'lock', IfMatch: mine.ETag})));
      assert.equal(err.$metadata.httpStatusCode, 412);
      assert.equal(await bodyText(s3, 'cond-bucket', 'lock'), 'theirs');
      await s3.send(new DeleteObjectCommand({Bucket: 'cond-bucket', Key: 'lock', IfMatch: theirs.ETag}));
      const head = await s3Error(() => s3.send(new HeadObjectCommand({Bucket: 'cond-bucket', Key: 'lock'})));
      assert.equal(head.$metadata.httpStatusCode, 404);
    });

    it('is atomic per key: of 25 concurrent If-None-Match creates exactly one wins', async function () {
      const attempts = Array.from({length: 25}, (_, i) =>
        s3.send(new PutObjectCommand({Bucket: 'cond-bucket', Key: 'race', Body: `writer-${i}`, IfNoneMatch: '*'})));
      const results = await Promise.allSettled(attempts);
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      assert.equal(winners.length, 1);
      for (const r of results) {
        if (r.status === 'rejected') assert.equal((r.reason as S3ServiceException).$metadata.httpStatusCode, 412);
      }
      assert.equal(await bodyText(s3, 'cond-bucket', 'race'), `writer-${winners[0]}`);
    });

    it('with ignoreConditionalHeaders behaves like a broken store: 200 and overwrite', async function () {
      rig.settings.ignoreConditionalHeaders = true;
      await s3.send(new PutObjectCommand({Bucket: 'cond-bucket', Key: 'probe', Body: 'one', IfNoneMatch: '*'}));
      const again = await s3.send(new PutObjectCommand({Bucket: 'cond-bucket', Key: 'probe', Body: 'two', IfNoneMatch: '*'}));
      assert.equal(again.$metadata.httpStatusCode, 200);
      assert.equal(await bodyText(s3, 'cond-bucket', 'probe'), 'two');
    });

    it('stores streamed uploads from an SDK with default (aws-chunked) checksums correctly', async function () {
      const {requestChecksumCalculation: _r, responseChecksumValidation: _v, ...defaults} = s3ClientConfig(rig);
      const sdkDefaults = client(defaults);
      const text = 'streamed body\n'.repeat(1000);
      await sdkDefaults.send(new PutObjectCommand({
        Bucket: 'cond-bucket',
        Key: 'streamed',
        Body: Readable.from([Buffer.from(text)]),
        ContentLength: Buffer.byteLength(text),
      }));
      assert.equal(await bodyText(s3, 'cond-bucket', 'streamed'), text);
      const head = await s3.send(new HeadObjectCommand({Bucket: 'cond-bucket', Key: 'streamed'}));
      assert.equal(head.ContentLength, Buffer.byteLength(text));
    });
  });

  describe('fault injection', function () {
    beforeEach(async function () {
      await s3.send(new CreateBucketCommand({Bucket: 'fault-bucket'}));
    });

    it('answers the next matching request with 503 SlowDown without performing it', async function () {
      const fault = rig.faults.add({method: 'PUT', path: /^\/fault-bucket\/k$/, status: 503, code: 'SlowDown'});
      const err = await s3Error(() => s3.send(new PutObjectCommand({Bucket: 'fault-bucket', Key: 'k', Body: 'x'})));
      assert.equal(err.name, 'SlowDown');
      assert.equal(err.$metadata.httpStatusCode, 503);
      assert.equal(fault.hits, 1);
      assert.equal(fault.remaining, 0);
      const head = await s3Error(() => s3.send(new HeadObjectCommand({Bucket: 'fault-bucket', Key: 'k'})));
      assert.equal(head.$metadata.httpStatusCode, 404);
    });

    it('lets the SDK retry through N faults and only matches the given path', async function () {
      const fault = rig.faults.add({method: 'PUT', path: /\/retried$/, times: 2, status: 500, code: 'InternalError'});
      await s3.send(new PutObjectCommand({Bucket: 'fault-bucket', Key: 'other', Body: 'unaffected'}));
      assert.equal(fault.hits, 0);
      const retrying = client({maxAttempts: 3});
      await retrying.send(new PutObjectCommand({Bucket: 'fault-bucket', Key: 'retried', Body: 'eventually'}));
      assert.equal(fault.hits, 2);
      assert.equal(rig.faults.pending, 0);
      assert.equal(await bodyText(s3, 'fault-bucket', 'retried'), 'eventually');
    });

    it('loses the response after committing: the SDK retry of a conditional create sees 412', async function () {
      // Reliability row 4: the first lock PUT commits, the client sees a failure, its retry gets 412.
      rig.faults.add({method: 'PUT', path: /\/fault-bucket\/lock$/, mode: 'lose-response'});
      const retrying = client({maxAttempts: 2});
      const err = await s3Error(() =>
        retrying.send(new PutObjectCommand({Bucket: 'fault-bucket', Key: 'lock', Body: 'owner-token-1', IfNoneMatch: '*'})));
      assert.equal(err.name, 'PreconditionFailed');
      assert.equal(await bodyText(s3, 'fault-bucket', 'lock'), 'owner-token-1');
      const puts = rig.requests.filter((r) => r.method === 'PUT' && r.path === '/fault-bucket/lock');
      assert.deepEqual(puts.map((r) => [r.fault, r.status]), [['lose-response', 0], [undefined, 412]]);
    });

    it('can perform the operation and then answer an error (error-after)', async function () {
      await s3.send(new PutObjectCommand({Bucket: 'fault-bucket', Key: 'gone', Body: 'x'}));
      rig.faults.add({method: 'DELETE', mode: 'error-after', status: 500, code: 'InternalError', headers: {'x-amz-request-id': 'fault-1'}});
      const err = await s3Error(() => s3.send(new DeleteObjectCommand({Bucket: 'fault-bucket', Key: 'gone'})));
      assert.equal(err.$metadata.httpStatusCode, 500);
      assert.equal(err.$metadata.requestId, 'fault-1');
      const head = await s3Error(() => s3.send(new HeadObjectCommand({Bucket: 'fault-bucket', Key: 'gone'})));
      assert.equal(head.$metadata.httpStatusCode, 404);
    });

    it('can drop a request before it is performed', async function () {
      rig.faults.add({method: 'PUT', path: /\/dropped$/, mode: 'drop'});
      await assert.rejects(s3.send(new PutObjectCommand({Bucket: 'fault-bucket', Key: 'dropped', Body: 'x'})));
      const head = await s3Error(() => s3.send(new HeadObjectCommand({Bucket: 'fault-bucket', Key: 'dropped'})));
      assert.equal(head.$metadata.httpStatusCode, 404);
    });

    it('reset() clears buckets, tags, faults and the request log', async function () {
      rig.faults.add({method: 'GET', times: Infinity});
      await rig.reset();
      assert.equal(rig.faults.pending, 0);
      assert.equal(rig.requests.length, 0);
      assert.equal(rig.bucketState('fault-bucket'), undefined);
      const head = await s3Error(() => s3.send(new HeadBucketCommand({Bucket: 'fault-bucket'})));
      assert.equal(head.$metadata.httpStatusCode, 404);
    });
  });

  describe('with rclone', function () {
    const temp = new TempDirs();
    after(() => temp.cleanup());

    it('copies a directory up and syncs it back down', async function () {
      const up = await temp.make();
      const down = await temp.make();
      await writeTree(up, SAMPLE_TREE);
      const env = rcloneEnv(rcloneS3Env(rig));
      assert.equal(env['AWS_CA_BUNDLE'], undefined);
      await runRclone(['mkdir', 'S3:rclone-bucket'], {env});
      await runRclone(['copy', up, 'S3:rclone-bucket/job/input'], {env});
      const listed = await s3.send(new ListObjectsV2Command({Bucket: 'rclone-bucket', Prefix: 'job/input/'}));
      assert.deepEqual(listed.Contents?.map((o) => o.Key).sort(),
        Object.keys(SAMPLE_TREE).map((k) => `job/input/${k}`).sort());
      await runRclone(['sync', 'S3:rclone-bucket/job/input', down], {env});
      assert.deepEqual(await readTree(down), await readTree(up));
    });
  });
});
