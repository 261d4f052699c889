/**
 * The azure provider's storage side against azurite, with the real @azure/storage-blob SDK and the
 * machine's rclone: every bucket path, checkAuth, and rclone round trips through exactly the
 * RcloneRemoteSpec + secrets the provider returns.
 */
import assert from 'node:assert/strict'

import {BlobServiceClient, ContainerClient, AnonymousCredential} from '@azure/storage-blob'

import type {NamedCredential} from '../../../src/config/types.js'
import type {AzureCredential} from '../../../src/config/schema-types.js'
import {AuthError, ProviderError, UsageError} from '../../../src/errors/index.js'
import {AzureProvider, azureStorageAccess, createAzureProvider} from '../../../src/providers/azure/index.js'
import type {RcloneRequest} from '../../../src/providers/provider.js'
import {loadProviderFactory} from '../../../src/providers/registry.js'
import {redactSecrets} from '../../../src/util/redact.js'
import {startAzurite, type AzuriteRig} from '../../helpers/storage/azurite.js'
import {startCountingProxy} from '../../helpers/storage/counting-proxy.js'
import {rcloneEnv, runRclone} from '../../helpers/storage/rclone.js'
import {loopbackOnly} from '../../helpers/storage/test-env.js'
import {readTree, SAMPLE_TREE, TempDirs, writeTree} from '../../helpers/storage/tree.js'
import {DEPLOYMENT, desiredBucket, rcloneRemoteEnv, recordOf, tagsFor} from './helpers.js'
import {kindOps} from '../../../src/providers/provider.js'

const CRED = 'azstore'

function credential(spec: Partial<AzureCredential>): NamedCredential {
  return {name: CRED, origin: 'file', spec: {provider: 'azure', subscriptionId: '0123abcd-4567-89ef-0123-456789abcdef', ...spec}}
}

async function makeProvider(spec: Partial<AzureCredential>, env: NodeJS.ProcessEnv = {}): Promise<AzureProvider> {
  const c = credential(spec)
  return (await createAzureProvider({credential: c, configDir: '/nonexistent', credentials: {[CRED]: c}, providerFor: () => Promise.reject(new Error('not here')), env})) as AzureProvider
}

function request(bucket: string, role: RcloneRequest['role'], extra: Partial<RcloneRequest> = {}): RcloneRequest {
  return {bucket, role, deploymentId: DEPLOYMENT, instanceIdentity: false, ...extra}
}

