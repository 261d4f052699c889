/**
 * Spot on aws, the recovery cases, end to end on the BUILT CLI (the rig of spot.test.ts, from
 * spot-rig.ts: fake EC2/IAM/STS, sshd VMs in network namespaces, the S3 emulator, a notice
 * endpoint): storage credentials minted by STS re-minted by watch while the workload keeps its pid,
 * and a preemption during bootstrap followed by a watch cancelled during the recovery.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync, readFileSync, statSync} from 'node:fs'

import {DeleteBucketCommand, DeleteObjectsCommand} from '@aws-sdk/client-s3'
import {stringify} from 'yaml'

import {untilUploaded} from '../bootstrap/helpers.js'
import {finished, Project, until} from './cli.js'
import {planAndWatchRemint, type Decision} from './spot-job.js'
import {useSpotRig} from './spot-rig.js'

describe('e2e: spot on aws recovers unattended: re-minted storage credentials, a preemption during bootstrap (aws fake, sshd VMs)', function () {
  this.timeout(600_000)
  const rig = useSpotRig()

  it('storage credentials minted by STS (fake clock: 1 h of their 36 h left) are re-minted by watch and the VM\'s rclone env file rewritten (0600), the workload keeping its pid', async () => {
    const url = rig.fake.url
    const endpoints = {s3: rig.s3rig.endpoint, ec2: url, iam: url, sts: url}
    const project = (rig.project = new Project(
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
            credentials: 'aws-fake', vmType: 't3.micro', runtime: 'process', outputBucket: 'sts-e2e-output', outputStorageCredentials: 'aws-store', syncIntervalSeconds: 60,
            command: ['sh', '-c', 'echo hello > "$ANYCLOUD_OUTPUT/hello.txt"; exec sleep 4242'],
          },
        },
      }),
    ))
    const env = rig.env()
    const run = (args: string[], code: number) => project.expect(args, code, {env, timeoutMs: 300_000})
    const mints = () => rig.fake.state.sessions.filter((x) => x.action === 'GetFederationToken')

    // STS's clock is 35 h behind: what it mints for 36 h expires an hour from now.
    rig.fake.clock.advance(-35 * 3600 * 1000)
    await run(['apply', '-y'], 0)
    assert.equal(mints().length, 1)
    const firstExpiry = mints()[0].expiration
    assert.ok(firstExpiry.getTime() - Date.now() < 2 * 3600 * 1000)
    await untilUploaded('hello.txt uploaded with the minted credentials', rig.prefix, async () => (await rig.objects('sts-e2e-output')).includes('hello.txt'), 60_000, 200)

    // The workload, and the rclone env file as the VM sees it (its private overlay, through /proc/PID/root).
    const pidOf = () => Number(execFileSync('pgrep', ['-f', '^sleep 4242$'], {encoding: 'utf8'}).trim().split('\n')[0])
    const pid = pidOf()
    assert.ok(pid > 1)
    const id = project.state()!.deployments.job.id
    const envFile = `/proc/${pid}/root${rig.prefix}/etc/anycloud/${id}/rclone.env`
    const tokenIn = (text: string) => /^RCLONE_CONFIG_ACOUTPUT_SESSION_TOKEN=(.*)$/m.exec(text)?.[1]
    const before = readFileSync(envFile, 'utf8')
    assert.ok(tokenIn(before))
    assert.equal(statSync(envFile).mode & 0o777, 0o600)

    // STS back on time; the plan says the credentials are due; watch re-mints them.
    rig.fake.clock.reset()
    await planAndWatchRemint(run)
    assert.ok(Date.now() < firstExpiry.getTime(), 'renewed before the old credentials expired')
    assert.equal(mints().length, 2)
    assert.ok(mints()[1].expiration.getTime() - Date.now() > 35 * 3600 * 1000, 'the new ones last 36 h')

    const after = readFileSync(envFile, 'utf8')
    assert.notEqual(tokenIn(after), tokenIn(before), 'the file carries the new session token')
    assert.equal(statSync(envFile).mode & 0o777, 0o600)
    assert.equal(pidOf(), pid, 'the workload kept running: same pid')
    assert.match((await run(['plan', '--detailed-exitcode'], 0)).stdout, /No changes\./)

    await run(['destroy', '-y'], 0)
    assert.deepEqual(rig.liveInstances(), [])
    const keys = await rig.objects('sts-e2e-output')
    if (keys.length > 0) await rig.s3.send(new DeleteObjectsCommand({Bucket: 'sts-e2e-output', Delete: {Objects: keys.map((Key) => ({Key}))}}))
    await rig.s3.send(new DeleteBucketCommand({Bucket: 'sts-e2e-output'})).catch(() => undefined)
  })

  it('a preemption during bootstrap, then a cancel (SIGINT) of watch during the recovery: nothing untracked is left, and destroy leaves nothing', async () => {
    const url = rig.fake.url
    const project = (rig.project = new Project(
      stringify({
        version: 1,
        project: 'spotcancel',
        credentials: {'aws-fake': {provider: 'aws', region: 'us-east-1', accessKeyId: '${env:E2E_AWS_KEY_ID}', secretAccessKey: '${env:E2E_AWS_SECRET}', endpoints: {s3: rig.s3rig.endpoint, ec2: url, iam: url, sts: url}}},
        profiles: {job: {credentials: 'aws-fake', vmType: 't3.micro', runtime: 'process', spot: true, syncIntervalSeconds: 60, command: ['sleep', '600']}},
      }),
    ))
    const env = rig.env()
    const run = (args: string[], code: number) => project.expect(args, code, {env, timeoutMs: 300_000})
    const tagged = (id: string) => rig.fake.instancesTagged('anycloud-deployment', id).filter((i) => i.state !== 'terminated')

    // 1. The spot VM is taken back while it is being bootstrapped: the apply fails on the bootstrap.
    const apply = project.start(['apply', '-y'], {env})
    await until('the bootstrap under way', () => /job\.bootstrap: (connecting|install)/.test(apply.out.stderr), 120_000, 50)
    const id = project.state()!.deployments.job.id
    const [victim] = tagged(id)
    await rig.fake.preempt(victim.instanceId)
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
    const runsBefore = rig.fake.calls('RunInstances').length
    await rig.fake.preempt(tagged(id)[0].instanceId)
    const watch = project.start(['watch', '--interval', '1', '--json'], {env})
    await until('the recovery under way', () => rig.fake.calls('RunInstances').length > runsBefore, 120_000, 20)
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
    assert.deepEqual([...rig.fake.state.securityGroups.values()].filter((g) => !g.isDefault && g.tags?.['anycloud-deployment'] === id).map((g) => g.groupName), [])
    assert.equal([...rig.fake.state.keyPairs.values()].filter((k) => k.tags['anycloud-deployment'] === id).length, 0)
    assert.equal([...rig.fake.state.roles.values()].filter((r) => r.tags['anycloud-deployment'] === id).length, 0)
    assert.deepEqual(await rig.objects(id), [])
  })
})
