/**
 * The rig the aws e2e files share (aws.test.ts, aws-crash.test.ts, aws-hostkey.test.ts): the fake
 * EC2/IAM/STS server and the S3 emulator on loopback, each instance the fake launches a real sshd
 * "VM" in its own network namespace (10.200.N.2) that presents the host key anycloud put in its
 * user data and reaches the emulator at the same `http://127.0.0.1:PORT` URL through a forwarder;
 * anything a VM writes under the remote prefix stays in its private overlay. Spot VMs watch a
 * notice endpoint of the test (never the metadata address). VMs log in as the image's non-root
 * user with passwordless sudo (the provider's default `ubuntu`).
 *
 * Call {@link useAwsRig} inside a file's top `describe`: it registers that describe's hooks, so each
 * file has a rig of its own and the files run in parallel.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {GetObjectCommand, ListObjectsV2Command, S3Client} from '@aws-sdk/client-s3'
import {stringify} from 'yaml'

import {acceptMintedKeys, disableSdkAmbientConfig, startFakeAws, type FakeAws} from '../helpers/fake-aws/index.js'
import type {FakeInstance} from '../helpers/fake-aws/model.js'
import {SshdInstanceBackend} from '../helpers/fake-aws/sshd-backend.js'
import {startNoticeEndpoint, type NoticeEndpoint} from '../helpers/notice-endpoint.js'
import {requireNetns, stopAllSshd} from '../helpers/sshd/index.js'
import {ensureSudoUser} from '../helpers/sshd/sudo-user.js'
import {s3ClientConfig, startS3Emulator, type S3Emulator} from '../helpers/storage/index.js'
import {AWS_ENV, KEYS} from '../providers/aws/helpers.js'
import {Project} from './cli.js'

export interface AwsRig {
  readonly fake: FakeAws
  readonly s3rig: S3Emulator
  readonly s3: S3Client
  readonly notice: NoticeEndpoint
  readonly backend: SshdInstanceBackend
  /** The remote prefix the VMs keep anycloud's files under (private to each VM). */
  readonly prefix: string
  /** The project of the running test: cleaned up after the file's tests (and by the next test). */
  project: Project | undefined
  /** A project whose aws credential points at the rigs, and the env its CLI runs with. */
  awsProject(name: string, job: Record<string, unknown>): {project: Project; env: Record<string, string>}
  /** The CLI's environment for the rig (aws keys from env, no ambient AWS config, the fast polls). */
  env(): Record<string, string>
  objects(bucket: string): Promise<string[]>
  text(bucket: string, key: string): Promise<string>
  liveInstances(): FakeInstance[]
}

export interface AwsRigOptions {
  /** Log in as root (ANYCLOUD_AWS_SSH_USER) instead of the image's sudo user `ubuntu`. */
  rootLogin?: boolean
  /** The S3 emulator accepts the keys STS mints (cross-credential uploads from the VM). */
  acceptMintedKeys?: boolean
}

export function useAwsRig(options: AwsRigOptions = {}): AwsRig {
  let fake: FakeAws | undefined
  let s3rig: S3Emulator | undefined
  let s3: S3Client | undefined
  let notice: NoticeEndpoint | undefined
  let backend: SshdInstanceBackend | undefined
  let prefix = ''

  const rig: AwsRig = {
    get fake() {
      return fake!
    },
    get s3rig() {
      return s3rig!
    },
    get s3() {
      return s3!
    },
    get notice() {
      return notice!
    },
    get backend() {
      return backend!
    },
    get prefix() {
      return prefix
    },
    project: undefined,
    env: () => ({
      ...AWS_ENV,
      ANYCLOUD_AWS_POLL_MS: '100',
      ANYCLOUD_REMOTE_PREFIX: prefix,
      ANYCLOUD_STORAGE_CHECK: '3:1',
      ANYCLOUD_NOTICE_BASE: notice!.base,
      ...(options.rootLogin ? {ANYCLOUD_AWS_SSH_USER: 'root'} : {}),
    }),
    awsProject(name, job) {
      const url = fake!.url
      const p = new Project(
        stringify({
          version: 1,
          project: name,
          credentials: {
            'aws-fake': {
              provider: 'aws',
              region: 'us-east-1',
              accessKeyId: '${env:E2E_AWS_KEY_ID}',
              secretAccessKey: '${env:E2E_AWS_SECRET}',
              endpoints: {s3: s3rig!.endpoint, ec2: url, iam: url, sts: url},
            },
          },
          profiles: {job: {credentials: 'aws-fake', vmType: 't3.micro', runtime: 'process', syncIntervalSeconds: 60, ...job}},
        }),
      )
      return {project: p, env: rig.env()}
    },
    async objects(bucket) {
      try {
        const out = await s3!.send(new ListObjectsV2Command({Bucket: bucket}))
        return (out.Contents ?? []).map((o) => o.Key ?? '').sort()
      } catch {
        return []
      }
    },
    async text(bucket, key) {
      const out = await s3!.send(new GetObjectCommand({Bucket: bucket, Key: key}))
      return (await out.Body!.transformToString()).trim()
    },
    liveInstances: () => [...fake!.state.instances.values()].filter((i) => i.state !== 'terminated'),
  }

  before(async function () {
    await requireNetns(this)
    if (!options.rootLogin) ensureSudoUser('ubuntu')
    disableSdkAmbientConfig()
    s3rig = await startS3Emulator()
    notice = await startNoticeEndpoint()
    prefix = mkdtempSync(join(tmpdir(), options.rootLogin ? 'anycloud-spot-vm-' : 'anycloud-aws-vm-'))
    backend = new SshdInstanceBackend({netns: true, forwardPorts: [Number(new URL(s3rig.endpoint).port), notice.port], sshd: {privateDirs: [prefix]}})
    fake = await startFakeAws({backend, users: [{...KEYS, userName: 'e2e'}]})
    s3 = new S3Client(s3ClientConfig(s3rig))
    if (options.acceptMintedKeys) acceptMintedKeys(fake, s3rig)
  })

  after(async () => {
    await rig.project?.cleanup([])
    s3?.destroy()
    await fake?.close()
    await s3rig?.stop()
    await notice?.close()
    await stopAllSshd()
    if (prefix) rmSync(prefix, {recursive: true, force: true})
  })

  return rig
}
