import assert from 'node:assert/strict'

import {AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, IAMClient, ListRolesCommand, PutRolePolicyCommand, UpdateRoleCommand} from '@aws-sdk/client-iam'

import type {DeploymentContext, DesiredResource, ResourceRecord} from '../../../src/model/resources.js'
import {EC2_TRUST_POLICY, iamName, ROLE_POLICY_NAME, type AwsProvider} from '../../../src/providers/aws/index.js'
import {iamPath, listIdentities, rolePolicyDocument} from '../../../src/providers/aws/identity.js'
import {ownershipTags, type ReadRequest} from '../../../src/providers/provider.js'
import {S3Client, PutObjectCommand} from '@aws-sdk/client-s3'

import {sdkConfig} from '../../helpers/fake-aws/index.js'
import {s3ClientConfig} from '../../helpers/storage/s3-emulator.js'
import {awsCredential, callOf, deploymentOf, KEYS, makeProvider, recordOf, startRigs, StateDirs, stopRigs, type Rigs} from './helpers.js'
import {kindOps} from '../../../src/providers/provider.js'

/** The per-deployment resources refresh reads without a machine: identity, security group, key pair. */
const KINDS = ['identity', 'network', 'sshkey'] as const
type Kind = (typeof KINDS)[number]

function resourceOf(deployment: DeploymentContext, kind: Kind, provider: AwsProvider): DesiredResource {
  const profile = deployment.spec.name
  const attributes: Record<string, unknown> = kind === 'identity' ? {buckets: {output: `out-${profile}`}} : kind === 'network' ? {ingress: 'ssh'} : {algorithm: 'ed25519'}
  const r: DesiredResource = {address: `${profile}.${kind}`, profile, kind, credential: 'aws', provider: 'aws', name: `anycloud-${deployment.deploymentId}`, dependsOn: [], attributes}
  r.attributes = {...r.attributes, ...(provider.desiredAttributes(r, deployment) ?? {})}
  return r
}

