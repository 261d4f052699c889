/**
 * A provider that keeps its "cloud" in memory, for engine tests: it declares kinds the engine has
 * never heard of, through the contract alone (providers/provider.ts):
 *
 * - `resourceGroup`: holds the deployment's other resources; its `tags` change in place, a new
 *   `location` replaces it. Deleting it while a NIC is still in it fails (as on Azure).
 * - `nic`: needs the resource group first; a new `subnet` replaces it. Deleting it while a VM
 *   still uses it fails.
 * - `vm`, `bootstrap`, `workload`: the machine's kinds every compute provider has. The VM sits on
 *   the NIC (so a new subnet replaces the VM too) and cannot be created before it.
 *
 * - buckets: held in `cloud.buckets` with how many objects they hold; a non-empty one is deleted
 *   only when forced (checkpoint buckets), as on every storage.
 * - the workload is "running" in memory from its create until its delete; `logs` writes what the
 *   test put in `cloud.output` for the deployment.
 *
 * Every operation is logged in `cloud.calls` ("create nic", "create bucket out", …) so tests can check the order.
 * It registers under the provider name `memory` (a test-only name: {@link useMemoryProvider}).
 */
import type {NamedCredential} from '../../src/config/types.js'
import {ProviderError} from '../../src/errors/index.js'
import type {ActualResource, DeploymentContext, DesiredResource, ResourceRecord} from '../../src/model/resources.js'
import {addressOf} from '../../src/model/resources.js'
import {kindTable, updatableIn, VM_MISSING, type Provider, type ProviderCallContext, type ResourceKindSpec, type ResourceLookup} from '../../src/providers/provider.js'
import {registerProvider} from '../../src/providers/registry.js'

interface Stored {
  id: string
  kind: string
  name: string
  deployment: string
  attributes: Record<string, unknown>
  outputs: Record<string, unknown>
}

export interface MemoryCloud {
  /** What exists, by id. */
  resources: Map<string, Stored>
  /** Operations in the order they ran: `create nic`, `delete resourceGroup`, … */
  calls: string[]
  /** Buckets by name: their objects (a count is enough here) and the deployment whose tags they carry. */
  buckets: Map<string, {objects: number; deployment?: string}>
  /** What the workload of a deployment (by id) printed: what `logs` streams. */
  output: Record<string, string>
  /** The last id handed out (ids are never reused, across providers and runs). */
  serial: number
  /** What the next plan wants (tests change these between plans). */
  settings: {location: string; tags: Record<string, string>; subnet: string}
}

export function memoryCloud(): MemoryCloud {
  return {resources: new Map(), buckets: new Map(), output: {}, calls: [], serial: 0, settings: {location: 'mem-east', tags: {team: 'a'}, subnet: '10.0.1.0/24'}}
}

/** The provider name tests register it under. */
export const MEMORY = 'memory'

