/**
 * `PROFILE.bootstrap` and `PROFILE.workload` on an Azure VM: the shared cloud machine
 * (../cloud-machine.ts) told how ARM shows a VM. A VM ARM reports gone (evicted) or not running is
 * never dialled. Buckets on this credential are reached with the VM's managed identity (rclone
 * `use_msi` with the identity's client id), unless ANYCLOUD_AZURE_BLOB_AUTH=sas asks for container
 * SAS URLs instead.
 */
import {CloudMachine, type CloudMachineOptions} from '../cloud-machine.js'
import {describeVm, recordRegion, vmLive, vmName, type ComputeContext, type VmView} from './compute.js'

export interface AzureMachineOptions extends Omit<CloudMachineOptions<VmView>, 'vm' | 'instanceIdentity'> {
  compute: ComputeContext
  /** Whether buckets on this credential are reached with the VM's managed identity (else SAS). */
  useIdentity: boolean
}

export class AzureMachine extends CloudMachine<VmView> {
  constructor({compute, useIdentity, ...o}: AzureMachineOptions) {
    super({
      ...o,
      instanceIdentity: useIdentity,
      vm: {
        cloud: 'azure', label: 'an Azure VM',
        noticeOptions: (ctx) => ({resourceName: vmName(ctx.deploymentId)}),
        lookup: (record, deployment) => () => describeVm(compute, recordRegion(record, deployment), deployment.deploymentId),
        // ARM ids differ in case between calls.
        matches: (record, view) => view.id.toLowerCase() === record.id.toLowerCase(),
        live: (v) => vmLive(v),
        state: (v) => (v ? `${v.provisioningState}${v.power ? `/${v.power}` : ''}` : 'gone (evicted?)'),
        sshUser: compute.sshUser,
        timing: compute.timing,
      },
    })
  }
}
