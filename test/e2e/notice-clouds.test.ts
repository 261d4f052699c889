/**
 * The interruption notice on Compute Engine (`instance/preempted`) and Azure (Scheduled Events
 * `Preempt`), end to end on the BUILT CLI: the fake GCE / fake ARM with real sshd "VMs" in network
 * namespaces, the GCS fake / azurite, and a notice endpoint of this test forwarded into each VM
 * (ANYCLOUD_NOTICE_BASE; the metadata address is never used). The providers hand the notice program
 * their cloud's adapter through the shared cloud machine.
 *
 * The job writes checkpoint n at start; the periodic upload is a minute away, so the checkpoint the
 * first run wrote (seconds before the notice) reaches the bucket only through the flush on the
 * notice. Then, with the VM noticed but still up, `watch` waits (one `wait` decision, the workload
 * not restarted there); the fake cloud takes the VM back; the plan shows `replace` with the
 * provider's reason; `watch` replaces it (on GCE in another zone: the VM's zone is stocked out
 * first) and run 2 resumes from checkpoint 1 and completes.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {BlobServiceClient} from '@azure/storage-blob'
import {Storage} from '@google-cloud/storage'
import {stringify} from 'yaml'

import {SshdInstanceBackend} from '../helpers/fake-aws/sshd-backend.js'
import {SshdVmBackend, startFakeAzure, type FakeAzure} from '../helpers/fake-azure/index.js'
import {FAKE_GCP_PROJECT, startFakeGcp, type FakeGcp} from '../helpers/fake-gcp/index.js'
import {startNoticeEndpoint, type NoticeEndpoint} from '../helpers/notice-endpoint.js'
import {requireNetns, stopAllSshd} from '../helpers/sshd/index.js'
import {startAzurite, type AzuriteRig} from '../helpers/storage/azurite.js'
import {gcsClientOptions, startGcsFake, type GcsFake} from '../helpers/storage/index.js'
import {CLIENT_ID, CLIENT_SECRET} from '../providers/azure/arm-helpers.js'
import {Project, until} from './cli.js'
import {JOB, type Decision} from './spot-job.js'

interface JsonChange {
  address: string
  action: string
  reason: string
}

/** What each cloud's test supplies to the shared scenario. */
interface Cloud {
  project: Project
  env: Record<string, string>
  outputBucket: string
  objects(bucket: string): Promise<string[]>
  text(bucket: string, key: string): Promise<string>
  /** The VM's name in the fake (from state). */
  vmName(): string
  /** Arms the notice as this cloud shows it. */
  arm(vmName: string): void
  /** The fake cloud takes the VM back. */
  takeBack(vmName: string): Promise<void>
  /** The plan's reason for replacing the VM the cloud took. */
  reason: RegExp
  liveVms(): number
  /** How the notice program records this cloud's notice. */
  noticed: {cloud: string; event: string}
  /**
   * Clouds with zones: stocks out the zone the VM is in (before watch's recovery) and says where the
   * live VM is; the recovery must land in another zone.
   */
  zones?: {stockOutLanded(): string; liveZones(): string[]}
}

let notice: NoticeEndpoint | undefined

