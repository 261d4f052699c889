/**
 * The rig the aws spot e2e files share (spot.test.ts, spot-recovery.test.ts): the fake
 * EC2/IAM/STS with real sshd "VMs" in network namespaces, the S3 emulator, and a notice endpoint of
 * the test forwarded into each VM (ANYCLOUD_NOTICE_BASE; never the metadata address). Call
 * {@link useSpotRig} inside a `describe`: it registers that describe's before/after hooks, so each
 * file stands up (and tears down) a rig of its own and the files can run in parallel.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {GetObjectCommand, ListObjectsV2Command, S3Client} from '@aws-sdk/client-s3'

import {acceptMintedKeys, disableSdkAmbientConfig, startFakeAws, type FakeAws} from '../helpers/fake-aws/index.js'
import {SshdInstanceBackend} from '../helpers/fake-aws/sshd-backend.js'
import type {FakeInstance} from '../helpers/fake-aws/model.js'
import {startNoticeEndpoint, type NoticeEndpoint} from '../helpers/notice-endpoint.js'
import {requireNetns, stopAllSshd} from '../helpers/sshd/index.js'
import {s3ClientConfig, startS3Emulator, type S3Emulator} from '../helpers/storage/index.js'
import {KEYS} from '../providers/aws/helpers.js'
import type {Project} from './cli.js'

export interface SpotRig {
  readonly fake: FakeAws
  readonly s3rig: S3Emulator
  readonly s3: S3Client
  readonly notice: NoticeEndpoint
  /** The remote prefix the VMs keep anycloud's files under (private to each VM). */
  readonly prefix: string
  /** The project of the running test: cleaned up after the file's tests. */
  project: Project | undefined
  /** The CLI's environment for the rig (aws keys from env, no ambient AWS config, the fast polls). */
  env(): Record<string, string>
  objects(bucket: string): Promise<string[]>
  text(bucket: string, key: string): Promise<string>
  liveInstances(): FakeInstance[]
}

export function useSpotRig(): SpotRig {
  let fake: FakeAws | undefined
  let s3rig: S3Emulator | undefined
  let s3: S3Client | undefined
  let notice: NoticeEndpoint | undefined
  let prefix = ''

  const rig: SpotRig = {
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
    get prefix() {
      return prefix
    },
    project: undefined,
    env: () => ({
      E2E_AWS_KEY_ID: KEYS.accessKeyId, E2E_AWS_SECRET: KEYS.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      ANYCLOUD_AWS_SSH_USER: 'root', ANYCLOUD_AWS_POLL_MS: '100', ANYCLOUD_REMOTE_PREFIX: prefix, ANYCLOUD_STORAGE_CHECK: '3:1', ANYCLOUD_NOTICE_BASE: notice!.base,
    }),
    objects: async (bucket) => {
      try {
        return ((await s3!.send(new ListObjectsV2Command({Bucket: bucket}))).Contents ?? []).map((o) => o.Key ?? '').sort()
      } catch {
        return []
      }
    },
    text: async (bucket, key) => (await (await s3!.send(new GetObjectCommand({Bucket: bucket, Key: key}))).Body!.transformToString()).trim(),
    liveInstances: () => [...fake!.state.instances.values()].filter((i) => i.state !== 'terminated'),
  }

  before(async function () {
    await requireNetns(this)
    disableSdkAmbientConfig()
    s3rig = await startS3Emulator()
    notice = await startNoticeEndpoint()
    prefix = mkdtempSync(join(tmpdir(), 'anycloud-spot-vm-'))
    const backend = new SshdInstanceBackend({netns: true, forwardPorts: [Number(new URL(s3rig.endpoint).port), notice.port], sshd: {privateDirs: [prefix]}})
    fake = await startFakeAws({backend, users: [{...KEYS, userName: 'e2e'}]})
    s3 = new S3Client(s3ClientConfig(s3rig))
    acceptMintedKeys(fake, s3rig)
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
