/**
 * The Compute Engine interruption notice (`instance/preempted`) end to end: the scenario of
 * notice-scenario.ts on the fake GCE (sshd VMs in network namespaces) and the GCS fake; watch's
 * recovery lands in another zone (the VM's zone is stocked out first).
 */
import {Storage} from '@google-cloud/storage'
import {stringify} from 'yaml'

import {SshdInstanceBackend} from '../helpers/fake-aws/sshd-backend.js'
import {FAKE_GCP_PROJECT, startFakeGcp, type FakeGcp} from '../helpers/fake-gcp/index.js'
import {gcsClientOptions, startGcsFake, type GcsFake} from '../helpers/storage/index.js'
import {Project} from './cli.js'
import {noticeScenario, useNoticeRig} from './notice-scenario.js'
import {JOB} from './spot-job.js'

describe('e2e: the Compute Engine interruption notice drives the notice program; watch waits, then replaces', function () {
  this.timeout(600_000)
  const shared = useNoticeRig()

  describe('Compute Engine: instance/preempted', () => {
    let gcs: GcsFake | undefined
    let gcp: FakeGcp | undefined
    let project: Project | undefined
    before(async () => {
      gcs = await startGcsFake()
      const forwardPorts = [shared.notice.port]
      gcp = await startFakeGcp({backend: new SshdInstanceBackend({netns: true, forwardPorts, sshd: {privateDirs: [shared.prefix]}}), storage: gcs.apiEndpoint})
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
      await noticeScenario(shared.notice, {
        project,
        env: {
          E2E_GCP_TOKEN: gcp!.issueToken('e2e'), GCE_METADATA_HOST: '127.0.0.1:9', METADATA_SERVER_DETECTION: 'none',
          ANYCLOUD_GCP_SSH_USER: 'root', ANYCLOUD_GCP_POLL_MS: '100', ANYCLOUD_REMOTE_PREFIX: shared.prefix, ANYCLOUD_STORAGE_CHECK: '3:1',
          ANYCLOUD_NOTICE_BASE: shared.notice.base, ANYCLOUD_NOTICE_POLL: '0.5',
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
        arm: () => shared.notice.arm(),
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
})
