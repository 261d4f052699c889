/**
 * Cross-cloud storage (SPEC §5) on a Compute Engine VM: a profile whose input and output buckets
 * live on an aws credential. The real engine applies it in-process with the real gcp and aws
 * providers: the fake GCE/IAM (its VM a real sshd in a network namespace, bootstrapped for real)
 * and the fake STS + s3rver. The VM must get scoped, short-lived STS credentials for exactly its
 * two buckets (one session each, each policy naming only its bucket), written to its 0600 rclone
 * env file, and never the aws credential's own keys; the VM's service account gets no binding for
 * a bucket that is not on GCS.
 */
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client} from '@aws-sdk/client-s3'
import {stringify} from 'yaml'

import {RecordingReporter} from '../../../src/engine/events.js'
import {outcomeOf, planAndApply} from '../../../src/engine/run.js'
import {openSession, type Session} from '../../../src/engine/session.js'
import {bucketSessionPolicy} from '../../../src/providers/aws/rclone.js'
import type {Provider} from '../../../src/providers/provider.js'
import type {ProviderSet} from '../../../src/providers/registry.js'
import {filesUnder, leaksOf, until} from '../../bootstrap/helpers.js'
import {acceptMintedKeys} from '../../helpers/fake-aws/index.js'
import {SshdInstanceBackend} from '../../helpers/fake-aws/sshd-backend.js'
import {FAKE_GCP_PROJECT} from '../../helpers/fake-gcp/index.js'
import {requireNetns, stopAllSshd} from '../../helpers/sshd/index.js'
import {s3ClientConfig} from '../../helpers/storage/index.js'
import {makeProvider as makeAwsProvider, startRigs as startAwsRigs, stopRigs as stopAwsRigs, type Rigs as AwsRigs} from '../aws/helpers.js'
import {makeProvider as makeGcpProvider, startRigs as startGcpRigs, stopRigs as stopGcpRigs, type Rigs as GcpRigs} from './helpers.js'

/** The aws credential's own keys: canaries that must never reach the VM. */
const STORE_KEYS = {accessKeyId: 'AKIASTOREOWNKEY00001', secretAccessKey: 'store-own-secret-canary-4e1f'}

