/**
 * Minted storage credentials re-minted by watch on an ssh host (aws storage credential): the scenario and rig of
 * remint-rig.ts (fake EC2/IAM/STS with its clock set back, s3rver).
 */
import {startVm} from '../bootstrap/helpers.js'
import {AWS_ENV, useRemintRig} from './remint-rig.js'
import {sshProject, type SshProject} from './ssh-rig.js'

describe('e2e: minted storage credentials re-minted by watch on an ssh host (aws storage credential) (fake STS clock)', function () {
  this.timeout(600_000)
  const rig = useRemintRig()

  describe('an ssh host whose storage is an aws credential', () => {
    let project: SshProject | undefined
    after(async () => {
      await project?.stopAll()
    })

    it('watch re-mints the STS credentials of its buckets and rewrites the env file; the workload keeps its pid', async () => {
      const vm = await startVm()
      await vm.forward(Number(new URL(rig.s3rig.endpoint).port))
      project = await sshProject({
        vm,
        hostKey: true,
        project: 'remintssh',
        storage: {name: 'aws-store', credential: rig.awsStore()},
        profiles: {
          job: {
            credentials: 'box', runtime: 'process', outputBucket: 'remint-ssh-output', syncIntervalSeconds: 60,
            command: ['sh', '-c', 'echo hello > "$ANYCLOUD_OUTPUT/hello.txt"; exec sleep 7303'],
          },
        },
        env: AWS_ENV,
      })
      await rig.provesRemint({project, env: {}, bucket: 'remint-ssh-output', sleep: 7303, envFile: (id) => `${vm.prefix}/etc/anycloud/${id}/rclone.env`, machinePrefix: vm.prefix})
    })
  })
})
