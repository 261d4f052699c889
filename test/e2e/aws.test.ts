/**
 * End to end on the `aws` provider, driving the BUILT CLI (`node bin/run.js`) as a child process:
 * the credential's `endpoints` point at the fake EC2/IAM/STS server and the S3 emulator, both on
 * loopback in this test process. Each instance the fake launches is a real sshd "VM" in its own
 * network namespace (10.200.N.2), which presents the host key anycloud put in its user data and
 * reaches the S3 emulator at the same `http://127.0.0.1:PORT` URL through a forwarder. Bootstrap
 * (supervisord, rclone sync) runs for real on it. Anything the VM writes under the remote prefix
 * stays in that VM's private overlay, so a replacement VM starts from an empty disk.
 *
 * plan → apply (output and checkpoint synced to the emulator) → no changes → spot preemption by
 * the fake → plan shows the VM replaced with EC2's reason → apply restores the checkpoint on the
 * new VM → destroy leaves nothing anycloud owns in the fake or the emulator (the output bucket,
 * which holds data, and the user's input bucket are kept, by the SPEC).
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client} from '@aws-sdk/client-s3'
import {stringify} from 'yaml'

import {fingerprintSha256, parsePublicKey, publicKeyLineFromBlob} from '../../src/remote/host-keys.js'
import {connectSsh} from '../../src/remote/ssh-runner.js'
import {disableSdkAmbientConfig, startFakeAws, type FakeAws} from '../helpers/fake-aws/index.js'
import {SshdInstanceBackend} from '../helpers/fake-aws/sshd-backend.js'
import {startNoticeEndpoint, type NoticeEndpoint} from '../helpers/notice-endpoint.js'
import {requireNetns, stopAllSshd} from '../helpers/sshd/index.js'
import {ensureSudoUser} from '../helpers/sshd/sudo-user.js'
import {s3ClientConfig, startS3Emulator, type S3Emulator} from '../helpers/storage/index.js'
import {KEYS} from '../providers/aws/helpers.js'
import {Project, until} from './cli.js'

interface JsonChange {
  address: string
  action: string
  reason: string
}

describe('e2e: aws provider against the fake EC2/IAM/STS and the S3 emulator, with sshd VMs', function () {
  this.timeout(300_000)
  let fake: FakeAws | undefined
  let s3rig: S3Emulator | undefined
  let s3: S3Client | undefined
  let project: Project | undefined
  let notice: NoticeEndpoint | undefined
  let backend: SshdInstanceBackend | undefined
  let prefix = ''

  before(async function () {
    await requireNetns(this)
    // The VMs log in as the image's non-root user with passwordless sudo (the provider's default `ubuntu`).
    ensureSudoUser('ubuntu')
    disableSdkAmbientConfig()
    s3rig = await startS3Emulator()
    // Spot VMs watch the interruption notice: here, an endpoint of the test (never the metadata address).
    notice = await startNoticeEndpoint()
    prefix = mkdtempSync(join(tmpdir(), 'anycloud-aws-vm-'))
    backend = new SshdInstanceBackend({netns: true, forwardPorts: [Number(new URL(s3rig.endpoint).port), notice.port], sshd: {privateDirs: [prefix]}})
    fake = await startFakeAws({backend, users: [{...KEYS, userName: 'e2e'}]})
    s3 = new S3Client(s3ClientConfig(s3rig))
  })

  after(async () => {
    await project?.cleanup([])
    s3?.destroy()
    await fake?.close()
    await s3rig?.stop()
    await notice?.close()
    await stopAllSshd()
    if (prefix) rmSync(prefix, {recursive: true, force: true})
  })

  async function objects(bucket: string): Promise<string[]> {
    try {
      const out = await s3!.send(new ListObjectsV2Command({Bucket: bucket}))
      return (out.Contents ?? []).map((o) => o.Key ?? '').sort()
    } catch {
      return []
    }
  }

  async function text(bucket: string, key: string): Promise<string> {
    const out = await s3!.send(new GetObjectCommand({Bucket: bucket, Key: key}))
    return (await out.Body!.transformToString()).trim()
  }

  const liveInstances = () => [...fake!.state.instances.values()].filter((i) => i.state !== 'terminated')

  /** A project whose aws credential points at the rigs, and the env its CLI runs with. */
  function awsProject(name: string, job: Record<string, unknown>): {project: Project; env: Record<string, string>} {
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
        profiles: {job: {credentials: 'aws-fake', vmType: 't3.micro', runtime: 'process', syncIntervalSeconds: 1, ...job}},
      }),
    )
    const env = {
      E2E_AWS_KEY_ID: KEYS.accessKeyId,
      E2E_AWS_SECRET: KEYS.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_CONFIG_FILE: '/nonexistent',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      ANYCLOUD_AWS_POLL_MS: '100',
      ANYCLOUD_REMOTE_PREFIX: prefix,
      ANYCLOUD_STORAGE_CHECK: '3:1',
      ANYCLOUD_NOTICE_BASE: notice!.base,
    }
    return {project: p, env}
  }

  it('plan → apply → preemption → replace with the checkpoint restored → destroy', async () => {
    await s3!.send(new CreateBucketCommand({Bucket: 'e2e-input'}))
    await s3!.send(new PutObjectCommand({Bucket: 'e2e-input', Key: 'data.txt', Body: 'one two three\n'}))
    const made = awsProject('e2eaws', {
      spot: true,
      inputBucket: 'e2e-input',
      outputBucket: 'e2e-output',
      command: [
        'sh',
        '-c',
        'n=$(cat "$ANYCLOUD_CHECKPOINT/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$ANYCLOUD_CHECKPOINT/count"; wc -w < "$ANYCLOUD_INPUT/data.txt" > "$ANYCLOUD_OUTPUT/run-$n.txt"; exec sleep 600',
      ],
    })
    project = made.project
    const env = made.env
    const run = (args: string[], code: number) => project!.expect(args, code, {env, timeoutMs: 240_000})

    // 1. Plan: everything to create, the input bucket only read.
    const planned = JSON.parse((await run(['plan', '--json', '--detailed-exitcode'], 2)).stdout) as {changes: JsonChange[]}
    const actions = Object.fromEntries(planned.changes.map((c) => [c.address, c.action]))
    assert.deepEqual(actions, {
      'job.bucket.input': 'read',
      'job.bucket.output': 'create',
      'job.bucket.checkpoint': 'create',
      'job.identity': 'create',
      'job.network': 'create',
      'job.sshkey': 'create',
      'job.vm': 'create',
      'job.bootstrap': 'create',
      'job.workload': 'create',
    })

    // 2. Apply: a real bootstrap on the sshd VM, output and checkpoint synced to the emulator.
    const applied = await run(['apply', '-y'], 0)
    assert.match(applied.stdout, /Apply complete/)
    const state = project.state()!
    const dep = state.deployments.job
    const instanceId = dep.resources['job.vm'].id
    assert.match(instanceId, /^i-/)
    assert.equal(liveInstances().length, 1)
    const instance = fake!.state.instances.get(instanceId)!
    assert.equal(instance.metadataOptions.httpTokens, 'required')
    assert.equal(instance.market, 'spot')
    await until('run-1.txt in the output bucket', async () => (await objects('e2e-output')).includes('run-1.txt'), 60_000, 200)
    assert.equal(await text('e2e-output', 'run-1.txt'), '3')
    await until('the spot VM polling the notice endpoint', () => notice!.polls > 0, 30_000, 200)
    await until('the checkpoint uploaded', async () => (await objects(dep.id)).includes('count'), 60_000, 200)
    assert.equal(await text(dep.id, 'count'), '1')
    // Nothing secret in state: no private key, no secret key.
    const stateText = JSON.stringify(state)
    assert.ok(!/PRIVATE KEY/.test(stateText))
    assert.ok(!stateText.includes(KEYS.secretAccessKey + '"'), 'no secret key value in state')
    assert.ok(existsSync(project.path('.anycloud', 'keys', dep.id)))

    // 3. A second plan: no changes.
    const clean = await run(['plan', '--detailed-exitcode'], 0)
    assert.match(clean.stdout, /No changes\./)

    const status = JSON.parse((await run(['status', '--json'], 0)).stdout) as {deployments: Array<{address?: string; workload: {phase: string}; resources: Array<{address: string; exists: boolean | null}>}>}
    assert.equal(status.deployments[0].address, fake!.state.instances.get(instanceId)!.publicIpAddress)
    assert.equal(status.deployments[0].workload.phase, 'running')
    assert.ok(status.deployments[0].resources.every((r) => r.exists === true), JSON.stringify(status.deployments[0].resources))

    // 4. The fake takes the spot instance back.
    await fake!.preempt(instanceId)
    const after = JSON.parse((await run(['plan', '--json', '--detailed-exitcode'], 2)).stdout) as {changes: JsonChange[]}
    const vm = after.changes.find((c) => c.address === 'job.vm')!
    assert.equal(vm.action, 'replace')
    assert.equal(vm.reason, 'VM no longer exists (Server.SpotInstanceTermination)')
    // The gone VM's bootstrap reads as absent (it is never dialled): created again on the new VM.
    assert.ok(['create', 'replace'].includes(after.changes.find((c) => c.address === 'job.bootstrap')!.action))
    assert.equal(after.changes.find((c) => c.address === 'job.workload')!.action, 'replace')

    // 5. Apply again: a new VM, a new host key, the checkpoint restored (count 1 → 2).
    await run(['apply', '-y'], 0)
    const dep2 = project.state()!.deployments.job
    const newId = dep2.resources['job.vm'].id
    assert.notEqual(newId, instanceId)
    assert.equal(dep2.id, dep.id, 'the deployment id is stable')
    assert.equal(liveInstances().length, 1)
    await until('run-2.txt in the output bucket', async () => (await objects('e2e-output')).includes('run-2.txt'), 60_000, 200)
    await until('the checkpoint count 2', async () => (await text(dep.id, 'count').catch(() => '')) === '2', 60_000, 200)
    assert.equal(await text('e2e-output', 'run-1.txt'), '3', 'copy, never sync: the first run\'s output is still there')

    // 6. Destroy: nothing anycloud owns is left.
    const destroyed = await run(['destroy', '-y'], 0)
    assert.match(destroyed.stderr, /e2e-output/, 'says the output bucket was kept')
    assert.deepEqual(liveInstances(), [])
    assert.deepEqual([...fake!.state.securityGroups.values()].filter((g) => !g.isDefault).map((g) => g.groupName), [])
    assert.equal(fake!.state.keyPairs.size, 0)
    assert.equal(fake!.state.roles.size, 0)
    assert.equal(fake!.state.instanceProfiles.size, 0)
    assert.deepEqual(await objects(dep.id), [])
    assert.equal(s3rig!.bucketState(dep.id) === undefined || !(await bucketExists(dep.id)), true, 'checkpoint bucket deleted')
    assert.ok((await objects('e2e-output')).includes('run-1.txt'), 'output bucket with data kept')
    assert.ok((await objects('e2e-input')).includes('data.txt'), 'input bucket never touched')
    const keys = project.path('.anycloud', 'keys')
    assert.deepEqual(existsSync(keys) ? readdirSync(keys) : [], [])
    assert.deepEqual(Object.keys(project.state()?.deployments ?? {}), [])
  })

  for (const point of ['after-intent', 'after-create'] as const) {
    it(`killed (SIGKILL) ${point === 'after-intent' ? 'after the intent, before RunInstances' : 'after RunInstances returned, before state was saved'}: the re-run makes no second instance`, async () => {
      await project?.cleanup([])
      const made = awsProject(`e2ecrash${point === 'after-intent' ? 'a' : 'b'}`, {command: ['sleep', '600']})
      project = made.project
      const before = fake!.calls('RunInstances').length
      const killed = await project.run(['apply', '-y'], {env: {...made.env, ANYCLOUD_TEST_CRASH_AT: `${point}:job.vm`}, timeoutMs: 240_000})
      assert.equal(killed.signal, 'SIGKILL', killed.stderr)
      const pending = project.state()!.deployments.job.resources['job.vm']
      assert.equal(pending.status, 'pending')
      const deploymentId = project.state()!.deployments.job.id
      const tagged = () => fake!.instancesTagged('anycloud-deployment', deploymentId).filter((i) => i.state !== 'terminated')
      assert.equal(tagged().length, point === 'after-intent' ? 0 : 1)

      await project.expect(['apply', '-y'], 0, {env: made.env, timeoutMs: 240_000})
      assert.equal(tagged().length, 1, 'exactly one instance')
      assert.equal(fake!.calls('RunInstances').length - before, 1, 'one RunInstances in all')
      const rec = project.state()!.deployments.job.resources['job.vm']
      assert.equal(rec.status, 'created')
      assert.equal(rec.id, tagged()[0].instanceId)
      assert.match((await project.expect(['plan', '--detailed-exitcode'], 0, {env: made.env, timeoutMs: 240_000})).stdout, /No changes\./)

      await project.expect(['destroy', '-y'], 0, {env: made.env, timeoutMs: 240_000})
      assert.deepEqual(tagged(), [])
      assert.equal([...fake!.state.keyPairs.values()].filter((k) => k.tags['anycloud-deployment'] === deploymentId).length, 0)
      assert.equal([...fake!.state.roles.values()].filter((r) => r.tags['anycloud-deployment'] === deploymentId).length, 0)
    })
  }

  /** The host keys the VM presents (ssh-keyscan from the host side of its namespace), as `type base64`. */
  function scan(host: string): string[] {
    const r = spawnSync('ssh-keyscan', ['-T', '10', '-t', 'ed25519,ecdsa,rsa', host], {encoding: 'utf8'})
    return r.stdout.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(' ').slice(1, 3).join(' ')).sort()
  }

  /** What the test needs of the one live instance of a deployment: its rig, the user-data key, the new key's files. */
  function vmOf(deploymentId: string) {
    const instance = fake!.instancesTagged('anycloud-deployment', deploymentId).find((i) => i.state !== 'terminated')!
    const rig = backend!.rig(instance.instanceId)!
    const userDataKey = backend!.cloudInit(instance.instanceId)!.hostKeys.ed25519!.publicKey!
    return {rig, userDataKey: publicKeyLineFromBlob(parsePublicKey(userDataKey).blob), userDataFile: join(rig.dir, 'ssh_host_ed25519_key'), newFile: join(rig.dir, 'anycloud_host_ecdsa_key')}
  }

  async function connects(rig: {host: string; privateKey: string}, key: string): Promise<boolean> {
    try {
      const runner = await connectSsh({host: rig.host, port: 22, user: 'root', privateKey: rig.privateKey, hostKey: {kind: 'pinned', keys: [key]}, waitTimeoutMs: 4000, sudo: false})
      const ok = (await runner.run('echo ok')).stdout === 'ok\n'
      await runner.close()
      return ok
    } catch {
      return false
    }
  }

  it('host key: rotated after the first verified connection; the user-data key no longer authenticates the VM; later runs pin the new key', async () => {
    await project?.cleanup([])
    const made = awsProject('e2erotate', {command: ['sleep', '600']})
    project = made.project
    const run = (args: string[], code: number) => project!.expect(args, code, {env: made.env, timeoutMs: 240_000})
    const applied = await run(['apply', '-y'], 0)
    assert.match(applied.stderr, /job\.bootstrap: .*host key rotated: SHA256:\S+ \(made on the VM\) replaces the user-data key/)
    assert.match(applied.stderr, /job\.workload: .*host key: the user-data key SHA256:\S+ is no longer served/)
    const dep = project.state()!.deployments.job
    const vm = dep.resources['job.vm'].outputs as Record<string, string>
    const {rig, userDataKey, userDataFile, newFile} = vmOf(dep.id)
    // State pins the VM's own key, made on it (not the one anycloud generated for the user data).
    assert.equal(vm.userDataHostKey, userDataKey)
    assert.match(vm.hostKey, /^ecdsa-sha2-nistp256 /)
    assert.equal(vm.hostKey, readFileSync(`${newFile}.pub`, 'utf8').split(' ').slice(0, 2).join(' '))
    assert.equal(vm.hostKeyFingerprint, fingerprintSha256(vm.hostKey))
    assert.ok(!Number.isNaN(Date.parse(vm.hostKeyRotatedAt)))
    // The VM presents only the new key; the user-data key authenticates it no more, and its private file is gone.
    assert.deepEqual(scan(rig.host), [vm.hostKey])
    assert.equal(await connects(rig, userDataKey), false, 'a connection expecting the user-data key must fail')
    assert.equal(await connects(rig, vm.hostKey), true)
    assert.ok(!existsSync(userDataFile) && !existsSync(`${userDataFile}.pub`))
    // Later runs connect with the pinned new key.
    assert.match((await run(['plan', '--detailed-exitcode'], 0)).stdout, /No changes\./)
    await run(['apply', '-y'], 0)
    assert.equal((project.state()!.deployments.job.resources['job.vm'].outputs as Record<string, string>).hostKey, vm.hostKey)
    await run(['destroy', '-y'], 0)
  })

  it('host key: killed after the VM made its key but before state pinned it, the re-run pins that same key and only then retires the user-data key', async () => {
    await project?.cleanup([])
    const made = awsProject('e2erotatecrash', {command: ['sleep', '600']})
    project = made.project
    const killed = await project.run(['apply', '-y'], {env: {...made.env, ANYCLOUD_TEST_CRASH_AT: 'after-create:job.bootstrap'}, timeoutMs: 240_000})
    assert.equal(killed.signal, 'SIGKILL', killed.stderr)
    const dep = project.state()!.deployments.job
    const {rig, userDataKey, userDataFile, newFile} = vmOf(dep.id)
    assert.equal((dep.resources['job.vm'].outputs as Record<string, string>).hostKey, userDataKey, 'state still pins the user-data key')
    const made1 = readFileSync(`${newFile}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')
    // Both keys are served meanwhile: nothing is locked out.
    assert.deepEqual(scan(rig.host), [made1, userDataKey].sort())

    await project.expect(['apply', '-y'], 0, {env: made.env, timeoutMs: 240_000})
    const vm = project.state()!.deployments.job.resources['job.vm'].outputs as Record<string, string>
    assert.equal(vm.hostKey, made1, 'the key made before the crash, not another one')
    // The next connection verified with that key (here the plan's) retires the user-data key.
    const planned = await project.expect(['plan', '--detailed-exitcode'], 0, {env: made.env, timeoutMs: 240_000})
    assert.match(planned.stdout, /No changes\./)
    assert.deepEqual(scan(rig.host), [made1])
    assert.ok(!existsSync(userDataFile))
    assert.equal(await connects(rig, userDataKey), false)
    await project.expect(['destroy', '-y'], 0, {env: made.env, timeoutMs: 240_000})
  })

  async function bucketExists(name: string): Promise<boolean> {
    const {HeadBucketCommand} = await import('@aws-sdk/client-s3')
    try {
      await s3!.send(new HeadBucketCommand({Bucket: name}))
      return true
    } catch {
      return false
    }
  }
})
