/**
 * Spot that runs unattended, end to end on the BUILT CLI against the fake EC2/IAM/STS and the S3
 * emulator, with real sshd "VMs" (network namespaces), supervisord and rclone. The VMs watch an
 * interruption-notice endpoint of this test (ANYCLOUD_NOTICE_BASE), never the metadata address.
 *
 * One job, resumable from its checkpoint: run n reads `count` from /mnt/checkpoint, writes n+1,
 * and finishes (exit 0) from its second run on. The periodic upload is once a minute, so what the
 * first run wrote reaches the bucket only through the flush on the notice.
 *
 * The rig (fake cloud, S3 emulator, notice endpoint) is test/e2e/spot-rig.ts; the recovery cases
 * (re-minted STS credentials, a preemption during bootstrap) are in spot-recovery.test.ts.
 *
 * notice → flush → the fake takes the VM back → `watch` replaces it (new VM, checkpoint restored,
 * workload restarted) → the job completes and watch tears it down (persistBucket keeps the
 * checkpoint) → `status` shows one preemption and the newest checkpoint's age → resubmit with
 * `apply --replace job.workload` resumes from the kept bucket on a fresh VM → destroy leaves nothing.
 */
import assert from 'node:assert/strict'

import {DeleteBucketCommand, DeleteObjectsCommand} from '@aws-sdk/client-s3'
import {stringify} from 'yaml'

import {finished, Project, until} from './cli.js'
import {JOB, type Decision} from './spot-job.js'
import {useSpotRig} from './spot-rig.js'

describe('e2e: spot that runs unattended (aws fake, sshd VMs, notice endpoint)', function () {
  this.timeout(600_000)
  const rig = useSpotRig()

  it('notice flush → preemption → watch replaces the VM and the job resumes and completes → status → resubmit from the kept checkpoint → destroy leaves nothing', async () => {
    const url = rig.fake.url
    const project = (rig.project = new Project(
      stringify({
        version: 1,
        project: 'spote2e',
        credentials: {
          'aws-fake': {
            provider: 'aws', region: 'us-east-1', accessKeyId: '${env:E2E_AWS_KEY_ID}', secretAccessKey: '${env:E2E_AWS_SECRET}',
            endpoints: {s3: rig.s3rig.endpoint, ec2: url, iam: url, sts: url},
          },
        },
        profiles: {
          job: {
            credentials: 'aws-fake', vmType: 't3.micro', runtime: 'process', spot: true, persistBucket: true, spotFallback: {afterPreemptions: 3},
            outputBucket: 'spot-e2e-output', syncIntervalSeconds: 60, command: ['sh', '-c', JOB],
          },
        },
      }),
    ))
    const env = {...rig.env(), ANYCLOUD_NOTICE_POLL: '0.5'}
    const run = (args: string[], code: number) => project.expect(args, code, {env, timeoutMs: 300_000})
    const logs = async () => (await project.run(['logs', 'job'], {env, timeoutMs: 60_000})).stdout

    // 1. The first run starts and writes checkpoint 1 on the VM (not uploaded: the next periodic upload is a minute away).
    await run(['apply', '-y'], 0)
    const id = project.state()!.deployments.job.id
    const first = project.state()!.deployments.job.resources['job.vm'].id
    await until('run 1 started', async () => /run 1 started/.test(await logs()), 60_000, 500)
    await until('the VM polling the notice endpoint', () => rig.notice.polls > 0, 30_000, 100)

    // 2. The interruption notice: the workload is stopped with SIGTERM and the checkpoint flushed.
    rig.notice.arm()
    await until('checkpoint 1 flushed to the bucket', async () => (await rig.objects(id)).includes('count') && (await rig.text(id, 'count')) === '1', 60_000, 200)
    assert.ok((await rig.objects('spot-e2e-output')).includes('run-1.txt'), 'the output was flushed too')

    // 3. The cloud takes the VM back; watch replaces it; the job resumes from checkpoint 1 and completes.
    await rig.fake.preempt(first)
    rig.notice.clear()
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
    assert.equal(await rig.text('spot-e2e-output', 'run-2.txt'), 'run 2 saw checkpoint 1', 'the new VM restored the checkpoint the old one flushed')
    assert.equal(await rig.text(id, 'count'), '2')
    assert.deepEqual(rig.liveInstances(), [], 'the completed job\'s VM is gone')

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
    await until('run 3 in the output bucket', async () => (await rig.objects('spot-e2e-output')).includes('run-3.txt'), 120_000, 250)
    assert.equal(await rig.text('spot-e2e-output', 'run-3.txt'), 'run 3 saw checkpoint 2')

    // 6. Destroy: nothing anycloud owns is left (persistBucket keeps the checkpoint bucket, untracked).
    await run(['destroy', '-y'], 0)
    assert.deepEqual(rig.liveInstances(), [])
    assert.deepEqual([...rig.fake.state.securityGroups.values()].filter((g) => !g.isDefault).map((g) => g.groupName), [])
    assert.equal(rig.fake.state.keyPairs.size, 0)
    assert.equal(rig.fake.state.roles.size, 0)
    for (const b of [id, 'spot-e2e-output']) {
      const keys = await rig.objects(b)
      if (keys.length > 0) await rig.s3.send(new DeleteObjectsCommand({Bucket: b, Delete: {Objects: keys.map((Key) => ({Key}))}}))
      await rig.s3.send(new DeleteBucketCommand({Bucket: b})).catch(() => undefined)
    }
  })
})