async function noticeScenario(c: Cloud): Promise<void> {
  const run = (args: string[], code: number) => c.project.expect(args, code, {env: c.env, timeoutMs: 300_000})
  const logs = async () => (await c.project.run(['logs', 'job'], {env: c.env, timeoutMs: 60_000})).stdout
  const decisionsOf = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Decision)

  // 1. Run 1 writes checkpoint 1 on the VM; the next periodic upload is a minute away.
  await run(['apply', '-y'], 0)
  const id = c.project.state()!.deployments.job.id
  const vm = c.vmName()
  await until('run 1 started', async () => /run 1 started/.test(await logs()), 90_000, 500)
  const polls = notice!.polls
  await until('the VM polling the notice endpoint', () => notice!.polls > polls, 60_000, 100)
  assert.deepEqual(await c.objects(id), [], 'checkpoint 1 is not in the bucket before the notice')

  // 2. The notice: the workload is stopped with SIGTERM and checkpoint 1 flushed.
  c.arm(vm)
  await until('checkpoint 1 flushed to the bucket', async () => (await c.objects(id)).includes('count') && (await c.text(id, 'count')) === '1', 60_000, 200)
  assert.ok((await c.objects(c.outputBucket)).includes('run-1.txt'), 'the output was flushed too')
  await until('the workload stopped by the notice', async () => /run 1 stopped by SIGTERM/.test(await logs()), 60_000, 500)

  // 3. Noticed but still up: watch waits (one line), nothing is restarted on the doomed VM.
  const waiting = decisionsOf((await run(['watch', '--once', '--json'], 0)).stdout)
  assert.deepEqual(waiting.map((d) => [d.action, d.address, d.outcome]), [['wait', 'job.workload', 'skipped']], JSON.stringify(waiting))
  assert.match(waiting[0].reason, /interruption notice .*waiting for the cloud to take the VM back/)
  assert.ok(!/run 2 started/.test(await logs()), 'the workload was not restarted on the noticed VM')
  assert.equal(c.liveVms(), 1)
  const status = JSON.parse((await run(['status', '--json'], 0)).stdout) as {deployments: Array<{spot?: {notice?: {cloud?: string; event?: string; noticedAt?: string}}}>}
  const seen = status.deployments[0].spot?.notice
  assert.deepEqual([seen?.cloud, seen?.event], [c.noticed.cloud, c.noticed.event], JSON.stringify(status.deployments[0].spot))
  assert.match((await run(['status'], 0)).stdout, new RegExp(`interruption notice \\(${c.noticed.cloud} ${c.noticed.event}\\) at ${seen!.noticedAt}: workload stopped, checkpoint flushed; the cloud is taking the VM back`))

  // 4. The cloud takes the VM back: the plan replaces it with the provider's reason.
  await c.takeBack(vm)
  notice!.clear()
  const plan = JSON.parse((await run(['plan', '--json', '--detailed-exitcode'], 2)).stdout) as {changes: JsonChange[]}
  const vmChange = plan.changes.find((x) => x.address === 'job.vm')!
  assert.equal(vmChange.action, 'replace')
  assert.match(vmChange.reason, c.reason)
  assert.equal(plan.changes.find((x) => x.address === 'job.workload')!.action, 'replace')

  // 5. watch replaces it (in the next zone when the VM's zone has no capacity left); run 2 resumes
  //    from the flushed checkpoint 1 and completes.
  const stockedOut = c.zones?.stockOutLanded()
  const replaced = decisionsOf((await run(['watch', '--once', '--json'], 0)).stdout)
  assert.equal(replaced.find((d) => d.address === 'job.vm')?.outcome, 'done', JSON.stringify(replaced))
  if (c.zones) {
    const [zone] = c.zones.liveZones()
    assert.ok(zone && zone !== stockedOut, `the recovery landed in ${zone}, not the stocked-out ${stockedOut}`)
    assert.equal(c.project.state()!.deployments.job.placement?.zone, zone, 'the zone it landed in is recorded')
  }
  await until('run-2.txt in the output bucket', async () => (await c.objects(c.outputBucket)).includes('run-2.txt'), 120_000, 250)
  assert.equal(await c.text(c.outputBucket, 'run-2.txt'), 'run 2 saw checkpoint 1', 'the new VM restored the checkpoint the old one flushed on its notice')
  assert.equal((c.project.state()!.deployments.job as {spot?: {preemptions: number}}).spot?.preemptions, 1)

  await run(['destroy', '-y'], 0)
  assert.equal(c.liveVms(), 0)
}

