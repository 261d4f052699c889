/**
 * End to end on the `gcp` provider, driving the BUILT CLI (`node bin/run.js`) as a child process:
 * the credential's `apiEndpoint` points at the fake Compute Engine + IAM server of this test
 * process, which proxies storage paths to the GCS fake, and its `accessToken` is a token the fake
 * issued (every call must carry it). Each VM the fake creates is a real sshd in its own network
 * namespace (10.200.N.2) presenting the host key anycloud put in its cloud-init user data; it
 * reaches the fake endpoint (and the test's notice endpoint) at the same 127.0.0.1 URLs through
 * forwarders. The bootstrap (supervisord, rclone sync) runs for real on it.
 *
 * plan → apply (input synced, output uploaded, checkpoint written) → no changes → preemption by the
 * fake → plan shows `replace` with GCE's reason → `watch --once` replaces it and the job resumes
 * from the checkpoint → destroy leaves nothing alive in the fake but the output bucket holding data
 * (and the user's input bucket, never touched).
 */
import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Storage} from '@google-cloud/storage'
import {stringify} from 'yaml'

import {SshdInstanceBackend} from '../helpers/fake-aws/sshd-backend.js'
import {FAKE_GCP_PROJECT, startFakeGcp, type FakeGcp} from '../helpers/fake-gcp/index.js'
import {startNoticeEndpoint, type NoticeEndpoint} from '../helpers/notice-endpoint.js'
import {requireNetns, stopAllSshd} from '../helpers/sshd/index.js'
import {gcsClientOptions, startGcsFake, type GcsFake} from '../helpers/storage/index.js'
import {untilUploaded} from '../bootstrap/helpers.js'
import {Project, until} from './cli.js'

interface JsonChange {
  address: string
  action: string
  reason: string
}

