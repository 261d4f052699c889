/**
 * Minted storage credentials re-minted by watch on an Azure VM (fake ARM): the scenario and rig of
 * remint-rig.ts (fake EC2/IAM/STS with its clock set back, s3rver).
 */
import assert from 'node:assert/strict'

import {stringify} from 'yaml'

import {SshdVmBackend, startFakeAzure, type FakeAzure} from '../helpers/fake-azure/index.js'
import {CLIENT_ID, CLIENT_SECRET} from '../providers/azure/arm-helpers.js'
import {Project} from './cli.js'
import {AWS_ENV, useRemintRig} from './remint-rig.js'

describe('e2e: minted storage credentials re-minted by watch on an Azure VM (fake ARM) (fake STS clock)', function () {
  this.timeout(600_000)
  const rig = useRemintRig()

  describe('an Azure VM (fake ARM)', () => {
    let azure: FakeAzure | undefined
    let project: Project | undefined
    before(async () => {
      const backend = new SshdVmBackend({netns: true, forwardPorts: [Number(new URL(rig.s3rig.endpoint).port)], sshd: {privateDirs: [rig.prefix]}})
      azure = await startFakeAzure({backend, clients: {[CLIENT_ID]: CLIENT_SECRET}})
    })
    after(async () => {
      await project?.cleanup([])
      await azure?.close()
    })

    it('watch re-mints the STS credentials of its AWS output bucket and rewrites the env file; the workload keeps its pid', async () => {
      project = new Project(
        stringify({
          version: 1,
          project: 'remintaz',
          credentials: {
            'azure-fake': {
              provider: 'azure', subscriptionId: azure!.subscriptionId, tenantId: azure!.tenantId, clientId: CLIENT_ID, clientSecret: '${env:E2E_AZURE_SECRET}', region: 'eastus',
              endpoints: {resourceManager: azure!.url, login: azure!.url},
            },
            'aws-store': rig.awsStore(),
          },
          profiles: {
            job: {
              credentials: 'azure-fake', vmType: 'Standard_D2s_v5', runtime: 'process', outputBucket: 'remint-az-output', outputStorageCredentials: 'aws-store', syncIntervalSeconds: 60,
              command: ['sh', '-c', 'echo hello > "$ANYCLOUD_OUTPUT/hello.txt"; exec sleep 7301'],
            },
          },
        }),
      )
      const env = {
        ...AWS_ENV, E2E_AZURE_SECRET: CLIENT_SECRET, NODE_EXTRA_CA_CERTS: azure!.caFile,
        ANYCLOUD_AZURE_SSH_USER: 'root', ANYCLOUD_AZURE_POLL_MS: '50', ANYCLOUD_REMOTE_PREFIX: rig.prefix, ANYCLOUD_STORAGE_CHECK: '3:1',
      }
      await rig.provesRemint({project, env, bucket: 'remint-az-output', sleep: 7301, envFile: (id, pid) => `/proc/${pid}/root${rig.prefix}/etc/anycloud/${id}/rclone.env`, machinePrefix: rig.prefix})
      assert.deepEqual(azure!.ofType('Microsoft.Compute/virtualMachines'), [])
    })
  })
})
