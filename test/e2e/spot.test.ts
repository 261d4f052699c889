/**
 * Spot that runs unattended, end to end on the BUILT CLI against the fake EC2/IAM/STS and the S3
 * emulator, with real sshd "VMs" (network namespaces), supervisord and rclone. The VMs watch an
 * interruption-notice endpoint of this test (ANYCLOUD_NOTICE_BASE), never the metadata address.
 *
 * One job, resumable from its checkpoint: run n reads `count` from /mnt/checkpoint, writes n+1,
 * and finishes (exit 0) from its second run on. The periodic upload is once a minute, so what the
 * first run wrote reaches the bucket only through the flush on the notice.
 *
 * notice → flush → the fake takes the VM back → `watch` replaces it (new VM, checkpoint restored,
 * workload restarted) → the job completes and watch tears it down (persistBucket keeps the
 * checkpoint) → `status` shows one preemption and the newest checkpoint's age → resubmit with
 * `apply --replace job.workload` resumes from the kept bucket on a fresh VM → destroy leaves nothing.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {DeleteBucketCommand, DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, S3Client} from '@aws-sdk/client-s3'
import {stringify} from 'yaml'

import {acceptMintedKeys, disableSdkAmbientConfig, startFakeAws, type FakeAws} from '../helpers/fake-aws/index.js'
import {SshdInstanceBackend} from '../helpers/fake-aws/sshd-backend.js'
import {startNoticeEndpoint, type NoticeEndpoint} from '../helpers/notice-endpoint.js'
import {requireNetns, stopAllSshd} from '../helpers/sshd/index.js'
import {s3ClientConfig, startS3Emulator, type S3Emulator} from '../helpers/storage/index.js'
import {KEYS} from '../providers/aws/helpers.js'
import {finished, Project, until} from './cli.js'
import {JOB, type Decision} from './spot-job.js'

describe('e2e: spot that runs unattended (aws fake, sshd VMs, notice endpoint)', function () {
  this.timeout(600_000)
  let fake: FakeAws | undefined
  let s3rig: S3Emulator | undefined
  let s3: S3Client | undefined
  let notice: NoticeEndpoint | undefined
  let project: Project | undefined
  let prefix = ''

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
    await project?.cleanup([])
    s3?.destroy()
    await fake?.close()
    await s3rig?.stop()
    await notice?.close()
    await stopAllSshd()
    if (prefix) rmSync(prefix, {recursive: true, force: true})
  })

  const objects = async (bucket: string): Promise<string[]> => {
    try {
      return ((await s3!.send(new ListObjectsV2Command({Bucket: bucket}))).Contents ?? []).map((o) => o.Key ?? '').sort()
    } catch {
      return []
    }
  }
  const text = async (bucket: string, key: string) => (await (await s3!.send(new GetObjectCommand({Bucket: bucket, Key: key}))).Body!.transformToString()).trim()
  const liveInstances = () => [...fake!.state.instances.values()].filter((i) => i.state !== 'terminated')

  it('notice flush → preemption → watch replaces the VM and the job resumes and completes → status → resubmit from the kept checkpoint → destroy leaves nothing', async () => {
    const url = fake!.url
    project = new Project(
      stringify({
        version: 1,
        project: 'spote2e',
        credentials: {
          'aws-fake': {
            provider: 'aws', region: 'us-east-1', accessKeyId: '${env:E2E_AWS_KEY_ID}', secretAccessKey: '${env:E2E_AWS_SECRET}',
            endpoints: {s3: s3rig!.endpoint, ec2: url, iam: url, sts: url},
          },
        },
        profiles: {
          job: {
            credentials: 'aws-fake', vmType: 't3.micro', runtime: 'process', spot: true, persistBucket: true, spotFallback: {afterPreemptions: 3},
            outputBucket: 'spot-e2e-output', syncIntervalSeconds: 60, command: ['sh', '-c', JOB],
          },
        },
      }),
    )
    const env = {
      E2E_AWS_KEY_ID: KEYS.accessKeyId, E2E_AWS_SECRET: KEYS.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      ANYCLOUD_AWS_SSH_USER: 'root', ANYCLOUD_AWS_POLL_MS: '100', ANYCLOUD_REMOTE_PREFIX: prefix, ANYCLOUD_STORAGE_CHECK: '3:1',
      ANYCLOUD_NOTICE_BASE: notice!.base, ANYCLOUD_NOTICE_POLL: '0.5',
    }
    const run = (args: string[], code: number) => project!.expect(args, code, {env, timeoutMs: 300_000})
    const logs = async () => (await project!.run(['logs', 'job'], {env, timeoutMs: 60_000})).stdout

    // 1. The first run starts and writes checkpoint 1 on the VM (not uploaded: the next periodic upload is a minute away).
    await run(['apply', '-y'], 0)
    const id = project.state()!.deployments.job.id
    const first = project.state()!.deployments.job.resources['job.vm'].id
    await until('run 1 started', async () => /run 1 started/.test(await logs()), 60_000, 500)
    await until('the VM polling the notice endpoint', () => notice!.polls > 0, 30_000, 100)

    // 2. The interruption notice: the workload is stopped with SIGTERM and the checkpoint flushed.
    notice!.arm()
    await until('checkpoint 1 flushed to the bucket', async () => (await objects(id)).includes('count') && (await text(id, 'count')) === '1', 60_000, 200)
    assert.ok((await objects('spot-e2e-output')).includes('run-1.txt'), 'the output was flushed too')

    // 3. The cloud takes the VM back; watch replaces it; the job resumes from checkpoint 1 and completes.
    await fake!.preempt(first)
    notice!.clear()
    const watch = project.start(['watch', '--interval', '1', '--json'], {env})
    const decisions = () => watch.out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Decision)
    await until('the job completed and torn down by watch', () => decisions().some((d) => d.address === 'job.vm' && d.action === 'delete' && d.outcome === 'done'), 300_000, 500)
    watch.kill('SIGINT')
    const w = await finished(watch)
    assert.equal(w.code, 0, w.stderr)
    const vmReplace = decisions().find((d) => d.address === 'job.vm' && d.action === 'replace')
    assert.ok(vmReplace, JSON.stringify(decisions()))
    assert.equal(vmReplace.reason, 'VM no longer exists (Server.SpotInstanceTermination)')
    assert.equal(vmReplace.outcome, 'done')
    assert.ok(decisions().some((d) => d.address === 'job.workload' && (d.action === 'replace' || d.action === 'create') && d.outcome === 'done'))
    assert.equal(await text('spot-e2e-output', 'run-2.txt'), 'run 2 saw checkpoint 1', 'the new VM restored the checkpoint the old one flushed')
    assert.equal(await text(id, 'count'), '2')
    assert.deepEqual(liveInstances(), [], 'the completed job\'s VM is gone')

    // 4. status: one preemption, and the newest checkpoint object with its age.
    const status = JSON.parse((await run(['status', '--json'], 0)).stdout) as {deployments: Array<{workload: {phase: string}; spot?: {preemptions: number; newestCheckpoint: {key: string; ageSeconds: number} | null}}>}
    const dep = status.deployments[0]
    assert.equal(dep.workload.phase, 'completed')
    assert.equal(dep.spot?.preemptions, 1)
    assert.equal(dep.spot?.newestCheckpoint?.key, 'count')
    assert.ok((dep.spot?.newestCheckpoint?.ageSeconds ?? -1) >= 0)
    assert.match((await run(['status'], 0)).stdout, /spot: 1 preemption; newest checkpoint: count, \d+ s old/)

    // 5. Resubmit: the kept checkpoint bucket on a fresh VM.
    const resubmit = JSON.parse((await run(['plan', '--json', '--replace', 'job.workload'], 0)).stdout) as {changes: Array<{address: string; action: string}>}
    const actions = Object.fromEntries(resubmit.changes.map((c) => [c.address, c.action]))
    assert.equal(actions['job.bucket.checkpoint'], 'no-op', 'the kept bucket is used as it is')
    assert.equal(actions['job.vm'], 'create')
    await run(['apply', '-y', '--replace', 'job.workload'], 0)
    const fresh = project.state()!.deployments.job.resources['job.vm']?.id
    assert.ok(fresh && fresh !== first)
    await until('run 3 in the output bucket', async () => (await objects('spot-e2e-output')).includes('run-3.txt'), 120_000, 250)
    assert.equal(await text('spot-e2e-output', 'run-3.txt'), 'run 3 saw checkpoint 2')

    // 6. Destroy: nothing anycloud owns is left (persistBucket keeps the checkpoint bucket, untracked).
    await run(['destroy', '-y'], 0)
    assert.deepEqual(liveInstances(), [])
    assert.deepEqual([...fake!.state.securityGroups.values()].filter((g) => !g.isDefault).map((g) => g.groupName), [])
    assert.equal(fake!.state.keyPairs.size, 0)
    assert.equal(fake!.state.roles.size, 0)
    for (const b of [id, 'spot-e2e-output']) {
      const keys = await objects(b)
      if (keys.length > 0) await s3!.send(new DeleteObjectsCommand({Bucket: b, Delete: {Objects: keys.map((Key) => ({Key}))}}))
      await s3!.send(new DeleteBucketCommand({Bucket: b})).catch(() => undefined)
    }
  })

  it('storage credentials minted by STS (fake clock: 1 h of their 36 h left) are re-minted by watch and the VM\'s rclone env file rewritten (0600), the workload keeping its pid', async () => {
    const url = fake!.url
    const endpoints = {s3: s3rig!.endpoint, ec2: url, iam: url, sts: url}
    project = new Project(
      stringify({
        version: 1,
        project: 'stse2e',
        credentials: {
          'aws-fake': {provider: 'aws', region: 'us-east-1', accessKeyId: '${env:E2E_AWS_KEY_ID}', secretAccessKey: '${env:E2E_AWS_SECRET}', endpoints},
          // Another account's storage: the VM's role does not reach it, so scoped STS credentials are minted.
          'aws-store': {provider: 'aws', region: 'us-east-1', accessKeyId: '${env:E2E_AWS_KEY_ID}', secretAccessKey: '${env:E2E_AWS_SECRET}', endpoints},
        },
        profiles: {
          job: {
            credentials: 'aws-fake', vmType: 't3.micro', runtime: 'process', outputBucket: 'sts-e2e-output', outputStorageCredentials: 'aws-store', syncIntervalSeconds: 1,
            command: ['sh', '-c', 'echo hello > "$ANYCLOUD_OUTPUT/hello.txt"; exec sleep 4242'],
          },
        },
      }),
    )
    const env = {
      E2E_AWS_KEY_ID: KEYS.accessKeyId, E2E_AWS_SECRET: KEYS.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      ANYCLOUD_AWS_SSH_USER: 'root', ANYCLOUD_AWS_POLL_MS: '100', ANYCLOUD_REMOTE_PREFIX: prefix, ANYCLOUD_STORAGE_CHECK: '3:1', ANYCLOUD_NOTICE_BASE: notice!.base,
    }
    const run = (args: string[], code: number) => project!.expect(args, code, {env, timeoutMs: 300_000})
    const mints = () => fake!.state.sessions.filter((x) => x.action === 'GetFederationToken')

    // STS's clock is 35 h behind: what it mints for 36 h expires an hour from now.
    fake!.clock.advance(-35 * 3600 * 1000)
    await run(['apply', '-y'], 0)
    assert.equal(mints().length, 1)
    const firstExpiry = mints()[0].expiration
    assert.ok(firstExpiry.getTime() - Date.now() < 2 * 3600 * 1000)
    await until('hello.txt uploaded with the minted credentials', async () => (await objects('sts-e2e-output')).includes('hello.txt'), 60_000, 200)

    // The workload, and the rclone env file as the VM sees it (its private overlay, through /proc/PID/root).
    const pidOf = () => Number(execFileSync('pgrep', ['-f', '^sleep 4242$'], {encoding: 'utf8'}).trim().split('\n')[0])
    const pid = pidOf()
    assert.ok(pid > 1)
    const id = project.state()!.deployments.job.id
    const envFile = `/proc/${pid}/root${prefix}/etc/anycloud/${id}/rclone.env`
    const tokenIn = (text: string) => /^RCLONE_CONFIG_ACOUTPUT_SESSION_TOKEN=(.*)$/m.exec(text)?.[1]
    const before = readFileSync(envFile, 'utf8')
    assert.ok(tokenIn(before))
    assert.equal(statSync(envFile).mode & 0o777, 0o600)

    // STS back on time; the plan says the credentials are due; watch re-mints them.
    fake!.clock.reset()
    const plan = JSON.parse((await run(['plan', '--json'], 0)).stdout) as {changes: Array<{address: string; action: string; reason: string}>}
    const boot = plan.changes.find((c) => c.address === 'job.bootstrap')!
    assert.equal(boot.action, 'update')
    assert.match(boot.reason, /^storage credentials expire in \d+ min \(.*\): re-minted and written to the machine; the workload keeps running$/)
    assert.deepEqual(plan.changes.filter((c) => c.action !== 'no-op' && c.action !== 'read').map((c) => c.address), ['job.bootstrap'], 'nothing else changes')

    const watched = await run(['watch', '--once', '--json'], 0)
    const decisions = watched.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Decision)
    assert.deepEqual(decisions.map((d) => [d.address, d.action, d.outcome]), [['job.bootstrap', 'update', 'done']])
    assert.ok(Date.now() < firstExpiry.getTime(), 'renewed before the old credentials expired')
    assert.equal(mints().length, 2)
    assert.ok(mints()[1].expiration.getTime() - Date.now() > 35 * 3600 * 1000, 'the new ones last 36 h')

    const after = readFileSync(envFile, 'utf8')
    assert.notEqual(tokenIn(after), tokenIn(before), 'the file carries the new session token')
    assert.equal(statSync(envFile).mode & 0o777, 0o600)
    assert.equal(pidOf(), pid, 'the workload kept running: same pid')
    assert.match((await run(['plan', '--detailed-exitcode'], 0)).stdout, /No changes\./)

    await run(['destroy', '-y'], 0)
    assert.deepEqual(liveInstances(), [])
    const keys = await objects('sts-e2e-output')
    if (keys.length > 0) await s3!.send(new DeleteObjectsCommand({Bucket: 'sts-e2e-output', Delete: {Objects: keys.map((Key) => ({Key}))}}))
    await s3!.send(new DeleteBucketCommand({Bucket: 'sts-e2e-output'})).catch(() => undefined)
  })

  it('a preemption during bootstrap, then a cancel (SIGINT) of watch during the recovery: nothing untracked is left, and destroy leaves nothing', async () => {
    const url = fake!.url
    project = new Project(
      stringify({
        version: 1,
        project: 'spotcancel',
        credentials: {'aws-fake': {provider: 'aws', region: 'us-east-1', accessKeyId: '${env:E2E_AWS_KEY_ID}', secretAccessKey: '${env:E2E_AWS_SECRET}', endpoints: {s3: s3rig!.endpoint, ec2: url, iam: url, sts: url}}},
        profiles: {job: {credentials: 'aws-fake', vmType: 't3.micro', runtime: 'process', spot: true, syncIntervalSeconds: 1, command: ['sleep', '600']}},
      }),
    )
    const env = {
      E2E_AWS_KEY_ID: KEYS.accessKeyId, E2E_AWS_SECRET: KEYS.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      ANYCLOUD_AWS_SSH_USER: 'root', ANYCLOUD_AWS_POLL_MS: '100', ANYCLOUD_REMOTE_PREFIX: prefix, ANYCLOUD_STORAGE_CHECK: '3:1', ANYCLOUD_NOTICE_BASE: notice!.base,
    }
    const run = (args: string[], code: number) => project!.expect(args, code, {env, timeoutMs: 300_000})
    const tagged = (id: string) => fake!.instancesTagged('anycloud-deployment', id).filter((i) => i.state !== 'terminated')

    // 1. The spot VM is taken back while it is being bootstrapped: the apply fails on the bootstrap.
    const apply = project.start(['apply', '-y'], {env})
    await until('the bootstrap under way', () => /job\.bootstrap: (connecting|install)/.test(apply.out.stderr), 120_000, 50)
    const id = project.state()!.deployments.job.id
    const [victim] = tagged(id)
    await fake!.preempt(victim.instanceId)
    const failed = await finished(apply)
    assert.equal(failed.code, 1, failed.stderr)
    assert.deepEqual(tagged(id), [], 'the preempted VM is gone; nothing else was launched')

    // 2. watch recovers it (a new VM, bootstrap, workload).
    const once = await run(['watch', '--once', '--json'], 0)
    const decisions = once.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Decision)
    assert.equal(decisions.find((d) => d.address === 'job.vm')?.outcome, 'done', once.stdout)
    assert.equal(decisions.find((d) => d.address === 'job.workload')?.outcome, 'done', once.stdout)
    assert.equal(tagged(id).length, 1)
    assert.equal((project.state()!.deployments.job as {spot?: {preemptions: number}}).spot?.preemptions, 1, 'the preemption during bootstrap was counted')

    // 3. Preempted again; watch starts the recovery and is cancelled (SIGINT) once the new VM is asked for.
    const runsBefore = fake!.calls('RunInstances').length
    await fake!.preempt(tagged(id)[0].instanceId)
    const watch = project.start(['watch', '--interval', '1', '--json'], {env})
    await until('the recovery under way', () => fake!.calls('RunInstances').length > runsBefore, 120_000, 20)
    watch.kill('SIGINT')
    const w = await finished(watch)
    assert.ok(w.code === 0 || w.code === 130, `watch exits cleanly on SIGINT (${w.code})\n${w.stderr}`)
    assert.ok(!existsSync(project.path('.anycloud', 'state.lock')), 'the lock is released')
    // Whatever the cancelled recovery launched is tracked in state (nothing leaked)...
    const recorded = project.state()!.deployments.job.resources['job.vm']?.id
    for (const i of tagged(id)) assert.equal(i.instanceId, recorded, `instance ${i.instanceId} is not tracked in state`)
    // ...so destroy leaves nothing anycloud owns.
    await run(['destroy', '-y'], 0)
    assert.deepEqual(tagged(id), [])
    assert.deepEqual([...fake!.state.securityGroups.values()].filter((g) => !g.isDefault && g.tags?.['anycloud-deployment'] === id).map((g) => g.groupName), [])
    assert.equal([...fake!.state.keyPairs.values()].filter((k) => k.tags['anycloud-deployment'] === id).length, 0)
    assert.equal([...fake!.state.roles.values()].filter((r) => r.tags['anycloud-deployment'] === id).length, 0)
    assert.deepEqual(await objects(id), [])
  })
})
