/**
 * Storage credentials that outlive the job, beyond EC2 (issue 12 item 5): on an Azure VM, a Compute
 * Engine VM and an ssh host whose output bucket is reached with scoped STS credentials minted by an
 * aws credential, `watch` re-mints them before they expire and rewrites the machine's rclone env
 * file (0600, atomically: a new inode) while the workload keeps its pid. The BUILT CLI against the
 * fake EC2/IAM/STS (its clock set 35 h back, so what it mints for 36 h expires within the hour),
 * s3rver, and the fake ARM / fake GCE with real sshd "VMs" in network namespaces.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client} from '@aws-sdk/client-s3'
import {stringify} from 'yaml'

import {startVm} from '../bootstrap/helpers.js'
import {acceptMintedKeys, disableSdkAmbientConfig, startFakeAws, type FakeAws} from '../helpers/fake-aws/index.js'
import {SshdInstanceBackend} from '../helpers/fake-aws/sshd-backend.js'
import {SshdVmBackend, startFakeAzure, type FakeAzure} from '../helpers/fake-azure/index.js'
import {FAKE_GCP_PROJECT, startFakeGcp, type FakeGcp} from '../helpers/fake-gcp/index.js'
import {requireNetns, stopAllSshd} from '../helpers/sshd/index.js'
import {s3ClientConfig, startGcsFake, startS3Emulator, type GcsFake, type S3Emulator} from '../helpers/storage/index.js'
import {CLIENT_ID, CLIENT_SECRET} from '../providers/azure/arm-helpers.js'
import {KEYS} from '../providers/aws/helpers.js'
import {Project, until} from './cli.js'
import type {Decision} from './spot-job.js'
import {sshProject, type SshProject} from './ssh-rig.js'

const AWS_ENV = {
  E2E_AWS_KEY_ID: KEYS.accessKeyId, E2E_AWS_SECRET: KEYS.secretAccessKey,
  AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
}

describe('e2e: minted storage credentials re-minted by watch on Azure, GCE and ssh machines (fake STS clock)', function () {
  this.timeout(600_000)
  let aws: FakeAws | undefined
  let s3rig: S3Emulator | undefined
  let s3: S3Client | undefined
  let prefix = ''

  before(async function () {
    await requireNetns(this)
    disableSdkAmbientConfig()
    s3rig = await startS3Emulator()
    aws = await startFakeAws({users: [{...KEYS, userName: 'e2e'}]})
    s3 = new S3Client(s3ClientConfig(s3rig))
    prefix = mkdtempSync(join(tmpdir(), 'anycloud-remint-vm-'))
    acceptMintedKeys(aws, s3rig)
  })

  after(async () => {
    s3?.destroy()
    await aws?.close()
    await s3rig?.stop()
    await stopAllSshd()
    if (prefix) rmSync(prefix, {recursive: true, force: true})
  })

  /** The aws credential holding the output bucket: another account, so the machine gets scoped STS credentials. */
  const awsStore = () => ({provider: 'aws', region: 'us-east-1', accessKeyId: '${env:E2E_AWS_KEY_ID}', secretAccessKey: '${env:E2E_AWS_SECRET}', endpoints: {s3: s3rig!.endpoint, sts: aws!.url, iam: aws!.url}})
  const objects = async (bucket: string): Promise<string[]> => {
    try {
      return ((await s3!.send(new ListObjectsV2Command({Bucket: bucket}))).Contents ?? []).map((o) => o.Key ?? '').sort()
    } catch {
      return []
    }
  }
  const emptyAndDelete = async (bucket: string) => {
    const keys = await objects(bucket)
    if (keys.length > 0) await s3!.send(new DeleteObjectsCommand({Bucket: bucket, Delete: {Objects: keys.map((Key) => ({Key}))}}))
    await s3!.send(new DeleteBucketCommand({Bucket: bucket})).catch(() => undefined)
  }
  const mints = () => aws!.state.sessions.filter((x) => x.action === 'GetFederationToken')
  const pidOf = (sleep: number) => Number(execFileSync('pgrep', ['-f', `^sleep ${sleep}$`], {encoding: 'utf8'}).trim().split('\n')[0])
  const tokenIn = (text: string) => /^RCLONE_CONFIG_ACOUTPUT_SESSION_TOKEN=(.*)$/m.exec(text)?.[1]

  /**
   * apply with STS 35 h behind → the plan says the credentials are due → `watch --once` re-mints
   * them: a new token in a new 0600 file, the same workload pid, then no changes; destroy.
   */
  async function provesRemint(o: {project: Project; env: Record<string, string>; bucket: string; sleep: number; envFile: (id: string, pid: number) => string}): Promise<void> {
    const run = (args: string[], code: number) => o.project.expect(args, code, {env: o.env, timeoutMs: 300_000})
    const minted = mints().length
    aws!.clock.advance(-35 * 3600 * 1000)
    try {
      await run(['apply', '-y'], 0)
    } finally {
      aws!.clock.reset()
    }
    assert.equal(mints().length, minted + 1, 'one scoped credential minted for the output bucket')
    const firstExpiry = mints().at(-1)!.expiration
    assert.ok(firstExpiry.getTime() - Date.now() < 2 * 3600 * 1000, 'what was minted expires within the hour')
    const state = o.project.state()!.deployments.job
    const expiryRecorded = () => (o.project.state()!.deployments.job.resources['job.bootstrap'] as unknown as {outputs: {credentialsExpireAt?: string}}).outputs.credentialsExpireAt
    assert.equal(expiryRecorded(), firstExpiry.toISOString(), 'the bootstrap records when the minted credentials expire')
    await until('hello.txt uploaded with the minted credentials', async () => (await objects(o.bucket)).includes('hello.txt'), 90_000, 200)

    const pid = pidOf(o.sleep)
    assert.ok(pid > 1)
    const envFile = o.envFile(state.id, pid)
    const before = readFileSync(envFile, 'utf8')
    const inode = statSync(envFile).ino
    assert.ok(tokenIn(before), 'the session token is in the rclone env file')
    assert.equal(statSync(envFile).mode & 0o777, 0o600)

    const plan = JSON.parse((await run(['plan', '--json'], 0)).stdout) as {changes: Array<{address: string; action: string; reason: string}>}
    const boot = plan.changes.find((c) => c.address === 'job.bootstrap')!
    assert.equal(boot.action, 'update')
    assert.match(boot.reason, /^storage credentials expire in \d+ min \(.*\): re-minted and written to the machine; the workload keeps running$/)
    assert.deepEqual(plan.changes.filter((c) => c.action !== 'no-op' && c.action !== 'read').map((c) => c.address), ['job.bootstrap'], 'nothing else changes')

    const watched = await run(['watch', '--once', '--json'], 0)
    const decisions = watched.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Decision)
    assert.deepEqual(decisions.map((d) => [d.address, d.action, d.outcome]), [['job.bootstrap', 'update', 'done']])
    assert.ok(Date.now() < firstExpiry.getTime(), 'renewed before the old credentials expired')
    assert.equal(mints().length, minted + 2)
    assert.ok(mints().at(-1)!.expiration.getTime() - Date.now() > 35 * 3600 * 1000, 'the new ones last 36 h')

    const after = readFileSync(envFile, 'utf8')
    assert.ok(tokenIn(after))
    assert.notEqual(tokenIn(after), tokenIn(before), 'the file carries the new session token')
    assert.equal(tokenIn(after), aws!.state.credentials.get(mints().at(-1)!.accessKeyId)?.sessionToken, 'the token of the second mint')
    assert.equal(statSync(envFile).mode & 0o777, 0o600)
    assert.notEqual(statSync(envFile).ino, inode, 'replaced by a rename (atomically), not rewritten in place')
    assert.equal(pidOf(o.sleep), pid, 'the workload kept running: same pid')
    assert.equal(expiryRecorded(), mints().at(-1)!.expiration.toISOString())
    assert.match((await run(['plan', '--detailed-exitcode'], 0)).stdout, /No changes\./)

    await run(['destroy', '-y'], 0)
    await emptyAndDelete(o.bucket)
  }

  describe('an Azure VM (fake ARM)', () => {
    let azure: FakeAzure | undefined
    let project: Project | undefined
    before(async () => {
      const backend = new SshdVmBackend({netns: true, forwardPorts: [Number(new URL(s3rig!.endpoint).port)], sshd: {privateDirs: [prefix]}})
      azure = await startFakeAzure({backend, clients: {[CLIENT_ID]: CLIENT_SECRET}})
    })
    after(async () => {
      await project?.cleanup([])
      await azure?.close()
    })

    it('watch re-mints the STS credentials of its AWS output bucket and rewrites the env file; the workload keeps its pid', async () => {
      project = new Project(
        stringify({
          version: 1,
          project: 'remintaz',
          credentials: {
            'azure-fake': {
              provider: 'azure', subscriptionId: azure!.subscriptionId, tenantId: azure!.tenantId, clientId: CLIENT_ID, clientSecret: '${env:E2E_AZURE_SECRET}', region: 'eastus',
              endpoints: {resourceManager: azure!.url, login: azure!.url},
            },
            'aws-store': awsStore(),
          },
          profiles: {
            job: {
              credentials: 'azure-fake', vmType: 'Standard_D2s_v5', runtime: 'process', outputBucket: 'remint-az-output', outputStorageCredentials: 'aws-store', syncIntervalSeconds: 1,
              command: ['sh', '-c', 'echo hello > "$ANYCLOUD_OUTPUT/hello.txt"; exec sleep 7301'],
            },
          },
        }),
      )
      const env = {
        ...AWS_ENV, E2E_AZURE_SECRET: CLIENT_SECRET, NODE_EXTRA_CA_CERTS: azure!.caFile,
        ANYCLOUD_AZURE_SSH_USER: 'root', ANYCLOUD_AZURE_POLL_MS: '50', ANYCLOUD_REMOTE_PREFIX: prefix, ANYCLOUD_STORAGE_CHECK: '3:1',
      }
      await provesRemint({project, env, bucket: 'remint-az-output', sleep: 7301, envFile: (id, pid) => `/proc/${pid}/root${prefix}/etc/anycloud/${id}/rclone.env`})
      assert.deepEqual(azure!.ofType('Microsoft.Compute/virtualMachines'), [])
    })
  })

  describe('a Compute Engine VM (fake GCE)', () => {
    let gcp: FakeGcp | undefined
    let gcs: GcsFake | undefined
    let project: Project | undefined
    before(async () => {
      gcs = await startGcsFake()
      const forwardPorts = [Number(new URL(s3rig!.endpoint).port)]
      const backend = new SshdInstanceBackend({netns: true, forwardPorts, sshd: {privateDirs: [prefix]}})
      gcp = await startFakeGcp({backend, storage: gcs.apiEndpoint})
      forwardPorts.push(gcp.port)
    })
    after(async () => {
      await project?.cleanup([])
      await gcp?.close()
      await gcs?.stop()
    })

    it('watch re-mints the STS credentials of its AWS output bucket and rewrites the env file; the workload keeps its pid', async () => {
      project = new Project(
        stringify({
          version: 1,
          project: 'remintgce',
          credentials: {
            'gcp-fake': {provider: 'gcp', project: FAKE_GCP_PROJECT, region: 'us-central1', accessToken: '${env:E2E_GCP_TOKEN}', apiEndpoint: gcp!.url},
            'aws-store': awsStore(),
          },
          profiles: {
            job: {
              credentials: 'gcp-fake', vmType: 'e2-small', runtime: 'process', outputBucket: 'remint-gce-output', outputStorageCredentials: 'aws-store', syncIntervalSeconds: 1,
              command: ['sh', '-c', 'echo hello > "$ANYCLOUD_OUTPUT/hello.txt"; exec sleep 7302'],
            },
          },
        }),
      )
      const env = {
        ...AWS_ENV, E2E_GCP_TOKEN: gcp!.issueToken('e2e'), GCE_METADATA_HOST: '127.0.0.1:9', METADATA_SERVER_DETECTION: 'none',
        ANYCLOUD_GCP_SSH_USER: 'root', ANYCLOUD_GCP_POLL_MS: '100', ANYCLOUD_REMOTE_PREFIX: prefix, ANYCLOUD_STORAGE_CHECK: '3:1',
      }
      await provesRemint({project, env, bucket: 'remint-gce-output', sleep: 7302, envFile: (id, pid) => `/proc/${pid}/root${prefix}/etc/anycloud/${id}/rclone.env`})
      assert.deepEqual(gcp!.liveInstances(), [])
    })
  })

  describe('an ssh host whose storage is an aws credential', () => {
    let project: SshProject | undefined
    after(async () => {
      await project?.stopAll()
    })

    it('watch re-mints the STS credentials of its buckets and rewrites the env file; the workload keeps its pid', async () => {
      const vm = await startVm()
      await vm.forward(Number(new URL(s3rig!.endpoint).port))
      project = await sshProject({
        vm,
        hostKey: true,
        project: 'remintssh',
        storage: {name: 'aws-store', credential: awsStore()},
        profiles: {
          job: {
            credentials: 'box', runtime: 'process', outputBucket: 'remint-ssh-output', syncIntervalSeconds: 1,
            command: ['sh', '-c', 'echo hello > "$ANYCLOUD_OUTPUT/hello.txt"; exec sleep 7303'],
          },
        },
        env: AWS_ENV,
      })
      await provesRemint({project, env: {}, bucket: 'remint-ssh-output', sleep: 7303, envFile: (id) => `${vm.prefix}/etc/anycloud/${id}/rclone.env`})
    })
  })
})
