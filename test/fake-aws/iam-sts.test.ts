import assert from 'node:assert/strict'
import {DescribeInstancesCommand, EC2Client} from '@aws-sdk/client-ec2'
import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  DeleteInstanceProfileCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  DetachRolePolicyCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListRolePoliciesCommand,
  ListRoleTagsCommand,
  PutRolePolicyCommand,
  RemoveRoleFromInstanceProfileCommand,
  TagRoleCommand,
} from '@aws-sdk/client-iam'
import {AssumeRoleCommand, GetCallerIdentityCommand, GetFederationTokenCommand, STSClient} from '@aws-sdk/client-sts'
import {fromTemporaryCredentials} from '@aws-sdk/credential-providers'
import {disableSdkAmbientConfig, expectSdkError, FAKE_ACCOUNT_ID, FakeAws, sdkConfig, startFakeAws, type FakeCredential, type IssuedSession} from '../helpers/fake-aws/index.js'

const TRUST_EC2 = JSON.stringify({Version: '2012-10-17', Statement: [{Effect: 'Allow', Principal: {Service: 'ec2.amazonaws.com'}, Action: 'sts:AssumeRole'}]})
const TRUST_ACCOUNT = JSON.stringify({Version: '2012-10-17', Statement: [{Effect: 'Allow', Principal: {AWS: `arn:aws:iam::${FAKE_ACCOUNT_ID}:root`}, Action: 'sts:AssumeRole'}]})

const BUCKET_POLICY = {
  Version: '2012-10-17',
  Statement: [
    {Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: ['arn:aws:s3:::anycloud-data/jobs/dep-1/*']},
    {Effect: 'Allow', Action: ['s3:ListBucket'], Resource: ['arn:aws:s3:::anycloud-data'], Condition: {StringLike: {'s3:prefix': ['jobs/dep-1/*']}}},
  ],
}

