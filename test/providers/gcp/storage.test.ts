/**
 * The gcp provider's storage side against the in-memory GCS fake, with the real
 * @google-cloud/storage SDK and the machine's rclone: every bucket path, checkAuth, and rclone
 * round trips through exactly the RcloneRemoteSpec + secrets the provider returns (anonymous
 * against the emulator, and with the credential's own service-account key, whose token_uri points
 * at a loopback token server).
 */
import assert from 'node:assert/strict'
import {generateKeyPairSync} from 'node:crypto'
import {writeFile} from 'node:fs/promises'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'

import type {NamedCredential} from '../../../src/config/types.js'
import type {GcpCredential} from '../../../src/config/schema-types.js'
import {AuthError, ProviderError, ThrottledError, UsageError} from '../../../src/errors/index.js'
import {GcpProvider, GCS_INSTANCE_AUTH_MIN_RCLONE, createGcpProvider, gcpSettings} from '../../../src/providers/gcp/index.js'
import type {RcloneRequest} from '../../../src/providers/provider.js'
import {loadProviderFactory} from '../../../src/providers/registry.js'
import {redactSecrets} from '../../../src/util/redact.js'
import {startGcsFake, type GcsFake} from '../../helpers/storage/gcs-fake.js'
import {rcloneEnv, runRclone} from '../../helpers/storage/rclone.js'
import {loopbackOnly, withEnv} from '../../helpers/storage/test-env.js'
import {readTree, SAMPLE_TREE, TempDirs, writeTree} from '../../helpers/storage/tree.js'
import {DEPLOYMENT, desiredBucket, rcloneRemoteEnv, recordOf, tagsFor} from '../azure/helpers.js'

const CRED = 'gcsstore'

function credential(spec: Partial<GcpCredential>): NamedCredential {
  return {name: CRED, origin: 'file', spec: {provider: 'gcp', project: 'anycloud-test', ...spec}}
}

/** Through the factory (as the engine builds it), or with SDK overrides (no retries) for fault tests. */
async function makeProvider(spec: Partial<GcpCredential>, options: {configDir?: string; env?: NodeJS.ProcessEnv; noRetry?: boolean} = {}): Promise<GcpProvider> {
  const c = credential(spec)
  if (options.noRetry) return new GcpProvider(c, gcpSettings(c.spec as GcpCredential, options.configDir ?? '/nonexistent', options.env ?? {}), {retryOptions: {autoRetry: false}})
  return (await createGcpProvider({credential: c, configDir: options.configDir ?? '/nonexistent', credentials: {[CRED]: c}, providerFor: () => Promise.reject(new Error('not here')), env: options.env ?? {}})) as GcpProvider
}

function request(bucket: string, role: RcloneRequest['role'], extra: Partial<RcloneRequest> = {}): RcloneRequest {
  return {bucket, role, deploymentId: DEPLOYMENT, instanceIdentity: false, ...extra}
}

/** A throwaway service-account key (never valid anywhere) whose token_uri is a loopback server. */
function fakeServiceAccountKey(tokenUri: string): Record<string, string> {
  const {privateKey} = generateKeyPairSync('rsa', {modulusLength: 2048})
  return {
    type: 'service_account',
    project_id: 'anycloud-test',
    private_key_id: 'anycloud-test-key-1',
    private_key: privateKey.export({type: 'pkcs8', format: 'pem'}).toString(),
    client_email: 'anycloud-storage@anycloud-test.iam.gserviceaccount.com',
    client_id: '100000000000000000001',
    token_uri: tokenUri,
  }
}

