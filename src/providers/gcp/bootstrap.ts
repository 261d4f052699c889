/**
 * `PROFILE.bootstrap` and `PROFILE.workload` on a Compute Engine VM: the shared cloud machine
 * (../cloud-machine.ts) told how GCE shows an instance. The login key comes from the `ssh-keys`
 * metadata; buckets on this credential are reached with the VM's service account (`env_auth`).
 */
import {CloudMachine, type CloudMachineOptions} from '../cloud-machine.js'
import {getInstance, recordZone, type ComputeContext, type InstanceView} from './compute.js'
import {vmName} from './names.js'

export interface GcpMachineOptions extends Omit<CloudMachineOptions<InstanceView>, 'vm' | 'instanceIdentity'> {
  compute: ComputeContext
}

export class GcpMachine extends CloudMachine<InstanceView> {
  constructor({compute, ...o}: GcpMachineOptions) {
    super({
      ...o,
      vm: {
        cloud: 'gcp', label: 'a Compute Engine VM',
        lookup: (record, deployment) => {
          const zone = recordZone(record, deployment)
          return zone ? () => getInstance(compute, zone, vmName(deployment.deploymentId)) : null
        },
        live: (v) => v.status === 'RUNNING',
        state: (v) => (v ? v.status : 'gone'),
        sshUser: compute.sshUser,
        timing: compute.timing,
      },
    })
  }
}
