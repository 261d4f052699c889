import assert from 'node:assert/strict'

import {CreateRoleCommand, IAMClient} from '@aws-sdk/client-iam'

import type {DesiredResource} from '../../../src/model/resources.js'
import {EC2_TRUST_POLICY, IAM_NAME_MAX, iamName, ROLE_POLICY_NAME, type AwsProvider} from '../../../src/providers/aws/index.js'
import {sdkConfig} from '../../helpers/fake-aws/index.js'
import {allStrings, awsCredential, callOf, deploymentOf, KEYS, makeProvider, recordOf, startRigs, StateDirs, stopRigs, type Rigs} from './helpers.js'
import {kindOps} from '../../../src/providers/provider.js'

// The longest deployment id anycloud makes: 24-char project, 24-char profile, 6-char suffix.
const LONG_ID = `${'p'.repeat(24)}-${'q'.repeat(24)}-abc123`

function identityResource(deploymentId: string, buckets: Record<string, string>): DesiredResource {
  return {address: 'train.identity', profile: 'train', kind: 'identity', credential: 'aws', provider: 'aws', name: `anycloud-${deploymentId}`, dependsOn: [], attributes: {buckets}}
}

describe('aws provider: IAM identity (role, instance profile, inline policy)', function () {
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

  it('names: anycloud-<id> when it fits; a deterministic hashed name of at most 64 characters otherwise', () => {
    assert.equal(iamName('anycloud-acme-train-abc123'), 'anycloud-acme-train-abc123')
    const longest = `anycloud-${LONG_ID}`
    assert.equal(longest.length, 65, 'the longest deployment id makes a 65-character name')
    const n = iamName(longest)
    assert.ok(n.length <= IAM_NAME_MAX, n)
    assert.equal(n, iamName(longest), 'deterministic')
    assert.notEqual(n, iamName(`anycloud-${LONG_ID.replace('abc123', 'abc124')}`), 'distinct ids, distinct names')
    assert.match(n, /^anycloud-p+-q+-[0-9a-f]{8}$/)
  })

  it('creates role + instance profile + a policy naming exactly the buckets and actions (no wildcard), tagged', async () => {
    const deployment = deploymentOf(dirs.make(), {deploymentId: `${LONG_ID}`, profile: {spot: true, inputBucket: 'training-data', outputBucket: 'results'}})
    const resource = identityResource(LONG_ID, {input: 'training-data', output: 'results', checkpoint: LONG_ID})
    const actual = await kindOps(provider).create(resource, callOf(deployment))
    const name = iamName(resource.name)
    assert.ok(name.length <= 64)
    const role = rigs.fake.state.roles.get(name)!
    assert.ok(role, 'role created')
    assert.deepEqual(JSON.parse(role.assumeRolePolicyDocument), JSON.parse(EC2_TRUST_POLICY))
    assert.equal(role.tags['anycloud-managed'], 'true')
    assert.equal(role.tags['anycloud-deployment'], LONG_ID)
    assert.equal(role.tags['anycloud-address'], 'train.identity')
    const profile = rigs.fake.state.instanceProfiles.get(name)!
    assert.deepEqual(profile.roles, [name])
    assert.equal(profile.tags['anycloud-deployment'], LONG_ID)
    assert.equal(actual.outputs?.instanceProfileName, name)

    const policy = rigs.fake.rolePolicy(name, ROLE_POLICY_NAME) as {Statement: Array<{Action: string[]; Resource: string[]}>}
    const byAction = new Map<string, string[]>()
    for (const s of policy.Statement) for (const a of s.Action) byAction.set(a, [...(byAction.get(a) ?? []), ...s.Resource])
    assert.deepEqual(byAction.get('s3:ListBucket')?.sort(), ['arn:aws:s3:::results', 'arn:aws:s3:::training-data', `arn:aws:s3:::${LONG_ID}`].sort())
    assert.deepEqual(byAction.get('s3:GetObject')?.sort(), ['arn:aws:s3:::results/*', 'arn:aws:s3:::training-data/*', `arn:aws:s3:::${LONG_ID}/*`].sort())
    assert.deepEqual(byAction.get('s3:PutObject')?.sort(), ['arn:aws:s3:::results/*', `arn:aws:s3:::${LONG_ID}/*`].sort())
    assert.deepEqual(byAction.get('s3:DeleteObject')?.sort(), ['arn:aws:s3:::results/*', `arn:aws:s3:::${LONG_ID}/*`].sort())
    assert.deepEqual([...byAction.keys()].sort(), ['s3:DeleteObject', 's3:GetObject', 's3:ListBucket', 's3:PutObject'])
    const wildcards = allStrings(policy).filter((s) => s === '*' || /^arn:aws:s3:::\*/.test(s) || /:\*$/.test(s))
    assert.deepEqual(wildcards, [], 'no `*` action or resource')
  })

  it('buckets on another credential stay out of the policy (they get minted credentials)', async () => {
    const deployment = deploymentOf(dirs.make(), {profile: {inputBucket: 'shared', inputStorage: {credential: 'other-account'}, outputBucket: 'results'}})
    await kindOps(provider).create(identityResource(deployment.deploymentId, {input: 'shared', output: 'results'}), callOf(deployment))
    const text = JSON.stringify(rigs.fake.rolePolicy(iamName(`anycloud-${deployment.deploymentId}`), ROLE_POLICY_NAME))
    assert.ok(!text.includes('shared'))
    assert.ok(text.includes('results'))
  })

  it('reads back (also by name when state lost it), updates the policy in place, and a replayed create adopts', async () => {
    const deployment = deploymentOf(dirs.make(), {profile: {outputBucket: 'results'}})
    const resource = identityResource(deployment.deploymentId, {output: 'results'})
    const created = await kindOps(provider).create(resource, callOf(deployment))
    const read = await kindOps(provider).read({address: resource.address, kind: 'identity', name: resource.name}, callOf(deployment))
    assert.deepEqual(read?.attributes, {buckets: {output: 'results'}})
    assert.equal(read?.id, created.id)

    const again = await kindOps(provider).create(resource, callOf(deployment))
    assert.equal(again.id, created.id)
    assert.equal(rigs.fake.calls('CreateRole').length, 1, 'no second CreateRole')

    const record = recordOf(resource.address, 'identity', resource.name, created)
    await kindOps(provider).update({...resource, attributes: {buckets: {output: 'results-v2'}}}, record, callOf(deployment))
    assert.ok(JSON.stringify(rigs.fake.rolePolicy(iamName(resource.name), ROLE_POLICY_NAME)).includes('results-v2'))
  })

  it('an interrupted create (role without its instance profile) reads as absent and the next create completes it', async () => {
    const deployment = deploymentOf(dirs.make(), {profile: {outputBucket: 'results'}})
    const resource = identityResource(deployment.deploymentId, {output: 'results'})
    rigs.fake.faults.error('CreateInstanceProfile', {code: 'ServiceFailure', status: 500, message: 'boom', count: 10})
    await assert.rejects(kindOps(provider).create(resource, callOf(deployment)))
    assert.equal(rigs.fake.state.roles.size, 0, 'a failed create removes the role it made')
    rigs.fake.faults.clearAll()
    await kindOps(provider).create(resource, callOf(deployment))
    assert.ok(await kindOps(provider).read({address: resource.address, kind: 'identity', name: resource.name}, callOf(deployment)))
  })

  it('refuses a role of the same name that anycloud did not create for this deployment', async () => {
    const deployment = deploymentOf(dirs.make())
    const iam = new IAMClient(sdkConfig(rigs.fake, {credentials: KEYS}))
    await iam.send(new CreateRoleCommand({RoleName: `anycloud-${deployment.deploymentId}`, AssumeRolePolicyDocument: EC2_TRUST_POLICY}))
    iam.destroy()
    await assert.rejects(kindOps(provider).create(identityResource(deployment.deploymentId, {}), callOf(deployment)), /not anycloud's/)
    await assert.rejects(kindOps(provider).read({address: 'train.identity', kind: 'identity', name: `anycloud-${deployment.deploymentId}`}, callOf(deployment)), /not anycloud's/)
    const messages: string[] = []
    await kindOps(provider).delete(recordOf('train.identity', 'identity', `anycloud-${deployment.deploymentId}`, {id: 'x', attributes: {}}), {...callOf(deployment), progress: (m) => messages.push(m)})
    assert.ok(rigs.fake.state.roles.has(`anycloud-${deployment.deploymentId}`), 'kept')
    assert.ok(messages.some((m) => /kept IAM role/.test(m)), messages.join('\n'))
  })

  it('delete: the instance profile goes first (role removed from it), then the policy and the role; confirmed', async () => {
    const deployment = deploymentOf(dirs.make(), {profile: {outputBucket: 'results'}})
    const resource = identityResource(deployment.deploymentId, {output: 'results'})
    const created = await kindOps(provider).create(resource, callOf(deployment))
    rigs.fake.requests = []
    await kindOps(provider).delete(recordOf(resource.address, 'identity', resource.name, created), callOf(deployment))
    const order = rigs.fake.requests.filter((r) => r.service === 'iam' && !r.action.startsWith('Get') && !r.action.startsWith('List')).map((r) => r.action)
    assert.deepEqual(order, ['RemoveRoleFromInstanceProfile', 'DeleteInstanceProfile', 'DeleteRolePolicy', 'DeleteRole'])
    assert.equal(rigs.fake.state.roles.size, 0)
    assert.equal(rigs.fake.state.instanceProfiles.size, 0)
    // Deleting what is already gone is success.
    await kindOps(provider).delete(recordOf(resource.address, 'identity', resource.name, created), callOf(deployment))
  })
})
