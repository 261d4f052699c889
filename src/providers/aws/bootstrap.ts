/**
 * `PROFILE.bootstrap` and `PROFILE.workload` on an EC2 instance: the shared cloud machine
 * (../cloud-machine.ts) told how EC2 shows an instance. Buckets on this credential are reached
 * with the instance role (`env_auth`).
 */
import {CloudMachine, type CloudMachineOptions} from '../cloud-machine.js'
import {describeInstance, recordRegion, type ComputeContext, type InstanceView} from './compute.js'

export interface AwsMachineOptions extends Omit<CloudMachineOptions<InstanceView>, 'vm' | 'instanceIdentity'> {
  compute: ComputeContext
}

const live = (v: InstanceView): boolean => v.state === 'running' || v.state === 'pending'

export class AwsMachine extends CloudMachine<InstanceView> {
  constructor({compute, ...o}: AwsMachineOptions) {
    super({
      ...o,
      vm: {
        cloud: 'aws', label: 'an EC2 instance',
        lookup: (record, deployment) => (record.id.startsWith('i-') ? () => describeInstance(compute, recordRegion(record, deployment), record.id) : null),
        matches: (record, view) => view.id === record.id,
        live,
        state: (v) => (v ? `${v.state} (${v.reason ?? 'no reason given'})` : 'gone'),
        sshUser: compute.sshUser,
        timing: compute.timing,
      },
    })
  }
}
