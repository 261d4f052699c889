/**
 * Destroy is never held hostage by the machine (issue 13, item 6): the BUILT CLI, the aws provider
 * against the fake EC2/IAM/STS and the S3 emulator, every instance a real sshd VM in its own
 * network namespace. Three ways the machine fails while its instance still runs:
 *   1. its sshd is dead: plan still plans (the on-machine resources are "unknown", with a warning)
 *      and destroy deletes everything (instance, security group, key pair, role, instance profile,
 *      checkpoint bucket), warning about the cleanup it could not do;
 *   2. SSH is cut while the workload is being stopped: the same;
 *   3. the on-VM cleanup is refused (`rm` of anycloud's directories fails): the same.
 */
import assert from 'node:assert/strict'
import {chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {HeadBucketCommand, S3Client} from '@aws-sdk/client-s3'
import {stringify} from 'yaml'

import {disableSdkAmbientConfig, startFakeAws, type FakeAws} from '../helpers/fake-aws/index.js'
import {SshdInstanceBackend} from '../helpers/fake-aws/sshd-backend.js'
import {requireNetns, stopAllSshd} from '../helpers/sshd/index.js'
import {s3ClientConfig, startS3Emulator, type S3Emulator} from '../helpers/storage/index.js'
import {AWS_ENV, KEYS} from '../providers/aws/helpers.js'
import {Project, until} from './cli.js'

describe('e2e: destroy is never held hostage by the machine (aws, sshd VMs)', function () {
  this.timeout(300_000)
  let fake: FakeAws | undefined
  let backend: SshdInstanceBackend | undefined
  let s3rig: S3Emulator | undefined
  let s3: S3Client | undefined
  let prefix = ''
  /** Shared with the VMs (outside their private overlay): markers and the fake `rm`. */
  let shared = ''
  let project: Project | undefined

  before(async function () {
    await requireNetns(this)
    disableSdkAmbientConfig()
    s3rig = await startS3Emulator()
    prefix = mkdtempSync(join(tmpdir(), 'anycloud-hostage-vm-'))
    shared = mkdtempSync(join(tmpdir(), 'anycloud-hostage-shared-'))
    mkdirSync(join(shared, 'bin'))
    // An `rm` that refuses anycloud's directories while the flag file exists (scenario 3).
    writeFileSync(
      join(shared, 'bin', 'rm'),
      `#!/bin/sh\nif [ -e ${shared}/refuse-rm ]; then for a in "$@"; do case "$a" in ${prefix}/*) echo "rm: cannot remove '$a': Operation not permitted" >&2; exit 1;; esac; done; fi\nexec /bin/rm "$@"\n`,
    )
    chmodSync(join(shared, 'bin', 'rm'), 0o755)
    backend = new SshdInstanceBackend({
      netns: true,
      forwardPorts: [Number(new URL(s3rig.endpoint).port)],
      sshd: {privateDirs: [prefix], env: {PATH: `${shared}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`}},
    })
    fake = await startFakeAws({backend, users: [{...KEYS, userName: 'e2e'}]})
    s3 = new S3Client(s3ClientConfig(s3rig))
  })

  afterEach(async () => {
    rmSync(join(shared, 'refuse-rm'), {force: true})
    await project?.cleanup([])
    project = undefined
  })

  after(async () => {
    s3?.destroy()
    await fake?.close()
    await s3rig?.stop()
    await stopAllSshd()
    if (prefix) rmSync(prefix, {recursive: true, force: true})
    if (shared) rmSync(shared, {recursive: true, force: true})
  })

  const live = () => [...fake!.state.instances.values()].filter((i) => i.state !== 'terminated')

  function awsProject(name: string, command: string[]): {project: Project; env: Record<string, string>} {
    const url = fake!.url
    const p = new Project(
      stringify({
        version: 1,
        project: name,
        credentials: {'aws-fake': {provider: 'aws', region: 'us-east-1', accessKeyId: '${env:E2E_AWS_KEY_ID}', secretAccessKey: '${env:E2E_AWS_SECRET}', endpoints: {s3: s3rig!.endpoint, ec2: url, iam: url, sts: url}}},
        profiles: {job: {credentials: 'aws-fake', vmType: 't3.micro', runtime: 'process', spot: true, syncIntervalSeconds: 60, command}},
      }),
    )
    const env = {
      ...AWS_ENV,
      ANYCLOUD_AWS_SSH_USER: 'root',
      ANYCLOUD_AWS_POLL_MS: '100',
      ANYCLOUD_AWS_SSH_READ_WAIT_MS: '4000',
      ANYCLOUD_REMOTE_PREFIX: prefix,
      ANYCLOUD_STORAGE_CHECK: '3:1',
    }
    project = p
    return {project: p, env}
  }

  async function bucketExists(name: string): Promise<boolean> {
    try {
      await s3!.send(new HeadBucketCommand({Bucket: name}))
      return true
    } catch {
      return false
    }
  }

  /** Everything the deployment owned in the fake and the emulator is gone, and state forgot it. */
  async function assertNothingLeft(p: Project, deploymentId: string): Promise<void> {
    assert.deepEqual(live().map((i) => i.instanceId), [], 'the instance is terminated')
    assert.deepEqual([...fake!.state.securityGroups.values()].filter((g) => g.tags?.['anycloud-deployment'] === deploymentId).map((g) => g.groupName), [])
    assert.equal([...fake!.state.keyPairs.values()].filter((k) => k.tags['anycloud-deployment'] === deploymentId).length, 0, 'key pair deleted')
    assert.equal([...fake!.state.roles.values()].filter((r) => r.tags['anycloud-deployment'] === deploymentId).length, 0, 'role deleted')
    assert.equal(fake!.state.instanceProfiles.size, 0, 'instance profile deleted')
    assert.equal(await bucketExists(deploymentId), false, 'checkpoint bucket deleted')
    assert.deepEqual(Object.keys(p.state()?.deployments ?? {}), [])
  }

  async function applied(name: string, command: string[]) {
    const made = awsProject(name, command)
    await made.project.expect(['apply', '-y'], 0, {env: made.env, timeoutMs: 240_000})
    const dep = made.project.state()!.deployments.job
    const instanceId = dep.resources['job.vm'].id
    assert.equal(live().length, 1)
    assert.ok(await bucketExists(dep.id), 'a checkpoint bucket exists')
    return {...made, deploymentId: dep.id, instanceId}
  }

  it('sshd dead, instance running: plan plans (unknown, warned) and destroy deletes every cloud resource', async () => {
    const {project: p, env, deploymentId, instanceId} = await applied('hostagea', ['sleep', '600'])
    await backend!.rig(instanceId)!.stopDaemon()

    const planned = await p.expect(['plan', '--detailed-exitcode'], 0, {env, timeoutMs: 120_000})
    assert.match(planned.stdout + planned.stderr, /job\.(workload|bootstrap): could not read it on the machine, so it is shown as state recorded it \(actual state unknown\): Could not connect to root@10\.200\.\d+\.2:22 \(credential 'aws-fake'\)/)
    assert.match(planned.stdout, /No changes\./)

    const destroyed = await p.expect(['destroy', '-y'], 0, {env, timeoutMs: 120_000})
    assert.match(destroyed.stdout + destroyed.stderr, /warning: job: job\.workload: could not stop the workload \(and its final output upload\) on the machine, which is deleted anyway: /)
    await assertNothingLeft(p, deploymentId)
  })

  it('SSH cut while the workload is being stopped: the cleanup is a warning and destroy deletes every cloud resource', async () => {
    const marker = join(shared, 'stopping')
    rmSync(marker, {force: true})
    // On SIGTERM (the stop) the job says so, then lingers: the test cuts SSH while the stop waits for it.
    const {project: p, env, deploymentId, instanceId} = await applied('hostageb', ['sh', '-c', `trap 'touch ${marker}; exec sleep 600' TERM; sleep 600 & wait`])
    const child = p.start(['destroy', '-y'], {env})
    await until('the workload being stopped', () => existsSync(marker), 120_000, 100)
    await backend!.rig(instanceId)!.stopDaemon()
    const r = await new Promise<{code: number | null; stdout: string; stderr: string}>((resolve) => child.once('exit', (code) => setImmediate(() => resolve({code, stdout: child.out.stdout, stderr: child.out.stderr}))))
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout + r.stderr, /job\.workload: could not stop the workload \(and its final output upload\) on the machine, which is deleted anyway: .*(dropped|connect)/)
    await assertNothingLeft(p, deploymentId)
  })

  it('on-VM cleanup refused (rm of anycloud\'s directories fails): a warning, and destroy deletes every cloud resource', async () => {
    const {project: p, env, deploymentId} = await applied('hostagec', ['sh', '-c', 'echo hello-from-the-vm; exec sleep 600'])
    await until('the job printed', async () => (await p.expect(['logs', 'job'], 0, {env})).stdout.includes('hello-from-the-vm'), 60_000, 200)
    writeFileSync(join(shared, 'refuse-rm'), '')
    const destroyed = await p.expect(['destroy', '-y'], 0, {env, timeoutMs: 120_000})
    // The output was shown and kept before the machine went (issue 13, item 5): `logs` still works.
    assert.match(destroyed.stdout + destroyed.stderr, /\| hello-from-the-vm/)
    assert.match((await p.expect(['logs', 'job'], 0, {env})).stdout, /hello-from-the-vm/)
    assert.match(destroyed.stdout + destroyed.stderr, /job\.bootstrap: could not remove the programs and files anycloud wrote on the machine, which is deleted anyway: could not clean up [\s\S]*could not remove/)
    await assertNothingLeft(p, deploymentId)
  })
})