describe('e2e: GCE and Azure interruption notices drive the notice program; watch waits, then replaces', function () {
  this.timeout(600_000)
  let prefix = ''

  before(async function () {
    await requireNetns(this)
    notice = await startNoticeEndpoint()
    prefix = mkdtempSync(join(tmpdir(), 'anycloud-notice-vm-'))
  })
  after(async () => {
    await notice?.close()
    await stopAllSshd()
    if (prefix) rmSync(prefix, {recursive: true, force: true})
  })

  describe('Compute Engine: instance/preempted', () => {
    let gcs: GcsFake | undefined
    let gcp: FakeGcp | undefined
    let project: Project | undefined
    before(async () => {
      gcs = await startGcsFake()
      const forwardPorts = [notice!.port]
      gcp = await startFakeGcp({backend: new SshdInstanceBackend({netns: true, forwardPorts, sshd: {privateDirs: [prefix]}}), storage: gcs.apiEndpoint})
      forwardPorts.push(gcp.port)
    })
    after(async () => {
      await project?.cleanup([])
      await gcp?.close()
      await gcs?.stop()
    })

    it('a checkpoint written seconds before the notice is in the bucket; watch waits, then replaces the preempted VM (GCE reason) and the job resumes', async () => {
      const storage = new Storage(gcsClientOptions(gcs!))
      project = new Project(
        stringify({
          version: 1,
          project: 'noticegce',
          credentials: {'gcp-fake': {provider: 'gcp', project: FAKE_GCP_PROJECT, region: 'us-central1', accessToken: '${env:E2E_GCP_TOKEN}', apiEndpoint: gcp!.url}},
          profiles: {job: {credentials: 'gcp-fake', vmType: 'e2-small', runtime: 'process', spot: true, outputBucket: 'notice-gce-output', syncIntervalSeconds: 60, command: ['sh', '-c', JOB]}},
        }),
      )
      await noticeScenario({
        project,
        env: {
          E2E_GCP_TOKEN: gcp!.issueToken('e2e'), GCE_METADATA_HOST: '127.0.0.1:9', METADATA_SERVER_DETECTION: 'none',
          ANYCLOUD_GCP_SSH_USER: 'root', ANYCLOUD_GCP_POLL_MS: '100', ANYCLOUD_REMOTE_PREFIX: prefix, ANYCLOUD_STORAGE_CHECK: '3:1',
          ANYCLOUD_NOTICE_BASE: notice!.base, ANYCLOUD_NOTICE_POLL: '0.5',
        },
        outputBucket: 'notice-gce-output',
        objects: async (bucket) => {
          try {
            return (await storage.bucket(bucket).getFiles())[0].map((f) => f.name).sort()
          } catch {
            return []
          }
        },
        text: async (bucket, key) => (await storage.bucket(bucket).file(key).download())[0].toString('utf8').trim(),
        vmName: () => String((project!.state()!.deployments.job.resources['job.vm'] as unknown as {outputs: Record<string, unknown>}).outputs.instanceName),
        arm: () => notice!.arm(),
        takeBack: async (name) => void (await gcp!.preempt(name)),
        reason: /^VM no longer exists \(compute\.instances\.preempted: Instance was preempted\.\)$/,
        liveVms: () => gcp!.liveInstances().length,
        noticed: {cloud: 'gcp', event: 'preempted'},
        zones: {
          stockOutLanded: () => {
            const landed = project!.state()!.deployments.job.placement!.zone!
            gcp!.faults.stockout(landed)
            return landed
          },
          liveZones: () => gcp!.liveInstances().map((i) => i.zone),
        },
      })
    })
  })

  describe('Azure: Scheduled Events Preempt', () => {
    let rig: AzuriteRig | undefined
    let azure: FakeAzure | undefined
    let project: Project | undefined
    before(async () => {
      rig = await startAzurite()
      const backend = new SshdVmBackend({netns: true, forwardPorts: [Number(new URL(rig.blobEndpoint).port), notice!.port], sshd: {privateDirs: [prefix]}})
      azure = await startFakeAzure({backend, blob: {endpoint: rig.blobEndpoint, accountName: rig.accountName, accountKey: rig.accountKey}, clients: {[CLIENT_ID]: CLIENT_SECRET}})
    })
    after(async () => {
      await project?.cleanup([])
      await azure?.close()
      await rig?.stop()
    })

    it('a checkpoint written seconds before the Preempt event is in the container; watch waits, then replaces the evicted VM (Azure reason) and the job resumes', async () => {
      const blob = BlobServiceClient.fromConnectionString(rig!.connectionString, {retryOptions: {maxTries: 2}})
      project = new Project(
        stringify({
          version: 1,
          project: 'noticeaz',
          credentials: {
            'azure-fake': {
              provider: 'azure', subscriptionId: azure!.subscriptionId, tenantId: azure!.tenantId, clientId: CLIENT_ID, clientSecret: '${env:E2E_AZURE_SECRET}', region: 'eastus',
              endpoints: {resourceManager: azure!.url, login: azure!.url},
            },
          },
          profiles: {job: {credentials: 'azure-fake', vmType: 'Standard_D2s_v5', runtime: 'process', spot: true, outputBucket: 'notice-az-output', syncIntervalSeconds: 60, command: ['sh', '-c', JOB]}},
        }),
      )
      await noticeScenario({
        project,
        env: {
          E2E_AZURE_SECRET: CLIENT_SECRET, NODE_EXTRA_CA_CERTS: azure!.caFile,
          ANYCLOUD_AZURE_SSH_USER: 'root', ANYCLOUD_AZURE_BLOB_AUTH: 'sas', ANYCLOUD_AZURE_POLL_MS: '50', ANYCLOUD_REMOTE_PREFIX: prefix, ANYCLOUD_STORAGE_CHECK: '3:1',
          ANYCLOUD_NOTICE_BASE: notice!.base, ANYCLOUD_NOTICE_POLL: '0.5',
        },
        outputBucket: 'notice-az-output',
        objects: async (container) => {
          const out: string[] = []
          try {
            for await (const b of blob.getContainerClient(container).listBlobsFlat()) out.push(b.name)
          } catch {
            return []
          }
          return out.sort()
        },
        text: async (container, name) => (await blob.getContainerClient(container).getBlobClient(name).downloadToBuffer()).toString('utf8').trim(),
        vmName: () => `anycloud-${project!.state()!.deployments.job.id}-vm`,
        // Scheduled Events name the VMs an event affects: the notice program acts on its own VM's only.
        arm: (vm) => notice!.arm({resources: [vm]}),
        takeBack: (vm) => azure!.evict(vm),
        reason: /Azure evicted the spot VM/,
        liveVms: () => azure!.ofType('Microsoft.Compute/virtualMachines').length,
        noticed: {cloud: 'azure', event: 'Preempt'},
      })
    })
  })
})