describe('gcp provider: storage on the GCS fake', function () {
  this.timeout(120_000)
  let rig: GcsFake
  let allowAllNet: () => void
  let provider: GcpProvider
  const dirs = new TempDirs()
  // No metadata-server probing by any Google library, whatever happens.
  const env = withEnv({METADATA_SERVER_DETECTION: 'none', GCE_METADATA_HOST: '127.0.0.1:9', GCE_METADATA_IP: '127.0.0.1:9', GOOGLE_APPLICATION_CREDENTIALS: undefined})

  before(async function () {
    env.apply()
    allowAllNet = loopbackOnly()
    rig = await startGcsFake({foreignBuckets: ['someone-elses']})
    provider = await makeProvider({apiEndpoint: rig.apiEndpoint, region: 'us-east1'})
  })

  after(async function () {
    await dirs.cleanup()
    await rig?.stop()
    allowAllNet?.()
    env.restore()
  })

  afterEach(function () {
    rig.faults.clear()
  })

  it('is registered lazily under `gcp` and manages the compute kinds', async function () {
    assert.equal(await loadProviderFactory('gcp'), createGcpProvider)
    assert.deepEqual([...provider.compute.keys()].sort(), ['bootstrap', 'identity', 'network', 'sshkey', 'vm', 'workload'])
    assert.equal(provider.defaultRegion(), 'us-east1')
    assert.deepEqual(provider.zones('us-east1'), ['us-east1-b', 'us-east1-c', 'us-east1-d'])
    assert.equal((await makeProvider({})).defaultRegion(), 'us-central1')
  })

  it('checkAuth lists at most one bucket of the project; 401/403 are AuthErrors, 503 after retries is throttling', async function () {
    assert.deepEqual(await provider.checkAuth(), {account: 'project anycloud-test'})
    const listCall = rig.state.requests.at(-1)!
    assert.equal(listCall.method, 'GET')
    assert.match(listCall.query, /project=anycloud-test/)
    assert.match(listCall.query, /maxResults=1/)

    const strict = await makeProvider({apiEndpoint: rig.apiEndpoint}, {noRetry: true})
    rig.faults.add({method: 'GET', path: /\/b$/, status: 401, code: 'required', message: 'Anonymous caller does not have storage.buckets.list access'})
    let error = await strict.checkAuth().then(() => undefined, (e: unknown) => e)
    assert.ok(error instanceof AuthError, String(error))
    assert.match(error.message, /gcp credential 'gcsstore': listing buckets of project 'anycloud-test' was refused/)
    rig.faults.add({method: 'GET', path: /\/b$/, status: 403, code: 'forbidden', message: 'sa does not have storage.buckets.list access'})
    await assert.rejects(strict.checkAuth(), AuthError)
    rig.faults.add({method: 'GET', path: /\/b$/, status: 503, code: 'backendError'})
    error = await strict.checkAuth().then(() => undefined, (e: unknown) => e)
    assert.ok(error instanceof ThrottledError, String(error))
  })

  it('a missing key file is an AuthError before any call', async function () {
    const broken = await makeProvider({apiEndpoint: rig.apiEndpoint, keyFile: 'missing-key.json'}, {configDir: await dirs.make()})
    const before = rig.state.requests.length
    await assert.rejects(broken.checkAuth(), (e: unknown) => e instanceof AuthError && /cannot read the key file .*missing-key\.json \(ENOENT\)/.test(e.message))
    assert.equal(rig.state.requests.length, before)
  })

  it('reads a missing bucket as null', async function () {
    assert.equal(await provider.readBucket('nothing-here'), null)
  })

  it('creates a bucket with ownership labels in the region asked, idempotently, and reads it back', async function () {
    const d = desiredBucket('results-gcs', 'output', CRED, 'gcp')
    const first = await provider.createBucket(d, {region: 'europe-west4', tags: tagsFor('output')})
    const stored = rig.state.buckets.get('results-gcs')!
    assert.deepEqual(stored.labels, {'anycloud-managed': 'true', 'anycloud-project': 'proj', 'anycloud-deployment': DEPLOYMENT, 'anycloud-address': 'train_bucket_output'})
    assert.equal(stored.location, 'EUROPE-WEST4')
    assert.equal(stored.iamConfiguration.uniformBucketLevelAccess.enabled, true)
    assert.deepEqual(
      {id: first.id, owned: first.owned, empty: first.empty, region: first.region, continent: first.continent},
      {id: 'results-gcs', owned: true, empty: true, region: 'europe-west4', continent: 'eu'},
    )
    assert.deepEqual(first.outputs, {location: 'EUROPE-WEST4', locationType: 'region', projectNumber: rig.projectNumber, deployment: DEPLOYMENT})
    // A replayed create: 409 from GCS, resolved by reading our own labels.
    const second = await provider.createBucket(d, {region: 'europe-west4', tags: tagsFor('output')})
    assert.deepEqual(second, first)
    assert.deepEqual(await provider.readBucket('results-gcs'), first)
  })

  it('a region that is not a GCP region (an ssh host\'s) falls back to the credential\'s region', async function () {
    const made = await provider.createBucket(desiredBucket('from-ssh-host', 'checkpoint', CRED, 'gcp'), {region: 'rack-7', tags: tagsFor('checkpoint')})
    assert.equal(rig.state.buckets.get('from-ssh-host')!.location, 'US-EAST1')
    assert.equal(made.continent, 'us')
  })

  it('maps multi-region locations to their continent', async function () {
    const {Storage} = await import('@google-cloud/storage')
    await new Storage({apiEndpoint: rig.apiEndpoint, projectId: 'anycloud-test'}).createBucket('asia-data', {location: 'ASIA'})
    const read = await provider.readBucket('asia-data')
    assert.deepEqual({region: read?.region, continent: read?.continent, owned: read?.owned}, {region: 'ASIA', continent: 'apac', owned: false})
  })

  it('sees data in a bucket (empty: false)', async function () {
    await provider.createBucket(desiredBucket('seen-data', 'output', CRED, 'gcp'), {region: 'us-east1', tags: tagsFor('output')})
    const {Storage} = await import('@google-cloud/storage')
    await new Storage({apiEndpoint: rig.apiEndpoint, projectId: 'anycloud-test'}).bucket('seen-data').file('deep/x.bin').save('x', {resumable: false})
    const read = await provider.readBucket('seen-data')
    assert.equal(read?.empty, false)
    assert.equal(read?.owned, true)
  })

  it('a bucket of this project without our labels: not owned, create says "name taken", delete keeps it', async function () {
    const {Storage} = await import('@google-cloud/storage')
    await new Storage({apiEndpoint: rig.apiEndpoint, projectId: 'anycloud-test'}).createBucket('users-own', {location: 'US'})
    const d = desiredBucket('users-own', 'output', CRED, 'gcp')
    const read = await provider.readBucket('users-own')
    assert.equal(read?.owned, false)
    const error = await provider.createBucket(d, {region: 'us-east1', tags: tagsFor('output')}).then(() => undefined, (e: unknown) => e)
    assert.ok(error instanceof ProviderError && error.code === 'gcp.bucket-taken', String(error))
    assert.match(error.message, /the bucket name 'users-own' is taken: a bucket of that name exists in project 123456789012 and was not created by anycloud/)
    assert.deepEqual(rig.state.buckets.get('users-own')!.labels, {}, 'create did not claim it')
    assert.deepEqual(await provider.deleteBucket(recordOf(d, 'users-own'), {force: true}), {deleted: false, reason: 'not created by anycloud (no ownership tags)'})
    assert.ok(rig.state.buckets.has('users-own'))
  })

  it('a bucket of another project: create says taken globally, read fails clearly, delete keeps it', async function () {
    const d = desiredBucket('someone-elses', 'output', CRED, 'gcp')
    const created = await provider.createBucket(d, {region: 'us-east1', tags: tagsFor('output')}).then(() => undefined, (e: unknown) => e)
    assert.ok(created instanceof ProviderError && created.code === 'gcp.bucket-taken', String(created))
    assert.match(created.message, /belongs to another Google Cloud project/)
    const read = await provider.readBucket('someone-elses').then(() => undefined, (e: unknown) => e)
    assert.ok(read instanceof ProviderError && !(read instanceof AuthError) && read.code === 'gcp.bucket-forbidden', String(read))
    assert.equal((await provider.deleteBucket(recordOf(d, 'someone-elses'), {force: true})).deleted, false)
  })

  it('deletes an empty owned bucket; keeps one holding data unless forced (objects first); missing is success', async function () {
    const d = desiredBucket('to-delete', 'output', CRED, 'gcp')
    const created = await provider.createBucket(d, {region: 'us-east1', tags: tagsFor('output')})
    const record = recordOf(d, created.id, created.outputs)
    const {Storage} = await import('@google-cloud/storage')
    const sdk = new Storage({apiEndpoint: rig.apiEndpoint, projectId: 'anycloud-test'})
    for (const name of ['model.bin', 'a/b/c.txt', 'a/d.txt']) await sdk.bucket('to-delete').file(name).save(name, {resumable: false})
    assert.deepEqual(await provider.deleteBucket(record, {force: false}), {deleted: false, reason: 'holds data'})
    assert.equal(rig.state.buckets.get('to-delete')!.objects.size, 3)
    assert.deepEqual(await provider.deleteBucket(record, {force: true}), {deleted: true})
    assert.equal(rig.state.buckets.has('to-delete'), false)
    assert.equal(await provider.readBucket('to-delete'), null)
    assert.deepEqual(await provider.deleteBucket(record, {force: false}), {deleted: true})

    const e = desiredBucket('empty-one', 'output', CRED, 'gcp')
    const made = await provider.createBucket(e, {region: 'us-east1', tags: tagsFor('output')})
    assert.deepEqual(await provider.deleteBucket(recordOf(e, made.id, made.outputs), {force: false}), {deleted: true})
    assert.equal(rig.state.buckets.has('empty-one'), false)
  })

  it('keeps a bucket when GCS refuses the delete because objects arrived after the check (409)', async function () {
    const d = desiredBucket('late-data', 'output', CRED, 'gcp')
    const made = await provider.createBucket(d, {region: 'us-east1', tags: tagsFor('output')})
    rig.faults.add({method: 'DELETE', path: /\/b\/late-data$/, status: 409, code: 'conflict', message: 'The bucket you tried to delete is not empty.'})
    assert.deepEqual(await provider.deleteBucket(recordOf(d, made.id, made.outputs), {force: false}), {deleted: false, reason: 'holds data'})
    assert.ok(rig.state.buckets.has('late-data'))
  })

  it('never deletes a bucket of another deployment (checkpoint named after its deployment too)', async function () {
    const d = desiredBucket('other-deploy', 'output', CRED, 'gcp')
    await provider.createBucket(d, {region: 'us-east1', tags: tagsFor('output', 'proj-train-zzz999')})
    assert.deepEqual(await provider.deleteBucket(recordOf(d, 'x', {deployment: DEPLOYMENT}), {force: true}), {deleted: false, reason: `owned by deployment 'proj-train-zzz999', not '${DEPLOYMENT}'`})
    const cp = desiredBucket('proj-train-cp0001', 'checkpoint', CRED, 'gcp')
    await provider.createBucket(cp, {region: 'us-east1', tags: tagsFor('checkpoint', 'proj-train-cp0002')})
    assert.equal((await provider.deleteBucket(recordOf(cp, 'x'), {force: true})).deleted, false)
    assert.ok(rig.state.buckets.has('proj-train-cp0001'))
  })

  it('refuses names GCS would refuse, before any call', async function () {
    await assert.rejects(provider.readBucket('goog-data'), (e: unknown) => e instanceof UsageError && /cannot be a GCS bucket/.test(e.message))
    await assert.rejects(provider.createBucket(desiredBucket('My_Bucket', 'output', CRED, 'gcp'), {region: 'us-east1', tags: tagsFor('output')}), UsageError)
  })

  it('rclone round trip, anonymous against the emulator, with exactly the provider\'s spec', async function () {
    await provider.createBucket(desiredBucket('rclone-trip', 'output', CRED, 'gcp'), {region: 'us-east1', tags: tagsFor('output')})
    for (const instanceIdentity of [false, true]) {
      assert.deepEqual(provider.rcloneRemote(request('rclone-trip', 'output', {instanceIdentity})), {
        type: 'google cloud storage',
        options: {endpoint: rig.apiEndpoint, anonymous: 'true', bucket_policy_only: 'true'},
        path: 'rclone-trip',
        secretOptions: [],
        secretsFingerprint: '',
      })
    }
    const up = await dirs.make()
    const down = await dirs.make()
    await writeTree(up, SAMPLE_TREE)
    const outReq = request('rclone-trip', 'output')
    const outSpec = provider.rcloneRemote(outReq)
    await runRclone(['copy', up, `OUTPUT:${outSpec.path}`], {env: rcloneEnv(rcloneRemoteEnv('OUTPUT', outSpec, await provider.rcloneSecrets(outReq)))})
    assert.equal((await provider.readBucket('rclone-trip'))?.empty, false)
    const inReq = request('rclone-trip', 'input')
    const inSpec = provider.rcloneRemote(inReq)
    await runRclone(['sync', `INPUT:${inSpec.path}`, down], {env: rcloneEnv(rcloneRemoteEnv('INPUT', inSpec, await provider.rcloneSecrets(inReq)))})
    assert.deepEqual(await readTree(down), await readTree(up))
  })

  describe('with the credential\'s own service-account key', function () {
    let tokenServer: Server
    let tokenRequests: string[]
    let configDir: string
    let keyed: GcpProvider

    before(async function () {
      tokenRequests = []
      tokenServer = createServer((req, res) => {
        let body = ''
        req.on('data', (c: Buffer) => (body += c.toString()))
        req.on('end', () => {
          tokenRequests.push(body)
          res.writeHead(200, {'content-type': 'application/json'})
          res.end(JSON.stringify({access_token: 'anycloud-test-token', expires_in: 3600, token_type: 'Bearer'}))
        })
      })
      await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', () => resolve()))
      configDir = await dirs.make()
      const key = fakeServiceAccountKey(`http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`)
      await writeFile(join(configDir, 'sa.json'), JSON.stringify(key, null, 2) + '\n', {mode: 0o600})
      // Only rcloneRemote/rcloneSecrets are called on it: with a key, the SDK itself would sign
      // in at Google's token server, which a test never reaches.
      keyed = await makeProvider({apiEndpoint: rig.apiEndpoint, keyFile: 'sa.json'}, {configDir})
    })

    after(async function () {
      await new Promise<void>((resolve) => tokenServer?.close(() => resolve()))
    })

    it('instance identity: env_auth, no secret, rclone >= 1.62 noted', function () {
      assert.deepEqual(keyed.rcloneRemote(request('rclone-key', 'output', {instanceIdentity: true})), {
        type: 'google cloud storage',
        options: {endpoint: rig.apiEndpoint, env_auth: 'true', bucket_policy_only: 'true', no_check_bucket: 'true'},
        path: 'rclone-key',
        secretOptions: [],
        secretsFingerprint: '',
        rcloneMinVersion: GCS_INSTANCE_AUTH_MIN_RCLONE,
      })
      assert.equal(GCS_INSTANCE_AUTH_MIN_RCLONE, '1.62')
    })

    it('no identity: the key as service_account_credentials, fingerprinted, with a warning naming the credential; rclone round trip', async function () {
      await provider.createBucket(desiredBucket('rclone-key', 'output', CRED, 'gcp'), {region: 'us-east1', tags: tagsFor('output')})
      const req = request('rclone-key', 'output')
      const spec = keyed.rcloneRemote(req)
      assert.deepEqual({...spec, warning: undefined, secretsFingerprint: undefined}, {
        type: 'google cloud storage',
        options: {endpoint: rig.apiEndpoint, bucket_policy_only: 'true'},
        path: 'rclone-key',
        secretOptions: ['service_account_credentials'],
        secretsFingerprint: undefined,
        warning: undefined,
      })
      assert.match(spec.secretsFingerprint, /^[0-9a-f]{64}$/)
      assert.match(spec.warning ?? '', /the storage credential 'gcsstore''s own service-account key \(anycloud-storage@anycloud-test\.iam\.gserviceaccount\.com\) is written to the machine/)
      const secrets = await keyed.rcloneSecrets(req)
      assert.deepEqual(Object.keys(secrets), ['service_account_credentials'])
      const json = secrets.service_account_credentials!
      assert.ok(!json.includes('\n'), 'one line: the rclone env file holds one value per line')
      assert.equal(JSON.parse(json).client_email, 'anycloud-storage@anycloud-test.iam.gserviceaccount.com')
      assert.equal(redactSecrets(`k=${json}`), 'k=(sensitive)')

      const up = await dirs.make()
      const down = await dirs.make()
      await writeTree(up, SAMPLE_TREE)
      const rcEnv = rcloneEnv(rcloneRemoteEnv('OUTPUT', spec, secrets))
      await runRclone(['copy', up, `OUTPUT:${spec.path}`], {env: rcEnv})
      await runRclone(['copy', `OUTPUT:${spec.path}`, down], {env: rcEnv})
      assert.deepEqual(await readTree(down), await readTree(up))
      assert.ok(tokenRequests.length >= 1, 'rclone signed in with the key (JWT bearer grant at its token_uri)')
      assert.match(tokenRequests[0]!, /grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer/)
    })

    it('a rotated key changes the fingerprint (a plan shows it); the same key gives the same spec', async function () {
      const again = await makeProvider({apiEndpoint: rig.apiEndpoint, keyFile: 'sa.json'}, {configDir})
      assert.deepEqual(again.rcloneRemote(request('rclone-key', 'output')), keyed.rcloneRemote(request('rclone-key', 'output')))
      const otherDir = await dirs.make()
      await writeFile(join(otherDir, 'sa.json'), JSON.stringify(fakeServiceAccountKey('http://127.0.0.1:9/token')))
      const rotated = await makeProvider({apiEndpoint: rig.apiEndpoint, keyFile: 'sa.json'}, {configDir: otherDir})
      assert.notEqual(rotated.rcloneRemote(request('rclone-key', 'output')).secretsFingerprint, keyed.rcloneRemote(request('rclone-key', 'output')).secretsFingerprint)
    })
  })

  it('the real service without a key: application default credentials cannot be handed to a machine', async function () {
    const adcOnly = await makeProvider({})
    assert.throws(() => adcOnly.rcloneRemote(request('some-bucket', 'output')), (e: unknown) => e instanceof UsageError && e.code === 'gcp.no-key-file' && /keyFile/.test(e.suggestions.join(' ')))
    // Instance identity needs no key.
    assert.deepEqual(adcOnly.rcloneRemote(request('some-bucket', 'output', {instanceIdentity: true})).options, {env_auth: 'true', bucket_policy_only: 'true', no_check_bucket: 'true'})
    // GOOGLE_APPLICATION_CREDENTIALS pointing at a user credential is refused with a reason.
    const dir = await dirs.make()
    await writeFile(join(dir, 'adc.json'), JSON.stringify({type: 'authorized_user', client_id: 'x', client_secret: 'y', refresh_token: 'z'}))
    const userAdc = await makeProvider({}, {env: {GOOGLE_APPLICATION_CREDENTIALS: join(dir, 'adc.json')}})
    assert.throws(() => userAdc.rcloneRemote(request('some-bucket', 'output')), /is not a service-account key \(type 'authorized_user'\)/)
  })

  it('refresh\'s batch: one listing of the project\'s buckets for every name; a single read only for names it does not show', async function () {
    for (const name of ['batch-a', 'batch-b', 'batch-c']) await provider.createBucket(desiredBucket(name, 'output', CRED, 'gcp'), {region: 'us-east1', tags: tagsFor('output')})
    rig.state.requests.length = 0
    const results = await provider.readBuckets(['batch-a', 'batch-b', 'batch-c', 'nothing-here', 'someone-elses'])
    const calls = rig.state.requests.map((r) => `${r.method} ${r.path}`)
    assert.deepEqual(calls.filter((c) => /\/b$/.test(c)), ['GET /storage/v1/b'], `one listing: ${calls.join(', ')}`)
    assert.ok(!calls.some((c) => /batch-/.test(c)), `no per-bucket call for a listed bucket: ${calls.join(', ')}`)
    assert.ok(calls.some((c) => /nothing-here/.test(c)), 'an unlisted name is read on its own')
    for (const [i, name] of ['batch-a', 'batch-b', 'batch-c'].entries()) {
      const r = results[i]
      assert.ok('value' in r && r.value, name)
      const {empty, ...single} = (await provider.readBucket(name))!
      assert.equal(empty, true)
      assert.deepEqual(r.value, single, 'the same as a single read, without `empty` (a plan does not use it)')
    }
    assert.deepEqual(results[3], {value: null})
    assert.ok('error' in results[4] && /someone-elses/.test(String(results[4].error)), 'another project\'s bucket: its own error, the others still read')
  })

  it('refresh\'s batch without the right to list the project\'s buckets (403): each name is read on its own; a bad name fails only its own read', async function () {
    await provider.createBucket(desiredBucket('batch-per-name', 'output', CRED, 'gcp'), {region: 'us-east1', tags: tagsFor('output')})
    rig.faults.add({method: 'GET', path: /\/b$/, times: Infinity, status: 403, code: 'forbidden', message: 'sa does not have storage.buckets.list access'})
    rig.state.requests.length = 0
    const results = await provider.readBuckets(['batch-per-name', 'nothing-here', 'Not_A_Bucket!', 'someone-elses'])
    const calls = rig.state.requests.map((r) => `${r.method} ${r.path}`)
    assert.ok(calls.some((c) => /\/b\/batch-per-name$/.test(c)), `a per-name read after the refused listing: ${calls.join(', ')}`)
    const r = results[0]
    assert.ok('value' in r && r.value, 'the bucket is read')
    assert.deepEqual(r.value, await provider.readBucket('batch-per-name'), 'the same as a single read')
    assert.deepEqual(results[1], {value: null})
    assert.ok('error' in results[2] && /Not_A_Bucket!/.test(String(results[2].error)), `the bad name, its own error: ${JSON.stringify(results[2])}`)
    assert.ok('error' in results[3] && /someone-elses/.test(String(results[3].error)), 'another project\'s bucket: its own error')
  })
})
