import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'

import {CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client} from '@aws-sdk/client-s3'

import {filesUnder, leaksOf, PLACEMENT, processArgs, startVm, untilUploaded} from '../bootstrap/helpers.js'
import {disableSdkAmbientConfig} from '../helpers/fake-aws/index.js'
import {s3ClientConfig, startS3Emulator, type S3Emulator} from '../helpers/storage/index.js'
import {sshProject, type SshProject} from './ssh-rig.js'

/**
 * An ssh host whose buckets live on an `aws` credential with `endpoints.s3` pointing at s3rver
 * (SPEC §6 "ssh: buckets live on the credential named by `storage`"): the aws provider hands the
 * ssh provider an rclone S3 remote and, at apply time, the credential's own keys (an S3 endpoint
 * override has no STS), which must land in the host's 0600 rclone env file and nowhere else. The
 * session token is the canary (s3rver does not check it).
 */

const CANARY = 'canary-aws-session-token-6f3e9b2a'

describe(`ssh host with its buckets on an aws credential (s3rver), host ${PLACEMENT.title}`, function () {
  this.timeout(180_000)
  let s3rig: S3Emulator
  let s3: S3Client
  let project: SshProject

  const objects = async (bucket: string): Promise<string[]> => {
    try {
      return ((await s3.send(new ListObjectsV2Command({Bucket: bucket}))).Contents ?? []).map((o) => o.Key ?? '').sort()
    } catch {
      return []
    }
  }
  const text = async (bucket: string, key: string) => (await (await s3.send(new GetObjectCommand({Bucket: bucket, Key: key}))).Body!.transformToString())

  before(async () => {
    disableSdkAmbientConfig()
    s3rig = await startS3Emulator()
    s3 = new S3Client(s3ClientConfig(s3rig))
    await s3.send(new CreateBucketCommand({Bucket: 'ssh-aws-input'}))
    await s3.send(new PutObjectCommand({Bucket: 'ssh-aws-input', Key: 'data.txt', Body: 'alpha beta gamma delta\n'}))
    const vm = await startVm()
    await vm.forward(Number(new URL(s3rig.endpoint).port))
    project = await sshProject({
      vm,
      hostKey: true,
      storage: {
        name: 's3store',
        credential: {
          provider: 'aws', region: 'us-east-1', accessKeyId: '${env:E2E_S3_KEY}', secretAccessKey: '${env:E2E_S3_SECRET}', sessionToken: '${env:E2E_S3_TOKEN}',
          endpoints: {s3: s3rig.endpoint},
        },
      },
      profiles: {
        job: {
          credentials: 'box', runtime: 'process', spot: true, inputBucket: 'ssh-aws-input', outputBucket: 'ssh-aws-output', syncIntervalSeconds: 60,
          command: ['sh', '-c', 'wc -w < "$ANYCLOUD_INPUT/data.txt" > "$ANYCLOUD_OUTPUT/count.txt"; echo 1 > "$ANYCLOUD_CHECKPOINT/epoch"; exec sleep 4821'],
        },
      },
      env: {
        E2E_S3_KEY: s3rig.accessKeyId, E2E_S3_SECRET: s3rig.secretAccessKey, E2E_S3_TOKEN: CANARY,
        AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      },
    })
  })
  after(async () => {
    await project?.stopAll()
    s3?.destroy()
    await s3rig?.stop()
  })

  it('apply: input from S3 on the host, output and checkpoint uploaded to S3; the keys only in the 0600 rclone env file; destroy', async () => {
    await project.expect(['validate'], 0)
    const plan = await project.expect(['plan'], 0)
    assert.match(plan.stdout + plan.stderr, /its own keys are written to the machine's rclone env file/, 'the plan warns that long-lived keys go to the host')
    const r = await project.expectSampled(['apply', '-y'], 0)
    assert.match(r.stderr, /job\.bucket\.output: created/)
    const id = project.state()!.deployments.job.id
    await untilUploaded('count.txt in the S3 output bucket', project.vm.prefix, async () => (await objects('ssh-aws-output')).includes('count.txt'), 20_000, 250)
    assert.equal((await text('ssh-aws-output', 'count.txt')).trim(), '4')
    await untilUploaded('the checkpoint in its S3 bucket', project.vm.prefix, async () => (await objects(id)).includes('epoch'), 20_000, 250)
    await project.expect(['plan', '--detailed-exitcode'], 0)

    const envFile = `${project.vm.prefix}/etc/anycloud/${id}/rclone.env`
    assert.ok(readFileSync(envFile, 'utf8').includes(`SESSION_TOKEN=${CANARY}`), 'the canary is really used')
    const leaks = leaksOf(CANARY, {
      files: [...filesUnder(project.vm.prefix).filter((f) => !f.endsWith('/rclone.env') && !f.endsWith('/workload.env')), project.path('.anycloud', 'state.json')],
      texts: Object.fromEntries([...project.outputs.map((o, i) => [`CLI output #${i}`, o]), ...project.processLists.map((l, i) => [`process list #${i}`, l]), ['process list now', processArgs().map((p) => p.args).join('\n')]]),
    })
    assert.deepEqual(leaks, [])

    await project.expect(['destroy', '-y'], 0)
    assert.deepEqual(filesUnder(project.vm.prefix), [])
    assert.deepEqual(await objects(id), [], 'the checkpoint bucket went with the deployment')
    assert.deepEqual(await objects('ssh-aws-output'), ['count.txt'], 'the output bucket keeps its data')
  })
})
