/**
 * Proves the azurite rig (azurite.ts) with `@azure/storage-blob` 12 and real rclone.
 */
import assert from 'node:assert/strict';
import {
  AnonymousCredential,
  BlobServiceClient,
  ContainerClient,
  RestError,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import {containerSasUrl, rcloneAzureEnv, startAzurite, type AzuriteRig} from './azurite.js';
import {rcloneEnv, runRclone} from './rclone.js';
import {readTree, SAMPLE_TREE, TempDirs, writeTree} from './tree.js';
import {loopbackOnly} from './test-env.js';

/** No SDK retries: the rig is local and tests want the first answer. */
const NO_RETRY: StoragePipelineOptions = {retryOptions: {maxTries: 1}};

/** Runs `fn`, expecting an Azure REST error; returns it. */
async function restError(fn: () => Promise<unknown>): Promise<RestError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof RestError, `expected a RestError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('test rig: azurite', function () {
  let rig: AzuriteRig;
  let service: BlobServiceClient;
  let allowAllNet: () => void;

  before(async function () {
    allowAllNet = loopbackOnly();
    rig = await startAzurite();
    service = BlobServiceClient.fromConnectionString(rig.connectionString, NO_RETRY);
  });

  after(async function () {
    await rig?.stop();
    allowAllNet?.();
  });

  it('listens on 127.0.0.1 with an OS-chosen port under devstoreaccount1', function () {
    assert.match(rig.blobEndpoint, /^http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
    assert.ok(isAlive(rig.pid));
  });

  it('creates containers with metadata; a second create is ContainerAlreadyExists', async function () {
    const container = service.getContainerClient('meta-container');
    await container.create({metadata: {anycloudtest: 'r1'}});
    const props = await container.getProperties();
    assert.deepEqual(props.metadata, {anycloudtest: 'r1'});
    const dup = await restError(() => container.create());
    assert.equal(dup.statusCode, 409);
    assert.equal(dup.code, 'ContainerAlreadyExists');
    assert.equal(await service.getContainerClient('no-such-container').exists(), false);
  });

  it('refuses an upload with ifNoneMatch "*" over an existing blob and keeps the first body', async function () {
    const container = service.getContainerClient('cond-container');
    await container.createIfNotExists();
    const blob = container.getBlockBlobClient('locks/state.lock');
    await blob.upload('owner-1', 7, {conditions: {ifNoneMatch: '*'}});
    const err = await restError(() => blob.upload('owner-2', 7, {conditions: {ifNoneMatch: '*'}}));
    assert.equal(err.statusCode, 409);
    assert.equal(err.code, 'BlobAlreadyExists');
    assert.equal((await blob.downloadToBuffer()).toString(), 'owner-1');

    const {etag} = await blob.getProperties();
    const stale = await restError(() => blob.delete({conditions: {ifMatch: '"0x0"'}}));
    assert.equal(stale.statusCode, 412);
    await blob.delete({conditions: {ifMatch: etag}});
    assert.equal(await blob.exists(), false);
  });

  it('supports blob leases: a second holder is refused, writes need the lease id, break ends it', async function () {
    const container = service.getContainerClient('lease-container');
    await container.createIfNotExists();
    const blob = container.getBlockBlobClient('lock');
    await blob.upload('', 0);
    const mine = blob.getBlobLeaseClient('11111111-1111-1111-1111-111111111111');
    const theirs = blob.getBlobLeaseClient('22222222-2222-2222-2222-222222222222');
    await mine.acquireLease(15);

    const conflict = await restError(() => theirs.acquireLease(15));
    assert.equal(conflict.statusCode, 409);
    assert.equal(conflict.code, 'LeaseAlreadyPresent');
    const noLease = await restError(() => blob.upload('x', 1));
    assert.equal(noLease.statusCode, 412);
    await blob.upload('held', 4, {conditions: {leaseId: mine.leaseId}});
    assert.equal((await blob.getProperties()).leaseState, 'leased');

    await theirs.breakLease(0);
    assert.equal((await blob.getProperties()).leaseState, 'broken');
    await theirs.acquireLease(15);
    await theirs.releaseLease();
    assert.equal((await blob.getProperties()).leaseState, 'available');
  });

  it('issues container SAS URLs whose permissions are enforced', async function () {
    const container = service.getContainerClient('sas-container');
    await container.createIfNotExists();
    await container.getBlockBlobClient('seed.txt').upload('seed', 4);
    const expires = new Date(Date.now() + 3600_000);

    const readOnly = new ContainerClient(containerSasUrl(rig, 'sas-container', 'rl', expires), new AnonymousCredential(), NO_RETRY);
    const names: string[] = [];
    for await (const b of readOnly.listBlobsFlat()) names.push(b.name);
    assert.deepEqual(names, ['seed.txt']);
    const denied = await restError(() => readOnly.getBlockBlobClient('new.txt').upload('x', 1));
    assert.equal(denied.statusCode, 403);

    const readWrite = new ContainerClient(containerSasUrl(rig, 'sas-container', 'racwdl', expires), new AnonymousCredential(), NO_RETRY);
    await readWrite.getBlockBlobClient('new.txt').upload('x', 1);
  });

  it('copies a directory up and syncs it back down with rclone (sas_url)', async function () {
    const temp = new TempDirs();
    try {
      await service.getContainerClient('rclone-container').createIfNotExists();
      const up = await temp.make();
      const down = await temp.make();
      await writeTree(up, SAMPLE_TREE);
      const sas = containerSasUrl(rig, 'rclone-container', 'racwdl', new Date(Date.now() + 3600_000));
      const env = rcloneEnv(rcloneAzureEnv(sas));
      await runRclone(['copy', up, 'AZ:rclone-container/job/input'], {env});
      const names: string[] = [];
      for await (const b of service.getContainerClient('rclone-container').listBlobsFlat({prefix: 'job/input/'})) {
        names.push(b.name);
      }
      assert.deepEqual(names.sort(), Object.keys(SAMPLE_TREE).map((k) => `job/input/${k}`).sort());
      await runRclone(['sync', 'AZ:rclone-container/job/input', down], {env});
      assert.deepEqual(await readTree(down), await readTree(up));
    } finally {
      await temp.cleanup();
    }
  });

  it('stop() kills azurite by pid and is idempotent', async function () {
    const second = await startAzurite();
    try {
      assert.notEqual(second.pid, rig.pid);
      assert.ok(isAlive(second.pid));
    } finally {
      await second.stop();
    }
    assert.equal(isAlive(second.pid), false);
    await second.stop();
  });
});
