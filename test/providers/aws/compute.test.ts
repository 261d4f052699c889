import assert from 'node:assert/strict'
import {existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {AuthError, CapacityError, ThrottledError} from '../../../src/errors/index.js'
import type {DeploymentContext, DesiredResource, ResourceRecord} from '../../../src/model/resources.js'
import {fingerprintSha256, sameKey} from '../../../src/remote/host-keys.js'
import {AwsProvider, CANONICAL_OWNER, DEFAULT_MAX_ATTEMPTS, ec2Name, iamName} from '../../../src/providers/aws/index.js'
import {parseCloudInit} from '../../helpers/fake-aws/index.js'
import {withEnv} from '../../helpers/storage/index.js'
import {allStrings, awsCredential, callOf, deploymentOf, KEYS, makeProvider, recordOf, startRigs, StateDirs, stopRigs, type Rigs} from './helpers.js'
import {kindOps} from '../../../src/providers/provider.js'

const P = 'train'

function desired(deployment: DeploymentContext, kind: DesiredResource['kind'], attributes: Record<string, unknown>, provider: AwsProvider): DesiredResource {
  const r: DesiredResource = {
    address: `${P}.${kind}`, profile: P, kind, credential: 'aws', provider: 'aws',
    name: kind === 'vm' ? deployment.deploymentId : `anycloud-${deployment.deploymentId}`, dependsOn: [], attributes,
  }
  r.attributes = {...r.attributes, ...(provider.desiredAttributes(r, deployment) ?? {})}
  return r
}

function vmAttributes(deployment: DeploymentContext, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const all: Record<string, unknown> = {region: deployment.placement.region, spot: deployment.placement.spot, vmType: deployment.placement.vmType, diskSizeGb: deployment.spec.hardware.diskSizeGb, ...extra}
  // As the engine does: undefined attributes are dropped.
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined))
}

