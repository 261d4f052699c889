/**
 * Host-key rotation on the aws provider, end to end on the BUILT CLI against the rig of aws-rig.ts
 * (fake EC2/IAM/STS, S3 emulator, sshd VMs): the VM makes its own key after the first verified
 * connection and the user-data key is retired, also across a kill between the two.
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {fingerprintSha256, parsePublicKey, publicKeyLineFromBlob} from '../../src/remote/host-keys.js'
import {connectSsh} from '../../src/remote/ssh-runner.js'
import {useAwsRig} from './aws-rig.js'

describe('e2e: aws provider host keys rotated on the VM, against the fake EC2/IAM/STS with sshd VMs', function () {
  this.timeout(300_000)
  const aws = useAwsRig()

  /** The host keys the VM presents (ssh-keyscan from the host side of its namespace), as `type base64`. */
  function scan(host: string): string[] {
    const r = spawnSync('ssh-keyscan', ['-T', '10', '-t', 'ed25519,ecdsa,rsa', host], {encoding: 'utf8'})
    return r.stdout.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(' ').slice(1, 3).join(' ')).sort()
  }

  /** What the test needs of the one live instance of a deployment: its rig, the user-data key, the new key's files. */
  function vmOf(deploymentId: string) {
    const instance = aws.fake.instancesTagged('anycloud-deployment', deploymentId).find((i) => i.state !== 'terminated')!
    const rig = aws.backend.rig(instance.instanceId)!
    const userDataKey = aws.backend.cloudInit(instance.instanceId)!.hostKeys.ed25519!.publicKey!
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
    await aws.project?.cleanup([])
    const made = aws.awsProject('e2erotate', {command: ['sleep', '600']})
    const project = (aws.project = made.project)
    const run = (args: string[], code: number) => project.expect(args, code, {env: made.env, timeoutMs: 240_000})
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
    await aws.project?.cleanup([])
    const made = aws.awsProject('e2erotatecrash', {command: ['sleep', '600']})
    const project = (aws.project = made.project)
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
})
