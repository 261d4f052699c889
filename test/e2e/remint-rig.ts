/**
 * The rig of the remint e2e files (remint-azure, remint-gce, remint-ssh): storage credentials that
 * outlive the job, beyond EC2 (issue 12 item 5). On an Azure VM, a Compute Engine VM and an ssh
 * host whose output bucket is reached with scoped STS credentials minted by an aws credential,
 * `watch` re-mints them before they expire and rewrites the machine's rclone env file (0600,
 * atomically: a new inode) while the workload keeps its pid. The BUILT CLI against the fake
 * EC2/IAM/STS (its clock set 35 h back, so what it mints for 36 h expires within the hour), s3rver,
 * and the fake ARM / fake GCE with real sshd "VMs" in network namespaces.
 *
 * {@link useRemintRig} registers the hooks of a file's top describe (so each file has a rig of its
 * own and the files run in parallel) and returns the scenario every machine kind proves.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client} from '@aws-sdk/client-s3'

import {acceptMintedKeys, disableSdkAmbientConfig, startFakeAws, type FakeAws} from '../helpers/fake-aws/index.js'
import {requireNetns, stopAllSshd} from '../helpers/sshd/index.js'
import {s3ClientConfig, startS3Emulator, type S3Emulator} from '../helpers/storage/index.js'
import {AWS_ENV, KEYS} from '../providers/aws/helpers.js'
import {untilUploaded} from '../bootstrap/helpers.js'
import type {Project} from './cli.js'
import {planAndWatchRemint} from './spot-job.js'

export {AWS_ENV}

export interface RemintRig {
  readonly s3rig: S3Emulator
  /** The remote prefix the VMs keep anycloud's files under (private to each VM). */
  readonly prefix: string
  /** The aws credential holding the output bucket: another account, so the machine gets scoped STS credentials. */
  awsStore(): Record<string, unknown>
  /**
   * apply with STS 35 h behind → the plan says the credentials are due → `watch --once` re-mints
   * them: a new token in a new 0600 file, the same workload pid, then no changes; destroy.
   */
  provesRemint(o: RemintScenario): Promise<void>
}

export interface RemintScenario {
  project: Project
  env: Record<string, string>
  bucket: string
  sleep: number
  envFile: (id: string, pid: number) => string
  /** The machine's ANYCLOUD_REMOTE_PREFIX: its upload loops are nudged while the test waits for the output (untilUploaded). */
  machinePrefix: string
}

export function useRemintRig(): RemintRig {
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
  async function provesRemint(o: RemintScenario): Promise<void> {
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
    await untilUploaded('hello.txt uploaded with the minted credentials', o.machinePrefix, async () => (await objects(o.bucket)).includes('hello.txt'), 90_000, 200)

    const pid = pidOf(o.sleep)
    assert.ok(pid > 1)
    const envFile = o.envFile(state.id, pid)
    const before = readFileSync(envFile, 'utf8')
    const inode = statSync(envFile).ino
    assert.ok(tokenIn(before), 'the session token is in the rclone env file')
    assert.equal(statSync(envFile).mode & 0o777, 0o600)

    await planAndWatchRemint(run)
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

  return {
    get s3rig() {
      return s3rig!
    },
    get prefix() {
      return prefix
    },
    awsStore,
    provesRemint,
  }
}