describe('fake IAM and STS through @aws-sdk/client-iam and client-sts', () => {
  let fake: FakeAws
  let iam: IAMClient
  let sts: STSClient

  before(async () => {
    disableSdkAmbientConfig()
    fake = await startFakeAws()
    iam = new IAMClient(sdkConfig(fake))
    sts = new STSClient(sdkConfig(fake))
  })

  afterEach(async () => {
    await fake.reset()
  })

  after(async () => {
    iam.destroy()
    sts.destroy()
    await fake.close()
  })

  describe('IAM', () => {
    it('creates and gets roles; EntityAlreadyExists and NoSuchEntity carry IAM statuses', async () => {
      const created = await iam.send(new CreateRoleCommand({RoleName: 'anycloud-vm', AssumeRolePolicyDocument: TRUST_EC2, Tags: [{Key: 'anycloud:deployment', Value: 'dep-1'}]}))
      assert.equal(created.Role!.Arn, `arn:aws:iam::${FAKE_ACCOUNT_ID}:role/anycloud-vm`)
      assert.match(created.Role!.RoleId!, /^AROA[A-Z2-7]{17}$/)
      const got = await iam.send(new GetRoleCommand({RoleName: 'anycloud-vm'}))
      assert.equal(decodeURIComponent(got.Role!.AssumeRolePolicyDocument!), TRUST_EC2, 'IAM returns policy documents URL-encoded')
      assert.equal(got.Role!.MaxSessionDuration, 3600)
      const dup = await expectSdkError(iam.send(new CreateRoleCommand({RoleName: 'ANYCLOUD-VM', AssumeRolePolicyDocument: TRUST_EC2})))
      assert.deepEqual([dup.name, dup.Code, dup.$metadata.httpStatusCode], ['EntityAlreadyExistsException', 'EntityAlreadyExists', 409])
      const missing = await expectSdkError(iam.send(new GetRoleCommand({RoleName: 'nope'})))
      assert.deepEqual([missing.name, missing.Code, missing.$metadata.httpStatusCode, missing.message], ['NoSuchEntityException', 'NoSuchEntity', 404, 'The role with name nope cannot be found.'])
      const tags = await iam.send(new ListRoleTagsCommand({RoleName: 'anycloud-vm'}))
      assert.deepEqual(tags.Tags, [{Key: 'anycloud:deployment', Value: 'dep-1'}])
      await iam.send(new TagRoleCommand({RoleName: 'anycloud-vm', Tags: [{Key: 'owner', Value: 'ci'}]}))
      assert.deepEqual(fake.state.roles.get('anycloud-vm')!.tags, {'anycloud:deployment': 'dep-1', owner: 'ci'})
    })

    it('keeps inline policies exactly as sent (bucket ARNs and actions assertable)', async () => {
      await iam.send(new CreateRoleCommand({RoleName: 'r', AssumeRolePolicyDocument: TRUST_EC2}))
      const text = JSON.stringify(BUCKET_POLICY)
      await iam.send(new PutRolePolicyCommand({RoleName: 'r', PolicyName: 'anycloud-bucket', PolicyDocument: text}))
      assert.equal(fake.state.roles.get('r')!.inlinePolicies.get('anycloud-bucket'), text)
      assert.deepEqual(fake.rolePolicy('r', 'anycloud-bucket'), BUCKET_POLICY)
      const got = await iam.send(new GetRolePolicyCommand({RoleName: 'r', PolicyName: 'anycloud-bucket'}))
      assert.deepEqual(JSON.parse(decodeURIComponent(got.PolicyDocument!)), BUCKET_POLICY)
      assert.deepEqual((await iam.send(new ListRolePoliciesCommand({RoleName: 'r'}))).PolicyNames, ['anycloud-bucket'])
      const withPrincipal = await expectSdkError(
        iam.send(new PutRolePolicyCommand({RoleName: 'r', PolicyName: 'bad', PolicyDocument: JSON.stringify({Version: '2012-10-17', Statement: [{Effect: 'Allow', Principal: '*', Action: 's3:*', Resource: '*'}]})})),
      )
      assert.equal(withPrincipal.name, 'MalformedPolicyDocumentException')
      const notJson = await expectSdkError(iam.send(new PutRolePolicyCommand({RoleName: 'r', PolicyName: 'bad', PolicyDocument: '{'})))
      assert.equal(notJson.message, 'This policy contains invalid Json')
      const missing = await expectSdkError(iam.send(new GetRolePolicyCommand({RoleName: 'r', PolicyName: 'other'})))
      assert.equal(missing.name, 'NoSuchEntityException')
    })

    it('DeleteRole is a DeleteConflict while the role has inline policies, managed policies or an instance profile', async () => {
      await iam.send(new CreateRoleCommand({RoleName: 'vm', AssumeRolePolicyDocument: TRUST_EC2}))
      await iam.send(new PutRolePolicyCommand({RoleName: 'vm', PolicyName: 'p', PolicyDocument: JSON.stringify(BUCKET_POLICY)}))
      await iam.send(new AttachRolePolicyCommand({RoleName: 'vm', PolicyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore'}))
      await iam.send(new CreateInstanceProfileCommand({InstanceProfileName: 'vm'}))
      await iam.send(new AddRoleToInstanceProfileCommand({InstanceProfileName: 'vm', RoleName: 'vm'}))
      const second = await expectSdkError(iam.send(new AddRoleToInstanceProfileCommand({InstanceProfileName: 'vm', RoleName: 'vm'})))
      assert.deepEqual([second.name, second.$metadata.httpStatusCode], ['LimitExceededException', 409])
      const profile = await iam.send(new GetInstanceProfileCommand({InstanceProfileName: 'vm'}))
      assert.deepEqual(profile.InstanceProfile!.Roles!.map((r) => r.RoleName), ['vm'])

      const conflicts: string[] = []
      const attempt = async (): Promise<void> => {
        const err = await expectSdkError(iam.send(new DeleteRoleCommand({RoleName: 'vm'})))
        assert.deepEqual([err.name, err.$metadata.httpStatusCode], ['DeleteConflictException', 409])
        conflicts.push(err.message)
      }
      await attempt()
      const profileConflict = await expectSdkError(iam.send(new DeleteInstanceProfileCommand({InstanceProfileName: 'vm'})))
      assert.equal(profileConflict.name, 'DeleteConflictException')
      await iam.send(new RemoveRoleFromInstanceProfileCommand({InstanceProfileName: 'vm', RoleName: 'vm'}))
      await attempt()
      await iam.send(new DeleteRolePolicyCommand({RoleName: 'vm', PolicyName: 'p'}))
      await attempt()
      await iam.send(new DetachRolePolicyCommand({RoleName: 'vm', PolicyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore'}))
      await iam.send(new DeleteRoleCommand({RoleName: 'vm'}))
      await iam.send(new DeleteInstanceProfileCommand({InstanceProfileName: 'vm'}))
      assert.deepEqual(conflicts, [
        'Cannot delete entity, must remove roles from instance profile first.',
        'Cannot delete entity, must delete policies first.',
        'Cannot delete entity, must detach all policies first.',
      ])
      assert.equal(fake.state.roles.size + fake.state.instanceProfiles.size, 0)
    })

    it('IAM is global: requests must be signed for us-east-1; throttling is retried', async () => {
      const eu = new IAMClient(sdkConfig(fake, {region: 'eu-west-1'}))
      try {
        const err = await expectSdkError(eu.send(new GetRoleCommand({RoleName: 'x'})))
        assert.deepEqual([err.name, err.$metadata.httpStatusCode], ['SignatureDoesNotMatch', 403])
      } finally {
        eu.destroy()
      }
      fake.faults.throttle('CreateRole', {count: 2})
      const out = await iam.send(new CreateRoleCommand({RoleName: 'thr', AssumeRolePolicyDocument: TRUST_EC2}))
      assert.equal(out.$metadata.attempts, 3)
      assert.deepEqual(
        fake.calls('CreateRole').map((c) => c.errorCode),
        ['Throttling', 'Throttling', undefined],
      )
      assert.equal(fake.state.roles.size, 1)
    })
  })

  describe('STS', () => {
    it('GetCallerIdentity per access key, and InvalidClientTokenId / ExpiredToken for bad ones', async () => {
      const me = await sts.send(new GetCallerIdentityCommand({}))
      assert.deepEqual([me.Account, me.Arn], [FAKE_ACCOUNT_ID, `arn:aws:iam::${FAKE_ACCOUNT_ID}:user/anycloud-fake`])
      fake.addUser({accessKeyId: 'AKIAFAKESECONDUSER01', secretAccessKey: 'second', userName: 'ci'})
      const other = new STSClient(sdkConfig(fake, {credentials: {accessKeyId: 'AKIAFAKESECONDUSER01', secretAccessKey: 'second'}}))
      const unknown = new STSClient(sdkConfig(fake, {credentials: {accessKeyId: 'AKIANOSUCHKEY0000000', secretAccessKey: 'x'}}))
      try {
        assert.equal((await other.send(new GetCallerIdentityCommand({}))).Arn, `arn:aws:iam::${FAKE_ACCOUNT_ID}:user/ci`)
        const bad = await expectSdkError(unknown.send(new GetCallerIdentityCommand({})))
        assert.deepEqual([bad.name, bad.$metadata.httpStatusCode, bad.$metadata.attempts], ['InvalidClientTokenId', 403, 1])
        fake.expireCredentials('AKIAFAKESECONDUSER01')
        const expired = await expectSdkError(other.send(new GetCallerIdentityCommand({})))
        // The generic auth failure is the unmodelled `ExpiredToken` (403), not the modelled STS
        // `ExpiredTokenException` (a 400 about web-identity tokens): match on both names.
        assert.deepEqual([expired.name, expired.Code, expired.$metadata.httpStatusCode], ['ExpiredToken', 'ExpiredToken', 403])
      } finally {
        other.destroy()
        unknown.destroy()
      }
    })

    it('GetFederationToken enforces 900–129600 s and records the session policy; the token expires by the fake clock', async () => {
      const issued: [FakeCredential, IssuedSession][] = []
      const unsubscribe = fake.onCredentialsIssued((c, s) => issued.push([c, s]))
      for (const [d, constraint] of [
        [899, 'greater than or equal to 900'],
        [129601, 'less than or equal to 129600'],
      ] as const) {
        const err = await expectSdkError(sts.send(new GetFederationTokenCommand({Name: 'anycloud-dep-1', DurationSeconds: d})))
        assert.deepEqual([err.name, err.$metadata.httpStatusCode], ['ValidationError', 400])
        assert.match(err.message, new RegExp(`Value '${d}' at 'durationSeconds' failed to satisfy constraint: Member must have value ${constraint}`))
      }
      const policy = JSON.stringify(BUCKET_POLICY)
      const out = await sts.send(new GetFederationTokenCommand({Name: 'anycloud-dep-1', DurationSeconds: 3600, Policy: policy}))
      const c = out.Credentials!
      assert.match(c.AccessKeyId!, /^ASIA[A-Z2-7]{16}$/)
      assert.ok(c.SessionToken && c.SecretAccessKey)
      const lifetime = c.Expiration!.getTime() - Date.now()
      assert.ok(lifetime > 3590_000 && lifetime <= 3600_000, `expires in ~1 h, got ${lifetime}`)
      assert.equal(out.FederatedUser!.Arn, `arn:aws:sts::${FAKE_ACCOUNT_ID}:federated-user/anycloud-dep-1`)
      assert.ok(out.PackedPolicySize! > 0)

      assert.equal(fake.state.sessions.length, 1)
      const session = fake.state.sessions[0]!
      assert.deepEqual(
        {action: session.action, name: session.name, duration: session.durationSeconds, policy: session.policyJson, key: session.accessKeyId},
        {action: 'GetFederationToken', name: 'anycloud-dep-1', duration: 3600, policy: BUCKET_POLICY, key: c.AccessKeyId},
      )
      assert.equal(issued.length, 1)
      unsubscribe()

      const temp = new STSClient(sdkConfig(fake, {credentials: {accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken!}}))
      const tempEc2 = new EC2Client(sdkConfig(fake, {credentials: {accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken!}}))
      try {
        assert.equal((await temp.send(new GetCallerIdentityCommand({}))).Arn, out.FederatedUser!.Arn)
        const nested = await expectSdkError(temp.send(new GetFederationTokenCommand({Name: 'again'})))
        assert.deepEqual([nested.name, nested.$metadata.httpStatusCode], ['AccessDenied', 403])
        fake.clock.advance(3600_000)
        const expired = await expectSdkError(temp.send(new GetCallerIdentityCommand({})))
        assert.equal(expired.name, 'ExpiredToken')
        const ec2Expired = await expectSdkError(tempEc2.send(new DescribeInstancesCommand({})))
        assert.equal(ec2Expired.name, 'RequestExpired')
      } finally {
        temp.destroy()
        tempEc2.destroy()
      }
    })

    it('AssumeRole: trust policy, the role maximum, role chaining capped at 1 h', async () => {
      await iam.send(new CreateRoleCommand({RoleName: 'ec2-only', AssumeRolePolicyDocument: TRUST_EC2}))
      await iam.send(new CreateRoleCommand({RoleName: 'deployer', AssumeRolePolicyDocument: TRUST_ACCOUNT, MaxSessionDuration: 7200}))
      const arn = (name: string): string => `arn:aws:iam::${FAKE_ACCOUNT_ID}:role/${name}`

      const denied = await expectSdkError(sts.send(new AssumeRoleCommand({RoleArn: arn('ec2-only'), RoleSessionName: 'cli'})))
      assert.deepEqual([denied.name, denied.$metadata.httpStatusCode], ['AccessDenied', 403])
      const tooLong = await expectSdkError(sts.send(new AssumeRoleCommand({RoleArn: arn('deployer'), RoleSessionName: 'cli', DurationSeconds: 7201})))
      assert.equal(tooLong.message, 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.')
      const tooShort = await expectSdkError(sts.send(new AssumeRoleCommand({RoleArn: arn('deployer'), RoleSessionName: 'cli', DurationSeconds: 600})))
      assert.equal(tooShort.name, 'ValidationError')

      const first = await sts.send(new AssumeRoleCommand({RoleArn: arn('deployer'), RoleSessionName: 'cli', DurationSeconds: 7200}))
      assert.equal(first.AssumedRoleUser!.Arn, `arn:aws:sts::${FAKE_ACCOUNT_ID}:assumed-role/deployer/cli`)
      const c = first.Credentials!
      const chainedSts = new STSClient(sdkConfig(fake, {credentials: {accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken!}}))
      try {
        assert.equal((await chainedSts.send(new GetCallerIdentityCommand({}))).Arn, first.AssumedRoleUser!.Arn)
        const chainedTooLong = await expectSdkError(chainedSts.send(new AssumeRoleCommand({RoleArn: arn('deployer'), RoleSessionName: 'job', DurationSeconds: 3601})))
        assert.deepEqual(
          [chainedTooLong.name, chainedTooLong.message],
          ['ValidationError', 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.'],
        )
        const scoped = JSON.stringify(BUCKET_POLICY)
        const chained = await chainedSts.send(new AssumeRoleCommand({RoleArn: arn('deployer'), RoleSessionName: 'job', DurationSeconds: 3600, Policy: scoped}))
        assert.ok(chained.Credentials!.AccessKeyId)
        const last = fake.state.sessions.at(-1)!
        assert.deepEqual({chained: last.chained, role: last.roleArn, policy: last.policyJson, duration: last.durationSeconds}, {chained: true, role: arn('deployer'), policy: BUCKET_POLICY, duration: 3600})
      } finally {
        chainedSts.destroy()
      }
    })

    it('works behind @aws-sdk/credential-providers fromTemporaryCredentials', async () => {
      await iam.send(new CreateRoleCommand({RoleName: 'deployer', AssumeRolePolicyDocument: TRUST_ACCOUNT}))
      const cfg = sdkConfig(fake)
      const provider = fromTemporaryCredentials({
        masterCredentials: cfg.credentials,
        params: {RoleArn: `arn:aws:iam::${FAKE_ACCOUNT_ID}:role/deployer`, RoleSessionName: 'anycloud', DurationSeconds: 900},
        clientConfig: {endpoint: cfg.endpoint, region: cfg.region},
      })
      const ec2 = new EC2Client({...cfg, credentials: provider})
      try {
        await ec2.send(new DescribeInstancesCommand({}))
        const call = fake.calls('DescribeInstances')[0]!
        assert.match(call.accessKeyId!, /^ASIA/)
        assert.equal(fake.state.credentials.get(call.accessKeyId!)!.roleName, 'deployer')
      } finally {
        ec2.destroy()
      }
    })
  })
})