describe('aws provider: EC2 (security group, key pair, instance) against the fake', function () {
  let rigs: Rigs
  let provider: AwsProvider
  const dirs = new StateDirs()

  before(async () => {
    rigs = await startRigs()
  })
  after(async () => {
    await stopRigs(rigs)
  })
  beforeEach(() => {
    provider = makeProvider(awsCredential('aws', rigs))
  })
  afterEach(async () => {
    await provider.close()
    await rigs.fake.reset()
    dirs.cleanup()
  })

  /** Identity, network and key pair of a deployment, as state would record them. */
  async function prerequisites(deployment: DeploymentContext, p = provider): Promise<Record<string, ResourceRecord>> {
    const records: Record<string, ResourceRecord> = {}
    for (const [kind, attributes] of [['identity', {buckets: {}}], ['network', {ingress: 'ssh'}], ['sshkey', {algorithm: 'ed25519'}]] as const) {
      const r = desired(deployment, kind, attributes, p)
      const actual = await kindOps(p).create(r, callOf(deployment, records))
      records[r.address] = recordOf(r.address, kind, r.name, actual)
    }
    return records
  }

  async function launch(deployment: DeploymentContext, token = 'tok-0001', p = provider, records?: Record<string, ResourceRecord>) {
    const recs = records ?? (await prerequisites(deployment, p))
    const r = desired(deployment, 'vm', vmAttributes(deployment), p)
    const call = callOf(deployment, recs, token)
    const actual = await kindOps(p).create(r, call)
    return {actual, records: {...recs, [r.address]: recordOf(r.address, 'vm', r.name, actual, {token})}, resource: r, call}
  }

  describe('security group', () => {
    it('SSH in only, tagged; read by name when state lost it; delete confirmed', async () => {
      const deployment = deploymentOf(dirs.make())
      const r = desired(deployment, 'network', {ingress: 'ssh'}, provider)
      assert.deepEqual(r.attributes, {ingress: 'ssh', region: 'us-east-1', sshAllowFrom: ['0.0.0.0/0']}, 'anywhere by default: host keys are pinned, logins key-only')
      const actual = await kindOps(provider).create(r, callOf(deployment))
      const sg = rigs.fake.state.securityGroups.get(actual.id)!
      assert.equal(sg.groupName, ec2Name(deployment.deploymentId))
      assert.equal(sg.tags['anycloud-deployment'], deployment.deploymentId)
      assert.deepEqual(sg.ingress.map((i) => [i.ipProtocol, i.fromPort, i.toPort, i.ipRanges.map((x) => x.cidrIp)]), [['tcp', 22, 22, ['0.0.0.0/0']]])
      const read = await kindOps(provider).read({address: r.address, kind: 'network', name: r.name}, callOf(deployment))
      assert.deepEqual(read?.attributes, r.attributes)
      assert.equal(read?.id, actual.id)
      const again = await kindOps(provider).create(r, callOf(deployment))
      assert.equal(again.id, actual.id, 'a replayed create adopts')
      await kindOps(provider).delete(recordOf(r.address, 'network', r.name, actual), callOf(deployment))
      assert.equal(rigs.fake.state.securityGroups.has(actual.id), false)
      await kindOps(provider).delete(recordOf(r.address, 'network', r.name, actual), callOf(deployment))
    })
  })

  describe('sshAllowFrom', () => {
    it('the credential\'s CIDR blocks, or the profile\'s over them, are the only SSH sources; read back for the plan', async () => {
      const narrowed = makeProvider(awsCredential('aws', rigs, {sshAllowFrom: ['203.0.113.0/24']}))
      try {
        const deployment = deploymentOf(dirs.make())
        const r = desired(deployment, 'network', {ingress: 'ssh'}, narrowed)
        assert.deepEqual(r.attributes.sshAllowFrom, ['203.0.113.0/24'])
        const actual = await kindOps(narrowed).create(r, callOf(deployment))
        const sg = rigs.fake.state.securityGroups.get(actual.id)!
        assert.deepEqual(sg.ingress.map((i) => [i.ipProtocol, i.fromPort, i.toPort, i.ipRanges.map((x) => x.cidrIp)]), [['tcp', 22, 22, ['203.0.113.0/24']]])
        const read = await kindOps(narrowed).read({address: r.address, kind: 'network', name: r.name}, callOf(deployment))
        assert.deepEqual(read?.attributes, r.attributes, 'what the group allows is read back: a changed list shows in the plan')

        const own = deploymentOf(dirs.make(), {deploymentId: 'acme-train-def456', profile: {sshAllowFrom: ['198.51.100.7/32', '192.0.2.0/24']}})
        const p = desired(own, 'network', {ingress: 'ssh'}, narrowed)
        assert.deepEqual(p.attributes.sshAllowFrom, ['192.0.2.0/24', '198.51.100.7/32'], 'the profile\'s list wins over the credential\'s')
        const made = await kindOps(narrowed).create(p, callOf(own))
        assert.deepEqual(rigs.fake.state.securityGroups.get(made.id)!.ingress.flatMap((i) => i.ipRanges.map((x) => x.cidrIp)).sort(), ['192.0.2.0/24', '198.51.100.7/32'])
      } finally {
        await narrowed.close()
      }
    })
  })

  describe('key pair', () => {
    it('imports a generated key; the private key is only in a 0600 file under <stateDir>/keys, never in outputs', async () => {
      const stateDir = dirs.make()
      const deployment = deploymentOf(stateDir)
      const r = desired(deployment, 'sshkey', {algorithm: 'ed25519'}, provider)
      const actual = await kindOps(provider).create(r, callOf(deployment))
      const file = join(stateDir, 'keys', deployment.deploymentId)
      assert.equal(actual.outputs?.privateKeyPath, file)
      assert.equal(statSync(file).mode & 0o777, 0o600)
      assert.equal(statSync(join(stateDir, 'keys')).mode & 0o777, 0o700)
      assert.match(readFileSync(file, 'utf8'), /BEGIN OPENSSH PRIVATE KEY/)
      assert.ok(!allStrings(actual).some((s) => /PRIVATE KEY/.test(s)), 'no private key in outputs')
      const kp = [...rigs.fake.state.keyPairs.values()][0]
      assert.equal(kp.keyName, ec2Name(deployment.deploymentId))
      assert.equal(kp.tags['anycloud-deployment'], deployment.deploymentId)
      assert.ok(sameKey(kp.publicKey, String(actual.outputs?.publicKey)))
      assert.equal(actual.outputs?.fingerprint, fingerprintSha256(String(actual.outputs?.publicKey)))

      const replay = await kindOps(provider).create(r, callOf(deployment))
      assert.equal(replay.outputs?.publicKey, actual.outputs?.publicKey)
      assert.equal(rigs.fake.calls('ImportKeyPair').length, 1, 'no second import')
      assert.ok(await kindOps(provider).read({address: r.address, kind: 'sshkey', name: r.name}, callOf(deployment)))

      // Without the private key here, the key pair is useless: read says absent, create replaces it.
      rmSync(file)
      assert.equal(await kindOps(provider).read({address: r.address, kind: 'sshkey', name: r.name}, callOf(deployment)), null)
      const fresh = await kindOps(provider).create(r, callOf(deployment))
      assert.notEqual(fresh.outputs?.publicKey, actual.outputs?.publicKey)
      assert.ok(existsSync(file))

      await kindOps(provider).delete(recordOf(r.address, 'sshkey', r.name, fresh), callOf(deployment))
      assert.equal(rigs.fake.state.keyPairs.size, 0)
      assert.equal(existsSync(file), false)
    })
  })

  describe('instance', () => {
    it('RunInstances: IMDSv2 required with hop limit 1, ClientToken, spot, encrypted gp3 root, tags, instance profile, Ubuntu 24.04, pinned host key in user data', async () => {
      const stateDir = dirs.make()
      const deployment = deploymentOf(stateDir, {profile: {spot: true, diskSizeGb: 40}, placement: {spot: true}})
      const {actual, resource} = await launch(deployment, 'tok-imds')
      const inst = rigs.fake.state.instances.get(actual.id)!
      assert.equal(inst.metadataOptions.httpTokens, 'required')
      assert.equal(inst.metadataOptions.httpPutResponseHopLimit, 1)
      assert.equal(inst.clientToken, 'tok-imds')
      assert.equal(inst.market, 'spot')
      assert.equal(inst.instanceType, 't3.micro')
      assert.equal(inst.iamInstanceProfile?.name, iamName(`anycloud-${deployment.deploymentId}`))
      assert.equal(inst.keyName, ec2Name(deployment.deploymentId))
      const [vol] = inst.volumeIds.map((v) => rigs.fake.state.volumes.get(v)!)
      assert.deepEqual([vol.volumeType, vol.size, vol.encrypted, vol.deleteOnTermination], ['gp3', 40, true, true])
      assert.equal(vol.tags['anycloud-deployment'], deployment.deploymentId)
      for (const k of ['anycloud-managed', 'anycloud-project', 'anycloud-deployment', 'anycloud-address']) assert.ok(inst.tags[k], k)
      assert.equal(inst.tags['anycloud-address'], 'train.vm')
      const call = rigs.fake.calls('RunInstances')[0]
      const image = rigs.fake.calls('DescribeImages')[0]
      assert.equal(image.params['Owner.1'], CANONICAL_OWNER)
      assert.match(call.params.ImageId, /^ami-/)
      const images = (await import('../../helpers/fake-aws/index.js')).imagesFor('us-east-1')
      assert.match(images.find((i) => i.imageId === call.params.ImageId)!.name, /noble-24\.04-amd64-server-20250115$/, 'the newest 24.04 image')

      // The host key: generated here, sent through cloud-init, and only its public half kept.
      const cloudInit = parseCloudInit(inst.userData ?? '')
      const sent = cloudInit.hostKeys.ed25519!
      assert.ok(sameKey(sent.publicKey!, String(actual.outputs?.hostKey)))
      assert.equal(actual.outputs?.hostKeyFingerprint, fingerprintSha256(String(actual.outputs?.hostKey)))
      assert.ok(!allStrings(actual).some((s) => /PRIVATE KEY/.test(s)))
      assert.deepEqual(readdirSync(join(stateDir, 'keys')).filter((f) => f.includes('.host-')), [], 'host key files removed once created')
      assert.equal(actual.outputs?.address, inst.publicIpAddress)
      assert.deepEqual(actual.attributes, resource.attributes)
    })

    it('picks arm64 images for Graviton types and the catalog\'s instance type for a gpuType', async () => {
      const deployment = deploymentOf(dirs.make(), {profile: {hardware: {kind: 'vm', vmType: 't4g.small'}}, placement: {vmType: 't4g.small'}})
      const {actual} = await launch(deployment)
      assert.equal(rigs.fake.state.instances.get(actual.id)!.architecture, 'arm64')
      const gpu = deploymentOf(dirs.make(), {profile: {hardware: {kind: 'gpu', gpuType: 'a100:8', name: 'a100', count: 8}}, placement: {vmType: undefined}})
      assert.equal(provider.desiredAttributes(desired(gpu, 'vm', {}, provider), gpu).instanceType, 'p4d.24xlarge')
      const t4 = deploymentOf(dirs.make(), {profile: {hardware: {kind: 'gpu', gpuType: 't4', name: 't4', count: 1}}, placement: {vmType: undefined}})
      assert.equal(provider.desiredAttributes(desired(t4, 'vm', {}, provider), t4).instanceType, 'g4dn.xlarge')
    })

    it('a lost RunInstances response is retried with the same ClientToken: exactly one instance', async () => {
      const deployment = deploymentOf(dirs.make())
      const records = await prerequisites(deployment)
      rigs.fake.faults.loseResponse('RunInstances')
      const {actual} = await launch(deployment, 'tok-lost', provider, records)
      const calls = rigs.fake.calls('RunInstances')
      assert.equal(calls.length, 2, 'the SDK retried')
      assert.equal(calls[0].invocationId, calls[1].invocationId)
      assert.ok(calls.every((c) => c.params.ClientToken === 'tok-lost'))
      assert.equal(rigs.fake.state.instances.size, 1)
      assert.equal([...rigs.fake.state.instances.values()][0].instanceId, actual.id)
    })

    it('a re-run after a crash (same intent token, fresh process) adopts the instance instead of launching another', async () => {
      const deployment = deploymentOf(dirs.make())
      const first = await launch(deployment, 'tok-crash')
      const again = makeProvider(awsCredential('aws', rigs))
      try {
        const r = desired(deployment, 'vm', vmAttributes(deployment), again)
        const pendingRecords = {...first.records}
        delete pendingRecords['train.vm']
        // What a refresh sees for the pending intent: the instance, found by its tags.
        const read = await kindOps(again).read({address: 'train.vm', kind: 'vm', name: r.name, record: {...first.records['train.vm'], status: 'pending', id: r.name}}, callOf(deployment, pendingRecords))
        assert.equal(read?.id, first.actual.id)
        const adopted = await kindOps(again).create(r, callOf(deployment, pendingRecords, 'tok-crash'))
        assert.equal(adopted.id, first.actual.id)
        assert.equal(rigs.fake.calls('RunInstances').length, 1)
        assert.equal(adopted.outputs?.hostKey, first.actual.outputs?.hostKey, 'the host key is found again (tag)')
      } finally {
        await again.close()
      }
    })

    it('a changed parameter under the same token is shown to the user (IdempotentParameterMismatch), never a new token', async () => {
      const a = deploymentOf(dirs.make())
      await launch(a, 'tok-shared')
      // Another deployment (so no tagged instance to adopt) reusing the token with another type.
      const b = deploymentOf(dirs.make(), {deploymentId: 'acme-train-zzz999', profile: {hardware: {kind: 'vm', vmType: 't3.medium'}}, placement: {vmType: 't3.medium'}})
      await assert.rejects(launch(b, 'tok-shared'), (e: Error & {code?: string}) => {
        assert.equal(e.code, 'aws.idempotent-mismatch')
        assert.match(e.message, /IdempotentParameterMismatch/)
        return true
      })
      assert.ok(rigs.fake.calls('RunInstances').every((c) => c.params.ClientToken === 'tok-shared'))
      assert.equal([...rigs.fake.state.instances.values()].filter((i) => i.state !== 'terminated').length, 1)

      // The same deployment asking for another type under its live instance: refused too.
      const changed = {...a, spec: {...a.spec, hardware: {...a.spec.hardware, request: {kind: 'vm' as const, vmType: 't3.medium'}}}, placement: {...a.placement, vmType: 't3.medium'}}
      await assert.rejects(launch(changed, 'tok-shared-2'), /refusing to adopt/)
    })

    it('capacity and quota errors are CapacityError (the engine moves to the next zone); another zone works', async () => {
      const deployment = deploymentOf(dirs.make(), {placement: {zone: 'us-east-1a'}})
      const records = await prerequisites(deployment)
      rigs.fake.faults.insufficientCapacity({availabilityZone: 'us-east-1a'})
      await assert.rejects(launch(deployment, 'tok-cap', provider, records), (e) => e instanceof CapacityError && /InsufficientInstanceCapacity/.test(e.message))
      const other = {...deployment, placement: {...deployment.placement, zone: 'us-east-1b'}}
      const {actual} = await launch(other, 'tok-cap', provider, records)
      assert.equal(rigs.fake.state.instances.get(actual.id)!.availabilityZone, 'us-east-1b')

      rigs.fake.faults.clearAll()
      rigs.fake.faults.vcpuLimitExceeded()
      const quota = deploymentOf(dirs.make(), {deploymentId: 'acme-train-q00001'})
      await assert.rejects(launch(quota, 'tok-quota'), (e) => e instanceof CapacityError && /VcpuLimitExceeded/.test(e.message))
    })

    it('RunInstances is retried while a fresh instance profile propagates, within a bounded window', async () => {
      const deployment = deploymentOf(dirs.make())
      const records = await prerequisites(deployment)
      rigs.fake.faults.iamPropagation({failures: 3})
      const {actual} = await launch(deployment, 'tok-iam', provider, records)
      assert.ok(actual.id)
      assert.equal(rigs.fake.calls('RunInstances').length, 4)

      const stuck = deploymentOf(dirs.make(), {deploymentId: 'acme-train-iam999'})
      const stuckRecords = await prerequisites(stuck)
      rigs.fake.iamPropagationDelayMs = 3_600_000
      const bounded = makeProvider(awsCredential('aws', rigs), {timing: {iamPropagationTimeoutMs: 30}})
      try {
        await assert.rejects(launch(stuck, 'tok-iam-2', bounded, stuckRecords), (e: Error & {code?: string; suggestions?: string[]}) => {
          assert.equal(e.code, 'aws.iam-propagation')
          assert.match(e.message, /Invalid IAM Instance Profile/)
          assert.ok(e.suggestions?.some((s) => s.includes('get-instance-profile')))
          return true
        })
      } finally {
        await bounded.close()
      }
      assert.equal(rigs.fake.instancesTagged('anycloud-deployment', stuck.deploymentId).length, 0)
    })

    it('throttling is retried; a spent budget is ThrottledError; a non-retryable 4xx fails at once', async () => {
      const deployment = deploymentOf(dirs.make())
      const records = await prerequisites(deployment)
      rigs.fake.faults.throttle('DescribeInstances', {count: 2})
      await launch(deployment, 'tok-throttle', provider, records)

      rigs.fake.faults.throttle('DescribeSecurityGroups', {count: 10})
      await assert.rejects(kindOps(provider).read({address: 'train.network', kind: 'network', name: 'x', record: records['train.network']}, callOf(deployment, records)), (e) => e instanceof ThrottledError)
      assert.equal(rigs.fake.calls('DescribeSecurityGroups').filter((c) => c.errorCode === 'RequestLimitExceeded').length, 3, 'three attempts, no more')
      rigs.fake.faults.clearAll()

      const before = rigs.fake.calls('DescribeKeyPairs').length
      rigs.fake.faults.error('DescribeKeyPairs', {code: 'InvalidParameterValue', status: 400, message: 'bad'})
      await assert.rejects(kindOps(provider).read({address: 'train.sshkey', kind: 'sshkey', name: 'x', record: records['train.sshkey']}, callOf(deployment, records)), /InvalidParameterValue/)
      assert.equal(rigs.fake.calls('DescribeKeyPairs').length - before, 1, 'not retried')
    })

    it('a preempted spot instance reads as gone with EC2\'s reason; its workload as lost', async () => {
      const deployment = deploymentOf(dirs.make(), {profile: {spot: true}, placement: {spot: true}})
      const {actual, records} = await launch(deployment)
      await rigs.fake.preempt(actual.id)
      const read = await kindOps(provider).read({address: 'train.vm', kind: 'vm', name: deployment.deploymentId, record: records['train.vm']}, callOf(deployment, records))
      assert.equal(read?.note, 'Server.SpotInstanceTermination')
      const workload: ResourceRecord = recordOf('train.workload', 'workload', deployment.deploymentId, {id: deployment.deploymentId, attributes: {specHash: 'x'}})
      const w = await kindOps(provider).read({address: 'train.workload', kind: 'workload', name: deployment.deploymentId, record: workload}, callOf(deployment, {...records, 'train.workload': workload}))
      assert.equal(w?.phase, 'lost')
      assert.equal(await kindOps(provider).read({address: 'train.bootstrap', kind: 'bootstrap', name: deployment.deploymentId}, callOf(deployment, records)), null)
    })

    it('destroy: the instance is confirmed terminated before its security group goes; the group waits while in use', async () => {
      const deployment = deploymentOf(dirs.make())
      const {actual, records} = await launch(deployment)
      // While the instance lives, the group cannot go: bounded retries, then a clear error.
      await assert.rejects(kindOps(provider).delete(records['train.network'], callOf(deployment, records)), /DependencyViolation/)
      rigs.fake.requests = []
      await kindOps(provider).delete(records['train.vm'], callOf(deployment, records))
      assert.equal(rigs.fake.state.instances.get(actual.id)!.state, 'terminated')
      assert.ok(rigs.fake.calls('DescribeInstances').length >= 1, 'the waiter confirmed it')
      await kindOps(provider).delete(records['train.network'], callOf(deployment, records))
      await kindOps(provider).delete(records['train.sshkey'], callOf(deployment, records))
      await kindOps(provider).delete(records['train.identity'], callOf(deployment, records))
      assert.equal([...rigs.fake.state.securityGroups.values()].filter((g) => !g.isDefault).length, 0)
      assert.equal(rigs.fake.state.keyPairs.size + rigs.fake.state.roles.size + rigs.fake.state.instanceProfiles.size, 0)
      assert.equal(await kindOps(provider).read({address: 'train.vm', kind: 'vm', name: deployment.deploymentId, record: records['train.vm']}, callOf(deployment, records)).then((r) => r?.note), 'Client.UserInitiatedShutdown')
    })

    it('a VM state lost is found again by its tags', async () => {
      const deployment = deploymentOf(dirs.make())
      const {actual} = await launch(deployment)
      const read = await kindOps(provider).read({address: 'train.vm', kind: 'vm', name: deployment.deploymentId}, callOf(deployment))
      assert.equal(read?.id, actual.id)
      assert.deepEqual(read?.attributes, actual.attributes, 'attributes from the instance\'s spec tag')
    })
  })

  describe('credential', () => {
    it('checkAuth: the account; expired or revoked keys are AuthError; a wrong accountId is refused', async () => {
      assert.match(String((await provider.checkAuth()).account), /^123456789012 /)
      const wrong = makeProvider(awsCredential('aws', rigs, {accountId: '999999999999'}))
      await assert.rejects(wrong.checkAuth(), (e) => e instanceof AuthError && /not 999999999999/.test(e.message))
      await wrong.close()
      rigs.fake.addUser({accessKeyId: 'AKIAEXPIRING00000001', secretAccessKey: 'expiring'})
      rigs.fake.expireCredentials('AKIAEXPIRING00000001')
      const expired = makeProvider(awsCredential('old', rigs, {accessKeyId: 'AKIAEXPIRING00000001', secretAccessKey: 'expiring'}))
      await assert.rejects(expired.checkAuth(), (e) => e instanceof AuthError && /ExpiredToken/.test(e.message))
      await assert.rejects(kindOps(expired).read({address: 'train.vm', kind: 'vm', name: 'x', record: recordOf('train.vm', 'vm', 'x', {id: 'i-0123456789abcdef0', attributes: {}})}, callOf(deploymentOf(dirs.make()))), (e) => e instanceof AuthError)
      await expired.close()
      const unknown = makeProvider(awsCredential('bad', rigs, {accessKeyId: 'AKIAUNKNOWN000000001', secretAccessKey: 'nope'}))
      await assert.rejects(unknown.checkAuth(), (e) => e instanceof AuthError)
      await unknown.close()
    })

    it('a named profile (fromIni) authenticates; a missing profile is an AuthError; production retries are standard mode, 5 attempts', async () => {
      const dir = dirs.make()
      const file = join(dir, 'credentials')
      writeFileSync(file, `[anycloud-test]\naws_access_key_id = ${KEYS.accessKeyId}\naws_secret_access_key = ${KEYS.secretAccessKey}\n`)
      const env = withEnv({AWS_SHARED_CREDENTIALS_FILE: file, AWS_CONFIG_FILE: join(dir, 'config'), AWS_PROFILE: undefined, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined})
      env.apply()
      try {
        const base = awsCredential('named', rigs)
        const spec = {...base.spec, profile: 'anycloud-test'} as Record<string, unknown>
        delete spec.accessKeyId
        delete spec.secretAccessKey
        const named = new AwsProvider({credential: {...base, spec: spec as never}, configDir: dir, credentials: {}, env: {}, providerFor: async () => provider})
        assert.match(String((await named.checkAuth()).account), /user\/anycloud-test/)
        const call = rigs.fake.calls('GetCallerIdentity').at(-1)!
        assert.equal(call.maxAttempts, DEFAULT_MAX_ATTEMPTS, 'the bounded budget of the production client')
        await named.close()
        const missing = new AwsProvider({credential: {...base, spec: {...spec, profile: 'no-such-profile'} as never}, configDir: dir, credentials: {}, env: {}, providerFor: async () => provider})
        await assert.rejects(missing.checkAuth(), (e) => e instanceof AuthError && /no-such-profile|credentials/i.test(e.message))
        await missing.close()
      } finally {
        env.restore()
      }
    })

    it('prepare learns the zones EC2 lists for the account (fallback: the region table)', async () => {
      assert.deepEqual(provider.zones('us-east-1'), ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1d', 'us-east-1e', 'us-east-1f'])
      await provider.prepare(deploymentOf(dirs.make()))
      assert.deepEqual(provider.zones('us-east-1'), ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1d', 'us-east-1f'])
    })
  })
})
