/**
 * The Azure interruption notice (Scheduled Events `Preempt`) end to end: the scenario of
 * notice-scenario.ts on the fake ARM (sshd VMs in network namespaces) and azurite.
 */
import {BlobServiceClient} from '@azure/storage-blob'
import {stringify} from 'yaml'

import {SshdVmBackend, startFakeAzure, type FakeAzure} from '../helpers/fake-azure/index.js'
import {startAzurite, type AzuriteRig} from '../helpers/storage/azurite.js'
import {CLIENT_ID, CLIENT_SECRET} from '../providers/azure/arm-helpers.js'
import {Project} from './cli.js'
import {noticeScenario, useNoticeRig} from './notice-scenario.js'
import {JOB} from './spot-job.js'

describe('e2e: the Azure interruption notice drives the notice program; watch waits, then replaces', function () {
  this.timeout(600_000)
  const shared = useNoticeRig()

  describe('Azure: Scheduled Events Preempt', () => {
    let rig: AzuriteRig | undefined
    let azure: FakeAzure | undefined
    let project: Project | undefined
    before(async () => {
      rig = await startAzurite()
      const backend = new SshdVmBackend({netns: true, forwardPorts: [Number(new URL(rig.blobEndpoint).port), shared.notice.port], sshd: {privateDirs: [shared.prefix]}})
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
      await noticeScenario(shared.notice, {
        project,
        env: {
          E2E_AZURE_SECRET: CLIENT_SECRET, NODE_EXTRA_CA_CERTS: azure!.caFile,
          ANYCLOUD_AZURE_SSH_USER: 'root', ANYCLOUD_AZURE_BLOB_AUTH: 'sas', ANYCLOUD_AZURE_POLL_MS: '50', ANYCLOUD_REMOTE_PREFIX: shared.prefix, ANYCLOUD_STORAGE_CHECK: '3:1',
          ANYCLOUD_NOTICE_BASE: shared.notice.base, ANYCLOUD_NOTICE_POLL: '0.5',
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
        arm: (vm) => shared.notice.arm({resources: [vm]}),
        takeBack: (vm) => azure!.evict(vm),
        reason: /Azure evicted the spot VM/,
        liveVms: () => azure!.ofType('Microsoft.Compute/virtualMachines').length,
        noticed: {cloud: 'azure', event: 'Preempt'},
      })
    })
  })
})
