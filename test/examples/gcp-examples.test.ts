/**
 * The GCP examples against our fakes (copied to a temp directory; only the credentials' endpoints
 * and secrets are pointed at the fakes, the profiles are the examples'):
 * - examples/gcp plans on the fake GCE/IAM (GCS fake behind it) with its service-account key file:
 *   everything to create, the L4 machine type and spot as written, the input bucket read;
 * - examples/multi-cloud falls back in the order listed: Azure refused at the fake login endpoint,
 *   AWS refused by the fake STS (a wrong secret), then GCP (a token the fake issued) plans.
 */
import assert from 'node:assert/strict'
import {generateKeyPairSync} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {CreateBucketCommand, S3Client} from '@aws-sdk/client-s3'
import {Storage} from '@google-cloud/storage'
import {parse, stringify} from 'yaml'

import {loadConfig} from '../../src/config/index.js'
import {CredentialStore} from '../../src/credentials/store.js'
import {RecordingReporter} from '../../src/engine/events.js'
import {planChanges} from '../../src/engine/planner.js'
import {createAzureProvider, type AzureFactoryOptions} from '../../src/providers/azure/index.js'
import {ProviderSet, registerProvider} from '../../src/providers/registry.js'
import {copyExample as copyCheckedIn} from '../helpers/examples.js'
import {disableSdkAmbientConfig, startFakeAws, type FakeAws} from '../helpers/fake-aws/index.js'
import {startFakeAzure, type FakeAzure} from '../helpers/fake-azure/index.js'
import {startFakeGcp, type FakeGcp} from '../helpers/fake-gcp/index.js'
import {gcsClientOptions, s3ClientConfig, startGcsFake, startS3Emulator, type GcsFake, type S3Emulator} from '../helpers/storage/index.js'
import {loopbackOnly} from '../helpers/storage/test-env.js'
import {noMetadata} from '../providers/gcp/helpers.js'

const examplesDir = new URL('../../examples/', import.meta.url).pathname