describe('azure provider: storage on azurite', function () {
  this.timeout(120_000)
  let rig: AzuriteRig
  let allowAllNet: () => void
  let service: BlobServiceClient
  let provider: AzureProvider
  const dirs = new TempDirs()

  before(async function () {
    allowAllNet = loopbackOnly()
    rig = await startAzurite()
    service = BlobServiceClient.fromConnectionString(rig.connectionString, {retryOptions: {maxTries: 1}})
    provider = await makeProvider({endpoint: rig.blobEndpoint, region: 'westeurope'})
  })

  after(async function () {
    await dirs.cleanup()
    await rig?.stop()
    allowAllNet?.()
  })

  it('is registered lazily under `azure` and manages no compute kinds', async function () {
    assert.equal(await loadProviderFactory('azure'), createAzureProvider)
    assert.equal(provider.kind, 'azure')
    assert.equal(provider.compute.size, 0)
    assert.equal(provider.defaultRegion(), 'westeurope')
    assert.deepEqual(provider.zones('westeurope'), [])
  })

  it('checkAuth lists one container with the account key; a wrong key is an AuthError', async function () {
    assert.deepEqual(await provider.checkAuth(), {account: `devstoreaccount1 (${rig.blobEndpoint})`})
    const wrongKey = Buffer.alloc(64, 7).toString('base64')
    const bad = await makeProvider({endpoint: rig.blobEndpoint, clientSecret: wrongKey})
    const error = await bad.checkAuth().then(() => undefined, (e: unknown) => e)
    assert.ok(error instanceof AuthError, `expected AuthError, got ${String(error)}`)
    assert.equal(error.code, 'cloud.auth')
    assert.match(error.message, /azure credential 'azstore': listing containers of storage account 'devstoreaccount1' was refused/)
    // The same wrong key given through AZURE_STORAGE_KEY (no clientSecret).
    const viaEnv = await makeProvider({endpoint: rig.blobEndpoint}, {AZURE_STORAGE_KEY: wrongKey})
    await assert.rejects(viaEnv.checkAuth(), AuthError)
    // The right key through clientSecret works.
    const right = await makeProvider({endpoint: rig.blobEndpoint, clientSecret: rig.accountKey})
    assert.match((await right.checkAuth()).account ?? '', /^devstoreaccount1/)
  })

  it('an endpoint nobody answers on is azure.unreachable, not an AuthError', async function () {
    const access = azureStorageAccess(CRED, {provider: 'azure', subscriptionId: 'x', endpoint: 'http://127.0.0.1:9/devstoreaccount1'}, {})
    const dead = new AzureProvider(credential({}), access, undefined, {maxTries: 1})
    const error = await dead.checkAuth().then(() => undefined, (e: unknown) => e)
    assert.ok(error instanceof ProviderError && !(error instanceof AuthError), String(error))
    assert.equal(error.code, 'azure.unreachable')
  })

  it('reads a missing container as null', async function () {
    assert.equal(await provider.readBucket('nothing-here'), null)
  })

  it('creates a container with ownership metadata, idempotently, and reads it back owned and empty', async function () {
    const d = desiredBucket('results-az', 'output', CRED, 'azure')
    const first = await provider.createBucket(d, {region: 'westeurope', tags: tagsFor('output')})
    assert.equal(first.owned, true)
    assert.equal(first.empty, true)
    assert.equal(first.id, `${rig.blobEndpoint}/results-az`)
    assert.equal(first.region, 'westeurope')
    assert.equal(first.continent, 'eu')
    assert.deepEqual(first.outputs, {account: 'devstoreaccount1', url: `${rig.blobEndpoint}/results-az`, deployment: DEPLOYMENT})
    // Metadata names are C# identifiers on the wire.
    const props = await service.getContainerClient('results-az').getProperties()
    assert.deepEqual(props.metadata, {
      anycloud_managed: 'true',
      anycloud_project: 'proj',
      anycloud_deployment: DEPLOYMENT,
      anycloud_address: 'train.bucket.output',
    })
    // A replayed create adopts it.
    const second = await provider.createBucket(d, {region: 'westeurope', tags: tagsFor('output')})
    assert.deepEqual(second, first)
    assert.deepEqual(await provider.readBucket('results-az'), first)
  })

  it('sees data in a container (empty: false)', async function () {
    const d = desiredBucket('seen-data', 'output', CRED, 'azure')
    await provider.createBucket(d, {region: 'westeurope', tags: tagsFor('output')})
    await service.getContainerClient('seen-data').getBlockBlobClient('deep/x.bin').upload('x', 1)
    const read = await provider.readBucket('seen-data')
    assert.equal(read?.empty, false)
    assert.equal(read?.owned, true)
  })

  it('a container somebody else made: read as not owned, create fails "name taken", delete keeps it', async function () {
    await service.getContainerClient('users-own').create()
    await service.getContainerClient('users-own').getBlockBlobClient('keep.txt').upload('k', 1)
    const read = await provider.readBucket('users-own')
    assert.equal(read?.owned, false)
    assert.equal(read?.empty, false)
    assert.equal(read?.outputs?.deployment, undefined)
    const d = desiredBucket('users-own', 'output', CRED, 'azure')
    const error = await provider.createBucket(d, {region: 'westeurope', tags: tagsFor('output')}).then(() => undefined, (e: unknown) => e)
    assert.ok(error instanceof ProviderError)
    assert.equal(error.code, 'azure.bucket-taken')
    assert.match(error.message, /the name 'users-own' is taken/)
    assert.deepEqual((await service.getContainerClient('users-own').getProperties()).metadata, {}, 'create did not claim it')
    assert.deepEqual(await provider.deleteBucket(recordOf(d, read!.id), {force: true}), {deleted: false, reason: 'not created by anycloud (no ownership tags)'})
    assert.ok(await service.getContainerClient('users-own').exists())
  })

  it('deletes an empty owned container; keeps one holding data unless forced; missing is success', async function () {
    const d = desiredBucket('to-delete', 'output', CRED, 'azure')
    const created = await provider.createBucket(d, {region: 'westeurope', tags: tagsFor('output')})
    const record = recordOf(d, created.id, created.outputs)
    await service.getContainerClient('to-delete').getBlockBlobClient('model.bin').upload('weights', 7)
    assert.deepEqual(await provider.deleteBucket(record, {force: false}), {deleted: false, reason: 'holds data'})
    assert.ok(await service.getContainerClient('to-delete').exists())
    assert.deepEqual(await provider.deleteBucket(record, {force: true}), {deleted: true})
    assert.equal(await provider.readBucket('to-delete'), null)
    assert.deepEqual(await provider.deleteBucket(record, {force: false}), {deleted: true})

    const e = desiredBucket('empty-one', 'output', CRED, 'azure')
    const made = await provider.createBucket(e, {region: 'westeurope', tags: tagsFor('output')})
    assert.deepEqual(await provider.deleteBucket(recordOf(e, made.id, made.outputs), {force: false}), {deleted: true})
    assert.equal(await service.getContainerClient('empty-one').exists(), false)
  })

  it('never deletes a container of another deployment (checkpoint named after its deployment too)', async function () {
    const d = desiredBucket('other-deploy', 'output', CRED, 'azure')
    await provider.createBucket(d, {region: 'westeurope', tags: tagsFor('output', 'proj-train-zzz999')})
    const record = recordOf(d, 'x', {deployment: DEPLOYMENT})
    assert.deepEqual(await provider.deleteBucket(record, {force: true}), {deleted: false, reason: `owned by deployment 'proj-train-zzz999', not '${DEPLOYMENT}'`})
    const cp = desiredBucket('proj-train-cp0001', 'checkpoint', CRED, 'azure')
    await provider.createBucket(cp, {region: 'westeurope', tags: tagsFor('checkpoint', 'proj-train-cp0002')})
    assert.equal((await provider.deleteBucket(recordOf(cp, 'x'), {force: true})).deleted, false)
    assert.ok(await service.getContainerClient('proj-train-cp0001').exists())
  })

  it('refuses names Azure would refuse, before any call', async function () {
    await assert.rejects(provider.readBucket('Bad_Name'), (e: unknown) => e instanceof UsageError && /cannot be an Azure container/.test(e.message))
    await assert.rejects(provider.createBucket(desiredBucket('a--b', 'output', CRED, 'azure'), {region: 'x', tags: tagsFor('output')}), UsageError)
  })

  it('with an endpoint (one storage account), compute operations say the credential is storage only and how to run VMs', async function () {
    const ctx = {} as never
    const storageOnly = (e: unknown) => e instanceof ProviderError && e.code === 'provider.compute-unavailable' && /'azstore' sets `endpoint`/.test(e.message) && /Remove `endpoint`/.test(e.suggestions.join(' '))
    assert.equal(provider.compute.size, 0)
    await assert.rejects(kindOps(provider).read({address: 'train.vm', kind: 'vm', name: 'x'}, ctx), storageOnly)
    await assert.rejects(kindOps(provider).create({...desiredBucket('x', 'output', CRED, 'azure'), kind: 'vm'}, ctx), storageOnly)
    await assert.rejects(kindOps(provider).delete({...recordOf(desiredBucket('x', 'output', CRED, 'azure'), 'x'), kind: 'workload'}, ctx), storageOnly)
  })

  it('refresh reads containers with one listing of the account, by name only what it does not show; a refused listing (403) reads each by name', async function () {
    const proxy = await startCountingProxy(new URL(rig.blobEndpoint).origin)
    try {
      const viaProxy = await makeProvider({endpoint: `${proxy.url}/${rig.accountName}`, region: 'westeurope'})
      const names = ['batch-a', 'batch-b', 'batch-c']
      for (const name of names) await viaProxy.createBucket(desiredBucket(name, 'output', CRED, 'azure'), {region: 'westeurope', tags: tagsFor('output')})
      await service.createContainer('batch-users')
      await service.getContainerClient('batch-b').getBlockBlobClient('a.txt').upload('x', 1)
      const all = [...names, 'batch-users', 'batch-absent']
      const byName = await Promise.all(all.map((n) => viaProxy.readBucket(n)))
      const isListing = (r: {path: string; query: URLSearchParams}) => r.query.get('comp') === 'list' && r.path.replace(/\/$/, '') === `/${rig.accountName}`
      const listings = () => proxy.requests.filter((r) => isListing(r)).length
      const perContainer = () => proxy.requests.filter((r) => r.path.startsWith(`/${rig.accountName}/batch-`)).map((r) => r.path.split('/')[2])
      const comparable = (r: unknown) => (r && typeof r === 'object' ? {...(r as Record<string, unknown>), empty: undefined} : r)

      proxy.requests.length = 0
      const batch = await viaProxy.readBuckets(all)
      assert.equal(listings(), 1, 'one container listing for every name')
      assert.deepEqual([...new Set(perContainer())], ['batch-absent'], 'a read by name only for the name the listing does not show')
      assert.deepEqual(batch.map((r) => ('value' in r ? comparable(r.value) : r.error)), byName.map(comparable))
      assert.deepEqual(batch.map((r) => ('value' in r ? r.value?.owned : 'error')), [true, true, true, false, undefined])

      // The key (or SAS) may not list containers: AuthorizationPermissionMismatch → each name on its own.
      proxy.refuse({match: (r) => isListing(r), status: 403, code: 'AuthorizationPermissionMismatch', message: 'This request is not authorized to perform this operation using this permission.'})
      proxy.requests.length = 0
      const fallback = await viaProxy.readBuckets(all)
      assert.equal(listings(), 1, 'the listing was tried once')
      assert.deepEqual([...new Set(perContainer())].sort(), [...all].sort(), 'every name read on its own')
      assert.deepEqual(fallback.map((r) => ('value' in r ? r.value : r.error)), byName)

      // Any other listing failure fails the batch, mapped and naming the account.
      proxy.refuse({match: (r) => isListing(r), status: 500, code: 'InternalError', message: 'injected'})
      await assert.rejects(viaProxy.readBuckets(all), (e: unknown) => e instanceof ProviderError && /listing containers of storage account 'devstoreaccount1'/.test(e.message))
      proxy.refuse(undefined)
    } finally {
      await proxy.close()
    }
  })

  it('rcloneRemote: a SAS as sas_url without instance identity, use_msi with it (pure)', async function () {
    const spec = provider.rcloneRemote(request('results-az', 'output'))
    assert.deepEqual(spec, {type: 'azureblob', options: {}, path: 'results-az', secretOptions: ['sas_url'], secretsFingerprint: ''})
    assert.deepEqual(provider.rcloneRemote(request('results-az', 'output')), spec, 'pure: same answer twice')
    assert.deepEqual(provider.rcloneRemote(request('results-az', 'output', {instanceIdentity: true})), {
      type: 'azureblob',
      options: {account: 'devstoreaccount1', use_msi: 'true'},
      path: 'results-az',
      secretOptions: [],
      secretsFingerprint: '',
    })
    assert.deepEqual(await provider.rcloneSecrets(request('results-az', 'output', {instanceIdentity: true})), {})
  })

  it('rcloneSecrets mints a container SAS with role permissions and a bounded lifetime, registered for redaction', async function () {
    const {sas_url: sasUrl} = await provider.rcloneSecrets(request('results-az', 'input', {expiresInSeconds: 3600}))
    assert.ok(sasUrl)
    const url = new URL(sasUrl)
    assert.equal(`${url.origin}${url.pathname}`, `${rig.blobEndpoint}/results-az`)
    assert.equal(url.searchParams.get('sr'), 'c', 'container scope')
    assert.equal(url.searchParams.get('sp'), 'rl')
    const expiry = Date.parse(url.searchParams.get('se')!)
    assert.ok(Math.abs(expiry - (Date.now() + 3600_000)) < 120_000, `expiry ${url.searchParams.get('se')}`)
    assert.equal(redactSecrets(`url=${sasUrl}`), 'url=(sensitive)')
    // A SAS expires: its expiry is handed to the bootstrap, which records it for `watch` to re-mint before.
    const minted = provider.rcloneSecretsExpiry!('results-az')!
    assert.equal(minted.expiresAt, new Date(expiry).toISOString())
    assert.ok(Math.abs(minted.durationSeconds - 3600) <= 5, String(minted.durationSeconds))
    await provider.rcloneSecrets(request('results-az', 'input', {instanceIdentity: true}))
    assert.equal(provider.rcloneSecretsExpiry!('results-az'), undefined, 'nothing minted for the instance identity')

    const longest = new URL((await provider.rcloneSecrets(request('results-az', 'checkpoint', {expiresInSeconds: 90 * 24 * 3600}))).sas_url!)
    assert.equal(longest.searchParams.get('sp'), 'racwdl')
    assert.ok(Date.parse(longest.searchParams.get('se')!) <= Date.now() + 7 * 24 * 3600_000 + 60_000, 'clamped to 7 days')
    const byDefault = new URL((await provider.rcloneSecrets(request('results-az', 'output'))).sas_url!)
    assert.equal(byDefault.searchParams.get('sp'), 'racwl')
  })

  it('rclone round trip with exactly the spec and secrets the provider returns', async function () {
    const d = desiredBucket('rclone-trip', 'output', CRED, 'azure')
    await provider.createBucket(d, {region: 'westeurope', tags: tagsFor('output')})
    const up = await dirs.make()
    const down = await dirs.make()
    await writeTree(up, SAMPLE_TREE)

    const outReq = request('rclone-trip', 'output')
    const outSpec = provider.rcloneRemote(outReq)
    const outEnv = rcloneEnv(rcloneRemoteEnv('OUTPUT', outSpec, await provider.rcloneSecrets(outReq)))
    await runRclone(['copy', up, `OUTPUT:${outSpec.path}`], {env: outEnv})
    assert.equal((await provider.readBucket('rclone-trip'))?.empty, false)

    const inReq = request('rclone-trip', 'input')
    const inSpec = provider.rcloneRemote(inReq)
    const inEnv = rcloneEnv(rcloneRemoteEnv('INPUT', inSpec, await provider.rcloneSecrets(inReq)))
    await runRclone(['sync', `INPUT:${inSpec.path}`, down], {env: inEnv})
    assert.deepEqual(await readTree(down), await readTree(up))

    // The input SAS is read-only; the output SAS may not delete; the checkpoint SAS may.
    await assert.rejects(runRclone(['copyto', `${up}/a.txt`, `INPUT:${inSpec.path}/not-allowed.txt`], {env: inEnv}), /AuthorizationPermissionMismatch/)
    await assert.rejects(runRclone(['deletefile', `OUTPUT:${outSpec.path}/a.txt`], {env: outEnv}), /AuthorizationPermissionMismatch/)
    const cpReq = request('rclone-trip', 'checkpoint')
    const cpEnv = rcloneEnv(rcloneRemoteEnv('CKPT', provider.rcloneRemote(cpReq), await provider.rcloneSecrets(cpReq)))
    await runRclone(['deletefile', 'CKPT:rclone-trip/a.txt'], {env: cpEnv})
    const names: string[] = []
    for await (const b of service.getContainerClient('rclone-trip').listBlobsFlat()) names.push(b.name)
    assert.ok(!names.includes('a.txt') && names.includes('sub/b.txt'), names.join(','))

    // The SAS reaches only its own container.
    const other = desiredBucket('rclone-other', 'output', CRED, 'azure')
    await provider.createBucket(other, {region: 'westeurope', tags: tagsFor('output')})
    const stray = new ContainerClient(`${rig.blobEndpoint}/rclone-other?${new URL(outEnv['RCLONE_CONFIG_OUTPUT_SAS_URL']!).search.slice(1)}`, new AnonymousCredential(), {retryOptions: {maxTries: 1}})
    await assert.rejects(stray.getBlockBlobClient('x').upload('x', 1), (e: {statusCode?: number}) => e.statusCode === 403)
  })
})

describe('azure provider: without an endpoint (the real cloud)', function () {
  this.timeout(60_000)
  it('goes through Azure Resource Manager and, without a service principal, the Azure CLI login (never the metadata chain)', async function () {
    const provider = await makeProvider({})
    assert.ok(provider.compute.has('vm'))
    // No az on this machine: the CLI credential is unavailable, an AuthError the engine falls back on.
    await assert.rejects(provider.checkAuth(), (e: unknown) => e instanceof AuthError && /Azure CLI login/.test(e.message))
    assert.equal(provider.defaultRegion(), 'eastus')
  })

  it('an endpoint of another account needs its key (clientSecret or AZURE_STORAGE_KEY)', async function () {
    const provider = await makeProvider({endpoint: 'http://127.0.0.1:9/otheraccount'})
    await assert.rejects(provider.readBucket('data'), (e: unknown) => e instanceof UsageError && e.code === 'azure.no-account-key' && /AZURE_STORAGE_KEY/.test(e.suggestions.join(' ')))
    await assert.rejects(makeProvider({endpoint: 'ftp://x/y'}), (e: unknown) => e instanceof UsageError && e.code === 'azure.bad-endpoint')
  })
})