describe('gcp VM with its buckets on AWS: scoped STS credentials on the VM, never the store\'s keys', function () {
  this.timeout(300_000)
  let aws: AwsRigs
  let gcp: GcpRigs
  let s3: S3Client
  let prefix = ''
  let dir = ''
  const sessions: Session[] = []

  before(async function () {
    // The VM is an sshd in its own network namespace, as in test/e2e/gcp.test.ts.
    await requireNetns(this)
    aws = await startAwsRigs()
    aws.fake.addUser({...STORE_KEYS, userName: 'store'})
    aws.s3.acceptAccessKey(STORE_KEYS.accessKeyId, STORE_KEYS.secretAccessKey)
    acceptMintedKeys(aws.fake, aws.s3)
    prefix = mkdtempSync(join(tmpdir(), 'anycloud-gcp-xc-vm-'))
    const backend = new SshdInstanceBackend({netns: true, forwardPorts: [Number(new URL(aws.s3.endpoint).port)]})
    gcp = await startGcpRigs({fake: {backend}})
    s3 = new S3Client(s3ClientConfig(aws.s3))
    dir = mkdtempSync(join(tmpdir(), 'anycloud-gcp-xc-'))
    mkdirSync(join(dir, '.home'))
  })

  after(async () => {
    for (const x of sessions.splice(0)) await x.release()
    s3?.destroy()
    await stopGcpRigs(gcp)
    await stopAwsRigs(aws)
    await stopAllSshd()
    for (const d of [prefix, dir]) if (d) rmSync(d, {recursive: true, force: true})
  })

  const objects = async (bucket: string): Promise<string[]> => ((await s3.send(new ListObjectsV2Command({Bucket: bucket}))).Contents ?? []).map((o) => o.Key ?? '').sort()

  async function open(lock: string): Promise<Session> {
    const env = {...process.env, ANYCLOUD_HOME: join(dir, '.home'), GCP_TOKEN: gcp.token, STORE_KEY: STORE_KEYS.accessKeyId, STORE_SECRET: STORE_KEYS.secretAccessKey}
    const session = await openSession({file: join(dir, 'anycloud.yaml'), env, lock})
    sessions.push(session)
    const credentials = session.config.credentials
    const store = makeAwsProvider(credentials.store)
    const machineEnv = {ANYCLOUD_GCP_SSH_USER: 'root', ANYCLOUD_REMOTE_PREFIX: prefix, ANYCLOUD_STORAGE_CHECK: '3:1'}
    const vmProvider = makeGcpProvider(credentials.gcp, {credentials, providers: {store}, env: machineEnv})
    const byName: Record<string, Provider> = {store, gcp: vmProvider}
    session.providers = {
      get: async (name: string) => byName[name] ?? Promise.reject(new Error(`no provider ${name}`)),
      closeAll: async () => {
        for (const p of Object.values(byName)) await p.close?.()
      },
    } as unknown as ProviderSet
    return session
  }

  it('input and output on S3: one STS session per bucket naming only it, in the VM\'s 0600 env file; the job reads and writes through them', async () => {
    await s3.send(new CreateBucketCommand({Bucket: 'xc-input'}))
    await s3.send(new PutObjectCommand({Bucket: 'xc-input', Key: 'data.txt', Body: 'one two three\n'}))
    await s3.send(new CreateBucketCommand({Bucket: 'xc-output'}))
    writeFileSync(join(dir, 'anycloud.yaml'), stringify({
      version: 1,
      project: 'xc',
      credentials: {
        gcp: {provider: 'gcp', project: FAKE_GCP_PROJECT, region: 'us-central1', apiEndpoint: gcp.fake.url, accessToken: '${env:GCP_TOKEN}'},
        store: {provider: 'aws', region: 'us-east-1', accessKeyId: '${env:STORE_KEY}', secretAccessKey: '${env:STORE_SECRET}', endpoints: {s3: aws.s3.endpoint, sts: aws.fake.url, iam: aws.fake.url}},
      },
      profiles: {
        job: {
          credentials: 'gcp', vmType: 'e2-small', runtime: 'process', syncIntervalSeconds: 1,
          inputBucket: 'xc-input', inputStorageCredentials: 'store', inputStorageRegion: 'us-east-1',
          outputBucket: 'xc-output', outputStorageCredentials: 'store', outputStorageRegion: 'us-east-1',
          command: ['sh', '-c', 'wc -w < "$ANYCLOUD_INPUT/data.txt" > "$ANYCLOUD_OUTPUT/count.txt"; exec sleep 7311'],
        },
      },
    }))

    const minted = () => aws.fake.state.sessions.filter((x) => x.action === 'GetFederationToken')
    const r = await planAndApply({session: await open('apply'), reporter: new RecordingReporter()})
    assert.deepEqual(outcomeOf(r.results).failed.map((f) => f.message), [])
    assert.equal(gcp.fake.liveInstances().length, 1)
    assert.ok(!r.plan.diagnostics.some((d) => /own keys/.test(d.message)), 'no plan warning about the store\'s own keys: they are not used')

    // Two sessions, minted by the store credential, each scoped to exactly one bucket and its role's actions.
    const sessionsMinted = minted()
    assert.equal(sessionsMinted.length, 2)
    assert.ok(sessionsMinted.every((x) => x.sourceAccessKeyId === STORE_KEYS.accessKeyId))
    const policyFor = (bucket: string) => sessionsMinted.find((x) => JSON.stringify(x.policyJson).includes(`:::${bucket}"`))
    assert.deepEqual(policyFor('xc-input')?.policyJson, JSON.parse(bucketSessionPolicy('xc-input', 'input')))
    assert.deepEqual(policyFor('xc-output')?.policyJson, JSON.parse(bucketSessionPolicy('xc-output', 'output')))

    // The VM's rclone env file carries those sessions (id, secret, token) and nothing of the store's.
    const state = sessions.at(-1)!.state ?? (await open('plan')).state
    const deployment = state!.deployments.job
    const envFile = join(prefix, 'etc/anycloud', deployment.id, 'rclone.env')
    assert.equal(statSync(envFile).mode & 0o777, 0o600)
    const env = readFileSync(envFile, 'utf8')
    const value = (name: string) => /^[^=]+=(.*)$/.exec(env.split('\n').find((l) => l.startsWith(`${name}=`)) ?? '')?.[1]?.replace(/^'|'$/g, '')
    for (const [remote, bucket] of [['ACINPUT', 'xc-input'], ['ACOUTPUT', 'xc-output']] as const) {
      const s = policyFor(bucket)!
      assert.equal(value(`RCLONE_CONFIG_${remote}_ACCESS_KEY_ID`), s.accessKeyId, `${remote}: the session minted for ${bucket}`)
      assert.match(s.accessKeyId, /^ASIA/)
      assert.equal(value(`RCLONE_CONFIG_${remote}_SECRET_ACCESS_KEY`), aws.fake.state.credentials.get(s.accessKeyId)?.secretAccessKey)
      assert.ok((value(`RCLONE_CONFIG_${remote}_SESSION_TOKEN`) ?? '').length > 20, `${remote}: a session token`)
    }
    assert.deepEqual(leaksOf(STORE_KEYS.secretAccessKey, {files: filesUnder(prefix)}), [], 'the store\'s secret key is nowhere on the VM')
    assert.deepEqual(leaksOf(STORE_KEYS.accessKeyId, {files: filesUnder(prefix)}), [], 'nor its key id')
    const boot = deployment.resources['job.bootstrap'] as unknown as {outputs: {credentialsExpireAt?: string}}
    const soonest = Math.min(...sessionsMinted.map((x) => x.expiration.getTime()))
    assert.equal(boot.outputs.credentialsExpireAt, new Date(soonest).toISOString(), 'the earliest expiry is recorded for watch to re-mint')

    // The service account is bound to no bucket: none of the deployment's buckets is on GCS.
    const identity = deployment.resources['job.identity']
    assert.deepEqual(Object.keys((identity?.outputs?.bindings as Record<string, string> | undefined) ?? {}), [])

    // The job read the input and its output was uploaded, both through the minted sessions.
    await until('count.txt uploaded to S3', async () => (await objects('xc-output')).includes('count.txt'), 60_000, 200)
    const body = await (await s3.send(new GetObjectCommand({Bucket: 'xc-output', Key: 'count.txt'}))).Body!.transformToString()
    assert.equal(body.trim(), '3')
    for (const x of sessions.splice(0)) await x.release()

    // Stable: the next plan changes nothing (the minted credentials are far from expiry).
    const again = await planAndApply({session: await open('plan'), reporter: new RecordingReporter(), confirm: async () => false})
    assert.deepEqual(again.plan.changes.filter((c) => c.action !== 'no-op' && c.action !== 'read').map((c) => `${c.action} ${c.address}: ${c.reason}`), [])
    for (const x of sessions.splice(0)) await x.release()

    // Destroy: nothing left alive in the fake GCE; the user's buckets stay on S3.
    const d = await planAndApply({session: await open('destroy'), reporter: new RecordingReporter(), destroy: true})
    assert.deepEqual(outcomeOf(d.results).failed.map((f) => f.message), [])
    assert.deepEqual(gcp.fake.liveInstances(), [])
    assert.deepEqual(await objects('xc-input'), ['data.txt'])
    for (const b of ['xc-input', 'xc-output']) {
      const keys = await objects(b)
      if (keys.length > 0) await s3.send(new DeleteObjectsCommand({Bucket: b, Delete: {Objects: keys.map((Key) => ({Key}))}}))
      await s3.send(new DeleteBucketCommand({Bucket: b}))
    }
  })
})
