import assert from 'node:assert/strict'

import {CreateBucketCommand, PutObjectCommand, S3Client} from '@aws-sdk/client-s3'
import {CreateRoleCommand, IAMClient} from '@aws-sdk/client-iam'
import {AssumeRoleCommand, STSClient} from '@aws-sdk/client-sts'

import {AuthError} from '../../../src/errors/index.js'
import {bucketSessionPolicy, CHAINED_MAX_SECONDS, FEDERATION_MAX_SECONDS, type AwsProvider} from '../../../src/providers/aws/index.js'
import type {RcloneRequest} from '../../../src/providers/provider.js'
import {FAKE_ACCOUNT_ID, sdkConfig} from '../../helpers/fake-aws/index.js'
import {rcloneEnv, runRclone, s3ClientConfig} from '../../helpers/storage/index.js'
import {allStrings, awsCredential, deploymentOf, KEYS, makeProvider, startRigs, StateDirs, stopRigs, type Rigs} from './helpers.js'

const request = (bucket: string, role: RcloneRequest['role'], extra: Partial<RcloneRequest> = {}): RcloneRequest => ({bucket, role, deploymentId: 'acme-train-abc123', instanceIdentity: false, ...extra})

interface Statement {
  Effect: string
  Action: string | string[]
  Resource: string | string[]
}

