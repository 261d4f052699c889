import assert from 'node:assert/strict'
import {
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  EC2Client,
  ImportKeyPairCommand,
  paginateDescribeInstances,
  RunInstancesCommand,
  TerminateInstancesCommand,
  waitUntilInstanceRunning,
  waitUntilInstanceTerminated,
  type Instance,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2'
import {AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, IAMClient} from '@aws-sdk/client-iam'
import ssh2 from 'ssh2'
import {disableSdkAmbientConfig, expectSdkError, FakeAws, imagesFor, sdkConfig, startFakeAws} from '../helpers/fake-aws/index.js'

const NOBLE_AMD64 = imagesFor('us-east-1').find((i) => i.name.includes('noble') && i.name.includes('amd64'))!.imageId

function runInput(extra: Partial<RunInstancesCommandInput> = {}): RunInstancesCommandInput {
  return {ImageId: NOBLE_AMD64, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, ...extra}
}

const TRUST_EC2 = JSON.stringify({Version: '2012-10-17', Statement: [{Effect: 'Allow', Principal: {Service: 'ec2.amazonaws.com'}, Action: 'sts:AssumeRole'}]})

describe('fake EC2: instances through @aws-sdk/client-ec2', () => {
  let fake: FakeAws
  let ec2: EC2Client

  before(async () => {
    disableSdkAmbientConfig()
    fake = await startFakeAws()
    ec2 = new EC2Client(sdkConfig(fake))
  })

  afterEach(async () => {
    await fake.reset()
  })

  after(async () => {
    ec2.destroy()
    await fake.close()
  })

  async function describe1(id: string): Promise<Instance> {
    const out = await ec2.send(new DescribeInstancesCommand({InstanceIds: [id]}))
    return out.Reservations![0]!.Instances![0]!
  }

  it('launches with everything anycloud sends and shows it back in DescribeInstances', async () => {
    const iam = new IAMClient(sdkConfig(fake))
    await iam.send(new CreateRoleCommand({RoleName: 'anycloud-vm', AssumeRolePolicyDocument: TRUST_EC2}))
    await iam.send(new CreateInstanceProfileCommand({InstanceProfileName: 'anycloud-vm'}))
    await iam.send(new AddRoleToInstanceProfileCommand({InstanceProfileName: 'anycloud-vm', RoleName: 'anycloud-vm'}))
    iam.destroy()
    const key = ssh2.utils.generateKeyPairSync('ed25519')
    await ec2.send(new ImportKeyPairCommand({KeyName: 'anycloud-key', PublicKeyMaterial: Buffer.from(key.public)}))
    const userData = '#cloud-config\nssh_authorized_keys: []\n'
    const out = await ec2.send(
      new RunInstancesCommand(
        runInput({
          InstanceType: 'g4dn.xlarge',
          KeyName: 'anycloud-key',
          Placement: {AvailabilityZone: 'us-east-1c'},
          UserData: Buffer.from(userData).toString('base64'),
          IamInstanceProfile: {Name: 'anycloud-vm'},
          MetadataOptions: {HttpTokens: 'required', HttpPutResponseHopLimit: 1, HttpEndpoint: 'enabled'},
          InstanceMarketOptions: {MarketType: 'spot', SpotOptions: {SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate'}},
          BlockDeviceMappings: [{DeviceName: '/dev/sda1', Ebs: {VolumeSize: 100, VolumeType: 'gp3', Throughput: 250, DeleteOnTermination: true}}],
          TagSpecifications: [
            {ResourceType: 'instance', Tags: [{Key: 'Name', Value: 'job-1'}, {Key: 'anycloud:deployment', Value: 'dep-1'}]},
            {ResourceType: 'volume', Tags: [{Key: 'anycloud:deployment', Value: 'dep-1'}]},
          ],
        }),
      ),
    )
    const id = out.Instances![0]!.InstanceId!
    assert.match(id, /^i-[0-9a-f]{17}$/)
    assert.equal(out.Instances![0]!.State!.Name, 'pending')

    const inst = await describe1(id)
    assert.equal(inst.State!.Name, 'running')
    assert.equal(inst.State!.Code, 16)
    assert.equal(inst.InstanceType, 'g4dn.xlarge')
    assert.equal(inst.KeyName, 'anycloud-key')
    assert.equal(inst.Placement!.AvailabilityZone, 'us-east-1c')
    assert.equal(inst.InstanceLifecycle, 'spot')
    assert.match(inst.SpotInstanceRequestId!, /^sir-/)
    assert.deepEqual(
      {tokens: inst.MetadataOptions!.HttpTokens, hops: inst.MetadataOptions!.HttpPutResponseHopLimit, state: inst.MetadataOptions!.State},
      {tokens: 'required', hops: 1, state: 'applied'},
    )
    assert.match(inst.IamInstanceProfile!.Arn!, /:instance-profile\/anycloud-vm$/)
    assert.deepEqual(inst.Tags, [
      {Key: 'Name', Value: 'job-1'},
      {Key: 'anycloud:deployment', Value: 'dep-1'},
    ])
    assert.match(inst.PublicIpAddress!, /^10\.200\.[0-9]+\.2$/)
    assert.match(inst.PrivateIpAddress!, /^172\.31\./)
    assert.equal(inst.LaunchTime instanceof Date, true)

    const vols = await ec2.send(new DescribeVolumesCommand({Filters: [{Name: 'attachment.instance-id', Values: [id]}]}))
    assert.equal(vols.Volumes!.length, 1)
    const vol = vols.Volumes![0]!
    assert.deepEqual({type: vol.VolumeType, size: vol.Size, throughput: vol.Throughput, iops: vol.Iops}, {type: 'gp3', size: 100, throughput: 250, iops: 3000})
    assert.deepEqual(vol.Tags, [{Key: 'anycloud:deployment', Value: 'dep-1'}])

    const model = fake.state.instances.get(id)!
    assert.equal(model.userData, userData)
    assert.equal(model.metadataOptions.httpTokens, 'required')
    assert.equal(model.iamInstanceProfile?.name, 'anycloud-vm')
  })

  it('returns the same reservation for the same ClientToken and parameters (one instance)', async () => {
    const a = await ec2.send(new RunInstancesCommand(runInput({ClientToken: 'deploy-1/job'})))
    const b = await ec2.send(new RunInstancesCommand(runInput({ClientToken: 'deploy-1/job'})))
    assert.equal(b.ReservationId, a.ReservationId)
    assert.equal(b.Instances![0]!.InstanceId, a.Instances![0]!.InstanceId)
    assert.equal(b.Instances![0]!.ClientToken, 'deploy-1/job')
    assert.equal(fake.state.instances.size, 1)
  })

  it('a lost RunInstances response is retried by the SDK with the same ClientToken and creates one instance', async () => {
    const lost = fake.faults.loseResponse('RunInstances')
    const out = await ec2.send(new RunInstancesCommand(runInput()))
    assert.equal(lost.hits, 1)
    assert.equal(out.$metadata.attempts, 2)
    assert.equal(fake.state.instances.size, 1)
    const calls = fake.calls('RunInstances')
    assert.deepEqual(
      calls.map((c) => [c.attempt, c.outcome]),
      [
        [1, 'lost'],
        [2, 'ok'],
      ],
    )
    assert.equal(calls[0]!.invocationId, calls[1]!.invocationId)
    assert.ok(calls[0]!.params.ClientToken, 'the SDK generated a ClientToken')
    assert.equal(calls[1]!.params.ClientToken, calls[0]!.params.ClientToken)
    assert.equal(out.Instances![0]!.InstanceId, [...fake.state.instances.keys()][0])
  })

  it('a changed parameter with a reused ClientToken is IdempotentParameterMismatch, and nothing new is created', async () => {
    await ec2.send(new RunInstancesCommand(runInput({ClientToken: 'tok-1'})))
    const err = await expectSdkError(ec2.send(new RunInstancesCommand(runInput({ClientToken: 'tok-1', InstanceType: 't3.medium'}))))
    assert.equal(err.name, 'IdempotentParameterMismatch')
    assert.equal(err.$metadata.httpStatusCode, 400)
    assert.equal(err.$metadata.attempts, 1)
    assert.equal(fake.state.instances.size, 1)
  })

  it('concurrent requests with one ClientToken create one instance', async () => {
    const [a, b] = await Promise.all([ec2.send(new RunInstancesCommand(runInput({ClientToken: 'race'}))), ec2.send(new RunInstancesCommand(runInput({ClientToken: 'race'})))])
    assert.equal(a.Instances![0]!.InstanceId, b.Instances![0]!.InstanceId)
    assert.equal(fake.state.instances.size, 1)
  })

  it('paginates DescribeInstances with the SDK paginator (MaxResults 5..1000)', async () => {
    await ec2.send(new RunInstancesCommand(runInput({MinCount: 7, MaxCount: 7})))
    await ec2.send(new RunInstancesCommand(runInput({MinCount: 5, MaxCount: 5})))
    const pages: number[] = []
    const ids: string[] = []
    for await (const page of paginateDescribeInstances({client: ec2, pageSize: 5}, {})) {
      const inPage = page.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId!))
      pages.push(inPage.length)
      ids.push(...inPage)
    }
    assert.deepEqual(pages, [5, 5, 2])
    assert.equal(new Set(ids).size, 12)
    const page1 = await ec2.send(new DescribeInstancesCommand({MaxResults: 5}))
    assert.equal(page1.Reservations!.length, 1, 'five instances of the first reservation are grouped under it')
    const err = await expectSdkError(ec2.send(new DescribeInstancesCommand({MaxResults: 2})))
    assert.equal(err.name, 'InvalidParameterValue')
  })

  it('filters by instance-id, tag:KEY, tag-key and instance-state-name', async () => {
    const a = await ec2.send(new RunInstancesCommand(runInput({TagSpecifications: [{ResourceType: 'instance', Tags: [{Key: 'anycloud:run', Value: 'r1'}]}]})))
    const b = await ec2.send(new RunInstancesCommand(runInput({TagSpecifications: [{ResourceType: 'instance', Tags: [{Key: 'anycloud:run', Value: 'r2'}]}]})))
    await ec2.send(new RunInstancesCommand(runInput()))
    const idA = a.Instances![0]!.InstanceId!
    const idB = b.Instances![0]!.InstanceId!
    const ids = async (filters: {Name: string; Values: string[]}[]): Promise<string[]> =>
      ((await ec2.send(new DescribeInstancesCommand({Filters: filters}))).Reservations ?? []).flatMap((r) => r.Instances!.map((i) => i.InstanceId!)).sort()
    assert.deepEqual(await ids([{Name: 'tag:anycloud:run', Values: ['r1']}]), [idA])
    assert.deepEqual(await ids([{Name: 'tag:anycloud:run', Values: ['r*']}]), [idA, idB].sort())
    assert.deepEqual(await ids([{Name: 'tag-key', Values: ['anycloud:run']}]), [idA, idB].sort())
    assert.deepEqual(await ids([{Name: 'instance-id', Values: [idB]}]), [idB])
    await ec2.send(new TerminateInstancesCommand({InstanceIds: [idA]}))
    assert.deepEqual(await ids([{Name: 'instance-state-name', Values: ['pending', 'running']}, {Name: 'tag-key', Values: ['anycloud:run']}]), [idB])
    const err = await expectSdkError(ec2.send(new DescribeInstancesCommand({Filters: [{Name: 'no-such-filter', Values: ['x']}]})))
    assert.equal(err.name, 'InvalidParameterValue')
    const missing = await expectSdkError(ec2.send(new DescribeInstancesCommand({InstanceIds: ['i-0123456789abcdef0']})))
    assert.equal(missing.name, 'InvalidInstanceID.NotFound')
  })

  it('waitUntilInstanceRunning and waitUntilInstanceTerminated poll until the state changes', async () => {
    const slow = await startFakeAws({transitions: {mode: 'describe', pendingDescribes: 3, shuttingDownDescribes: 2}})
    const client = new EC2Client(sdkConfig(slow))
    try {
      const out = await client.send(new RunInstancesCommand(runInput()))
      const id = out.Instances![0]!.InstanceId!
      const running = await waitUntilInstanceRunning({client, minDelay: 0.01, maxDelay: 0.02, maxWaitTime: 10}, {InstanceIds: [id]})
      assert.equal(running.state, 'SUCCESS')
      assert.equal(slow.calls('DescribeInstances').length, 3)
      await client.send(new TerminateInstancesCommand({InstanceIds: [id]}))
      const terminated = await waitUntilInstanceTerminated({client, minDelay: 0.01, maxDelay: 0.02, maxWaitTime: 10}, {InstanceIds: [id]})
      assert.equal(terminated.state, 'SUCCESS')
      assert.equal(slow.calls('DescribeInstances').length, 5)
    } finally {
      client.destroy()
      await slow.close()
    }
  })

  it('waitUntilInstanceRunning fails when a spot instance is preempted before it runs', async () => {
    const manual = await startFakeAws({transitions: {mode: 'manual'}})
    const client = new EC2Client(sdkConfig(manual))
    try {
      const out = await client.send(new RunInstancesCommand(runInput({InstanceMarketOptions: {MarketType: 'spot'}})))
      const id = out.Instances![0]!.InstanceId!
      await manual.preempt(id)
      const err = await expectSdkError(waitUntilInstanceRunning({client, minDelay: 0.01, maxDelay: 0.02, maxWaitTime: 5}, {InstanceIds: [id]}))
      assert.match(err.message, /FAILURE/)
      const inst = (await client.send(new DescribeInstancesCommand({InstanceIds: [id]}))).Reservations![0]!.Instances![0]!
      assert.equal(inst.State!.Name, 'terminated')
      assert.deepEqual(inst.StateReason, {Code: 'Server.SpotInstanceTermination', Message: 'Server.SpotInstanceTermination: Spot instance termination'})
    } finally {
      client.destroy()
      await manual.close()
    }
  })

  it('clock-driven transitions follow the fake clock', async () => {
    const timed = await startFakeAws({transitions: {mode: 'clock', pendingMs: 30_000, shuttingDownMs: 10_000}})
    const client = new EC2Client(sdkConfig(timed))
    try {
      const id = (await client.send(new RunInstancesCommand(runInput()))).Instances![0]!.InstanceId!
      const state = async (): Promise<string> => (await client.send(new DescribeInstancesCommand({InstanceIds: [id]}))).Reservations![0]!.Instances![0]!.State!.Name!
      assert.equal(await state(), 'pending')
      timed.clock.advance(30_000)
      assert.equal(await state(), 'running')
      await client.send(new TerminateInstancesCommand({InstanceIds: [id]}))
      assert.equal(await state(), 'shutting-down')
      timed.clock.advance(10_000)
      assert.equal(await state(), 'terminated')
    } finally {
      client.destroy()
      await timed.close()
    }
  })

  it('throttling is retried by the SDK (the log shows each attempt) and gives up after maxAttempts', async () => {
    const throttle = fake.faults.throttle('DescribeInstances', {count: 2})
    const out = await ec2.send(new DescribeInstancesCommand({}))
    assert.equal(out.$metadata.attempts, 3)
    assert.equal(throttle.hits, 2)
    const calls = fake.calls('DescribeInstances')
    assert.deepEqual(
      calls.map((c) => [c.attempt, c.status, c.errorCode]),
      [
        [1, 503, 'RequestLimitExceeded'],
        [2, 503, 'RequestLimitExceeded'],
        [3, 200, undefined],
      ],
    )
    assert.equal(new Set(calls.map((c) => c.invocationId)).size, 1)

    fake.faults.throttle('TerminateInstances', {count: 10})
    const err = await expectSdkError(ec2.send(new TerminateInstancesCommand({InstanceIds: ['i-0123456789abcdef0']})))
    assert.equal(err.name, 'RequestLimitExceeded')
    assert.equal(err.$metadata.httpStatusCode, 503)
    assert.equal(err.$metadata.attempts, 3)
  })

  it('InsufficientInstanceCapacity in one zone is surfaced with its code (HTTP 500, which the SDK retries); another zone works', async () => {
    const cap = fake.faults.insufficientCapacity({availabilityZone: 'us-east-1a'})
    const err = await expectSdkError(ec2.send(new RunInstancesCommand(runInput({InstanceType: 'p3.2xlarge', Placement: {AvailabilityZone: 'us-east-1a'}}))))
    assert.equal(err.name, 'InsufficientInstanceCapacity')
    assert.equal(err.$metadata.httpStatusCode, 500)
    assert.match(err.message, /We currently do not have sufficient p3\.2xlarge capacity in the Availability Zone you requested \(us-east-1a\)/)
    assert.equal(err.$metadata.attempts, 3, 'the SDK treats the 500 as transient and retries it')
    assert.equal(cap.hits, 3)
    assert.equal(fake.state.instances.size, 0)
    const ok = await ec2.send(new RunInstancesCommand(runInput({InstanceType: 'p3.2xlarge', Placement: {AvailabilityZone: 'us-east-1b'}})))
    assert.equal(ok.Instances![0]!.Placement!.AvailabilityZone, 'us-east-1b')
  })

  it('spot-only capacity faults, SpotMaxPriceTooLow and vCPU limits', async () => {
    const noSpotCapacity = fake.faults.insufficientCapacity({spotOnly: true})
    const noSpot = await expectSdkError(ec2.send(new RunInstancesCommand(runInput({InstanceMarketOptions: {MarketType: 'spot'}}))))
    assert.equal(noSpot.name, 'InsufficientInstanceCapacity')
    assert.match(noSpot.message, /no Spot capacity/)
    await ec2.send(new RunInstancesCommand(runInput()))
    noSpotCapacity.clear()
    const once = fake.faults.insufficientCapacity({spotOnly: true, count: 1})
    const retried = await ec2.send(new RunInstancesCommand(runInput({InstanceMarketOptions: {MarketType: 'spot'}})))
    assert.equal(retried.$metadata.attempts, 2, 'a one-off capacity error is absorbed by the SDK retry')
    assert.equal(once.hits, 1)

    const low = await expectSdkError(ec2.send(new RunInstancesCommand(runInput({InstanceMarketOptions: {MarketType: 'spot', SpotOptions: {MaxPrice: '0.0001'}}}))))
    assert.equal(low.name, 'SpotMaxPriceTooLow')
    assert.equal(low.$metadata.attempts, 1)

    const limited = await startFakeAws({vcpuLimits: {g: 4}})
    const client = new EC2Client(sdkConfig(limited))
    try {
      await client.send(new RunInstancesCommand(runInput({InstanceType: 'g4dn.xlarge'})))
      const over = await expectSdkError(client.send(new RunInstancesCommand(runInput({InstanceType: 'g5.xlarge'}))))
      assert.equal(over.name, 'VcpuLimitExceeded')
      assert.match(over.message, /current vCPU limit of 4/)
      await client.send(new RunInstancesCommand(runInput({InstanceType: 'm5.large'})))
    } finally {
      client.destroy()
      await limited.close()
    }
  })

  it('validates what real EC2 validates (AMI, architecture, zone, block devices, IMDS, user data, DryRun)', async () => {
    const arm = imagesFor('us-east-1').find((i) => i.architecture === 'arm64')!.imageId
    const cases: [Partial<RunInstancesCommandInput>, string][] = [
      [{ImageId: 'ami-0123456789abcdef0'}, 'InvalidAMIID.NotFound'],
      [{ImageId: 'nope'}, 'InvalidAMIID.Malformed'],
      [{ImageId: arm}, 'InvalidParameterValue'],
      [{InstanceType: 'x9.huge' as 't3.micro'}, 'InvalidParameterValue'],
      [{Placement: {AvailabilityZone: 'us-east-1z'}}, 'InvalidParameterValue'],
      [{KeyName: 'missing'}, 'InvalidKeyPair.NotFound'],
      [{SecurityGroupIds: ['sg-0123456789abcdef0']}, 'InvalidGroup.NotFound'],
      [{SubnetId: 'subnet-0123456789abcdef0'}, 'InvalidSubnetID.NotFound'],
      [{BlockDeviceMappings: [{DeviceName: '/dev/sda1', Ebs: {VolumeSize: 4}}]}, 'InvalidBlockDeviceMapping'],
      [{BlockDeviceMappings: [{DeviceName: '/dev/sda1', Ebs: {VolumeType: 'gp9' as 'gp3'}}]}, 'InvalidParameterValue'],
      [{MetadataOptions: {HttpPutResponseHopLimit: 0}}, 'InvalidParameterValue'],
      [{UserData: '%%%not base64'}, 'InvalidParameterValue'],
      [{IamInstanceProfile: {Name: 'no-such-profile'}}, 'InvalidParameterValue'],
      [{TagSpecifications: [{ResourceType: 'instance', Tags: [{Key: 'aws:reserved', Value: 'x'}]}]}, 'InvalidParameterValue'],
      [{DryRun: true}, 'DryRunOperation'],
    ]
    for (const [input, code] of cases) {
      const err = await expectSdkError(ec2.send(new RunInstancesCommand(runInput(input))))
      assert.equal(err.name, code, `${JSON.stringify(input)} → ${err.name}: ${err.message}`)
    }
    assert.equal(fake.state.instances.size, 0)
  })

  it('IAM instance-profile propagation: the first N launches fail with Invalid IAM Instance Profile name, then succeed', async () => {
    const iam = new IAMClient(sdkConfig(fake))
    await iam.send(new CreateRoleCommand({RoleName: 'vm', AssumeRolePolicyDocument: TRUST_EC2}))
    await iam.send(new CreateInstanceProfileCommand({InstanceProfileName: 'vm'}))
    await iam.send(new AddRoleToInstanceProfileCommand({InstanceProfileName: 'vm', RoleName: 'vm'}))
    iam.destroy()
    const prop = fake.faults.iamPropagation({failures: 3})
    for (let i = 0; i < 3; i++) {
      const err = await expectSdkError(ec2.send(new RunInstancesCommand(runInput({IamInstanceProfile: {Name: 'vm'}}))))
      assert.equal(err.name, 'InvalidParameterValue')
      assert.equal(err.message, 'Value (vm) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name')
      assert.equal(err.$metadata.attempts, 1, 'not retried by the SDK')
    }
    assert.equal(prop.hits, 3)
    const ok = await ec2.send(new RunInstancesCommand(runInput({IamInstanceProfile: {Name: 'vm'}})))
    assert.ok(ok.Instances![0]!.IamInstanceProfile?.Arn)
  })

  it('IAM propagation delay by the fake clock', async () => {
    fake.iamPropagationDelayMs = 10_000
    const iam = new IAMClient(sdkConfig(fake))
    await iam.send(new CreateRoleCommand({RoleName: 'vm2', AssumeRolePolicyDocument: TRUST_EC2}))
    await iam.send(new CreateInstanceProfileCommand({InstanceProfileName: 'vm2'}))
    await iam.send(new AddRoleToInstanceProfileCommand({InstanceProfileName: 'vm2', RoleName: 'vm2'}))
    iam.destroy()
    const err = await expectSdkError(ec2.send(new RunInstancesCommand(runInput({IamInstanceProfile: {Name: 'vm2'}}))))
    assert.match(err.message, /Invalid IAM Instance Profile name/)
    fake.clock.advance(10_000)
    await ec2.send(new RunInstancesCommand(runInput({IamInstanceProfile: {Name: 'vm2'}})))
  })

  it('keeps regions apart', async () => {
    const west = new EC2Client(sdkConfig(fake, {region: 'us-west-2'}))
    try {
      const westImage = imagesFor('us-west-2').find((i) => i.architecture === 'x86_64')!.imageId
      const err = await expectSdkError(west.send(new RunInstancesCommand(runInput())))
      assert.equal(err.name, 'InvalidAMIID.NotFound', 'AMI ids are per region')
      const out = await west.send(new RunInstancesCommand(runInput({ImageId: westImage})))
      assert.match(out.Instances![0]!.Placement!.AvailabilityZone!, /^us-west-2[a-d]$/)
      assert.equal((await ec2.send(new DescribeInstancesCommand({}))).Reservations!.length, 0)
      assert.equal((await west.send(new DescribeInstancesCommand({}))).Reservations!.length, 1)
    } finally {
      west.destroy()
    }
  })

  it('terminating deletes DeleteOnTermination volumes and keeps the others', async () => {
    const out = await ec2.send(
      new RunInstancesCommand(runInput({BlockDeviceMappings: [{DeviceName: '/dev/sdf', Ebs: {VolumeSize: 50, VolumeType: 'gp3', DeleteOnTermination: false}}]})),
    )
    const id = out.Instances![0]!.InstanceId!
    assert.equal((await ec2.send(new DescribeVolumesCommand({}))).Volumes!.length, 2)
    await ec2.send(new TerminateInstancesCommand({InstanceIds: [id]}))
    await ec2.send(new DescribeInstancesCommand({InstanceIds: [id]}))
    const left = (await ec2.send(new DescribeVolumesCommand({}))).Volumes!
    assert.equal(left.length, 1)
    assert.deepEqual({state: left[0]!.State, size: left[0]!.Size, attachments: left[0]!.Attachments}, {state: 'available', size: 50, attachments: []})
  })
})
