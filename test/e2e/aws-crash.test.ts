/**
 * The aws provider killed mid-apply (SIGKILL at a crash point, ANYCLOUD_TEST_CRASH_AT), end to end
 * on the BUILT CLI against the rig of aws-rig.ts (fake EC2/IAM/STS, S3 emulator, sshd VMs): the
 * re-run makes no second instance, and destroy leaves nothing of the deployment.
 */
import assert from 'node:assert/strict'

import {useAwsRig} from './aws-rig.js'

describe('e2e: aws provider killed mid-apply, against the fake EC2/IAM/STS with sshd VMs', function () {
  this.timeout(300_000)
  const aws = useAwsRig()

  for (const point of ['after-intent', 'after-create'] as const) {
    it(`killed (SIGKILL) ${point === 'after-intent' ? 'after the intent, before RunInstances' : 'after RunInstances returned, before state was saved'}: the re-run makes no second instance`, async () => {
      await aws.project?.cleanup([])
      const made = aws.awsProject(`e2ecrash${point === 'after-intent' ? 'a' : 'b'}`, {command: ['sleep', '600']})
      const project = (aws.project = made.project)
      const before = aws.fake.calls('RunInstances').length
      const killed = await project.run(['apply', '-y'], {env: {...made.env, ANYCLOUD_TEST_CRASH_AT: `${point}:job.vm`}, timeoutMs: 240_000})
      assert.equal(killed.signal, 'SIGKILL', killed.stderr)
      const pending = project.state()!.deployments.job.resources['job.vm']
      assert.equal(pending.status, 'pending')
      const deploymentId = project.state()!.deployments.job.id
      const tagged = () => aws.fake.instancesTagged('anycloud-deployment', deploymentId).filter((i) => i.state !== 'terminated')
      assert.equal(tagged().length, point === 'after-intent' ? 0 : 1)

      await project.expect(['apply', '-y'], 0, {env: made.env, timeoutMs: 240_000})
      assert.equal(tagged().length, 1, 'exactly one instance')
      assert.equal(aws.fake.calls('RunInstances').length - before, 1, 'one RunInstances in all')
      const rec = project.state()!.deployments.job.resources['job.vm']
      assert.equal(rec.status, 'created')
      assert.equal(rec.id, tagged()[0].instanceId)
      assert.match((await project.expect(['plan', '--detailed-exitcode'], 0, {env: made.env, timeoutMs: 240_000})).stdout, /No changes\./)

      await project.expect(['destroy', '-y'], 0, {env: made.env, timeoutMs: 240_000})
      assert.deepEqual(tagged(), [])
      assert.equal([...aws.fake.state.keyPairs.values()].filter((k) => k.tags['anycloud-deployment'] === deploymentId).length, 0)
      assert.equal([...aws.fake.state.roles.values()].filter((r) => r.tags['anycloud-deployment'] === deploymentId).length, 0)
    })
  }
})
