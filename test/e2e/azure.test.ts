/**
 * End to end on the `azure` provider, driving the BUILT CLI (`node bin/run.js`) as a child
 * process: the credential's `endpoints` point at our HTTPS fake of Resource Manager and the Entra
 * login (trusted through NODE_EXTRA_CA_CERTS, as a user of a private cloud would), and every
 * storage account's blob endpoint is azurite. Each VM the fake creates is a real sshd "VM" in its
 * own network namespace that presents the host key anycloud put in its custom data and reaches
 * azurite at the same `http://127.0.0.1:PORT` through a forwarder; bootstrap (supervisord, rclone)
 * runs for real on it. rclone uses container SAS URLs here (ANYCLOUD_AZURE_BLOB_AUTH=sas): the
 * managed identity path needs the metadata service, which tests never reach; the identity and its
 * role assignments are still made and checked.
 *
 * plan → apply (input synced, output uploaded, checkpoint written) → no changes → the fake evicts
 * the spot VM → plan shows the VM replaced with Azure's reason → `watch --once` replaces it and the
 * job resumes from the checkpoint → destroy leaves only the shared storage account and the output
 * container holding data (and the user's input container).
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {BlobServiceClient} from '@azure/storage-blob'
import {stringify} from 'yaml'

import {storageAccountName} from '../../src/providers/azure/index.js'
import {SshdVmBackend, startFakeAzure, type FakeAzure} from '../helpers/fake-azure/index.js'
import {requireNetns, stopAllSshd} from '../helpers/sshd/index.js'
import {startAzurite, type AzuriteRig} from '../helpers/storage/azurite.js'
import {makeArmProvider, CLIENT_ID, CLIENT_SECRET} from '../providers/azure/arm-helpers.js'
import {desiredBucket, tagsFor} from '../providers/azure/helpers.js'
import {untilUploaded} from '../bootstrap/processes.js'
import {Project, until} from './cli.js'

interface JsonChange {
  address: string
  action: string
  reason: string
}

describe('e2e: azure provider against the ARM fake and azurite, with sshd VMs', function () {
  this.timeout(420_000)
  let fake: FakeAzure | undefined
  let rig: AzuriteRig | undefined
  let blob: BlobServiceClient | undefined
  let project: Project | undefined
  let prefix = ''

  before(async function () {
    await requireNetns(this)
    rig = await startAzurite()
    blob = BlobServiceClient.fromConnectionString(rig.connectionString, {retryOptions: {maxTries: 2}})
    prefix = mkdtempSync(join(tmpdir(), 'anycloud-azure-vm-'))
    const backend = new SshdVmBackend({netns: true, forwardPorts: [Number(new URL(rig.blobEndpoint).port)], sshd: {privateDirs: [prefix]}})
    fake = await startFakeAzure({backend, blob: {endpoint: rig.blobEndpoint, accountName: rig.accountName, accountKey: rig.accountKey}, clients: {[CLIENT_ID]: CLIENT_SECRET}})
  })

  after(async () => {
    await project?.cleanup([])
    await fake?.close()
    await rig?.stop()
    await stopAllSshd()
    if (prefix) rmSync(prefix, {recursive: true, force: true})
  })

  async function blobs(container: string): Promise<string[]> {
    const out: string[] = []
    try {
      for await (const b of blob!.getContainerClient(container).listBlobsFlat()) out.push(b.name)
    } catch {
      return []
    }
    return out.sort()
  }

  async function text(container: string, name: string): Promise<string> {
    return (await blob!.getContainerClient(container).getBlobClient(name).downloadToBuffer()).toString('utf8').trim()
  }

  it('plan → apply → eviction → watch --once replaces it and resumes from the checkpoint → destroy', async () => {
    // The user's input container, made in the us account beforehand.
    const seeder = await makeArmProvider(fake!)
    await seeder.createBucket(desiredBucket('e2e-input', 'input', 'az', 'azure'), {region: 'eastus', tags: tagsFor('input', 'seed')})
    await blob!.getContainerClient('e2e-input').getBlockBlobClient('data.txt').upload('one two three\n', 14)
    await seeder.close()

    project = new Project(
      stringify({
        version: 1,
        project: 'e2eazure',
        credentials: {
          'azure-fake': {
            provider: 'azure',
            subscriptionId: fake!.subscriptionId,
            tenantId: fake!.tenantId,
            clientId: CLIENT_ID,
            clientSecret: '${env:E2E_AZURE_SECRET}',
            region: 'eastus',
            endpoints: {resourceManager: fake!.url, login: fake!.url},
          },
        },
        profiles: {
          job: {
            credentials: 'azure-fake',
            vmType: 'Standard_D2s_v5',
            runtime: 'process',
            syncIntervalSeconds: 60,
            spot: true,
            inputBucket: 'e2e-input',
            outputBucket: 'e2e-output',
            command: [
              'sh',
              '-c',
              'n=$(cat "$ANYCLOUD_CHECKPOINT/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$ANYCLOUD_CHECKPOINT/count"; wc -w < "$ANYCLOUD_INPUT/data.txt" > "$ANYCLOUD_OUTPUT/run-$n.txt"; exec sleep 600',
            ],
          },
        },
      }),
    )
    const env = {
      E2E_AZURE_SECRET: CLIENT_SECRET,
      NODE_EXTRA_CA_CERTS: fake!.caFile,
      ANYCLOUD_AZURE_SSH_USER: 'root',
      ANYCLOUD_AZURE_BLOB_AUTH: 'sas',
      ANYCLOUD_AZURE_POLL_MS: '50',
      ANYCLOUD_REMOTE_PREFIX: prefix,
      ANYCLOUD_STORAGE_CHECK: '3:1',
    }
    const run = (args: string[], code: number) => project!.expect(args, code, {env, timeoutMs: 300_000})

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

    // 2. Apply: a real bootstrap on the sshd VM; output and checkpoint synced to azurite.
    const applied = await run(['apply', '-y'], 0)
    assert.match(applied.stdout, /Apply complete/)
    const dep = project.state()!.deployments.job
    // The custom-data host key was rotated: state pins the key the VM made.
    assert.match(applied.stderr, /job\.bootstrap: .*host key rotated: SHA256:/)
    assert.match(String(dep.resources['job.vm'].outputs?.hostKey), /^ecdsa-sha2-nistp256 /)
    const vmName = `anycloud-${dep.id}-vm`
    const vm = fake!.vm(vmName)!
    assert.equal(vm.properties.priority, 'Spot')
    assert.equal(vm.properties.evictionPolicy, 'Delete')
    assert.equal(fake!.roleAssignments.size, 3, 'one role per container: input, output, checkpoint')
    for (const ra of fake!.roleAssignments.values()) assert.match(ra.properties.scope, /\/blobServices\/default\/containers\/(e2e-input|e2e-output|e2eazure-)/)
    await untilUploaded('run-1.txt in the output container', prefix, async () => (await blobs('e2e-output')).includes('run-1.txt'), 90_000, 250)
    assert.equal(await text('e2e-output', 'run-1.txt'), '3')
    await untilUploaded('the checkpoint uploaded', prefix, async () => (await blobs(dep.id)).includes('count'), 90_000, 250)
    assert.equal(await text(dep.id, 'count'), '1')
    const stateText = JSON.stringify(project.state())
    assert.ok(!/PRIVATE KEY/.test(stateText))
    assert.ok(!stateText.includes(CLIENT_SECRET))
    assert.ok(!/sig=/.test(stateText), 'no SAS in state')

    // 3. A second plan: no changes.
    assert.match((await run(['plan', '--detailed-exitcode'], 0)).stdout, /No changes\./)

    // 4. Azure evicts the spot VM (policy Delete: the VM is gone).
    await fake!.evict(vmName)
    const after = JSON.parse((await run(['plan', '--json', '--detailed-exitcode'], 2)).stdout) as {changes: JsonChange[]}
    const vmChange = after.changes.find((c) => c.address === 'job.vm')!
    assert.equal(vmChange.action, 'replace')
    assert.match(vmChange.reason, /Azure evicted the spot VM/)
    assert.equal(after.changes.find((c) => c.address === 'job.workload')!.action, 'replace')

    // 5. watch --once: one reconcile pass replaces the VM; the job resumes from the checkpoint.
    await project.expect(['watch', '--once'], 0, {env, timeoutMs: 300_000})
    const dep2 = project.state()!.deployments.job
    assert.equal(dep2.id, dep.id)
    assert.ok(fake!.vm(vmName), 'a new VM')
    await untilUploaded('run-2.txt in the output container', prefix, async () => (await blobs('e2e-output')).includes('run-2.txt'), 90_000, 250)
    await untilUploaded('the checkpoint count 2', prefix, async () => (await text(dep.id, 'count').catch(() => '')) === '2', 90_000, 250)
    assert.equal(await text('e2e-output', 'run-1.txt'), '3', 'copy, never sync')

    // 6. Destroy: only the shared storage account and the output container with data are left (and the input).
    const destroyed = await run(['destroy', '-y'], 0)
    assert.match(destroyed.stderr, /e2e-output/, 'says the output container was kept')
    const left = fake!.all().filter((r) => r.tags?.['anycloud-deployment'] === dep.id)
    assert.deepEqual(left.map((r) => r.id), [])
    assert.equal(fake!.roleAssignments.size, 0, 'role assignments deleted (before their identity)')
    assert.deepEqual(fake!.ofType('Microsoft.Compute/virtualMachines'), [])
    assert.deepEqual(fake!.ofType('Microsoft.Network/networkInterfaces'), [])
    assert.deepEqual(fake!.ofType('Microsoft.Network/publicIPAddresses'), [])
    assert.deepEqual(fake!.ofType('Microsoft.Network/networkSecurityGroups'), [])
    assert.deepEqual(fake!.ofType('Microsoft.ManagedIdentity/userAssignedIdentities'), [])
    assert.deepEqual(fake!.ofType('Microsoft.Compute/disks'), [])
    assert.deepEqual(fake!.ofType('Microsoft.Storage/storageAccounts').map((a) => a.name), [storageAccountName('us', fake!.subscriptionId)])
    assert.deepEqual(fake!.ofType('Microsoft.Storage/storageAccounts/blobServices/containers').map((c) => c.name).sort(), ['e2e-input', 'e2e-output'])
    assert.ok((await blobs('e2e-output')).includes('run-1.txt'))
    assert.deepEqual(await blobs(dep.id), [])
    assert.deepEqual(Object.keys(project.state()?.deployments ?? {}), [])
  })
})
