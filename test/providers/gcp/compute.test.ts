/**
 * The gcp provider's compute and identity paths through the REAL `@google-cloud/compute` (REST),
 * `@googleapis/iam` and `@google-cloud/storage` clients, against the fake GCE/IAM server of
 * test/helpers/fake-gcp (storage proxied to the GCS fake). Faults: lost responses, 429/503,
 * stockouts, quota, service-account propagation, IAM etag conflicts, preemption.
 */
import assert from 'node:assert/strict'
import {generateKeyPairSync} from 'node:crypto'
import {writeFileSync} from 'node:fs'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'

import {AuthError, CapacityError, ProviderError} from '../../../src/errors/index.js'
import {addressOf} from '../../../src/model/resources.js'
import {classifyInsertFailure, machineFor, requestIdOf, schedulingFor, serviceAccountId, vmName} from '../../../src/providers/gcp/index.js'
import {callOf, deploymentOf, gcpCredential, makeProvider, recordOf, startRigs, StateDirs, stopRigs, type Rigs} from './helpers.js'
import {kindOps} from '../../../src/providers/provider.js'

describe('gcp provider: compute, identity and credentials against the fake GCE/IAM (real clients)', function () {
  this.timeout(60_000)
  let rigs: Rigs
  const dirs = new StateDirs()

  before(async function () {
    rigs = await startRigs()
  })
  after(async function () {
    await stopRigs(rigs)
    dirs.cleanup()
  })
  afterEach(async function () {
    await rigs.fake.reset()
    rigs.gcs.reset()
    rigs.token = rigs.fake.issueToken('anycloud-test')
  })

  /** A deployment with network, key, identity and VM created in order; returns records. */
  async function upTo(provider: ReturnType<typeof makeProvider>, dep: ReturnType<typeof deploymentOf>, token = 'tok-1') {
    const records: Record<string, ReturnType<typeof recordOf>> = {}
    for (const kind of ['identity', 'network', 'sshkey'] as const) {
      const a = await kindOps(provider).create({address: addressOf('train', kind), profile: 'train', kind, credential: 'gcp', provider: 'gcp', name: `anycloud-${dep.deploymentId}`, dependsOn: [], attributes: {}}, callOf(dep, records, `${token}-${kind}`))
      records[addressOf('train', kind)] = recordOf(addressOf('train', kind), kind, `anycloud-${dep.deploymentId}`, a)
    }
    const vmDesired = {address: 'train.vm', profile: 'train', kind: 'vm' as const, credential: 'gcp', provider: 'gcp' as const, name: dep.deploymentId, dependsOn: [], attributes: {...provider.desiredAttributes({kind: 'vm'} as never, dep), spot: dep.placement.spot, zone: dep.placement.zone, ...(dep.spec.hardware.diskSizeGb ? {diskSizeGb: dep.spec.hardware.diskSizeGb} : {})}}
    return {records, vmDesired}
  }

  describe('credentials: one source for every client', function () {
    it('accessToken: compute, IAM and storage all send it as the bearer (apiEndpoint does not drop it)', async function () {
      const provider = makeProvider(gcpCredential('gcp', rigs))
      await provider.checkAuth()
      await provider.createBucket({address: 'train.bucket.output', profile: 'train', kind: 'bucket', role: 'output', credential: 'gcp', provider: 'gcp', name: 'tok-bucket', dependsOn: [], attributes: {}}, {region: 'us-central1', tags: {'anycloud-managed': 'true'}})
      const dep = deploymentOf(dirs.make())
      await kindOps(provider).create({address: 'train.network', profile: 'train', kind: 'network', credential: 'gcp', provider: 'gcp', name: 'x', dependsOn: [], attributes: {}}, callOf(dep, {}, 't1'))
      await kindOps(provider).read({address: 'train.identity', kind: 'identity', name: 'x'}, callOf(dep))
      const compute = rigs.fake.requests.filter((r) => r.path.startsWith('/compute/'))
      const iam = rigs.fake.requests.filter((r) => r.path.startsWith('/v1/'))
      const storage = rigs.fake.storageCalls()
      for (const [what, list] of [['compute', compute], ['iam', iam], ['storage', storage]] as const) {
        assert.ok(list.length > 0, `${what} was called`)
        assert.ok(list.every((r) => r.auth === 'token' && r.principal === 'anycloud-test'), `${what}: ${JSON.stringify(list.map((r) => r.auth))}`)
      }
      await provider.close()
    })

    it('keyFile: every client signs with the key (self-signed JWT the fake verifies); no token server, no metadata', async function () {
      const {privateKey} = generateKeyPairSync('rsa', {modulusLength: 2048, privateKeyEncoding: {type: 'pkcs8', format: 'pem'}, publicKeyEncoding: {type: 'spki', format: 'pem'}})
      const email = 'anycloud-deployer@anycloud-fake.iam.gserviceaccount.com'
      rigs.fake.trustKey(email, privateKey)
      const dir = dirs.make()
      writeFileSync(join(dir, 'sa.json'), JSON.stringify({type: 'service_account', project_id: 'anycloud-fake', private_key_id: 'k1', private_key: privateKey, client_email: email, token_uri: 'http://127.0.0.1:9/token'}), {mode: 0o600})
      const provider = makeProvider(gcpCredential('gcp', rigs, {accessToken: undefined, keyFile: 'sa.json'}), {configDir: dir})
      await provider.checkAuth()
      const dep = deploymentOf(dirs.make())
      await kindOps(provider).create({address: 'train.network', profile: 'train', kind: 'network', credential: 'gcp', provider: 'gcp', name: 'x', dependsOn: [], attributes: {}}, callOf(dep, {}, 't1'))
      await kindOps(provider).read({address: 'train.identity', kind: 'identity', name: 'x'}, callOf(dep))
      const seen = rigs.fake.requests
      assert.ok(seen.some((r) => r.path.startsWith('/compute/')) && seen.some((r) => r.path.startsWith('/v1/')) && rigs.fake.storageCalls().length > 0)
      assert.ok(seen.every((r) => r.auth === 'jwt' && r.principal === email), JSON.stringify(seen.map((r) => [r.path, r.auth])))
      await provider.close()
    })

    it('a wrong token is an AuthError naming the credential (the engine falls back to the next credential)', async function () {
      const provider = makeProvider(gcpCredential('gcp-bad', rigs, {accessToken: 'ya29.not-issued'}))
      const dep = deploymentOf(dirs.make())
      await assert.rejects(kindOps(provider).read({address: 'train.network', kind: 'network', name: 'x'}, callOf(dep)), (e: unknown) => e instanceof AuthError && /gcp credential 'gcp-bad'/.test(e.message))
      await provider.close()
    })

    it('no credential anywhere and no endpoint: AuthError at once, and the metadata server is never asked', async function () {
      let probes = 0
      const metadata = http.createServer((_q, s) => {
        probes++
        s.end()
      })
      await new Promise<void>((r) => metadata.listen(0, '127.0.0.1', r))
      const saved = process.env.GCE_METADATA_HOST
      process.env.GCE_METADATA_HOST = `127.0.0.1:${(metadata.address() as AddressInfo).port}`
      try {
        const provider = makeProvider({name: 'adc', origin: 'file', spec: {provider: 'gcp', project: 'anycloud-fake'}}, {env: {HOME: dirs.make()}})
        await assert.rejects(provider.checkAuth(), (e: unknown) => e instanceof AuthError && /no credentials found/.test(e.message) && /does not probe the metadata server/.test(e.message))
        const dep = deploymentOf(dirs.make())
        await assert.rejects(kindOps(provider).read({address: 'train.vm', kind: 'vm', name: 'x'}, callOf(dep)), AuthError)
      } finally {
        process.env.GCE_METADATA_HOST = saved
        await new Promise<void>((r) => metadata.close(() => r()))
      }
      assert.equal(probes, 0)
    })
  })

  describe('network (firewall)', function () {
    it('creates the SSH rule on the deployment\'s tag, reads it, deletes and confirms', async function () {
      const provider = makeProvider(gcpCredential('gcp', rigs))
      const dep = deploymentOf(dirs.make())
      const lookup = {address: 'train.network', kind: 'network' as const, name: 'x'}
      assert.equal(await kindOps(provider).read(lookup, callOf(dep)), null)
      const a = await kindOps(provider).create({...lookup, profile: 'train', credential: 'gcp', provider: 'gcp', dependsOn: [], attributes: {}}, callOf(dep, {}, 't1'))
      const fw = [...rigs.fake.firewalls.values()]
      assert.equal(fw.length, 1)
      assert.deepEqual(fw[0]!.allowed, [{IPProtocol: 'tcp', ports: ['22']}])
      assert.deepEqual(fw[0]!.targetTags, [a.outputs!.targetTag])
      assert.ok(rigs.fake.calls('POST', /\/global\/firewalls$/)[0]!.query.requestId)
      assert.equal((await kindOps(provider).read(lookup, callOf(dep)))?.id, a.id)
      // Again: adopted, no second insert.
      await kindOps(provider).create({...lookup, profile: 'train', credential: 'gcp', provider: 'gcp', dependsOn: [], attributes: {}}, callOf(dep, {}, 't1'))
      assert.equal(rigs.fake.calls('POST', /\/global\/firewalls$/).length, 1)
      await kindOps(provider).delete(recordOf('train.network', 'network', 'x', a), callOf(dep))
      assert.equal(rigs.fake.firewalls.size, 0)
      await kindOps(provider).delete(recordOf('train.network', 'network', 'x', a), callOf(dep))
    })
  })

  describe('identity (service account + bucket bindings)', function () {
    it('one account per deployment, bound per bucket with etag RMW (retried on a conflict), removed before the account', async function () {
      const provider = makeProvider(gcpCredential('gcp', rigs))
      const dep = deploymentOf(dirs.make(), {profile: {outputBucket: 'acme-out', inputBucket: 'acme-in', spot: true}})
      for (const b of ['acme-out', 'acme-in', dep.deploymentId]) await provider.createBucket({address: `train.bucket.${b}`, profile: 'train', kind: 'bucket', role: 'output', credential: 'gcp', provider: 'gcp', name: b, dependsOn: [], attributes: {}}, {region: 'us-central1', tags: {'anycloud-managed': 'true', 'anycloud-deployment': dep.deploymentId}})
      // Someone else holds a binding on the output bucket, and writes in between once (stale etag).
      const outBucket = rigs.gcs.state.buckets.get('acme-out')!
      outBucket.iam.bindings.push({role: 'roles/storage.objectViewer', members: ['user:alice@example.com', 'deleted:serviceAccount:ac-oldoldoldo-xxxx@anycloud-fake.iam.gserviceaccount.com?uid=1']})
      rigs.gcs.faults.add({method: 'PUT', path: /\/b\/acme-out\/iam$/, status: 412, code: 'conditionNotMet', message: 'stale etag', times: 1})
      rigs.fake.saPropagationReads = 2
      const lookup = {address: 'train.identity', kind: 'identity' as const, name: 'x'}
      const a = await kindOps(provider).create({...lookup, profile: 'train', credential: 'gcp', provider: 'gcp', dependsOn: [], attributes: {buckets: {output: 'acme-out'}}}, callOf(dep, {}, 'tok-id'))
      rigs.fake.saPropagationReads = 0
      const email = String(a.outputs!.email)
      assert.equal(email, `${serviceAccountId(dep.deploymentId, 'tok-id')}@anycloud-fake.iam.gserviceaccount.com`)
      const members = (bucket: string, role: string) => rigs.gcs.state.buckets.get(bucket)!.iam.bindings.find((b) => b.role === role)?.members ?? []
      assert.ok(members('acme-out', 'roles/storage.objectAdmin').includes(`serviceAccount:${email}`))
      assert.ok(members(dep.deploymentId, 'roles/storage.objectAdmin').includes(`serviceAccount:${email}`))
      assert.ok(members('acme-in', 'roles/storage.objectViewer').includes(`serviceAccount:${email}`))
      assert.deepEqual(members('acme-out', 'roles/storage.objectViewer'), ['user:alice@example.com'], 'others kept; deleted anycloud members collected')
      // A replayed create (same token) adopts the same account.
      const again = await kindOps(provider).create({...lookup, profile: 'train', credential: 'gcp', provider: 'gcp', dependsOn: [], attributes: {}}, callOf(dep, {}, 'tok-id'))
      assert.equal(again.outputs!.email, email)
      assert.equal(rigs.fake.serviceAccounts.size, 1)
      // Lost state: found by listing.
      assert.equal((await kindOps(provider).read(lookup, callOf(dep)))?.id, email)
      // Delete: bindings first, then the account.
      await kindOps(provider).delete(recordOf('train.identity', 'identity', 'x', a), callOf(dep))
      assert.equal(rigs.fake.serviceAccounts.size, 0)
      for (const b of ['acme-out', 'acme-in', dep.deploymentId]) {
        assert.ok(rigs.gcs.state.buckets.get(b)!.iam.bindings.every((x) => !x.members.includes(`serviceAccount:${email}`)), b)
      }
      const order = rigs.fake.requests.map((r) => `${r.method} ${r.path}`)
      const lastPut = order.map((x, i) => (/^PUT .*\/iam$/.test(x) ? i : -1)).reduce((m, i) => Math.max(m, i), -1)
      const del = order.findIndex((x) => /^DELETE \/v1\/projects\/.*\/serviceAccounts\//.test(x))
      assert.ok(lastPut >= 0 && del > lastPut, 'bindings removed before the account')
    })
  })

  describe('vm', function () {
    it('insert body: Ubuntu family image, disk, external IP, login key, SA, labels, spot DELETE; requestId; host key pinned', async function () {
      const provider = makeProvider(gcpCredential('gcp', rigs))
      const dep = deploymentOf(dirs.make(), {profile: {spot: true, diskSizeGb: 50}, placement: {spot: true}})
      const {records, vmDesired} = await upTo(provider, dep)
      const a = await kindOps(provider).create(vmDesired, callOf(dep, records, 'tok-vm'))
      const inst = rigs.fake.liveInstances()
      assert.equal(inst.length, 1)
      const i = inst[0]!
      assert.equal(i.name, vmName(dep.deploymentId))
      assert.equal(i.zone, 'us-central1-a')
      assert.equal(i.machineType, 'e2-small')
      assert.deepEqual(i.scheduling, {provisioningModel: 'SPOT', instanceTerminationAction: 'DELETE', onHostMaintenance: 'TERMINATE', automaticRestart: false})
      assert.equal(i.labels['anycloud-managed'], 'true')
      assert.equal(i.labels['anycloud-deployment'], dep.deploymentId)
      assert.equal(i.serviceAccounts[0]!.email, records['train.identity']!.outputs.email)
      assert.match(String((i.disks[0]!.initializeParams as Record<string, unknown>).sourceImage), /ubuntu-os-cloud\/global\/images\/ubuntu-2404-lts/)
      assert.equal((i.disks[0]!.initializeParams as Record<string, unknown>).diskSizeGb, '50')
      assert.match(i.metadata['ssh-keys']!, /^anycloud:ssh-ed25519 AAAA/)
      assert.match(i.metadata['user-data']!, /^#cloud-config\n[\s\S]*ssh_keys:/)
      assert.equal(i.requestId, requestIdOf('tok-vm|us-central1-a'))
      assert.equal(a.outputs!.hostKey, i.metadata['anycloud-host-key'])
      assert.equal(a.outputs!.address, i.natIP)
      assert.match(String(a.id), /^\d+$/, 'the 64-bit id as a string')
      // Read: the same VM; delete confirms.
      const read = await kindOps(provider).read({address: 'train.vm', kind: 'vm', name: dep.deploymentId, record: recordOf('train.vm', 'vm', dep.deploymentId, a)}, callOf(dep, records))
      assert.equal(read?.id, a.id)
      await kindOps(provider).delete(recordOf('train.vm', 'vm', dep.deploymentId, a), callOf(dep, records))
      assert.deepEqual(rigs.fake.liveInstances(), [])
    })

    it('a lost insert response and 429/503 are retried with the same requestId: exactly one VM', async function () {
      const provider = makeProvider(gcpCredential('gcp', rigs))
      const dep = deploymentOf(dirs.make())
      const {records, vmDesired} = await upTo(provider, dep)
      rigs.fake.faults.loseResponse({method: 'POST', path: /\/instances$/})
      rigs.fake.faults.http({method: 'GET', path: /\/instances\/[^/]+$/, status: 503, count: 1})
      rigs.fake.faults.http({method: 'POST', path: /\/operations\/[^/]+\/wait$/, status: 429, count: 1})
      await kindOps(provider).create(vmDesired, callOf(dep, records, 'tok-vm'))
      const inserts = rigs.fake.calls('POST', /\/zones\/[^/]+\/instances$/)
      assert.ok(inserts.length >= 2, 'the lost insert was sent again')
      assert.equal(new Set(inserts.map((r) => r.query.requestId)).size, 1, 'with the same requestId')
      assert.equal(rigs.fake.liveInstances().length, 1)
    })

    it('a stockout in one zone is a CapacityError (nothing left behind); the next zone works', async function () {
      const provider = makeProvider(gcpCredential('gcp', rigs))
      const dep = deploymentOf(dirs.make())
      const {records, vmDesired} = await upTo(provider, dep)
      rigs.fake.faults.stockout('us-central1-a')
      await assert.rejects(kindOps(provider).create(vmDesired, callOf(dep, records, 'tok-vm')), (e: unknown) => e instanceof CapacityError && /ZONE_RESOURCE_POOL_EXHAUSTED|does not have enough resources/.test(e.message) && e.where === 'us-central1-a')
      assert.equal(rigs.fake.liveInstances().length, 0)
      const b = deploymentOf(dep.stateDir, {placement: {zone: 'us-central1-b'}})
      await kindOps(provider).create(vmDesired, callOf(b, records, 'tok-vm'))
      assert.deepEqual(rigs.fake.liveInstances().map((i) => i.zone), ['us-central1-b'])
    })

    it('quota: regional → CapacityError (move on); GPUS_ALL_REGIONS → stop with what to do', async function () {
      const provider = makeProvider(gcpCredential('gcp', rigs))
      const dep = deploymentOf(dirs.make())
      const {records, vmDesired} = await upTo(provider, dep)
      rigs.fake.faults.quota({zonePrefix: 'us-central1', metric: 'CPUS', count: 1})
      await assert.rejects(kindOps(provider).create(vmDesired, callOf(dep, records, 'tok-a')), (e: unknown) => e instanceof CapacityError && /Quota 'CPUS' exceeded/.test(e.message))
      rigs.fake.faults.quota({zonePrefix: 'us-central1', metric: 'GPUS_ALL_REGIONS', global: true, count: 1})
      await assert.rejects(kindOps(provider).create(vmDesired, callOf(dep, records, 'tok-b')), (e: unknown) => e instanceof ProviderError && !(e instanceof CapacityError) && e.code === 'gcp.quota' && /request a quota increase/i.test(e.suggestions.join(' ')))
      assert.equal(rigs.fake.liveInstances().length, 0)
    })

    it('a new service account not yet visible to GCE: the insert is retried until it is', async function () {
      const provider = makeProvider(gcpCredential('gcp', rigs))
      const dep = deploymentOf(dirs.make())
      const {records, vmDesired} = await upTo(provider, dep)
      // Pretend IAM has not propagated the account to GCE yet: two inserts refused.
      const email = String(records['train.identity']!.outputs.email)
      rigs.fake.faults.http({method: 'POST', path: /\/instances$/, status: 400, reason: 'notFound', message: `The resource 'projects/anycloud-fake/serviceAccounts/${email}' was not found`, count: 2})
      const call = callOf(dep, records, 'tok-vm')
      await kindOps(provider).create(vmDesired, call)
      assert.equal(rigs.fake.liveInstances().length, 1)
      assert.ok(call.messages.some((m) => /IAM propagation/.test(m)))
    })

    it('preemption: the VM is gone and the plan reason says so; delete is then a no-op', async function () {
      const provider = makeProvider(gcpCredential('gcp', rigs))
      const dep = deploymentOf(dirs.make(), {profile: {spot: true}, placement: {spot: true}})
      const {records, vmDesired} = await upTo(provider, dep)
      const a = await kindOps(provider).create(vmDesired, callOf(dep, records, 'tok-vm'))
      await rigs.fake.preempt(vmName(dep.deploymentId))
      const rec = recordOf('train.vm', 'vm', dep.deploymentId, a)
      const read = await kindOps(provider).read({address: 'train.vm', kind: 'vm', name: dep.deploymentId, record: rec}, callOf(dep, {...records, 'train.vm': rec}))
      assert.equal(read?.note, 'compute.instances.preempted: Instance was preempted.')
      assert.equal(read?.preempted, true)
      const wl = await kindOps(provider).read({address: 'train.workload', kind: 'workload', name: dep.deploymentId, record: recordOf('train.workload', 'workload', dep.deploymentId, {id: 'w', attributes: {}})}, callOf(dep, {...records, 'train.vm': rec}))
      assert.equal(wl?.phase, 'lost')
      await kindOps(provider).delete(rec, callOf(dep, records))
      // Deleted outside anycloud (no preemption record): gone without a reason.
      const other = deploymentOf(dirs.make(), {deploymentId: 'acme-train-zzz999'})
      assert.equal(await kindOps(provider).read({address: 'train.vm', kind: 'vm', name: 'x', record: {...rec, outputs: {...rec.outputs, instanceId: '1'}}}, callOf(other)), null)
    })
  })

  describe('pure parts', function () {
    it('GPUs: N1 + attached T4 or accelerator-optimized types; scheduling built in one place', function () {
      const dep = (gpuType: string, name: string, count: number) => deploymentOf('/tmp', {profile: {hardware: {kind: 'gpu', gpuType, name, count}}, placement: {vmType: undefined}})
      assert.deepEqual(machineFor(dep('t4', 't4', 1)), {machineType: 'n1-standard-4', gpu: true, accelerator: {type: 'nvidia-tesla-t4', count: 1}})
      assert.equal(machineFor(dep('a100:8', 'a100', 8)).machineType, 'a2-highgpu-8g')
      assert.equal(machineFor(dep('a100:8', 'a100', 8)).accelerator, undefined)
      assert.deepEqual(schedulingFor(false, true), {onHostMaintenance: 'TERMINATE', automaticRestart: true})
      assert.deepEqual(schedulingFor(true, true), {provisioningModel: 'SPOT', instanceTerminationAction: 'DELETE', onHostMaintenance: 'TERMINATE', automaticRestart: false})
      assert.deepEqual(schedulingFor(false, false), {})
    })

    it('classifies insert failures as the notes say', function () {
      assert.deepEqual(classifyInsertFailure('ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS', 'x').kind, 'capacity')
      assert.equal((classifyInsertFailure('REGION_RESOURCE_POOL_EXHAUSTED', 'x') as {scope: string}).scope, 'region')
      assert.equal(classifyInsertFailure('QUOTA_EXCEEDED', "Quota 'GPUS_ALL_REGIONS' exceeded. Limit: 0.0 globally.").kind, 'quota-global')
      assert.equal(classifyInsertFailure('QUOTA_EXCEEDED', "Quota 'NVIDIA_L4_GPUS' exceeded. Limit: 1.0 in region us-central1.").kind, 'capacity')
      assert.equal(classifyInsertFailure('invalid', 'Requested disk size cannot be smaller than the image size').kind, 'config')
    })

    it('requestId is a UUID, stable per seed; SA ids fit IAM rules', function () {
      assert.match(requestIdOf('a'), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      assert.equal(requestIdOf('a'), requestIdOf('a'))
      assert.notEqual(requestIdOf('a'), requestIdOf('b'))
      const id = serviceAccountId('acme-train-abc123', 't')
      assert.match(id, /^[a-z]([-a-z0-9]{4,28}[a-z0-9])$/)
      assert.match(vmName('x'.repeat(80)), /^anycloud-x+-[0-9a-f]{8}$/)
      assert.ok(vmName('x'.repeat(80)).length <= 63)
    })
  })
})
