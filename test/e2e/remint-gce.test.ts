/**
 * Minted storage credentials re-minted by watch on a Compute Engine VM (fake GCE): the scenario and rig of
 * remint-rig.ts (fake EC2/IAM/STS with its clock set back, s3rver).
 */
import assert from 'node:assert/strict'

import {stringify} from 'yaml'

import {SshdInstanceBackend} from '../helpers/fake-aws/sshd-backend.js'
import {FAKE_GCP_PROJECT, startFakeGcp, type FakeGcp} from '../helpers/fake-gcp/index.js'
import {startGcsFake, type GcsFake} from '../helpers/storage/index.js'
import {Project} from './cli.js'
import {AWS_ENV, useRemintRig} from './remint-rig.js'

describe('e2e: minted storage credentials re-minted by watch on a Compute Engine VM (fake GCE) (fake STS clock)', function () {
  this.timeout(600_000)
  const rig = useRemintRig()

  describe('a Compute Engine VM (fake GCE)', () => {
    let gcp: FakeGcp | undefined
    let gcs: GcsFake | undefined
    let project: Project | undefined
    before(async () => {
      gcs = await startGcsFake()
      const forwardPorts = [Number(new URL(rig.s3rig.endpoint).port)]
      const backend = new SshdInstanceBackend({netns: true, forwardPorts, sshd: {privateDirs: [rig.prefix]}})
      gcp = await startFakeGcp({backend, storage: gcs.apiEndpoint})
      forwardPorts.push(gcp.port)
    })
    after(async () => {
      await project?.cleanup([])
      await gcp?.close()
      await gcs?.stop()
    })

    it('watch re-mints the STS credentials of its AWS output bucket and rewrites the env file; the workload keeps its pid', async () => {
      project = new Project(
        stringify({
          version: 1,
          project: 'remintgce',
          credentials: {
            'gcp-fake': {provider: 'gcp', project: FAKE_GCP_PROJECT, region: 'us-central1', accessToken: '${env:E2E_GCP_TOKEN}', apiEndpoint: gcp!.url},
            'aws-store': rig.awsStore(),
          },
          profiles: {
            job: {
              credentials: 'gcp-fake', vmType: 'e2-small', runtime: 'process', outputBucket: 'remint-gce-output', outputStorageCredentials: 'aws-store', syncIntervalSeconds: 60,
              command: ['sh', '-c', 'echo hello > "$ANYCLOUD_OUTPUT/hello.txt"; exec sleep 7302'],
            },
          },
        }),
      )
      const env = {
        ...AWS_ENV, E2E_GCP_TOKEN: gcp!.issueToken('e2e'), GCE_METADATA_HOST: '127.0.0.1:9', METADATA_SERVER_DETECTION: 'none',
        ANYCLOUD_GCP_SSH_USER: 'root', ANYCLOUD_GCP_POLL_MS: '100', ANYCLOUD_REMOTE_PREFIX: rig.prefix, ANYCLOUD_STORAGE_CHECK: '3:1',
      }
      await rig.provesRemint({project, env, bucket: 'remint-gce-output', sleep: 7302, envFile: (id, pid) => `/proc/${pid}/root${rig.prefix}/etc/anycloud/${id}/rclone.env`, machinePrefix: rig.prefix})
      assert.deepEqual(gcp!.liveInstances(), [])
    })
  })
})