describe('examples/ on GCP (fake GCE/IAM, GCS fake)', function () {
  this.timeout(180_000)
  let fake: FakeGcp
  let gcs: GcsFake
  let home: string
  let allowAllNet: () => void
  const dirs: string[] = []

  before(async () => {
    allowAllNet = loopbackOnly()
    noMetadata()
    gcs = await startGcsFake()
    fake = await startFakeGcp({storage: gcs.apiEndpoint})
    fake.project = 'acme-ml'
    home = mkdtempSync(join(tmpdir(), 'anycloud-gcpex-home-'))
  })
  after(async () => {
    await fake?.close()
    await gcs?.stop()
    for (const d of [home, ...dirs]) rmSync(d, {recursive: true, force: true})
    allowAllNet?.()
  })

  function copyExample(name: string, edit: (credentials: Record<string, Record<string, unknown>>, dir: string) => void): string {
    const dir = mkdtempSync(join(tmpdir(), `anycloud-gcpex-${name}-`))
    dirs.push(dir)
    copyCheckedIn(name, dir)
    const file = join(dir, 'anycloud.yaml')
    const doc = parse(readFileSync(file, 'utf8')) as {credentials: Record<string, Record<string, unknown>>}
    edit(doc.credentials, dir)
    writeFileSync(file, stringify(doc))
    return file
  }

  async function plan(file: string, env: Record<string, string>, reporter = new RecordingReporter()) {
    const {config, errors} = loadConfig({file, env, store: new CredentialStore(home)})
    assert.deepEqual(errors, [])
    const providers = new ProviderSet({credentials: config!.credentials, configDir: config!.dir, env})
    try {
      return await planChanges({config: config!, profiles: Object.values(config!.profiles), state: undefined, reporter, stateDir: join(config!.dir, '.anycloud'), providers})
    } finally {
      await providers.closeAll()
    }
  }

  it('examples/gcp plans against the fake with its key file: everything to create, L4 machine and spot as written', async () => {
    await new Storage(gcsClientOptions(gcs, {projectId: 'acme-ml'})).createBucket('acme-infer-inputs')
    const {privateKey} = generateKeyPairSync('rsa', {modulusLength: 2048, privateKeyEncoding: {type: 'pkcs8', format: 'pem'}, publicKeyEncoding: {type: 'spki', format: 'pem'}})
    const email = 'anycloud@acme-ml.iam.gserviceaccount.com'
    fake.trustKey(email, privateKey)
    let keyFile = ''
    const file = copyExample('gcp', (c, dir) => {
      c['gcp-prod']!.apiEndpoint = fake.url
      keyFile = join(dir, 'sa.json')
      writeFileSync(keyFile, JSON.stringify({type: 'service_account', project_id: 'acme-ml', private_key_id: 'k1', private_key: privateKey, client_email: email}), {mode: 0o600})
    })
    const result = await plan(file, {GCP_KEY_FILE: keyFile, HOME: home})
    assert.deepEqual(result.diagnostics.filter((d) => d.severity === 'error'), [])
    const actions = result.changes.map((c) => `${c.action} ${c.address}`).sort()
    for (const a of ['bucket.output', 'bucket.checkpoint', 'identity', 'network', 'sshkey', 'vm', 'bootstrap', 'workload']) assert.ok(actions.includes(`create infer.${a}`), `infer.${a}: ${actions.join(', ')}`)
    assert.ok(actions.includes('read infer.bucket.input'))
    const vm = result.changes.find((c) => c.address === 'infer.vm')!
    assert.equal((vm.after as Record<string, unknown>).machineType, 'g2-standard-24')
    assert.equal((vm.after as Record<string, unknown>).spot, true)
    assert.equal(fake.liveInstances().length, 0, 'a plan creates nothing')
    assert.ok(fake.requests.length > 0 && fake.requests.every((r) => r.auth === 'jwt' && r.principal === email), 'every call signed with the key')
  })

  describe('examples/multi-cloud', () => {
    let azure: FakeAzure
    let aws: FakeAws
    let s3: S3Emulator
    before(async () => {
      disableSdkAmbientConfig()
      azure = await startFakeAzure({subscriptionId: '00000000-0000-0000-0000-000000000000', clients: {'22222222-2222-2222-2222-222222222222': 'the-right-secret'}})
      registerProvider('azure', async () => async (options) => createAzureProvider({...options, sdk: {ca: azure.ca, updateIntervalInMs: 1, retry: {maxRetries: 1, retryDelayInMs: 1, maxRetryDelayInMs: 2}}} as AzureFactoryOptions))
      s3 = await startS3Emulator()
      aws = await startFakeAws({users: [{accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', userName: 'ex'}]})
      const client = new S3Client(s3ClientConfig(s3))
      for (const b of ['acme-shared-data', 'acme-fanout-results']) await client.send(new CreateBucketCommand({Bucket: b}))
      client.destroy()
      await new Storage(gcsClientOptions(gcs, {projectId: 'acme-ml'})).createBucket('acme-shared-data')
    })
    after(async () => {
      registerProvider('azure', async () => (await import('../../src/providers/azure/index.js')).createAzureProvider)
      await azure?.close()
      await aws?.close()
      await s3?.stop()
    })

    it('falls back in the order listed: Azure refused, AWS refused, GCP plans', async () => {
      const token = fake.issueToken('multi')
      const file = copyExample('multi-cloud', (c) => {
        c['azure-prod']!.endpoints = {resourceManager: azure.url, login: azure.url}
        for (const n of ['aws-prod', 'aws-storage']) {
          delete c[n]!.profile
          Object.assign(c[n]!, {accessKeyId: '${env:AWS_KEY}', secretAccessKey: n === 'aws-prod' ? '${env:AWS_BAD_SECRET}' : '${env:AWS_SECRET}', endpoints: {s3: s3.endpoint, ec2: aws.url, iam: aws.url, sts: aws.url}})
        }
        Object.assign(c['gcp-prod']!, {apiEndpoint: fake.url, accessToken: '${env:GCP_TOKEN}'})
      })
      const reporter = new RecordingReporter()
      const result = await plan(file, {
        AZURE_CLIENT_SECRET: 'stale-secret',
        AWS_KEY: 'S3RVER',
        AWS_SECRET: 'S3RVER',
        AWS_BAD_SECRET: 'not-the-secret',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONFIG_FILE: '/nonexistent',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
        GCP_TOKEN: token,
        HOME: home,
      }, reporter)
      const vm = result.changes.find((c) => c.address === 'train.vm')!
      assert.equal(vm.credential, 'gcp-prod', JSON.stringify(result.diagnostics))
      assert.equal(vm.action, 'create')
      assert.ok(azure.requests.some((r) => r.path.endsWith('/oauth2/v2.0/token')), 'Azure was tried first')
      // Tried in the order listed, each refused but the last.
      const attempts = reporter.events.filter((e) => e.type === 'attempt').map((e) => `${(e as {credential: string}).credential}:${(e as {outcome: string}).outcome}`)
      assert.deepEqual(attempts.map((a) => a.split(':')[0]), ['azure-prod', 'aws-prod', 'gcp-prod'], attempts.join(', '))
      assert.ok(attempts[0]!.endsWith(':auth-failed') && attempts[1]!.endsWith(':auth-failed') && attempts[2] === 'gcp-prod:ok', attempts.join(', '))
      // The output bucket stays on S3 (aws-storage): the GCE VM will get scoped STS credentials for it.
      assert.equal(result.changes.find((c) => c.address === 'train.bucket.output')!.credential, 'aws-storage')
    })
  })
})