describe('e2e: gcp provider against the fake GCE/IAM and the GCS fake, with sshd VMs', function () {
  this.timeout(300_000)
  let fake: FakeGcp | undefined
  let gcs: GcsFake | undefined
  let storage: Storage | undefined
  let notice: NoticeEndpoint | undefined
  let project: Project | undefined
  let prefix = ''
  let token = ''

  before(async function () {
    await requireNetns(this)
    gcs = await startGcsFake()
    notice = await startNoticeEndpoint()
    prefix = mkdtempSync(join(tmpdir(), 'anycloud-gcp-vm-'))
    // The fake's own port is forwarded into each VM once it listens (the backend reads the list at each boot).
    const forwardPorts: number[] = [notice.port]
    const backend = new SshdInstanceBackend({netns: true, forwardPorts, sshd: {privateDirs: [prefix]}})
    fake = await startFakeGcp({backend, storage: gcs.apiEndpoint})
    forwardPorts.push(fake.port)
    token = fake.issueToken('e2e')
    storage = new Storage(gcsClientOptions(gcs))
  })

  after(async () => {
    await project?.cleanup([])
    await fake?.close()
    await gcs?.stop()
    await notice?.close()
    await stopAllSshd()
    if (prefix) rmSync(prefix, {recursive: true, force: true})
  })

  async function objects(bucket: string): Promise<string[]> {
    try {
      const [files] = await storage!.bucket(bucket).getFiles()
      return files.map((f) => f.name).sort()
    } catch {
      return []
    }
  }

  async function text(bucket: string, key: string): Promise<string> {
    const [buf] = await storage!.bucket(bucket).file(key).download()
    return buf.toString('utf8').trim()
  }

  function gcpProject(name: string, job: Record<string, unknown>): {project: Project; env: Record<string, string>} {
    const p = new Project(
      stringify({
        version: 1,
        project: name,
        credentials: {
          'gcp-fake': {provider: 'gcp', project: FAKE_GCP_PROJECT, region: 'us-central1', accessToken: '${env:E2E_GCP_TOKEN}', apiEndpoint: fake!.url},
        },
        profiles: {job: {credentials: 'gcp-fake', vmType: 'e2-small', runtime: 'process', syncIntervalSeconds: 60, ...job}},
      }),
    )
    const env = {
      E2E_GCP_TOKEN: token,
      GCE_METADATA_HOST: '127.0.0.1:9',
      METADATA_SERVER_DETECTION: 'none',
      ANYCLOUD_GCP_SSH_USER: 'root',
      ANYCLOUD_GCP_POLL_MS: '100',
      ANYCLOUD_REMOTE_PREFIX: prefix,
      ANYCLOUD_STORAGE_CHECK: '3:1',
      ANYCLOUD_NOTICE_BASE: notice!.base,
    }
    return {project: p, env}
  }

  it('plan → apply → preemption → `watch --once` replaces it, resumed from the checkpoint → destroy', async () => {
    await storage!.createBucket('e2e-gcs-input')
    await storage!.bucket('e2e-gcs-input').file('data.txt').save('one two three\n')
    const made = gcpProject('e2egcp', {
      spot: true,
      inputBucket: 'e2e-gcs-input',
      outputBucket: 'e2e-gcs-output',
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
    assert.deepEqual(Object.fromEntries(planned.changes.map((c) => [c.address, c.action])), {
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

    // 2. Apply: a real bootstrap on the sshd VM; output and checkpoint reach the GCS fake.
    const applied = await run(['apply', '-y'], 0)
    assert.match(applied.stdout, /Apply complete/)
    const dep = project.state()!.deployments.job
    // The user-data host key was rotated: state pins the key the VM made.
    assert.match(applied.stderr, /job\.bootstrap: .*host key rotated: SHA256:/)
    assert.match(String(dep.resources['job.vm'].outputs?.hostKey), /^ecdsa-sha2-nistp256 /)
    const vmName = String((dep.resources['job.vm'] as unknown as {outputs: Record<string, unknown>}).outputs.instanceName)
    const live = () => fake!.liveInstances()
    assert.equal(live().length, 1)
    const inst = live()[0]!
    assert.equal(inst.scheduling.provisioningModel, 'SPOT')
    assert.equal(inst.scheduling.instanceTerminationAction, 'DELETE')
    const email = String((dep.resources['job.identity'] as unknown as {outputs: Record<string, unknown>}).outputs.email)
    assert.equal(inst.serviceAccounts[0]!.email, email)
    assert.ok(fake!.requests.filter((r) => r.path.startsWith('/compute/') || r.path.startsWith('/v1/')).every((r) => r.auth === 'token'), 'every compute/IAM call carried the token')
    const outPolicy = gcs!.state.buckets.get('e2e-gcs-output')!.iam.bindings
    assert.ok(outPolicy.some((b) => b.role === 'roles/storage.objectAdmin' && b.members.includes(`serviceAccount:${email}`)))
    await untilUploaded('run-1.txt in the output bucket', prefix, async () => (await objects('e2e-gcs-output')).includes('run-1.txt'), 60_000, 200)
    assert.equal(await text('e2e-gcs-output', 'run-1.txt'), '3')
    await untilUploaded('the checkpoint uploaded', prefix, async () => (await objects(dep.id)).includes('count'), 60_000, 200)
    assert.equal(await text(dep.id, 'count'), '1')
    assert.ok(!/PRIVATE KEY/.test(JSON.stringify(project.state())), 'no private key in state')
    assert.ok(!JSON.stringify(project.state()).includes(token), 'no token in state')

    // 3. No changes.
    assert.match((await run(['plan', '--detailed-exitcode'], 0)).stdout, /No changes\./)

    // 4. The fake preempts the spot VM: the plan says replace, with GCE's reason.
    await fake!.preempt(vmName)
    const after = JSON.parse((await run(['plan', '--json', '--detailed-exitcode'], 2)).stdout) as {changes: JsonChange[]}
    const vm = after.changes.find((c) => c.address === 'job.vm')!
    assert.equal(vm.action, 'replace')
    assert.equal(vm.reason, 'VM no longer exists (compute.instances.preempted: Instance was preempted.)')

    // 5. `watch --once` reconciles: a new VM, the checkpoint restored (count 1 → 2).
    await run(['watch', '--once'], 0)
    const dep2 = project.state()!.deployments.job
    assert.notEqual(dep2.resources['job.vm'].id, dep.resources['job.vm'].id)
    assert.equal(dep2.id, dep.id)
    assert.equal(live().length, 1)
    await untilUploaded('run-2.txt in the output bucket', prefix, async () => (await objects('e2e-gcs-output')).includes('run-2.txt'), 60_000, 200)
    await untilUploaded('the checkpoint count 2', prefix, async () => (await text(dep.id, 'count').catch(() => '')) === '2', 60_000, 200)

    // 6. Destroy: nothing alive in the fake but the output bucket holding data (and the user's input).
    const destroyed = await run(['destroy', '-y'], 0)
    assert.match(destroyed.stderr, /e2e-gcs-output/)
    assert.deepEqual(live(), [])
    assert.equal(fake!.firewalls.size, 0)
    assert.equal(fake!.serviceAccounts.size, 0)
    assert.deepEqual([...gcs!.state.buckets.keys()].sort(), ['e2e-gcs-input', 'e2e-gcs-output'])
    assert.ok((await objects('e2e-gcs-output')).includes('run-1.txt'))
    for (const b of ['e2e-gcs-input', 'e2e-gcs-output']) {
      assert.ok(gcs!.state.buckets.get(b)!.iam.bindings.every((x) => !x.members.some((m) => m.includes(email))), `no binding left on ${b}`)
    }
    const keys = project.path('.anycloud', 'keys')
    assert.deepEqual(existsSync(keys) ? readdirSync(keys) : [], [])
    assert.deepEqual(Object.keys(project.state()?.deployments ?? {}), [])
  })
})