describe('aws refresh: steady reads', function () {
  this.timeout(120_000)
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
    await rigs.s3.reset()
    dirs.cleanup()
  })

  describe('aws refresh: IAM identities listed once per project path, not read per deployment', () => {
    /** `n` converged deployments (identity, security group, key pair each), and the read requests of their steady plan. */
    async function converged(n: number, kinds: readonly Kind[] = KINDS): Promise<{requests: ReadRequest[]; created: Map<string, Record<string, unknown>>}> {
      const requests: ReadRequest[] = []
      const created = new Map<string, Record<string, unknown>>()
      const stateDir = dirs.make()
      for (let i = 0; i < n; i++) {
        const deployment = deploymentOf(stateDir, {deploymentId: `acme-p${i}-abc123`, profile: {name: `p${i}`, outputBucket: `out-p${i}`}})
        const records: Record<string, ResourceRecord> = {}
        for (const kind of kinds) {
          const r = resourceOf(deployment, kind, provider)
          const actual = await kindOps(provider).create(r, callOf(deployment))
          records[r.address] = recordOf(r.address, kind, r.name, actual)
          created.set(r.address, actual.attributes)
        }
        for (const kind of kinds) {
          const record = records[`p${i}.${kind}`]
          requests.push({lookup: {address: record.address, kind, name: record.name, record}, ctx: callOf(deployment, records)})
        }
      }
      return {requests, created}
    }

    async function steadyReads(requests: ReadRequest[]): Promise<string[]> {
      rigs.fake.requests = []
      const results = await provider.readMany(requests)
      for (const [i, r] of results.entries()) {
        assert.ok('value' in r, `read of ${requests[i].lookup.address} failed: ${'error' in r ? String(r.error) : ''}`)
        assert.ok(r.value, `${requests[i].lookup.address} found`)
      }
      return rigs.fake.requests.map((r) => `${r.service}:${r.action}`).sort()
    }

    it('roles and instance profiles are made under /anycloud/<project>/; the role description names the deployment and its policy\'s buckets', async () => {
      const deployment = deploymentOf(dirs.make(), {profile: {outputBucket: 'results'}})
      const r = resourceOf(deployment, 'identity', provider)
      await kindOps(provider).create({...r, attributes: {buckets: {output: 'results', checkpoint: deployment.deploymentId}}}, callOf(deployment))
      const name = iamName(r.name)
      assert.equal(iamPath('acme'), '/anycloud/acme/')
      assert.equal(rigs.fake.state.roles.get(name)?.path, '/anycloud/acme/')
      assert.equal(rigs.fake.state.instanceProfiles.get(name)?.path, '/anycloud/acme/')
      assert.match(rigs.fake.state.roles.get(name)!.arn, /:role\/anycloud\/acme\/anycloud-acme-train-abc123$/)
      assert.equal(rigs.fake.state.roles.get(name)?.description, `anycloud deployment ${deployment.deploymentId} buckets={"output":"results","checkpoint":"${deployment.deploymentId}"}`)
    })

    it('a steady read of 1 and of 12 deployments makes the same calls: one ListRoles, ListInstanceProfiles, DescribeSecurityGroups, DescribeKeyPairs; no IAM Get call', async () => {
      const one = await converged(1)
      const callsForOne = await steadyReads(one.requests)
      await rigs.fake.reset()
      const many = await converged(12)
      const callsForMany = await steadyReads(many.requests)
      assert.deepEqual(callsForMany, callsForOne)
      assert.deepEqual(callsForOne, ['ec2:DescribeKeyPairs', 'ec2:DescribeSecurityGroups', 'iam:ListInstanceProfiles', 'iam:ListRoles'])
      // What the listing reads is what the create returned: a steady plan has nothing to change.
      const results = await provider.readMany(many.requests)
      for (const [i, r] of results.entries()) assert.deepEqual('value' in r && r.value?.attributes, many.created.get(many.requests[i].lookup.address), many.requests[i].lookup.address)
      const list = rigs.fake.calls('ListRoles').at(-1)!
      assert.equal(list.params.PathPrefix, '/anycloud/acme/')
    })

    it('the listing follows IAM\'s pages (Marker while IsTruncated), and IAM\'s listings carry no tags', async () => {
      await converged(5, ['identity'])
      rigs.fake.requests = []
      const listed = await listIdentities({clients: provider.clients, credential: 'aws'}, 'acme', 2)
      assert.deepEqual([...listed.roles.keys()].sort(), [0, 1, 2, 3, 4].map((i) => `anycloud-acme-p${i}-abc123`))
      assert.deepEqual([...listed.profiles.keys()].sort(), [...listed.roles.keys()].sort())
      const pages = rigs.fake.calls('ListRoles')
      assert.deepEqual(pages.map((p) => [p.params.MaxItems, p.params.Marker !== undefined]), [['2', false], ['2', true], ['2', true]])
      assert.equal(new Set(pages.map((p) => p.params.Marker)).size, 3, 'each page asks with the Marker the previous one gave')
      const iam = new IAMClient(sdkConfig(rigs.fake, {credentials: KEYS}))
      try {
        const out = await iam.send(new ListRolesCommand({PathPrefix: '/anycloud/'}))
        assert.equal(out.Roles?.length, 5)
        assert.ok(out.Roles?.every((r) => r.Tags === undefined), 'ListRoles returns no Tags (GetRole does)')
        assert.equal((await iam.send(new ListRolesCommand({PathPrefix: '/other/'}))).Roles?.length, 0, 'PathPrefix filters')
      } finally {
        iam.destroy()
      }
    })

    it('an updated policy reads back from the listing; a run stopped between the policy and the description reads as the old buckets (so it is updated again)', async () => {
      const {requests} = await converged(1, ['identity'])
      const [request] = requests
      const deployment = request.ctx.deployment
      const record = request.lookup.record!
      await kindOps(provider).update({...resourceOf(deployment, 'identity', provider), attributes: {buckets: {output: 'out-v2'}}}, record, callOf(deployment))
      let [read] = await provider.readMany(requests)
      assert.deepEqual('value' in read && read.value?.attributes, {buckets: {output: 'out-v2'}})
      const iam = new IAMClient(sdkConfig(rigs.fake, {credentials: KEYS}))
      try {
        await iam.send(new PutRolePolicyCommand({RoleName: record.name, PolicyName: ROLE_POLICY_NAME, PolicyDocument: rolePolicyDocument({output: 'out-v3'})!}))
      } finally {
        iam.destroy()
      }
      ;[read] = await provider.readMany(requests)
      assert.deepEqual('value' in read && read.value?.attributes, {buckets: {output: 'out-v2'}}, 'the description still names the buckets anycloud last finished writing')
    })

    it('a role made before roles had a path is still recognised when state records it (read by name), and nothing is replaced', async () => {
      const deployment = deploymentOf(dirs.make(), {profile: {outputBucket: 'results'}})
      const name = `anycloud-${deployment.deploymentId}`
      const tags = [{Key: 'anycloud-managed', Value: 'true'}, {Key: 'anycloud-project', Value: 'acme'}, {Key: 'anycloud-deployment', Value: deployment.deploymentId}, {Key: 'anycloud-address', Value: 'train.identity'}]
      const iam = new IAMClient(sdkConfig(rigs.fake, {credentials: KEYS}))
      try {
        // What earlier versions made: no Path (so `/`), a plain description, the policy, tags.
        await iam.send(new CreateRoleCommand({RoleName: name, AssumeRolePolicyDocument: EC2_TRUST_POLICY, Description: `anycloud deployment ${deployment.deploymentId}`, Tags: tags}))
        await iam.send(new PutRolePolicyCommand({RoleName: name, PolicyName: ROLE_POLICY_NAME, PolicyDocument: rolePolicyDocument({output: 'results'})!}))
        await iam.send(new CreateInstanceProfileCommand({InstanceProfileName: name, Tags: tags}))
        await iam.send(new AddRoleToInstanceProfileCommand({InstanceProfileName: name, RoleName: name}))
      } finally {
        iam.destroy()
      }
      const record = recordOf('train.identity', 'identity', name, {id: name, attributes: {buckets: {output: 'results'}}})
      const withRecord: ReadRequest = {lookup: {address: record.address, kind: 'identity', name, record}, ctx: callOf(deployment, {[record.address]: record})}
      const [read] = await provider.readMany([withRecord])
      assert.ok('value' in read && read.value, 'found by name')
      assert.deepEqual(read.value.attributes, {buckets: {output: 'results'}}, 'same attributes: no update, no replace')
      assert.equal(read.value.id, name)
      // Without a record, refresh does not look it up by name (the create checks the name and adopts it).
      const [unrecorded] = await provider.readMany([{lookup: {address: record.address, kind: 'identity', name}, ctx: callOf(deployment)}])
      assert.deepEqual(unrecorded, {value: null})
      const adopted = await kindOps(provider).create({address: record.address, profile: 'train', kind: 'identity', credential: 'aws', provider: 'aws', name, dependsOn: [], attributes: {buckets: {output: 'results'}}}, callOf(deployment))
      assert.equal(adopted.id, name)
      assert.equal(rigs.fake.calls('CreateRole').length, 1, 'the old role is adopted, not made again')
    })

    it('a role under the project path whose description anycloud did not write is read the long way: its tags decide', async () => {
      const deployment = deploymentOf(dirs.make())
      const name = `anycloud-${deployment.deploymentId}`
      const iam = new IAMClient(sdkConfig(rigs.fake, {credentials: KEYS}))
      try {
        await iam.send(new CreateRoleCommand({RoleName: name, Path: '/anycloud/acme/', AssumeRolePolicyDocument: EC2_TRUST_POLICY}))
        await iam.send(new UpdateRoleCommand({RoleName: name, Description: 'someone else\'s'}))
      } finally {
        iam.destroy()
      }
      const [read] = await provider.readMany([{lookup: {address: 'train.identity', kind: 'identity', name}, ctx: callOf(deployment)}])
      assert.ok('error' in read)
      assert.match(String(read.error), /not anycloud's/)
    })

    it('a credential that may not list roles (AccessDenied on ListRoles) still reads each identity by name', async () => {
      const {requests, created} = await converged(2, ['identity'])
      rigs.fake.faults.error('ListRoles', {code: 'AccessDenied', status: 403, message: 'not allowed to iam:ListRoles', count: 10})
      rigs.fake.requests = []
      const results = await provider.readMany(requests)
      for (const [i, r] of results.entries()) assert.deepEqual('value' in r && r.value?.attributes, created.get(requests[i].lookup.address))
      assert.equal(rigs.fake.calls('GetRole').length, 2, 'one GetRole per identity, as before the listing')
    })
  })

  describe('aws refresh: buckets from one ListBuckets, HeadBucket only for names it does not show', () => {
    async function makeBuckets(names: string[]): Promise<void> {
      for (const name of names) {
        await provider.createBucket({address: 'train.bucket.output', profile: 'train', kind: 'bucket', role: 'output', credential: 'aws', provider: 'aws', name, dependsOn: [], attributes: {name, role: 'output', region: 'us-east-1'}}, {region: 'us-east-1', tags: ownershipTags('acme', 'acme-train-abc123', 'train.bucket.output')})
      }
    }

    /** The S3 requests of one batched read, as `METHOD /bucket?sub`. */
    async function batchedReads(names: string[]): Promise<{requests: string[]; results: Awaited<ReturnType<AwsProvider['readBuckets']>>}> {
      rigs.s3.requests.length = 0
      const results = await provider.readBuckets(names)
      const requests = rigs.s3.requests.map((r) => `${r.method} ${r.path.split('/').slice(0, 2).join('/')}${r.query ? `?${r.query.split('&')[0].split('=')[0]}` : ''}`)
      return {requests, results}
    }

    it('one ListBuckets for every name; no HeadBucket for a listed bucket; a name the listing does not show is looked up (absent: null)', async () => {
      await makeBuckets(['steady-a', 'steady-b', 'steady-c'])
      const {requests, results} = await batchedReads(['steady-a', 'steady-b', 'steady-c', 'not-there'])
      assert.equal(requests.filter((r) => r.startsWith('GET /?') || r === 'GET /').length, 1, `one ListBuckets: ${requests.join(', ')}`)
      assert.deepEqual(requests.filter((r) => r.startsWith('HEAD')), ['HEAD /not-there'], 'HeadBucket only for the name the listing does not show')
      assert.ok(!requests.some((r) => /list-type|max-keys/.test(r) && !r.startsWith('GET /?')), 'no object listing of a listed bucket')
      assert.deepEqual(results.at(-1), {value: null})
      for (const [i, name] of ['steady-a', 'steady-b', 'steady-c'].entries()) {
        const r = results[i]
        assert.ok('value' in r && r.value, name)
        const single = await provider.readBucket(name)
        const {empty, ...rest} = single!
        assert.equal(empty, true)
        assert.deepEqual(r.value, rest, 'the same as a single read, without `empty` (a plan does not use it)')
        assert.equal(r.value.owned, true)
      }
    })

    it('the calls per listed bucket do not include HeadBucket whatever the number of buckets; a bucket with objects reads the same', async () => {
      await makeBuckets(['one-x'])
      const one = await batchedReads(['one-x'])
      await makeBuckets(['one-y', 'one-z', 'one-w'])
      const s3 = new S3Client(s3ClientConfig(rigs.s3))
      try {
        await s3.send(new PutObjectCommand({Bucket: 'one-y', Key: 'k', Body: 'v'}))
      } finally {
        s3.destroy()
      }
      const four = await batchedReads(['one-x', 'one-y', 'one-z', 'one-w'])
      const perBucket = (requests: string[]) => requests.filter((r) => !r.startsWith('GET /?') && r !== 'GET /').map((r) => r.replace(/\/one-[a-z]/, '/B')).sort()
      assert.deepEqual(perBucket(four.requests), [...perBucket(one.requests), ...perBucket(one.requests), ...perBucket(one.requests), ...perBucket(one.requests)].sort())
      assert.ok(!four.requests.some((r) => r.startsWith('HEAD')))
      assert.ok(four.results.every((r) => 'value' in r && r.value?.owned === true))
    })

    it('without s3:ListAllMyBuckets (ListBuckets denied) each bucket is read on its own', async () => {
      await makeBuckets(['denied-a'])
      rigs.s3.faults.add({method: 'GET', path: /^\/$/, status: 403, code: 'AccessDenied', times: 5})
      const {requests, results} = await batchedReads(['denied-a', 'not-there'])
      assert.ok(results[0] && 'value' in results[0] && results[0].value?.owned === true, JSON.stringify(results[0]))
      assert.deepEqual(results[1], {value: null})
      assert.deepEqual(requests.filter((r) => r.startsWith('HEAD')).sort(), ['HEAD /denied-a', 'HEAD /not-there'])
    })
  })
})