/** IAM-style evaluation of one identity policy (Allow statements, `*` and `?` globs), enough to show the scope. */
function allows(policy: unknown, action: string, resource: string): boolean {
  const glob = (pattern: string, value: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(value)
  const statements = ([] as Statement[]).concat((policy as {Statement: Statement | Statement[]}).Statement)
  return statements.some((s) => s.Effect === 'Allow' && ([] as string[]).concat(s.Action).some((a) => glob(a, action)) && ([] as string[]).concat(s.Resource).some((r) => glob(r, resource)))
}

describe('aws provider: rclone remotes and scoped STS credentials', function () {
  let rigs: Rigs
  const dirs = new StateDirs()
  const providers: AwsProvider[] = []
  const provider = (...args: Parameters<typeof makeProvider>) => {
    const p = makeProvider(...args)
    providers.push(p)
    return p
  }

  before(async () => {
    rigs = await startRigs()
  })
  after(async () => {
    for (const p of providers) await p.close()
    await stopRigs(rigs)
  })
  afterEach(async () => {
    await rigs.fake.reset()
    await rigs.s3.reset()
    dirs.cleanup()
  })

  /** Real AWS as far as STS is concerned: no S3 endpoint override. */
  const stsOnly = (name = 'store', spec = {}) => awsCredential(name, rigs, {endpoints: {ec2: rigs.fake.url, iam: rigs.fake.url, sts: rigs.fake.url}, ...spec})

  it('with an S3 endpoint override: the credential\'s own keys, path-style options, and a warning naming the credential', async () => {
    const p = provider(awsCredential('minio', rigs, {endpoints: {s3: rigs.s3.endpoint}}))
    const remote = p.rcloneRemote(request('data', 'input', {instanceIdentity: true}))
    assert.equal(remote.type, 's3')
    assert.deepEqual(remote.options, {provider: 'Other', endpoint: rigs.s3.endpoint, force_path_style: 'true', region: 'us-east-1', env_auth: 'false'})
    assert.deepEqual(remote.secretOptions, ['access_key_id', 'secret_access_key'])
    assert.match(remote.warning ?? '', /aws credential 'minio'/)
    assert.match(remote.warning ?? '', /own keys/)
    assert.notEqual(remote.secretsFingerprint, '')
    assert.ok(!allStrings(remote).some((s) => s.includes(KEYS.secretAccessKey) && s !== KEYS.accessKeyId), 'no secret in the public part')
    assert.deepEqual(await p.rcloneSecrets(request('data', 'input')), {access_key_id: KEYS.accessKeyId, secret_access_key: KEYS.secretAccessKey})
    assert.equal(rigs.fake.calls('GetFederationToken').length, 0, 'no STS for an S3-compatible store without one')
  })

  it('rclone reaches the bucket with that remote (round trip through the real rclone)', async function () {
    this.timeout(60_000)
    const s3 = new S3Client(s3ClientConfig(rigs.s3))
    await s3.send(new CreateBucketCommand({Bucket: 'rclone-in'}))
    await s3.send(new PutObjectCommand({Bucket: 'rclone-in', Key: 'hello.txt', Body: 'hi'}))
    s3.destroy()
    const p = provider(awsCredential('minio', rigs, {endpoints: {s3: rigs.s3.endpoint}}))
    const remote = p.rcloneRemote(request('rclone-in', 'input'))
    const secrets = await p.rcloneSecrets(request('rclone-in', 'input'))
    const env: Record<string, string> = {RCLONE_CONFIG_ACIN_TYPE: remote.type}
    for (const [k, v] of Object.entries({...remote.options, ...secrets})) env[`RCLONE_CONFIG_ACIN_${k.toUpperCase()}`] = v
    const r = await runRclone(['lsf', `ACIN:${remote.path}`], {env: rcloneEnv(env)})
    assert.equal(r.stdout.trim(), 'hello.txt')
  })

  it('remotes name the bucket\'s region (prepare reads it); the bootstrap hash is the same at plan time and in a fresh apply process', async () => {
    const deployment = deploymentOf(dirs.make(), {profile: {spot: true, outputBucket: 'west-results'}, placement: {region: 'eu-west-1', spot: true}})
    const bootstrap = {address: 'train.bootstrap', profile: 'train', kind: 'bootstrap' as const, credential: 'aws', provider: 'aws' as const, name: deployment.deploymentId, dependsOn: [], attributes: {}}
    const planning = provider(awsCredential('aws', rigs))
    await planning.prepare(deployment)
    const planned = planning.desiredAttributes(bootstrap, deployment).hash
    assert.equal(planning.rcloneRemote(request('west-results', 'output', {instanceIdentity: true})).options.region, 'eu-west-1', 'the region it will be created in')
    await planning.createBucket({...bootstrap, address: 'train.bucket.output', kind: 'bucket', role: 'output', name: 'west-results', attributes: {}}, {region: 'eu-west-1', tags: {'anycloud-managed': 'true', 'anycloud-deployment': deployment.deploymentId}})
    const applying = provider(awsCredential('aws', rigs))
    await applying.prepare(deployment)
    assert.equal(applying.rcloneRemote(request('west-results', 'output', {instanceIdentity: true})).options.region, 'eu-west-1', 'read with GetBucketLocation')
    assert.equal(applying.desiredAttributes(bootstrap, deployment).hash, planned)
  })

  it('with instance identity on AWS: env_auth, no secret', async () => {
    const p = provider(stsOnly())
    const remote = p.rcloneRemote(request('data', 'output', {instanceIdentity: true}))
    assert.deepEqual(remote, {type: 's3', options: {provider: 'AWS', env_auth: 'true', region: 'us-east-1'}, path: 'data', secretOptions: [], secretsFingerprint: ''})
    assert.deepEqual(await p.rcloneSecrets(request('data', 'output', {instanceIdentity: true})), {})
  })

  it('an IAM user\'s keys: GetFederationToken for 36 h, with a session policy naming exactly that bucket', async () => {
    const p = provider(stsOnly())
    const remote = p.rcloneRemote(request('results', 'output'))
    assert.deepEqual(remote.options, {provider: 'AWS', env_auth: 'false', region: 'us-east-1'})
    assert.deepEqual(remote.secretOptions, ['access_key_id', 'secret_access_key', 'session_token'])
    assert.equal(remote.secretsFingerprint, '', 'minted per apply: no plan diff')
    const secrets = await p.rcloneSecrets(request('results', 'output'))
    assert.match(secrets.access_key_id, /^ASIA/)
    assert.ok(secrets.secret_access_key && secrets.session_token)
    const [session] = rigs.fake.state.sessions
    assert.equal(session.action, 'GetFederationToken')
    assert.equal(session.durationSeconds, FEDERATION_MAX_SECONDS)
    assert.equal(FEDERATION_MAX_SECONDS, 36 * 3600)
    const policy = session.policyJson
    assert.ok(allows(policy, 's3:ListBucket', 'arn:aws:s3:::results'))
    for (const a of ['s3:GetObject', 's3:PutObject', 's3:DeleteObject']) assert.ok(allows(policy, a, 'arn:aws:s3:::results/any/key'), a)
    // Nothing else: another bucket, a bucket whose name starts the same, other actions.
    assert.ok(!allows(policy, 's3:GetObject', 'arn:aws:s3:::other/key'))
    assert.ok(!allows(policy, 's3:GetObject', 'arn:aws:s3:::results-archive/key'))
    assert.ok(!allows(policy, 's3:ListBucket', 'arn:aws:s3:::results-archive'))
    assert.ok(!allows(policy, 's3:DeleteBucket', 'arn:aws:s3:::results'))
    assert.ok(!allows(policy, 'iam:PassRole', 'arn:aws:iam::123456789012:role/x'))
    const wild = allStrings(policy).filter((s) => s === '*' || s.endsWith(':*') || s === 'arn:aws:s3:::*')
    assert.deepEqual(wild, [], 'no wildcard action or resource')
  })

  it('an input bucket gets read-only credentials', async () => {
    const p = provider(stsOnly())
    await p.rcloneSecrets(request('training-data', 'input', {expiresInSeconds: 7200}))
    const [session] = rigs.fake.state.sessions
    assert.equal(session.durationSeconds, 7200)
    assert.ok(allows(session.policyJson, 's3:GetObject', 'arn:aws:s3:::training-data/x'))
    assert.ok(!allows(session.policyJson, 's3:PutObject', 'arn:aws:s3:::training-data/x'))
    assert.ok(!allows(session.policyJson, 's3:DeleteObject', 'arn:aws:s3:::training-data/x'))
    assert.deepEqual(JSON.parse(bucketSessionPolicy('training-data', 'input')), session.policyJson)
  })

  it('more than 36 h is refused before calling AWS, naming the limit', async () => {
    const p = provider(stsOnly())
    await assert.rejects(p.rcloneSecrets(request('results', 'output', {expiresInSeconds: 40 * 3600})), /36 h/)
    assert.equal(rigs.fake.calls('GetFederationToken').length, 0)
  })

  describe('from a role session (role chaining)', () => {
    async function roleSession(): Promise<{accessKeyId: string; secretAccessKey: string; sessionToken: string}> {
      const iam = new IAMClient(sdkConfig(rigs.fake, {credentials: KEYS}))
      const userArn = `arn:aws:iam::${FAKE_ACCOUNT_ID}:user/anycloud-test`
      const roleArn = `arn:aws:iam::${FAKE_ACCOUNT_ID}:role/ci-storage`
      await iam.send(
        new CreateRoleCommand({
          RoleName: 'ci-storage',
          AssumeRolePolicyDocument: JSON.stringify({Version: '2012-10-17', Statement: [{Effect: 'Allow', Principal: {AWS: [userArn, roleArn]}, Action: 'sts:AssumeRole'}]}),
          MaxSessionDuration: 43200,
        }),
      )
      iam.destroy()
      const sts = new STSClient(sdkConfig(rigs.fake, {credentials: KEYS}))
      const out = await sts.send(new AssumeRoleCommand({RoleArn: roleArn, RoleSessionName: 'ci-job'}))
      sts.destroy()
      const c = out.Credentials!
      return {accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken!}
    }

    it('AssumeRole of the same role with the bucket\'s session policy, for at most 1 h', async () => {
      const p = provider(stsOnly('store', await roleSession()))
      const secrets = await p.rcloneSecrets(request('results', 'checkpoint'))
      assert.ok(secrets.session_token)
      const minted = rigs.fake.state.sessions.at(-1)!
      assert.equal(minted.action, 'AssumeRole')
      assert.equal(minted.chained, true)
      assert.equal(minted.durationSeconds, CHAINED_MAX_SECONDS)
      assert.ok(allows(minted.policyJson, 's3:PutObject', 'arn:aws:s3:::results/k'))
      assert.ok(!allows(minted.policyJson, 's3:PutObject', 'arn:aws:s3:::elsewhere/k'))
    })

    it('a request longer than 1 h is refused before calling AWS, with a message naming the limit', async () => {
      const p = provider(stsOnly('store', await roleSession()))
      const before = rigs.fake.calls('AssumeRole').length
      await assert.rejects(p.rcloneSecrets(request('results', 'output', {expiresInSeconds: 2 * 3600})), (e: Error & {code?: string}) => {
        assert.equal(e.code, 'aws.sts-duration')
        assert.match(e.message, /role chaining/)
        assert.match(e.message, /1 h/)
        return true
      })
      assert.equal(rigs.fake.calls('AssumeRole').length, before, 'no AssumeRole sent')
    })
  })

  it('minted credentials stop working at expiry (the provider sees an AuthError)', async () => {
    const p = provider(stsOnly())
    const secrets = await p.rcloneSecrets(request('results', 'output', {expiresInSeconds: 900}))
    const minted = provider(stsOnly('minted', {accessKeyId: secrets.access_key_id, secretAccessKey: secrets.secret_access_key, sessionToken: secrets.session_token}))
    assert.ok((await minted.checkAuth()).account?.includes('federated-user'))
    rigs.fake.clock.advance(901_000)
    const later = provider(stsOnly('minted-later', {accessKeyId: secrets.access_key_id, secretAccessKey: secrets.secret_access_key, sessionToken: secrets.session_token}))
    await assert.rejects(later.checkAuth(), (e) => e instanceof AuthError)
  })
})