export function memoryProvider(credential: NamedCredential, cloud: MemoryCloud): Provider {
  const find = (kind: string, lookup: ResourceLookup, deployment: string) =>
    (lookup.record ? cloud.resources.get(lookup.record.id) : undefined) ?? [...cloud.resources.values()].find((r) => r.kind === kind && r.name === lookup.name && r.deployment === deployment)
  const actualOf = (s: Stored): ActualResource => ({id: s.id, attributes: s.attributes, outputs: s.outputs, ...(s.kind === 'workload' ? {phase: 'running' as const} : {})})
  /** The id of the deployment's resource of `kind`, which must exist. */
  const needs = (kind: string, ctx: ProviderCallContext): string => {
    const record = ctx.records[addressOf(ctx.deployment.spec.name, kind)]
    if (!record || !cloud.resources.has(record.id)) throw new Error(`memory: no ${kind} to put this in (the engine created it out of order)`)
    return record.id
  }
  const usedBy = (id: string) => [...cloud.resources.values()].find((r) => Object.values(r.outputs).includes(id))
  const spec = (kind: string, rest: Partial<ResourceKindSpec> & Pick<ResourceKindSpec, 'diff'>, links: string[] = []): ResourceKindSpec => ({
    kind,
    dependsOn: [],
    read: async (lookup, ctx) => {
      const s = find(kind, lookup, ctx.deployment.deploymentId)
      return s ? actualOf(s) : null
    },
    create: async (resource: DesiredResource, ctx: ProviderCallContext) => {
      const outputs = Object.fromEntries(links.map((l) => [l, needs(l, ctx)]))
      cloud.calls.push(`create ${kind}`)
      const s: Stored = {id: `${kind}-${++cloud.serial}`, kind, name: resource.name, deployment: ctx.deployment.deploymentId, attributes: resource.attributes, outputs}
      cloud.resources.set(s.id, s)
      return actualOf(s)
    },
    update: async (resource: DesiredResource, record: ResourceRecord) => {
      const s = cloud.resources.get(record.id)
      if (!s) throw new Error(`memory: ${record.address} is gone`)
      cloud.calls.push(`update ${kind}`)
      s.attributes = resource.attributes
      return actualOf(s)
    },
    delete: async (record: ResourceRecord) => {
      const user = usedBy(record.id)
      if (user) throw new Error(`memory: ${record.address} (${record.id}) is still used by ${user.id}`)
      cloud.calls.push(`delete ${kind}`)
      cloud.resources.delete(record.id)
    },
    ...rest,
  })
  return {
    kind: MEMORY as never,
    credential,
    compute: kindTable([
      spec('resourceGroup', {diff: updatableIn('tags'), desired: () => ({attributes: {location: cloud.settings.location, tags: cloud.settings.tags}})}),
      spec('nic', {dependsOn: ['resourceGroup'], diff: updatableIn(), desired: () => ({attributes: {subnet: cloud.settings.subnet}})}, ['resourceGroup']),
      spec('vm', {diff: updatableIn()}, ['nic']),
      spec('bootstrap', {dependsOn: ['vm'], diff: updatableIn('hash')}, ['vm']),
      spec('workload', {dependsOn: ['bootstrap'], diff: updatableIn()}),
    ]),
    desiredAttributes: (resource: DesiredResource, _ctx: DeploymentContext) => (resource.kind === 'vm' ? {subnet: cloud.settings.subnet} : {}),
    checkAuth: async () => ({account: 'memory'}),
    defaultRegion: () => 'mem-1',
    zones: () => [],
    readBucket: async (name) => {
      const b = cloud.buckets.get(name)
      return b ? {id: name, attributes: {name}, empty: b.objects === 0, owned: b.deployment !== undefined, ...(b.deployment ? {outputs: {deployment: b.deployment}} : {})} : null
    },
    createBucket: async (resource, {tags}) => {
      cloud.calls.push(`create bucket ${resource.name}`)
      const deployment = tags['anycloud-deployment']
      if (!cloud.buckets.has(resource.name)) cloud.buckets.set(resource.name, {objects: 0, deployment})
      return {id: resource.name, attributes: resource.attributes, outputs: {deployment}}
    },
    deleteBucket: async (record, {force}) => {
      const b = cloud.buckets.get(record.name)
      if (!b) return {deleted: true}
      if (b.objects > 0 && !force) return {deleted: false, reason: `memory: bucket ${record.name} is not empty`}
      cloud.calls.push(`delete bucket ${record.name}`)
      cloud.buckets.delete(record.name)
      return {deleted: true}
    },
    logs: async (ctx, {write}) => {
      const workload = ctx.records[addressOf(ctx.deployment.spec.name, 'workload')]
      if (!workload || !cloud.resources.has(workload.id)) throw new ProviderError(`memory: the machine of ${ctx.deployment.spec.name} is gone`, VM_MISSING, MEMORY, credential.name)
      write(cloud.output[ctx.deployment.deploymentId] ?? '')
    },
  }
}

/**
 * Registers the memory provider for credentials whose provider is `as` (default `memory`; tests
 * that go through an anycloud.yaml, which names only real providers, take over `local`); returns
 * the undo.
 */
export function useMemoryProvider(cloud: MemoryCloud | ((credential: NamedCredential) => MemoryCloud), as: string = MEMORY): () => void {
  return registerProvider(as, async () => async ({credential}) => memoryProvider(credential, typeof cloud === 'function' ? cloud(credential) : cloud))
}
