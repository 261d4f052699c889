/**
 * The Azure examples against our fakes (copied to a temp directory; only the credentials'
 * endpoints are pointed at the fakes, the profiles are the examples'):
 * - examples/azure plans: both profiles (eastus and westus2) on the fake ARM, with the input
 *   container found in the us account;
 * - examples/multi-cloud: the Azure credential is refused at the fake login endpoint, so the plan
 *   falls back to the next credential (AWS, on fake EC2/IAM/STS and the S3 emulator).
 */
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {CreateBucketCommand, S3Client} from '@aws-sdk/client-s3'
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
import {startAzurite, type AzuriteRig} from '../helpers/storage/azurite.js'
import {s3ClientConfig, startS3Emulator, type S3Emulator} from '../helpers/storage/index.js'
import {loopbackOnly} from '../helpers/storage/test-env.js'
import {desiredBucket, tagsFor} from '../providers/azure/helpers.js'
import {makeArmProvider} from '../providers/azure/arm-helpers.js'

const examplesDir = new URL('../../examples/', import.meta.url).pathname
const SECRET = 'the-right-secret'
const EXAMPLE_SUBSCRIPTION = '00000000-0000-0000-0000-000000000000'
const EXAMPLE_CLIENT = '22222222-2222-2222-2222-222222222222'

describe('examples/ on Azure (fake ARM and login, azurite)', function () {
  this.timeout(180_000)
  let fake: FakeAzure
  let rig: AzuriteRig
  let home: string
  let allowAllNet: () => void
  const dirs: string[] = []

  before(async () => {
    allowAllNet = loopbackOnly()
    rig = await startAzurite()
    fake = await startFakeAzure({subscriptionId: EXAMPLE_SUBSCRIPTION, blob: {endpoint: rig.blobEndpoint, accountName: rig.accountName, accountKey: rig.accountKey}, clients: {[EXAMPLE_CLIENT]: SECRET}})
    home = mkdtempSync(join(tmpdir(), 'anycloud-azex-home-'))
    // The fake's CA is trusted by the providers this test builds (the CLI would use NODE_EXTRA_CA_CERTS).
    registerProvider('azure', async () => async (options) => createAzureProvider({...options, sdk: {ca: fake.ca, updateIntervalInMs: 1, retry: {maxRetries: 1, retryDelayInMs: 1, maxRetryDelayInMs: 2}}} as AzureFactoryOptions))
  })
  after(async () => {
    registerProvider('azure', async () => (await import('../../src/providers/azure/index.js')).createAzureProvider)
    await fake?.close()
    await rig?.stop()
    for (const d of [home, ...dirs]) rmSync(d, {recursive: true, force: true})
    allowAllNet?.()
  })

  /** A temp copy of an example whose credentials `edit` adjusts. */
  function copyExample(name: string, edit: (credentials: Record<string, Record<string, unknown>>) => void): string {
    const dir = mkdtempSync(join(tmpdir(), `anycloud-azex-${name}-`))
    dirs.push(dir)
    copyCheckedIn(name, dir)
    const file = join(dir, 'anycloud.yaml')
    const doc = parse(readFileSync(file, 'utf8')) as {credentials: Record<string, Record<string, unknown>>}
    edit(doc.credentials)
    writeFileSync(file, stringify(doc))
    return file
  }

  async function plan(file: string, env: Record<string, string>) {
    const {config, errors} = loadConfig({file, env, store: new CredentialStore(home)})
    assert.deepEqual(errors, [])
    const providers = new ProviderSet({credentials: config!.credentials, configDir: config!.dir, env})
    try {
      return await planChanges({config: config!, profiles: Object.values(config!.profiles), state: undefined, reporter: new RecordingReporter(), stateDir: join(config!.dir, '.anycloud'), providers})
    } finally {
      await providers.closeAll()
    }
  }

  it('examples/azure plans both profiles against the fake: everything to create, VM size and spot as written', async () => {
    const seeder = await makeArmProvider(fake, {credential: {name: 'az', origin: 'file', spec: {provider: 'azure', subscriptionId: EXAMPLE_SUBSCRIPTION, tenantId: fake.tenantId, clientId: EXAMPLE_CLIENT, clientSecret: SECRET, endpoints: {resourceManager: fake.url, login: fake.url}}}})
    await seeder.createBucket(desiredBucket('eval-data', 'input', 'az', 'azure'), {region: 'eastus', tags: tagsFor('input', 'seed')})
    const file = copyExample('azure', (c) => {
      c['azure-prod']!.endpoints = {resourceManager: fake.url, login: fake.url}
    })
    const result = await plan(file, {AZURE_CLIENT_SECRET: SECRET})
    const actions = result.changes.map((c) => `${c.action} ${c.address}`).sort()
    for (const p of ['eval', 'eval-west']) {
      for (const a of ['bucket.output', 'bucket.checkpoint', 'identity', 'network', 'sshkey', 'vm', 'bootstrap', 'workload']) assert.ok(actions.includes(`create ${p}.${a}`), `${p}.${a}: ${actions.join(', ')}`)
      assert.ok(actions.includes(`read ${p}.bucket.input`))
    }
    const vm = result.changes.find((c) => c.address === 'eval-west.vm')!
    assert.equal((vm.after as Record<string, unknown>).vmSize, 'Standard_NC16as_T4_v3')
    assert.equal((vm.after as Record<string, unknown>).spot, true)
    assert.equal((vm.after as Record<string, unknown>).region, 'westus2')
    assert.deepEqual(fake.ofType('Microsoft.Compute/virtualMachines'), [], 'a plan creates nothing')
  })

  describe('examples/multi-cloud', () => {
    let aws: FakeAws
    let s3: S3Emulator
    before(async () => {
      disableSdkAmbientConfig()
      s3 = await startS3Emulator()
      aws = await startFakeAws({users: [{accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', userName: 'ex'}]})
      const client = new S3Client(s3ClientConfig(s3))
      for (const b of ['acme-shared-data', 'acme-fanout-results']) await client.send(new CreateBucketCommand({Bucket: b}))
      client.destroy()
    })
    after(async () => {
      await aws?.close()
      await s3?.stop()
    })

    it('falls back from a refused Azure credential to the next one (AWS)', async () => {
      const file = copyExample('multi-cloud', (c) => {
        c['azure-prod']!.endpoints = {resourceManager: fake.url, login: fake.url}
        for (const n of ['aws-prod', 'aws-storage']) {
          delete c[n]!.profile
          Object.assign(c[n]!, {accessKeyId: '${env:AWS_KEY}', secretAccessKey: '${env:AWS_SECRET}', endpoints: {s3: s3.endpoint, ec2: aws.url, iam: aws.url, sts: aws.url}})
        }
      })
      // The Azure secret in the environment is not the one the login endpoint expects: refused.
      const result = await plan(file, {AZURE_CLIENT_SECRET: 'stale-secret', AWS_KEY: 'S3RVER', AWS_SECRET: 'S3RVER', AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', GCP_KEY_FILE: '/dev/null'})
      const vm = result.changes.find((c) => c.address === 'train.vm')!
      assert.equal(vm.credential, 'aws-prod', JSON.stringify(result.diagnostics))
      assert.equal(vm.action, 'create')
      assert.ok(fake.requests.some((r) => r.path.endsWith('/oauth2/v2.0/token')), 'Azure was tried first')
      assert.ok(result.diagnostics.some((d) => /azure-prod/.test(d.message)), JSON.stringify(result.diagnostics))
    })
  })
})
