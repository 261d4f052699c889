import assert from 'node:assert/strict'
import {DescribeInstancesCommand, EC2Client, RunInstancesCommand} from '@aws-sdk/client-ec2'
import {disableSdkAmbientConfig, expectSdkError, FakeAws, imagesFor, sdkConfig, startFakeAws} from '../helpers/fake-aws/index.js'

describe('fake AWS: admin API (standalone driving) and concurrency', () => {
  let fake: FakeAws
  let ec2: EC2Client
  const image = imagesFor('us-east-1').find((i) => i.architecture === 'x86_64')!.imageId

  before(async () => {
    disableSdkAmbientConfig()
    fake = await startFakeAws()
    ec2 = new EC2Client(sdkConfig(fake, {maxAttempts: 1}))
  })

  after(async () => {
    ec2.destroy()
    await fake.close()
  })

  async function admin(method: string, path: string, body?: unknown): Promise<{status: number; json: Record<string, unknown>}> {
    const res = await fetch(`${fake.url}/__fake/${path}`, {method, ...(body !== undefined ? {body: JSON.stringify(body)} : {})})
    return {status: res.status, json: (await res.json()) as Record<string, unknown>}
  }

  it('injects faults, shows state and the request log, resets', async () => {
    assert.equal((await admin('GET', 'health')).json.ok, true)
    const fault = await admin('POST', 'faults', {type: 'insufficient-capacity', availabilityZone: 'us-east-1a'})
    assert.equal(fault.status, 200)
    const err = await expectSdkError(ec2.send(new RunInstancesCommand({ImageId: image, MinCount: 1, MaxCount: 1, Placement: {AvailabilityZone: 'us-east-1a'}})))
    assert.equal(err.name, 'InsufficientInstanceCapacity')
    await admin('DELETE', 'faults')
    const run = await ec2.send(new RunInstancesCommand({ImageId: image, MinCount: 1, MaxCount: 1, InstanceMarketOptions: {MarketType: 'spot'}}))
    const id = run.Instances![0]!.InstanceId!
    assert.equal((await admin('POST', 'preempt', {instanceId: id})).status, 200)
    const state = (await admin('GET', 'state')).json as {instances: {instanceId: string; state: string}[]}
    assert.deepEqual(state.instances.map((i) => [i.instanceId, i.state]), [[id, 'terminated']])
    const log = (await admin('GET', 'requests')).json as unknown as {action: string; errorCode?: string}[]
    assert.deepEqual(log.map((r) => [r.action, r.errorCode ?? null]), [
      ['RunInstances', 'InsufficientInstanceCapacity'],
      ['RunInstances', null],
    ])
    assert.equal((await admin('POST', 'faults', {type: 'nope'})).status, 400)
    await admin('POST', 'reset')
    assert.equal(fake.state.instances.size, 0)
    assert.equal(fake.requests.length, 0)
  })

  it('serves many concurrent SDK calls consistently', async () => {
    const runs = await Promise.all(Array.from({length: 25}, (_, n) => ec2.send(new RunInstancesCommand({ImageId: image, MinCount: 1, MaxCount: 1, ClientToken: `t-${n}`}))))
    const ids = runs.map((r) => r.Instances![0]!.InstanceId!)
    assert.equal(new Set(ids).size, 25)
    const described = await ec2.send(new DescribeInstancesCommand({}))
    const seen = described.Reservations!.flatMap((r) => r.Instances!)
    assert.equal(seen.length, 25)
    assert.equal(new Set(seen.map((i) => i.PrivateIpAddress)).size, 25)
    assert.equal(new Set(seen.map((i) => i.PublicIpAddress)).size, 25)
  })

  it('answers unsigned requests and foreign services like AWS does', async () => {
    const unsigned = await fetch(`${fake.url}/`, {method: 'POST', headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'Action=DescribeInstances&Version=2016-11-15'})
    assert.equal(unsigned.status, 403)
    assert.match(await unsigned.text(), /<Code>MissingAuthenticationToken<\/Code>/)
    const unsignedEc2 = await fetch(`${fake.url}/ec2/`, {method: 'POST', body: 'Action=DescribeInstances&Version=2016-11-15'})
    assert.equal(unsignedEc2.status, 401)
    assert.match(await unsignedEc2.text(), /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Response><Errors><Error><Code>AuthFailure<\/Code>/)
  })
})
