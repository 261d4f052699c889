import assert from 'node:assert/strict'

import {CreateBucketCommand, GetBucketTaggingCommand, ListObjectsV2Command, PutObjectCommand, S3Client} from '@aws-sdk/client-s3'

import {PLACEMENT, startVm, untilUploaded} from '../bootstrap/helpers.js'
import {disableSdkAmbientConfig} from '../helpers/fake-aws/index.js'
import {s3ClientConfig, startS3Emulator, type S3Emulator} from '../helpers/storage/index.js'
import {sshProject, type SshProject} from './ssh-rig.js'

/**
 * An ssh host whose buckets live on an S3-compatible store without bucket tagging (plain s3rver:
 * GetBucketTagging answers NotImplemented, HTTP 501, as Cloudflare R2 and Backblaze B2 do). Input
 * buckets need no tags; for the buckets anycloud creates there, ownership rests on what state
 * recorded, and the plan says so.
 */
describe(`ssh host with its buckets on an S3 store without bucket tagging, host ${PLACEMENT.title}`, function () {
  this.timeout(180_000)
  let s3rig: S3Emulator
  let s3: S3Client
  let project: SshProject
  const objects = async (bucket: string): Promise<string[] | undefined> => {
    try {
      return ((await s3.send(new ListObjectsV2Command({Bucket: bucket}))).Contents ?? []).map((o) => o.Key ?? '').sort()
    } catch {
      return undefined
    }
  }

  before(async () => {
    disableSdkAmbientConfig()
    s3rig = await startS3Emulator({noTagging: true})
    s3 = new S3Client(s3ClientConfig(s3rig))
    await assert.rejects(s3.send(new GetBucketTaggingCommand({Bucket: 'nt-input'})), 'the store really has no tagging (or no bucket yet)')
    await s3.send(new CreateBucketCommand({Bucket: 'nt-input'}))
    await assert.rejects(s3.send(new GetBucketTaggingCommand({Bucket: 'nt-input'})), (e: {$metadata?: {httpStatusCode?: number}}) => e.$metadata?.httpStatusCode === 501)
    await s3.send(new CreateBucketCommand({Bucket: 'nt-users-own'}))
    await s3.send(new PutObjectCommand({Bucket: 'nt-input', Key: 'data.txt', Body: 'one two\n'}))
    const vm = await startVm()
    await vm.forward(Number(new URL(s3rig.endpoint).port))
    project = await sshProject({
      vm,
      storage: {name: 's3store', credential: {provider: 'aws', region: 'us-east-1', accessKeyId: '${env:E2E_S3_KEY}', secretAccessKey: '${env:E2E_S3_SECRET}', endpoints: {s3: s3rig.endpoint}}},
      profiles: {
        job: {
          credentials: 'box', runtime: 'process', spot: true, inputBucket: 'nt-input', outputBucket: 'nt-output', syncIntervalSeconds: 60,
          command: ['sh', '-c', 'wc -w < "$ANYCLOUD_INPUT/data.txt" > "$ANYCLOUD_OUTPUT/count.txt"; exec sleep 4831'],
        },
        adopt: {credentials: 'box', runtime: 'process', outputBucket: 'nt-users-own', command: ['sh', '-c', 'echo hi > "$ANYCLOUD_OUTPUT/hi.txt"']},
      },
      env: {
        E2E_S3_KEY: s3rig.accessKeyId, E2E_S3_SECRET: s3rig.secretAccessKey,
        AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      },
    })
  })
  after(async () => {
    await project?.stopAll()
    s3?.destroy()
    await s3rig?.stop()
  })

  it('plans and applies; the buckets it created are its own by state (the plan warns), a bucket it only used is kept', async () => {
    await project.expect(['plan'], 0)
    await project.expect(['apply', '-y'], 0)
    const id = project.state()!.deployments.job.id
    await untilUploaded('count.txt in the output bucket', project.vm.prefix, async () => (await objects('nt-output'))?.includes('count.txt'), 20_000, 250)
    const plan = await project.expect(['plan'], 0)
    const text = plan.stdout + plan.stderr
    assert.match(text, /bucket 'nt-output' on credential 's3store': the store has no bucket tagging.*recorded as created by this deployment/)
    assert.match(text, new RegExp(`bucket '${id}' on credential 's3store': the store has no bucket tagging`))
    assert.match(text, /bucket 'nt-users-own' on credential 's3store': the store has no bucket tagging.*not recorded as created by anycloud/)
    assert.doesNotMatch(text, /bucket 'nt-input' on credential 's3store': the store has no bucket tagging/, 'input buckets are never ours: nothing to say')

    await project.expect(['destroy', '-y'], 0)
    assert.equal(await objects(id), undefined, 'the checkpoint bucket anycloud created (state says so) went with the deployment')
    assert.ok((await objects('nt-output'))?.includes('count.txt'), 'the output bucket keeps its data')
    assert.ok((await objects('nt-users-own'))?.includes('hi.txt'), 'a bucket anycloud did not create is kept')
    assert.deepEqual(await objects('nt-input'), ['data.txt'])
  })
})
