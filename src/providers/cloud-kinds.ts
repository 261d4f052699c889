/**
 * The kind table of a cloud that runs jobs on its own VMs (EC2, GCE, Azure): one declaration of
 * what each kind needs, how it changes, and which cloud call serves each operation, instead of a
 * `switch (kind)` per operation in every provider.
 *
 * - `identity`: the instance identity scoped to the deployment's buckets (needs the buckets first,
 *   except an input bucket on another credential's storage); its bucket list changes in place.
 * - `network` (SSH in only) and `sshkey` (the login key): any change replaces them.
 * - `vm`: any change replaces it; creating or deleting one drops what the run remembers of the machine.
 * - `bootstrap` (updated in place when its files change) and `workload`: on the machine, over SSH.
 */
import {bucketOf} from '../model/deployment-spec.js'
import type {ProviderKind} from '../model/profile.js'
import type {ActualResource, DeploymentContext, DesiredResource, ResourceRecord} from '../model/resources.js'
import {cannotUpdate, type KindOps, type ProviderCallContext, type ResourceKindSpec, type ResourceLookup, updatableIn} from './provider.js'

type Read<C, B> = (ctx: C, lookup: ResourceLookup, call: ProviderCallContext, batch?: B) => Promise<ActualResource | null>
type Create<C> = (ctx: C, resource: DesiredResource, call: ProviderCallContext) => Promise<ActualResource>
type Delete<C> = (ctx: C, record: ResourceRecord, call: ProviderCallContext) => Promise<void>

/** A cloud's compute module (aws/compute.ts, gcp/compute.ts, azure/compute.ts): the same calls on each. */
export interface ComputeModule<C, B = never> {
  readNetwork: Read<C, B>
  createNetwork: Create<C>
  deleteNetwork: Delete<C>
  readSshKey: Read<C, B>
  createSshKey: Create<C>
  deleteSshKey: Delete<C>
  readVm: Read<C, B>
  createVm: Create<C>
  deleteVm: Delete<C>
}

/** The machine side (providers/cloud-machine.ts). */
export interface MachineOps {
  forget(ctx: DeploymentContext): void
  readBootstrap(lookup: ResourceLookup, call: ProviderCallContext): Promise<ActualResource | null>
  readWorkload(lookup: ResourceLookup, call: ProviderCallContext): Promise<ActualResource | null>
  bootstrap(resource: DesiredResource, call: ProviderCallContext): Promise<ActualResource>
  startWorkload(resource: DesiredResource, call: ProviderCallContext): Promise<ActualResource>
  stopWorkload(call: ProviderCallContext): Promise<void>
  removeBootstrap(call: ProviderCallContext): Promise<void>
}

export interface CloudKindsOptions<C, B> {
  cloud: ProviderKind
  credential: string
  /** The instance identity's operations (each cloud finds it its own way). */
  identity: KindOps
  compute: {context: C; module: ComputeModule<C, B>}
  machine: MachineOps
  /** Loads what the bootstrap renders from (storage providers, …) before it runs. */
  prepare(deployment: DeploymentContext): Promise<void>
}

/** The kind table of a VM cloud, in creation order. */
export function cloudKinds<C, B>(options: CloudKindsOptions<C, B>): ResourceKindSpec[] {
  const {identity, compute, machine} = options
  const m = compute.module
  const c = compute.context
  return [
    {
      kind: 'identity', dependsOn: [], diff: updatableIn('buckets'),
      desired: (ctx, buckets) => ({
        attributes: {buckets: Object.fromEntries(buckets.map((b) => [b.role, b.name]))},
        after: buckets.filter((b) => b.role !== 'input' || !bucketOf(ctx.spec, 'input')?.explicitCredential).map((b) => b.address),
      }),
      read: (lookup, call) => identity.read(lookup, call),
      create: (resource, call) => identity.create(resource, call),
      update: (resource, record, call) => identity.update(resource, record, call),
      delete: (record, call) => identity.delete(record, call),
    },
    {
      kind: 'network', dependsOn: [], diff: updatableIn(), desired: () => ({attributes: {ingress: 'ssh'}}),
      read: (lookup, call, batch) => m.readNetwork(c, lookup, call, batch as B),
      create: (resource, call) => m.createNetwork(c, resource, call),
      update: cannotUpdate,
      delete: (record, call) => m.deleteNetwork(c, record, call),
    },
    {
      kind: 'sshkey', dependsOn: [], diff: updatableIn(), desired: () => ({attributes: {algorithm: 'ed25519'}}),
      read: (lookup, call, batch) => m.readSshKey(c, lookup, call, batch as B),
      create: (resource, call) => m.createSshKey(c, resource, call),
      update: cannotUpdate,
      delete: (record, call) => m.deleteSshKey(c, record, call),
    },
    {
      kind: 'vm', dependsOn: [], diff: updatableIn(),
      read: (lookup, call, batch) => m.readVm(c, lookup, call, batch as B),
      create: (resource, call) => {
        machine.forget(call.deployment)
        return m.createVm(c, resource, call)
      },
      update: cannotUpdate,
      delete: (record, call) => {
        machine.forget(call.deployment)
        return m.deleteVm(c, record, call)
      },
    },
    {
      kind: 'bootstrap', dependsOn: ['vm'], diff: updatableIn('hash'),
      read: (lookup, call) => machine.readBootstrap(lookup, call),
      create: async (resource, call) => {
        await options.prepare(call.deployment)
        return machine.bootstrap(resource, call)
      },
      update: async (resource, _record, call) => {
        await options.prepare(call.deployment)
        return machine.bootstrap(resource, call)
      },
      delete: (_record, call) => machine.removeBootstrap(call),
    },
    {
      kind: 'workload', dependsOn: ['bootstrap'], diff: updatableIn(),
      read: (lookup, call) => machine.readWorkload(lookup, call),
      create: (resource, call) => machine.startWorkload(resource, call),
      update: cannotUpdate,
      delete: (_record, call) => machine.stopWorkload(call),
    },
  ]
}
