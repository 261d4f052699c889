import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {CreateKeyPairCommand, DescribeAvailabilityZonesCommand, EC2Client} from '@aws-sdk/client-ec2'
import {stringify} from 'yaml'

import {RecordingReporter} from '../../../src/engine/events.js'
import {planChanges} from '../../../src/engine/planner.js'
import {openSession} from '../../../src/engine/session.js'
import {expectSdkError, sdkConfig} from '../../helpers/fake-aws/index.js'
import {KEYS, startRigs, stopRigs, type Rigs} from './helpers.js'

const PROFILES = 300

async function throttled(ec2: EC2Client): Promise<void> {
  const error = await expectSdkError(ec2.send(new DescribeAvailabilityZonesCommand({})))
  assert.equal(error.name, 'RequestLimitExceeded')
  assert.equal(error.$metadata?.httpStatusCode, 503)
}

describe('aws refresh in batches against EC2\'s request-rate limit (fake: 100 burst, 20/s for non-mutating calls)', function () {
  this.timeout(240_000)
  let rigs: Rigs
  let dir: string

  before(async () => {
    rigs = await startRigs({fake: {ec2RequestRate: true}})
  })
  after(async () => {
    await stopRigs(rigs)
  })
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'anycloud-aws-refresh-'))
    mkdirSync(join(dir, '.home'))
  })
  afterEach(async () => {
    await rigs.fake.reset()
    rmSync(dir, {recursive: true, force: true})
  })

  it('the fake meters Describe* with a token bucket: the 101st call at once is RequestLimitExceeded; a second refills 20; mutating calls are not metered', async () => {
    const ec2 = new EC2Client(sdkConfig(rigs.fake, {credentials: KEYS, maxAttempts: 1}))
    try {
      rigs.fake.clock.freeze() // no refill while the burst is spent; then one second passes
      for (let i = 0; i < 100; i++) await ec2.send(new DescribeAvailabilityZonesCommand({}))
      await throttled(ec2)
      await ec2.send(new CreateKeyPairCommand({KeyName: 'not-metered'}))
      rigs.fake.clock.advance(1000)
      for (let i = 0; i < 20; i++) await ec2.send(new DescribeAvailabilityZonesCommand({}))
      await throttled(ec2)
    } finally {
      ec2.destroy()
    }
  })

  it(`a plan of ${PROFILES} profiles sees no throttling: EC2 is read once per resource type and region, not per profile`, async () => {
    const endpoints = {s3: rigs.s3.endpoint, ec2: rigs.fake.url, iam: rigs.fake.url, sts: rigs.fake.url}
    const profiles = Object.fromEntries(Array.from({length: PROFILES}, (_, i) => [`p${i}`, {credentials: 'main', vmType: 't3.micro', runtime: 'process', command: ['sleep', '60']}]))
    writeFileSync(join(dir, 'anycloud.yaml'), stringify({version: 1, project: 'many', credentials: {main: {provider: 'aws', region: 'us-east-1', accessKeyId: '${env:K}', secretAccessKey: '${env:S}', endpoints}}, profiles}))
    const env = {...process.env, ANYCLOUD_HOME: join(dir, '.home'), AWS_EC2_METADATA_DISABLED: 'true', K: KEYS.accessKeyId, S: KEYS.secretAccessKey}
    const session = await openSession({file: join(dir, 'anycloud.yaml'), env})
    try {
      const plan = await planChanges({config: session.config, profiles: session.profiles, state: session.state, providers: session.providers, reporter: new RecordingReporter(), stateDir: session.store.localDir})
      assert.equal(Object.keys(plan.profiles).length, PROFILES)
      assert.equal(plan.summary.create, plan.changes.length)
      const throttled = rigs.fake.requests.filter((r) => r.errorCode === 'RequestLimitExceeded')
      assert.deepEqual(throttled.map((r) => r.action), [], 'no call was throttled')
      const reads = rigs.fake.requests.filter((r) => r.service === 'ec2' && /^(Describe|Get)/.test(r.action)).map((r) => r.action)
      for (const action of ['DescribeInstances', 'DescribeSecurityGroups', 'DescribeKeyPairs']) assert.equal(reads.filter((a) => a === action).length, 1, `${action}: one call for the region`)
      assert.ok(reads.length <= 10, `EC2 reads: ${reads.join(', ')}`)
    } finally {
      await session.release()
    }
  })
})
