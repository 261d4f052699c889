import assert from 'node:assert/strict'
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DeleteTagsCommand,
  DescribeAvailabilityZonesCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSpotPriceHistoryCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  ImportKeyPairCommand,
  paginateDescribeImages,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2'
import ssh2 from 'ssh2'
import {CANONICAL_OWNER_ID, disableSdkAmbientConfig, expectSdkError, FakeAws, imagesFor, sdkConfig, startFakeAws} from '../helpers/fake-aws/index.js'

describe('fake EC2: images, key pairs, security groups, network, tags', () => {
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

  it('DescribeImages finds Canonical Ubuntu LTS images by owner and name pattern, newest by CreationDate, paginated', async () => {
    const out = await ec2.send(
      new DescribeImagesCommand({
        Owners: [CANONICAL_OWNER_ID],
        Filters: [
          {Name: 'name', Values: ['ubuntu/images/hvm-ssd*/ubuntu-*-22.04-amd64-server-*']},
          {Name: 'state', Values: ['available']},
          {Name: 'architecture', Values: ['x86_64']},
        ],
      }),
    )
    const images = out.Images!
    assert.equal(images.length, 2)
    assert.ok(images.every((i) => i.OwnerId === CANONICAL_OWNER_ID && /^ami-[0-9a-f]{17}$/.test(i.ImageId!) && i.Name!.includes('jammy')))
    const newest = [...images].sort((a, b) => b.CreationDate!.localeCompare(a.CreationDate!))[0]!
    assert.match(newest.Name!, /20241002$/)
    assert.equal(newest.RootDeviceName, '/dev/sda1')
    assert.equal(newest.BlockDeviceMappings![0]!.Ebs!.VolumeSize, 8)

    let pages = 0
    let total = 0
    for await (const page of paginateDescribeImages({client: ec2, pageSize: 5}, {Owners: [CANONICAL_OWNER_ID]})) {
      pages++
      total += page.Images!.length
    }
    assert.deepEqual([pages, total], [2, 8])
    assert.notEqual(imagesFor('eu-west-1')[0]!.imageId, imagesFor('us-east-1')[0]!.imageId)
  })

  it('key pairs: create (ed25519 private key the SSH client can parse), import, duplicate, describe with public key, delete', async () => {
    const created = await ec2.send(new CreateKeyPairCommand({KeyName: 'made', KeyType: 'ed25519', TagSpecifications: [{ResourceType: 'key-pair', Tags: [{Key: 'k', Value: 'v'}]}]}))
    assert.match(created.KeyMaterial!, /^-----BEGIN OPENSSH PRIVATE KEY-----/)
    const parsed = ssh2.utils.parseKey(created.KeyMaterial!)
    assert.ok(!(parsed instanceof Error))
    assert.match(created.KeyPairId!, /^key-[0-9a-f]{17}$/)

    const mine = ssh2.utils.generateKeyPairSync('ed25519')
    const imported = await ec2.send(new ImportKeyPairCommand({KeyName: 'mine', PublicKeyMaterial: Buffer.from(mine.public)}))
    assert.ok(imported.KeyFingerprint)
    const dup = await expectSdkError(ec2.send(new ImportKeyPairCommand({KeyName: 'mine', PublicKeyMaterial: Buffer.from(mine.public)})))
    assert.equal(dup.name, 'InvalidKeyPair.Duplicate')
    const bad = await expectSdkError(ec2.send(new ImportKeyPairCommand({KeyName: 'bad', PublicKeyMaterial: Buffer.from('not a key')})))
    assert.equal(bad.name, 'InvalidKey.Format')

    const described = await ec2.send(new DescribeKeyPairsCommand({KeyNames: ['mine'], IncludePublicKey: true}))
    assert.equal(described.KeyPairs![0]!.PublicKey, mine.public.split(' ').slice(0, 2).join(' '))
    assert.equal(described.KeyPairs![0]!.KeyType, 'ed25519')
    const byTag = await ec2.send(new DescribeKeyPairsCommand({Filters: [{Name: 'tag:k', Values: ['v']}]}))
    assert.deepEqual(byTag.KeyPairs!.map((k) => k.KeyName), ['made'])
    const missing = await expectSdkError(ec2.send(new DescribeKeyPairsCommand({KeyNames: ['nope']})))
    assert.equal(missing.name, 'InvalidKeyPair.NotFound')

    await ec2.send(new DeleteKeyPairCommand({KeyName: 'mine'}))
    await ec2.send(new DeleteKeyPairCommand({KeyName: 'mine'}))
    assert.deepEqual((await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs!.map((k) => k.KeyName), ['made'])
  })

  it('security groups: create, authorize, duplicate rule, describe, DependencyViolation while an instance uses it', async () => {
    const vpcId = (await ec2.send(new DescribeVpcsCommand({Filters: [{Name: 'is-default', Values: ['true']}]}))).Vpcs![0]!.VpcId!
    const sg = await ec2.send(
      new CreateSecurityGroupCommand({GroupName: 'anycloud-dep-1', Description: 'anycloud', VpcId: vpcId, TagSpecifications: [{ResourceType: 'security-group', Tags: [{Key: 'anycloud:deployment', Value: 'dep-1'}]}]}),
    )
    const groupId = sg.GroupId!
    assert.match(groupId, /^sg-[0-9a-f]{17}$/)
    const dupGroup = await expectSdkError(ec2.send(new CreateSecurityGroupCommand({GroupName: 'anycloud-dep-1', Description: 'again'})))
    assert.equal(dupGroup.name, 'InvalidGroup.Duplicate')

    const ssh = {IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{CidrIp: '203.0.113.7/32', Description: 'anycloud operator'}]}
    const auth = await ec2.send(new AuthorizeSecurityGroupIngressCommand({GroupId: groupId, IpPermissions: [ssh]}))
    assert.equal(auth.Return, true)
    assert.equal(auth.SecurityGroupRules![0]!.CidrIpv4, '203.0.113.7/32')
    const dup = await expectSdkError(ec2.send(new AuthorizeSecurityGroupIngressCommand({GroupId: groupId, IpPermissions: [ssh]})))
    assert.equal(dup.name, 'InvalidPermission.Duplicate')

    const described = await ec2.send(new DescribeSecurityGroupsCommand({Filters: [{Name: 'tag:anycloud:deployment', Values: ['dep-1']}]}))
    const group = described.SecurityGroups![0]!
    assert.equal(group.GroupName, 'anycloud-dep-1')
    assert.deepEqual(group.IpPermissions, [
      {IpProtocol: 'tcp', FromPort: 22, ToPort: 22, UserIdGroupPairs: [], IpRanges: [{CidrIp: '203.0.113.7/32', Description: 'anycloud operator'}], Ipv6Ranges: [], PrefixListIds: []},
    ])
    assert.equal(group.IpPermissionsEgress![0]!.IpProtocol, '-1')

    const image = imagesFor('us-east-1').find((i) => i.architecture === 'x86_64')!.imageId
    const run = await ec2.send(new RunInstancesCommand({ImageId: image, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SecurityGroupIds: [groupId]}))
    const id = run.Instances![0]!.InstanceId!
    assert.deepEqual(run.Instances![0]!.SecurityGroups, [{GroupId: groupId, GroupName: 'anycloud-dep-1'}])

    const inUse = await expectSdkError(ec2.send(new DeleteSecurityGroupCommand({GroupId: groupId})))
    assert.equal(inUse.name, 'DependencyViolation')
    assert.equal(inUse.message, `resource ${groupId} has a dependent object`)
    await ec2.send(new TerminateInstancesCommand({InstanceIds: [id]}))
    const stillShuttingDown = await expectSdkError(ec2.send(new DeleteSecurityGroupCommand({GroupId: groupId})))
    assert.equal(stillShuttingDown.name, 'DependencyViolation', 'shutting-down still holds the group')
    await ec2.send(new DescribeInstancesCommand({InstanceIds: [id]}))
    await ec2.send(new DeleteSecurityGroupCommand({GroupId: groupId}))
    const gone = await expectSdkError(ec2.send(new DescribeSecurityGroupsCommand({GroupIds: [groupId]})))
    assert.equal(gone.name, 'InvalidGroup.NotFound')
    const defaultGroup = (await ec2.send(new DescribeSecurityGroupsCommand({GroupNames: ['default']}))).SecurityGroups![0]!
    const cannot = await expectSdkError(ec2.send(new DeleteSecurityGroupCommand({GroupId: defaultGroup.GroupId!})))
    assert.equal(cannot.name, 'CannotDelete')
  })

  it('a default VPC per region with a default subnet per availability zone', async () => {
    const zones = (await ec2.send(new DescribeAvailabilityZonesCommand({}))).AvailabilityZones!
    assert.deepEqual(
      zones.map((z) => z.ZoneName),
      ['us-east-1a', 'us-east-1b', 'us-east-1c', 'us-east-1d', 'us-east-1f'],
    )
    assert.ok(zones.every((z) => z.State === 'available' && z.RegionName === 'us-east-1' && /^use1-az[0-9]$/.test(z.ZoneId!)))
    const vpcs = (await ec2.send(new DescribeVpcsCommand({}))).Vpcs!
    assert.equal(vpcs.length, 1)
    assert.equal(vpcs[0]!.IsDefault, true)
    const subnets = (await ec2.send(new DescribeSubnetsCommand({Filters: [{Name: 'vpc-id', Values: [vpcs[0]!.VpcId!]}, {Name: 'default-for-az', Values: ['true']}]}))).Subnets!
    assert.equal(subnets.length, 5)
    assert.deepEqual(new Set(subnets.map((s) => s.AvailabilityZone)), new Set(zones.map((z) => z.ZoneName)))
    const oneZone = (await ec2.send(new DescribeSubnetsCommand({Filters: [{Name: 'availability-zone', Values: ['us-east-1b']}]}))).Subnets!
    assert.equal(oneZone.length, 1)

    const eu = new EC2Client(sdkConfig(fake, {region: 'eu-west-1'}))
    try {
      const euZones = (await eu.send(new DescribeAvailabilityZonesCommand({}))).AvailabilityZones!.map((z) => z.ZoneName)
      assert.deepEqual(euZones, ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'])
      const euVpc = (await eu.send(new DescribeVpcsCommand({}))).Vpcs![0]!.VpcId
      assert.notEqual(euVpc, vpcs[0]!.VpcId)
    } finally {
      eu.destroy()
    }
  })

  it('CreateTags / DeleteTags on instances, with aws: keys refused', async () => {
    const image = imagesFor('us-east-1').find((i) => i.architecture === 'x86_64')!.imageId
    const id = (await ec2.send(new RunInstancesCommand({ImageId: image, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1}))).Instances![0]!.InstanceId!
    await ec2.send(new CreateTagsCommand({Resources: [id], Tags: [{Key: 'a', Value: '1'}, {Key: 'b', Value: '2'}]}))
    assert.deepEqual(fake.state.instances.get(id)!.tags, {a: '1', b: '2'})
    await ec2.send(new DeleteTagsCommand({Resources: [id], Tags: [{Key: 'a', Value: 'not-1'}, {Key: 'b'}]}))
    assert.deepEqual(fake.state.instances.get(id)!.tags, {a: '1'})
    const reserved = await expectSdkError(ec2.send(new CreateTagsCommand({Resources: [id], Tags: [{Key: 'aws:x', Value: '1'}]})))
    assert.equal(reserved.name, 'InvalidParameterValue')
    const missing = await expectSdkError(ec2.send(new CreateTagsCommand({Resources: ['i-0123456789abcdef0'], Tags: [{Key: 'a', Value: '1'}]})))
    assert.equal(missing.name, 'InvalidInstanceID.NotFound')
    assert.deepEqual(fake.instancesTagged('a', '1').map((i) => i.instanceId), [id])
  })

  it('DescribeInstanceTypes (GPU types included) and DescribeSpotPriceHistory', async () => {
    const gpus = await ec2.send(new DescribeInstanceTypesCommand({Filters: [{Name: 'gpu-info.manufacturer', Values: ['NVIDIA']}]}))
    const names = gpus.InstanceTypes!.map((t) => t.InstanceType).sort()
    assert.deepEqual(names, ['g4dn.xlarge', 'g5.xlarge', 'p3.2xlarge', 'p4d.24xlarge'])
    const p4d = gpus.InstanceTypes!.find((t) => t.InstanceType === 'p4d.24xlarge')!
    assert.deepEqual({count: p4d.GpuInfo!.Gpus![0]!.Count, name: p4d.GpuInfo!.Gpus![0]!.Name, vcpus: p4d.VCpuInfo!.DefaultVCpus}, {count: 8, name: 'A100', vcpus: 96})
    const one = await ec2.send(new DescribeInstanceTypesCommand({InstanceTypes: ['t4g.small']}))
    assert.deepEqual(one.InstanceTypes![0]!.ProcessorInfo!.SupportedArchitectures, ['arm64'])
    const unknown = await expectSdkError(ec2.send(new DescribeInstanceTypesCommand({InstanceTypes: ['x9.huge' as 't3.micro']})))
    assert.equal(unknown.name, 'InvalidInstanceType')

    const prices = await ec2.send(new DescribeSpotPriceHistoryCommand({InstanceTypes: ['g5.xlarge'], ProductDescriptions: ['Linux/UNIX'], StartTime: new Date()}))
    assert.equal(prices.SpotPriceHistory!.length, 5)
    assert.ok(prices.SpotPriceHistory!.every((p) => Number(p.SpotPrice) > 0 && Number(p.SpotPrice) < 1.006))
  })

  it('refuses unknown, wrong and expired credentials the way EC2 does, without retrying', async () => {
    const unknown = new EC2Client(sdkConfig(fake, {credentials: {accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'x'}}))
    const wrongSecret = new EC2Client(sdkConfig(fake, {credentials: {accessKeyId: fake.credentials.accessKeyId, secretAccessKey: 'wrong'}}))
    try {
      const e1 = await expectSdkError(unknown.send(new DescribeInstancesCommand({})))
      assert.deepEqual([e1.name, e1.$metadata.httpStatusCode, e1.$metadata.attempts], ['AuthFailure', 401, 1])
      const e2 = await expectSdkError(wrongSecret.send(new DescribeInstancesCommand({})))
      assert.deepEqual([e2.name, e2.$metadata.httpStatusCode], ['AuthFailure', 401])
      fake.expireCredentials(fake.credentials.accessKeyId)
      const e3 = await expectSdkError(ec2.send(new DescribeInstancesCommand({})))
      assert.deepEqual([e3.name, e3.message, e3.$metadata.httpStatusCode, e3.$metadata.attempts], ['RequestExpired', 'Request has expired.', 400, 1])
    } finally {
      unknown.destroy()
      wrongSecret.destroy()
    }
  })
})
