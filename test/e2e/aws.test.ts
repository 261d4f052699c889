/**
 * End to end on the `aws` provider, driving the BUILT CLI (`node bin/run.js`) as a child process:
 * the credential's `endpoints` point at the fake EC2/IAM/STS server and the S3 emulator, both on
 * loopback in this test process. Each instance the fake launches is a real sshd "VM" in its own
 * network namespace (10.200.N.2), which presents the host key anycloud put in its user data and
 * reaches the S3 emulator at the same `http://127.0.0.1:PORT` URL through a forwarder. Bootstrap
 * (supervisord, rclone sync) runs for real on it. Anything the VM writes under the remote prefix
 * stays in that VM's private overlay, so a replacement VM starts from an empty disk.
 *
 * The rig is test/e2e/aws-rig.ts; the crash-recovery cases are in aws-crash.test.ts and the host-key
 * rotation cases in aws-hostkey.test.ts.
 *
 * plan → apply (output and checkpoint synced to the emulator) → no changes → spot preemption by
 * the fake → plan shows the VM replaced with EC2's reason → apply restores the checkpoint on the
 * new VM → destroy leaves nothing anycloud owns in the fake or the emulator (the output bucket,
 * which holds data, and the user's input bucket are kept, by the SPEC).
 */
import assert from 'node:assert/strict'
import {existsSync, readdirSync} from 'node:fs'

import {CreateBucketCommand, PutObjectCommand} from '@aws-sdk/client-s3'

import {KEYS} from '../providers/aws/helpers.js'
import {useAwsRig} from './aws-rig.js'
import {untilUploaded} from '../bootstrap/helpers.js'
import {until} from './cli.js'

interface JsonChange {
  address: string
  action: string
  reason: string
}

describe('e2e: aws provider against the fake EC2/IAM/STS and the S3 emulator, with sshd VMs', function () {
  this.timeout(300_000)
  const aws = useAwsRig()

  it('plan → apply → preemption → replace with the checkpoint restored → destroy', async () => {
    await aws.s3.send(new CreateBucketCommand({Bucket: 'e2e-input'}))
    await aws.s3.send(new PutObjectCommand({Bucket: 'e2e-input', Key: 'data.txt', Body: 'one two three\n'}))
    const made = aws.awsProject('e2eaws', {
      spot: true,
      inputBucket: 'e2e-input',
      outputBucket: 'e2e-output',
      command: [
        'sh',
        '-c',
        'n=$(cat "$ANYCLOUD_CHECKPOINT/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$ANYCLOUD_CHECKPOINT/count"; wc -w < "$ANYCLOUD_INPUT/data.txt" > "$ANYCLOUD_OUTPUT/run-$n.txt"; exec sleep 600',
      ],
    })
    const project = (aws.project = made.project)
    const env = made.env
    const run = (args: string[], code: number) => project.expect(args, code, {env, timeoutMs: 240_000})

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
    assert.equal(aws.liveInstances().length, 1)
    const instance = aws.fake.state.instances.get(instanceId)!
    assert.equal(instance.metadataOptions.httpTokens, 'required')
    assert.equal(instance.market, 'spot')
    await untilUploaded('run-1.txt in the output bucket', aws.prefix, async () => (await aws.objects('e2e-output')).includes('run-1.txt'), 60_000, 200)
    assert.equal(await aws.text('e2e-output', 'run-1.txt'), '3')
    await until('the spot VM polling the notice endpoint', () => aws.notice.polls > 0, 30_000, 200)
    await untilUploaded('the checkpoint uploaded', aws.prefix, async () => (await aws.objects(dep.id)).includes('count'), 60_000, 200)
    assert.equal(await aws.text(dep.id, 'count'), '1')
    // Nothing secret in state: no private key, no secret key.
    const stateText = JSON.stringify(state)
    assert.ok(!/PRIVATE KEY/.test(stateText))
    assert.ok(!stateText.includes(KEYS.secretAccessKey + '"'), 'no secret key value in state')
    assert.ok(existsSync(project.path('.anycloud', 'keys', dep.id)))

    // 3. A second plan: no changes.
    const clean = await run(['plan', '--detailed-exitcode'], 0)
    assert.match(clean.stdout, /No changes\./)

    const status = JSON.parse((await run(['status', '--json'], 0)).stdout) as {deployments: Array<{address?: string; workload: {phase: string}; resources: Array<{address: string; exists: boolean | null}>}>}
    assert.equal(status.deployments[0].address, aws.fake.state.instances.get(instanceId)!.publicIpAddress)
    assert.equal(status.deployments[0].workload.phase, 'running')
    assert.ok(status.deployments[0].resources.every((r) => r.exists === true), JSON.stringify(status.deployments[0].resources))

    // 4. The fake takes the spot instance back.
    await aws.fake.preempt(instanceId)
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
    assert.equal(aws.liveInstances().length, 1)
    await untilUploaded('run-2.txt in the output bucket', aws.prefix, async () => (await aws.objects('e2e-output')).includes('run-2.txt'), 60_000, 200)
    await untilUploaded('the checkpoint count 2', aws.prefix, async () => (await aws.text(dep.id, 'count').catch(() => '')) === '2', 60_000, 200)
    assert.equal(await aws.text('e2e-output', 'run-1.txt'), '3', 'copy, never sync: the first run\'s output is still there')

    // 6. Destroy: nothing anycloud owns is left.
    const destroyed = await run(['destroy', '-y'], 0)
    assert.match(destroyed.stderr, /e2e-output/, 'says the output bucket was kept')
    assert.deepEqual(aws.liveInstances(), [])
    assert.deepEqual([...aws.fake.state.securityGroups.values()].filter((g) => !g.isDefault).map((g) => g.groupName), [])
    assert.equal(aws.fake.state.keyPairs.size, 0)
    assert.equal(aws.fake.state.roles.size, 0)
    assert.equal(aws.fake.state.instanceProfiles.size, 0)
    assert.deepEqual(await aws.objects(dep.id), [])
    assert.equal(aws.s3rig.bucketState(dep.id) === undefined || !(await bucketExists(dep.id)), true, 'checkpoint bucket deleted')
    assert.ok((await aws.objects('e2e-output')).includes('run-1.txt'), 'output bucket with data kept')
    assert.ok((await aws.objects('e2e-input')).includes('data.txt'), 'input bucket never touched')
    const keys = project.path('.anycloud', 'keys')
    assert.deepEqual(existsSync(keys) ? readdirSync(keys) : [], [])
    assert.deepEqual(Object.keys(project.state()?.deployments ?? {}), [])
  })

  async function bucketExists(name: string): Promise<boolean> {
    const {HeadBucketCommand} = await import('@aws-sdk/client-s3')
    try {
      await aws.s3.send(new HeadBucketCommand({Bucket: name}))
      return true
    } catch {
      return false
    }
  }
})
