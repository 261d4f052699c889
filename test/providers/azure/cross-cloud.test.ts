/**
 * Cross-cloud storage (SPEC §5): an Azure VM whose output bucket lives on an AWS credential gets,
 * like the aws and ssh providers' machines, scoped short-lived STS credentials for that bucket alone
 * (minted by the AWS credential at apply time), never managed-identity access or the user's keys;
 * the VM's identity gets no Azure role for a bucket that is not on Azure.
 */
import assert from 'node:assert/strict'

import {addressOf} from '../../../src/model/resources.js'
import type {AzureProvider} from '../../../src/providers/azure/index.js'
import {startFakeAzure, type FakeAzure} from '../../helpers/fake-azure/index.js'
import {awsCredential, makeProvider as makeAwsProvider, startRigs, stopRigs, type Rigs} from '../aws/helpers.js'
import {callOf, deploymentOf, makeArmProvider, StateDirs} from './arm-helpers.js'
import {kindOps} from '../../../src/providers/provider.js'

describe('azure VM with its output bucket on AWS: scoped STS credentials', function () {
  this.timeout(120_000)
  let rigs: Rigs
  let fake: FakeAzure
  const dirs = new StateDirs()

  before(async () => {
    rigs = await startRigs()
    fake = await startFakeAzure()
  })
  after(async () => {
    await fake?.close()
    await stopRigs(rigs)
    dirs.cleanup()
  })

  it('the machine asks the AWS credential for the output remote (no instance identity); STS mints a session policy naming only that bucket', async () => {
    // Real AWS as far as STS is concerned (no S3 endpoint override), as in the aws rclone tests.
    const store = makeAwsProvider(awsCredential('store', rigs, {endpoints: {ec2: rigs.fake.url, iam: rigs.fake.url, sts: rigs.fake.url}}))
    const az = (await makeArmProvider(fake, {others: {store}})) as AzureProvider
    const deployment = deploymentOf(dirs.make(), {profile: {outputBucket: 'results', outputStorage: {credential: 'store', region: 'us-east-1'}}})
    const machine = (az as unknown as {arm: {machine: {loadStorage(c: unknown): Promise<void>; bucketRequests(c: unknown): Array<{role: string; credential: string; request: {bucket: string; role: 'output'; deploymentId: string; instanceIdentity: boolean}}>}}}).arm.machine
    await machine.loadStorage(deployment)
    const requests = machine.bucketRequests(deployment)
    assert.deepEqual(requests.map((r) => [r.role, r.credential, r.request.instanceIdentity]), [['output', 'store', false]])
    const remote = store.rcloneRemote(requests[0]!.request)
    assert.equal(remote.type, 's3')
    assert.deepEqual(remote.secretOptions, ['access_key_id', 'secret_access_key', 'session_token'])
    const secrets = await store.rcloneSecrets(requests[0]!.request)
    assert.match(secrets.access_key_id!, /^ASIA/)
    const session = rigs.fake.state.sessions.at(-1)!
    assert.ok(JSON.stringify(session.policyJson).includes('arn:aws:s3:::results'))
    assert.ok(!JSON.stringify(session.policyJson).includes('arn:aws:s3:::*'))

    // The Azure identity gets no role for a bucket that is not on Azure.
    const identity = await kindOps(az).create({address: addressOf('train', 'identity'), profile: 'train', kind: 'identity', credential: 'az', provider: 'azure', name: 'x', dependsOn: [], attributes: {buckets: {output: 'results'}}}, callOf(deployment))
    assert.deepEqual(identity.attributes, {buckets: {}})
    assert.equal(fake.roleAssignments.size, 0)
    await store.close()
  })
})
