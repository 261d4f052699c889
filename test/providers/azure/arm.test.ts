/**
 * The azure provider through Azure Resource Manager: the real @azure/identity and @azure/arm-*
 * clients against our HTTPS fake of ARM and the Entra token endpoint (test/helpers/fake-azure),
 * with azurite as every storage account's blob endpoint. In-process connections are held to
 * loopback: nothing reaches an Azure host or the metadata address.
 */
import assert from 'node:assert/strict'
import {existsSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {BlobServiceClient} from '@azure/storage-blob'

import {AuthError, CapacityError, ProviderError, ThrottledError, UsageError} from '../../../src/errors/index.js'
import {addressOf, type DesiredResource} from '../../../src/model/resources.js'
import {renderCustomData, roleAssignmentName, storageAccountName, STORAGE_BLOB_DATA_CONTRIBUTOR, type AzureProvider} from '../../../src/providers/azure/index.js'
import {generateHostKeyPair} from '../../../src/remote/host-keys.js'
import {parseCloudInit} from '../../helpers/fake-aws/cloud-init.js'
import {startFakeAzure, type FakeAzure} from '../../helpers/fake-azure/index.js'
import {startAzurite, type AzuriteRig} from '../../helpers/storage/azurite.js'
import {loopbackOnly} from '../../helpers/storage/test-env.js'
import {azureCredential, callOf, CLIENT_ID, CLIENT_SECRET, deploymentOf, makeArmProvider, recordOf, StateDirs} from './arm-helpers.js'
import {desiredBucket, tagsFor} from './helpers.js'
import {kindOps} from '../../../src/providers/provider.js'

describe('azure provider through ARM (fake ARM + azurite, real SDK clients)', function () {
  this.timeout(120_000)
  let fake: FakeAzure
  let rig: AzuriteRig
  let blob: BlobServiceClient
  let allowAllNet: () => void
  const dirs = new StateDirs()

  before(async () => {
    allowAllNet = loopbackOnly()
    rig = await startAzurite()
    blob = BlobServiceClient.fromConnectionString(rig.connectionString, {retryOptions: {maxTries: 1}})
    fake = await startFakeAzure({blob: {endpoint: rig.blobEndpoint, accountName: rig.accountName, accountKey: rig.accountKey}, clients: {[CLIENT_ID]: CLIENT_SECRET}})
  })
  afterEach(async () => {
    await fake.reset()
    for await (const c of blob.listContainers()) await blob.deleteContainer(c.name)
    dirs.cleanup()
  })
  after(async () => {
    await fake?.close()
    await rig?.stop()
    allowAllNet?.()
  })

  describe('credentials', () => {
    it('a service principal authenticates at the login endpoint given, and the token reaches ARM', async () => {
      const p = await makeArmProvider(fake)
      const who = await p.checkAuth()
      assert.match(who.account ?? '', new RegExp(fake.subscriptionId))
      assert.ok(fake.requests.some((r) => r.path.endsWith('/oauth2/v2.0/token')), 'token requested from the fake login endpoint')
      assert.ok(fake.requests.filter((r) => r.path.startsWith('/subscriptions/')).every((r) => r.auth), 'every ARM call carried the issued bearer token')
    })

    it('a refused secret is an AuthError naming the credential (the engine moves to the next one)', async () => {
      const p = await makeArmProvider(fake, {credential: azureCredential('az', fake, {clientSecret: 'wrong'})})
      await assert.rejects(p.checkAuth(), (e: unknown) => e instanceof AuthError && /azure credential 'az'/.test(e.message) && /AADSTS7000215|Invalid client secret/.test(e.message))
    })

    it('an unknown subscription is an AuthError', async () => {
      const p = await makeArmProvider(fake, {credential: azureCredential('az', fake, {subscriptionId: '12345678-1234-1234-1234-123456789012'})})
      await assert.rejects(p.checkAuth(), (e: unknown) => e instanceof AuthError && /SubscriptionNotFound/.test(e.message))
    })

    it('half a service principal is a usage error naming what is missing', async () => {
      await assert.rejects(makeArmProvider(fake, {credential: azureCredential('az', fake, {clientSecret: undefined})}), (e: unknown) => e instanceof UsageError && /clientSecret is missing/.test(e.message))
    })
  })

  describe('storage: continent accounts, containers through ARM', () => {
    it('creates anycloud{continent}{prefix} in anycloud-storage-{continent} on first use, containers via ARM, visible in azurite', async () => {
      const p = await makeArmProvider(fake)
      assert.equal(await p.readBucket('results'), null)
      const d = desiredBucket('results', 'output', 'az', 'azure')
      const made = await p.createBucket(d, {region: 'westus2', tags: tagsFor('output')})
      const account = storageAccountName('us', fake.subscriptionId)
      assert.equal(account.length <= 24, true)
      assert.equal(made.continent, 'us')
      assert.equal(made.owned, true)
      assert.equal(made.empty, true)
      assert.equal(made.outputs?.account, account)
      const acct = fake.ofType('Microsoft.Storage/storageAccounts')
      assert.deepEqual(acct.map((a) => [a.name, a.id.split('/')[4], a.location, a.tags?.['anycloud-continent']]), [[account, 'anycloud-storage-us', 'eastus', 'us']])
      assert.equal(acct[0]!.properties.supportsHttpsTrafficOnly, true)
      assert.equal(acct[0]!.properties.allowBlobPublicAccess, false)
      assert.ok(fake.calls('PUT', /\/blobservices\/default\/containers\/results$/).length === 1, 'container PUT through ARM')
      const props = await blob.getContainerClient('results').getProperties()
      assert.equal(props.metadata?.anycloud_managed, 'true')
      // A second bucket in the same continent reuses the account.
      await p.createBucket(desiredBucket('other', 'output', 'az', 'azure'), {region: 'eastus', tags: tagsFor('output')})
      assert.equal(fake.ofType('Microsoft.Storage/storageAccounts').length, 1)
      // Data makes it non-empty; delete keeps it unless forced; the account is never deleted.
      await blob.getContainerClient('results').getBlockBlobClient('a.txt').upload('x', 1)
      const again = await makeArmProvider(fake)
      const read = await again.readBucket('results')
      assert.equal(read?.empty, false)
      assert.equal(read?.continent, 'us')
      const rec = {...recordOf(d.address, 'bucket', 'results', read!), role: 'output' as const}
      assert.deepEqual(await again.deleteBucket(rec, {force: false}), {deleted: false, reason: 'holds data'})
      assert.deepEqual(await again.deleteBucket(rec, {force: true}), {deleted: true})
      assert.equal(await again.readBucket('results'), null)
      assert.equal(fake.ofType('Microsoft.Storage/storageAccounts').length, 1, 'the shared account stays')
    })

    it('refresh reads containers with one ARM listing per storage account, by name only what no listing shows; a refused listing (403) reads each by name', async () => {
      const made = await makeArmProvider(fake)
      const names = ['out-a', 'out-b', 'out-c', 'out-d']
      for (const [i, name] of names.entries()) await made.createBucket(desiredBucket(name, 'output', 'az', 'azure'), {region: i % 2 ? 'westeurope' : 'eastus', tags: tagsFor('output')})
      await blob.getContainerClient('out-b').getBlockBlobClient('a.txt').upload('x', 1)
      const byName = await Promise.all([...names, 'absent'].map((n) => made.readBucket(n)))
      const listings = () => fake.calls('GET', /\/blobservices\/default\/containers$/).length
      const gets = () => fake.calls('GET', /\/blobservices\/default\/containers\/[^/]+$/).length
      const batchOf = async () => {
        fake.requests.length = 0
        const p = await makeArmProvider(fake)
        const results = await p.readBuckets([...names, 'absent'])
        return {results: results.map((r) => ('value' in r ? r.value : r.error)), listings: listings(), gets: gets()}
      }
      const batch = await batchOf()
      assert.equal(fake.ofType('Microsoft.Storage/storageAccounts').length, 2)
      assert.equal(batch.listings, 2, 'one container listing per storage account')
      assert.equal(batch.gets, 2, 'a container GET only for the name no listing shows (once per account)')
      const comparable = (r: unknown) => (r && typeof r === 'object' ? {...(r as Record<string, unknown>), empty: undefined} : r)
      assert.deepEqual(batch.results.map(comparable), byName.map(comparable), 'the batch reads what single reads read (emptiness aside: a plan does not need it)')
      assert.equal((batch.results[0] as {owned?: boolean}).owned, true)
      // Eight buckets cost the same listings, still no GET per listed container.
      for (const name of ['out-e', 'out-f', 'out-g', 'out-h']) await made.createBucket(desiredBucket(name, 'output', 'az', 'azure'), {region: 'eastus', tags: tagsFor('output')})
      fake.requests.length = 0
      await (await makeArmProvider(fake)).readBuckets([...names, 'out-e', 'out-f', 'out-g', 'out-h'])
      assert.deepEqual([listings(), gets()], [2, 0])
      // A principal refused the listing action reads each container by name, with the same answers.
      const refused = fake.faults.add({method: 'GET', path: /\/blobservices\/default\/containers$/, status: 403, code: 'AuthorizationFailed', message: "The client does not have authorization to perform action 'Microsoft.Storage/storageAccounts/blobServices/containers/read'", count: 10})
      const fallback = await batchOf()
      assert.ok(refused.hits >= 1)
      assert.ok(fallback.gets >= names.length, 'each name read on its own')
      assert.deepEqual(fallback.results.map(comparable), byName.map(comparable))
      refused.clear()
      // Plan-time prepare finds each bucket's account (rclone names it) from the same kind of listing, once per run.
      fake.requests.length = 0
      const planning = await makeArmProvider(fake, {env: {ANYCLOUD_AZURE_BLOB_AUTH: 'sas'}})
      for (const [i, name] of ['out-b', 'out-c', 'out-d'].entries()) {
        await planning.prepare(deploymentOf(dirs.make(), {deploymentId: `acme-train-p${i}`, profile: {outputBucket: name}, placement: {credential: 'other'}}))
      }
      assert.deepEqual([listings(), gets()], [2, 0], 'one listing per account for every deployment prepared, no GET per container')
      assert.match(planning.rcloneRemote({bucket: 'out-b', role: 'output', deploymentId: 'acme-train-p0', instanceIdentity: true}).options.account ?? '', /^anycloudeu/, 'out-b lives in the eu account')
    })

    it('a container without anycloud metadata is "taken"; a container of another deployment is kept', async () => {
      const p = await makeArmProvider(fake)
      await p.createBucket(desiredBucket('mine', 'output', 'az', 'azure'), {region: 'eastus', tags: tagsFor('output', 'acme-other-1')})
      const read = await p.readBucket('mine')
      const rec = {...recordOf(addressOf('train', 'bucket', 'output'), 'bucket', 'mine', read!), role: 'output' as const, outputs: {deployment: 'acme-train-abc123'}}
      assert.match((await p.deleteBucket(rec, {force: true})).reason ?? '', /owned by deployment 'acme-other-1'/)
      const storage = fake.ofType('Microsoft.Storage/storageAccounts')[0]!
      void storage
    })

    it('a name race is resolved by reading after the conflict; a name taken outside the subscription fails clearly', async () => {
      // Another applier made the account between our GET (404) and our PUT (409).
      const p = await makeArmProvider(fake)
      await p.createBucket(desiredBucket('first', 'output', 'az', 'azure'), {region: 'eastus', tags: tagsFor('output')})
      const racer = await makeArmProvider(fake)
      fake.faults.add({method: 'GET', path: /\/storageaccounts\/[^/]+$/, status: 404, code: 'ResourceNotFound', message: 'not yet', count: 1})
      fake.faults.add({method: 'PUT', path: /\/storageaccounts\/[^/]+$/, status: 409, code: 'StorageAccountAlreadyExists', message: 'The storage account named X already exists under the subscription.', count: 1})
      const made = await racer.createBucket(desiredBucket('second', 'output', 'az', 'azure'), {region: 'eastus', tags: tagsFor('output')})
      assert.equal(made.owned, true)
      assert.equal(fake.ofType('Microsoft.Storage/storageAccounts').length, 1)

      const name = storageAccountName('eu', fake.subscriptionId)
      fake.takenAccountNames.add(name)
      const q = await makeArmProvider(fake)
      ;(q as unknown as {arm: {storage: {ctx: {accountWaitMs: number}}}}).arm.storage['ctx'].accountWaitMs = 50
      await assert.rejects(q.createBucket(desiredBucket('eudata', 'output', 'az', 'azure'), {region: 'westeurope', tags: tagsFor('output')}), (e: unknown) => e instanceof ProviderError && e.code === 'azure.storage-name-taken' && e.message.includes(name) && /outside subscription/.test(e.message))
    })

    it('rclone: use_msi with the identity client id on its own VM; a container SAS elsewhere', async () => {
      const p = await makeArmProvider(fake)
      await p.createBucket(desiredBucket('results', 'output', 'az', 'azure'), {region: 'eastus', tags: tagsFor('output')})
      const msi = p.rcloneRemote({bucket: 'results', role: 'output', deploymentId: 'acme-train-abc123', instanceIdentity: true})
      assert.deepEqual(msi.options, {account: storageAccountName('us', fake.subscriptionId), use_msi: 'true', no_check_container: 'true'})
      assert.equal(msi.rcloneMinVersion, '1.61.0')
      assert.deepEqual(msi.secretOptions, ['msi_client_id'])
      const sas = p.rcloneRemote({bucket: 'results', role: 'output', deploymentId: 'acme-train-abc123', instanceIdentity: false})
      assert.deepEqual(sas.secretOptions, ['sas_url'])
      const secrets = await p.rcloneSecrets({bucket: 'results', role: 'output', deploymentId: 'acme-train-abc123', instanceIdentity: false})
      assert.ok(secrets.sas_url!.startsWith(`${rig.blobEndpoint}/results?`), secrets.sas_url)
    })
  })

  describe('identity, network and VM', () => {
    async function world(options: {spot?: boolean} = {}) {
      const stateDir = dirs.make()
      const p = await makeArmProvider(fake)
      const deployment = deploymentOf(stateDir, {profile: {outputBucket: 'results', spot: options.spot ?? false}, placement: {spot: options.spot ?? false}})
      const out = desiredBucket('results', 'output', 'az', 'azure')
      await p.createBucket(out, {region: 'eastus', tags: tagsFor('output')})
      const records: Record<string, ReturnType<typeof recordOf>> = {}
      const desired = (kind: DesiredResource['kind'], attributes: Record<string, unknown>): DesiredResource => ({address: addressOf('train', kind), profile: 'train', kind, credential: 'az', provider: 'azure', name: `anycloud-${deployment.deploymentId}`, dependsOn: [], attributes})
      return {p, deployment, records, desired, stateDir}
    }

    it('identity: a UAMI and Storage Blob Data Contributor at container scope, ServicePrincipal, deterministic name; PrincipalNotFound retried; re-apply idempotent', async () => {
      const {p, deployment, desired} = await world()
      fake.faults.principalNotFound(2)
      const call = callOf(deployment)
      const id = await kindOps(p).create(desired('identity', {buckets: {output: 'results'}}), call)
      const uami = fake.ofType('Microsoft.ManagedIdentity/userAssignedIdentities')
      assert.equal(uami.length, 1)
      assert.equal(uami[0]!.name, 'anycloud-acme-train-abc123-id')
      assert.equal(uami[0]!.tags?.['anycloud-deployment'], 'acme-train-abc123')
      const ras = [...fake.roleAssignments.values()]
      assert.equal(ras.length, 1)
      const ra = ras[0]!
      assert.match(ra.properties.scope, /\/storageAccounts\/[a-z0-9]+\/blobServices\/default\/containers\/results$/)
      assert.equal(ra.properties.principalType, 'ServicePrincipal')
      assert.ok(ra.properties.roleDefinitionId.endsWith(STORAGE_BLOB_DATA_CONTRIBUTOR))
      assert.equal(ra.name, roleAssignmentName(ra.properties.scope, uami[0]!.properties.principalId, STORAGE_BLOB_DATA_CONTRIBUTOR))
      assert.equal(fake.calls('PUT', /roleassignments/).filter((r) => r.code === 'PrincipalNotFound').length, 2)
      assert.ok(call.messages.some((m) => /PrincipalNotFound/.test(m)))
      // Same principal/role/scope under another name: RoleAssignmentExists is success.
      fake.faults.add({method: 'PUT', path: /roleassignments/, status: 409, code: 'RoleAssignmentExists', message: 'The role assignment already exists.', count: 1})
      const again = await kindOps(p).create(desired('identity', {buckets: {output: 'results'}}), callOf(deployment))
      assert.equal(again.id, id.id)
      assert.equal(fake.roleAssignments.size, 1)
      // rclone learns the client id.
      const secrets = await p.rcloneSecrets({bucket: 'results', role: 'output', deploymentId: deployment.deploymentId, instanceIdentity: true})
      assert.equal(secrets.msi_client_id, uami[0]!.properties.clientId)
      // Delete: the role assignment before the identity; both confirmed gone.
      const rec = recordOf(addressOf('train', 'identity'), 'identity', 'x', id)
      await kindOps(p).delete(rec, callOf(deployment))
      assert.equal(fake.roleAssignments.size, 0)
      assert.equal(fake.ofType('Microsoft.ManagedIdentity/userAssignedIdentities').length, 0)
      const deletes = fake.requests.filter((r) => r.method === 'DELETE').map((r) => (/roleassignments/.test(r.path) ? 'role' : /userassignedidentities/.test(r.path) ? 'identity' : 'other'))
      assert.ok(deletes.indexOf('role') < deletes.indexOf('identity'), deletes.join(','))
    })

    it('network + VM: NSG SSH-only, Standard static IP, NIC, Ubuntu gen2 spot VM with deleteOption Delete and the host key in custom data; eviction reads as a note; delete cascades and confirms', async () => {
      const {p, deployment, desired, records} = await world({spot: true})
      const call = callOf(deployment)
      const key = await kindOps(p).create(desired('sshkey', {algorithm: 'ed25519'}), call)
      records[addressOf('train', 'sshkey')] = recordOf(addressOf('train', 'sshkey'), 'sshkey', 'k', key)
      assert.equal(statSync(join(deployment.stateDir, 'keys', deployment.deploymentId)).mode & 0o777, 0o600)
      const id = await kindOps(p).create(desired('identity', {buckets: {output: 'results'}}), call)
      records[addressOf('train', 'identity')] = recordOf(addressOf('train', 'identity'), 'identity', 'i', id)
      // A lost NIC response: the SDK tries again, the PUT by name lands on the same NIC.
      fake.faults.loseResponse(/\/networkinterfaces\/[^/]+$/)
      fake.faults.throttle(/\/networksecuritygroups\/[^/]+$/, 2, 0, 'PUT')
      const net = await kindOps(p).create(desired('network', {ingress: 'ssh', region: 'eastus'}), call)
      records[addressOf('train', 'network')] = recordOf(addressOf('train', 'network'), 'network', 'n', net)
      assert.equal(fake.ofType('Microsoft.Network/networkInterfaces').length, 1)
      assert.ok(fake.requests.some((r) => r.lost), 'a response was lost')
      const nsg = fake.ofType('Microsoft.Network/networkSecurityGroups')[0]!
      assert.deepEqual(nsg.properties.securityRules.map((r: {properties: {destinationPortRange: string; access: string}}) => [r.properties.destinationPortRange, r.properties.access]), [['22', 'Allow']])
      const pip = fake.ofType('Microsoft.Network/publicIPAddresses')[0]!
      assert.equal(pip.sku && (pip.sku as {name: string}).name, 'Standard')
      assert.equal(pip.properties.publicIPAllocationMethod, 'Static')
      assert.ok(fake.ofType('Microsoft.Network/virtualNetworks').some((v) => v.name === 'anycloud-vnet' && v.id.includes('/resourceGroups/anycloud-eastus/')))

      const vmd = desired('vm', {region: 'eastus', spot: true, vmSize: 'Standard_D2s_v5', diskSizeGb: 64})
      const vm = await kindOps(p).create(vmd, callOf(deployment, records, 'tok-1'))
      const v = fake.vm('anycloud-acme-train-abc123-vm')!
      assert.equal(v.properties.priority, 'Spot')
      assert.equal(v.properties.evictionPolicy, 'Delete')
      assert.equal(v.properties.billingProfile.maxPrice, -1)
      assert.equal(v.properties.storageProfile.imageReference.offer, 'ubuntu-24_04-lts')
      assert.equal(v.properties.storageProfile.osDisk.deleteOption, 'Delete')
      assert.equal(v.properties.storageProfile.osDisk.diskSizeGB, 64)
      assert.equal(v.properties.networkProfile.networkInterfaces[0].properties.deleteOption, 'Delete')
      assert.equal(v.properties.osProfile.linuxConfiguration.disablePasswordAuthentication, true)
      assert.equal(v.properties.osProfile.customData, undefined, 'custom data is write-only')
      assert.ok(Object.keys((v.identity as {userAssignedIdentities: object}).userAssignedIdentities)[0]!.endsWith('/anycloud-acme-train-abc123-id'))
      assert.equal(vm.outputs?.address, fake.ofType('Microsoft.Network/publicIPAddresses')[0]!.properties.ipAddress)
      assert.match(String(vm.outputs?.hostKey), /^ssh-ed25519 /)
      assert.ok(!JSON.stringify(vm).includes('PRIVATE KEY'))
      assert.ok(existsSync(join(deployment.stateDir, 'keys')))
      records[addressOf('train', 'vm')] = recordOf(addressOf('train', 'vm'), 'vm', 'v', vm)

      // Eviction: the VM is gone; the plan's read carries Azure's reason.
      await fake.evict('anycloud-acme-train-abc123-vm')
      const read = await kindOps(p).read({address: vmd.address, kind: 'vm', name: vmd.name, record: records[vmd.address]}, callOf(deployment, records))
      assert.match(read?.note ?? '', /evicted the spot VM/)

      // Replace: a new VM on the same NIC; then destroy in the engine's order, each confirmed.
      await kindOps(p).delete(records[vmd.address]!, callOf(deployment, records))
      const vm2 = await kindOps(p).create(vmd, callOf(deployment, records, 'tok-2'))
      assert.notEqual(vm2.outputs?.hostKey, vm.outputs?.hostKey, 'a new VM gets a new host key')
      await kindOps(p).delete(records[vmd.address]!, callOf(deployment, records))
      await kindOps(p).delete(records[addressOf('train', 'network')]!, callOf(deployment, records))
      await kindOps(p).delete(records[addressOf('train', 'identity')]!, callOf(deployment, records))
      await kindOps(p).delete(records[addressOf('train', 'sshkey')]!, callOf(deployment, records))
      const left = fake.all().filter((r) => r.tags?.['anycloud-deployment'] === deployment.deploymentId || r.type === 'Microsoft.Authorization/roleAssignments')
      assert.deepEqual(left.map((r) => r.id), [])
      assert.equal(fake.ofType('Microsoft.Compute/disks').length, 0)
    })

    it('after a lost state, reads find each resource by its deterministic name and tags; a foreign one is not adopted; the tag listing finds them all', async () => {
      const {p, deployment, desired, records} = await world()
      const call = callOf(deployment)
      records[addressOf('train', 'sshkey')] = recordOf(addressOf('train', 'sshkey'), 'sshkey', 'k', await kindOps(p).create(desired('sshkey', {}), call))
      records[addressOf('train', 'identity')] = recordOf(addressOf('train', 'identity'), 'identity', 'i', await kindOps(p).create(desired('identity', {buckets: {output: 'results'}}), call))
      records[addressOf('train', 'network')] = recordOf(addressOf('train', 'network'), 'network', 'n', await kindOps(p).create(desired('network', {region: 'eastus'}), call))
      const vm = await kindOps(p).create(desired('vm', {region: 'eastus', vmSize: 'Standard_D2s_v5'}), callOf(deployment, records, 't'))
      // State lost: no records at all.
      const fresh = await makeArmProvider(fake)
      for (const kind of ['identity', 'network', 'vm'] as const) {
        const found = await kindOps(fresh).read({address: addressOf('train', kind), kind, name: 'x'}, callOf(deployment, {}))
        assert.ok(found, `${kind} found by name`)
      }
      assert.equal((await kindOps(fresh).read({address: addressOf('train', 'vm'), kind: 'vm', name: 'x'}, callOf(deployment, {})))!.id, vm.id)
      const {taggedResources} = await import('../../../src/providers/azure/compute.js')
      const clients = fresh.clients!
      const tagged = await taggedResources({clients, credential: 'az', timing: {} as never, sshUser: 'x'}, ['eastus', 'westus'], deployment.deploymentId)
      assert.deepEqual(tagged.map((r) => r.type).sort(), ['Microsoft.Compute/virtualMachines', 'Microsoft.ManagedIdentity/userAssignedIdentities', 'Microsoft.Network/networkInterfaces', 'Microsoft.Network/networkSecurityGroups', 'Microsoft.Network/publicIPAddresses'])
      // Another deployment's VM of the same name is never adopted.
      const other = deploymentOf(deployment.stateDir, {deploymentId: 'acme-train-abc123'})
      fake.vm('anycloud-acme-train-abc123-vm')!.tags = {'anycloud-managed': 'true', 'anycloud-deployment': 'someone-else'}
      assert.equal(await kindOps(fresh).read({address: addressOf('train', 'vm'), kind: 'vm', name: 'x'}, callOf(other, {})), null)
      await assert.rejects(kindOps(fresh).create(desired('vm', {region: 'eastus', vmSize: 'Standard_D2s_v5'}), callOf(other, records, 't2')), (e: unknown) => e instanceof ProviderError && e.code === 'azure.vm-foreign')
    })

    it('capacity and quota errors are CapacityError (next region/size) and leave no VM; a bad request fails fast', async () => {
      const {p, deployment, desired, records} = await world()
      const call = callOf(deployment)
      records[addressOf('train', 'sshkey')] = recordOf(addressOf('train', 'sshkey'), 'sshkey', 'k', await kindOps(p).create(desired('sshkey', {}), call))
      records[addressOf('train', 'network')] = recordOf(addressOf('train', 'network'), 'network', 'n', await kindOps(p).create(desired('network', {region: 'eastus'}), call))
      const vmd = desired('vm', {region: 'eastus', vmSize: 'Standard_D2s_v5'})
      fake.faults.allocationFailed()
      await assert.rejects(kindOps(p).create(vmd, callOf(deployment, records, 't1')), (e: unknown) => e instanceof CapacityError && /AllocationFailed/.test(e.message) && e.where === 'eastus')
      assert.equal(fake.ofType('Microsoft.Compute/virtualMachines').length, 0, 'the Failed VM was deleted')
      fake.faults.skuNotAvailable()
      await assert.rejects(kindOps(p).create(vmd, callOf(deployment, records, 't2')), (e: unknown) => e instanceof CapacityError && /SkuNotAvailable/.test(e.message))
      fake.faults.quota()
      await assert.rejects(kindOps(p).create(vmd, callOf(deployment, records, 't3')), (e: unknown) => e instanceof CapacityError && /LowPriorityCores quota/.test(e.message))
      fake.faults.add({method: 'PUT', path: /\/virtualmachines\//, status: 400, code: 'InvalidParameter', message: "The value of parameter imageReference is invalid.", count: 1})
      await assert.rejects(kindOps(p).create(vmd, callOf(deployment, records, 't4')), (e: unknown) => e instanceof ProviderError && e.code === 'azure.invalid-request' && /InvalidParameter/.test(e.message))
      fake.faults.add({method: 'PUT', path: /\/virtualmachines\//, status: 403, code: 'AuthorizationFailed', message: "The client does not have authorization to perform action 'Microsoft.Compute/virtualMachines/write'.", count: 1})
      await assert.rejects(kindOps(p).create(vmd, callOf(deployment, records, 't5')), (e: unknown) => e instanceof AuthError)
      assert.equal(fake.ofType('Microsoft.Compute/virtualMachines').length, 0)
      // Throttling past the budget: ThrottledError; within it: success.
      fake.faults.throttle(/\/virtualmachines\/[^/]+$/, 2, 0, 'PUT')
      await kindOps(p).create(vmd, callOf(deployment, records, 't6'))
      assert.equal(fake.ofType('Microsoft.Compute/virtualMachines').length, 1)
      fake.faults.throttle(/\/virtualmachines\/[^/]+$/, 1000, 0, 'GET')
      const slow = await makeArmProvider(fake, {retryBudgetMs: 50})
      await assert.rejects(kindOps(slow).read({address: vmd.address, kind: 'vm', name: vmd.name}, callOf(deployment, records)), (e: unknown) => e instanceof ThrottledError)
    })
  })

  it('custom data carries only the host key, as cloud-config', () => {
    const pair = generateHostKeyPair('t')
    const text = renderCustomData(pair)
    assert.match(text, /^#cloud-config\n/)
    const parsed = parseCloudInit(text)
    assert.equal(parsed.hostKeys.ed25519?.publicKey?.split(' ').slice(0, 2).join(' '), pair.publicKey.split(' ').slice(0, 2).join(' '))
    assert.deepEqual(parsed.authorizedKeys, [])
  })
})

export type {AzureProvider}
