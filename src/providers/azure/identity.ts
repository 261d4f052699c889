/**
 * The per-deployment identity on Azure (`PROFILE.identity`): a user-assigned managed identity
 * `anycloud-{d}-id` in the region's group, and for each of the deployment's containers on this
 * credential one role assignment of Storage Blob Data Contributor at CONTAINER scope (never the
 * account), `principalType: ServicePrincipal` (ARM then skips the directory lookup that fails
 * right after the identity is made), named by a deterministic GUID (names.ts) so a re-apply PUTs
 * the same assignment. `RoleAssignmentExists` (same principal, role and scope under another name)
 * is success; `PrincipalNotFound` is retried while the principal propagates.
 *
 * Delete removes the role assignments BEFORE the identity: assignments of a deleted identity stay
 * behind as "Unknown" and count against the subscription's limit.
 */
import {ProviderError} from '../../errors/index.js'
import {ownBuckets} from '../../model/deployment-spec.js'
import type {ActualResource, BucketRole, DesiredResource, ResourceRecord} from '../../model/resources.js'
import {sleep} from '../../util/process.js'
import {ownershipTags, type ProviderCallContext} from '../provider.js'
import type {ArmStorage} from './buckets.js'
import {containerScope} from './buckets.js'
import type {AzureClients} from './clients.js'
import type {AzureTiming} from './compute.js'
import {recordRegion} from './compute.js'
import {AZURE, armErrorInfo} from './errors.js'
import {deploymentResourceName, ownedBy, regionGroup, roleAssignmentName, STORAGE_BLOB_DATA_CONTRIBUTOR} from './names.js'
import {NotFoundError} from '../../errors/index.js'

export interface IdentityContext {
  clients: AzureClients
  credential: string
  storage: ArmStorage
  timing: AzureTiming
  /** clientId of each deployment's identity seen this run (rclone's msi_client_id). */
  clientIds: Map<string, string>
}

interface Assignment {
  role: BucketRole
  bucket: string
  scope: string
  name: string
}

function desiredBuckets(attributes: Record<string, unknown>): Partial<Record<BucketRole, string>> {
  const b = attributes.buckets
  return b && typeof b === 'object' ? (b as Partial<Record<BucketRole, string>>) : {}
}

function roleDefinitionId(subscriptionId: string): string {
  return `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${STORAGE_BLOB_DATA_CONTRIBUTOR}`
}

async function assignmentsFor(ctx: IdentityContext, buckets: Partial<Record<BucketRole, string>>, principalId: string): Promise<Assignment[]> {
  const out: Assignment[] = []
  for (const role of ['input', 'output', 'checkpoint'] as const) {
    const bucket = buckets[role]
    if (!bucket) continue
    const c = await ctx.storage.findContainer(bucket)
    if (!c) throw new ProviderError(`azure: container '${bucket}' (${role}) was not found in any anycloud storage account of subscription ${ctx.clients.subscriptionId}: the identity cannot be given a role on it`, 'azure.container-missing', AZURE, ctx.credential)
    const scope = containerScope(ctx.clients.subscriptionId, c.account, bucket)
    out.push({role, bucket, scope, name: roleAssignmentName(scope, principalId, STORAGE_BLOB_DATA_CONTRIBUTOR)})
  }
  return out
}

/** Role assignment calls take the scope without its leading `/` (the SDK adds one). */
const bare = (scope: string) => scope.replace(/^\/+/, '')

interface IdentityView {
  id: string
  principalId: string
  clientId: string
  tenantId?: string
  tags: Record<string, string>
}

async function getIdentity(ctx: IdentityContext, group: string, name: string): Promise<IdentityView | undefined> {
  const msi = await ctx.clients.msi()
  try {
    const i = await ctx.clients.call(`reading managed identity '${name}'`, () => msi.userAssignedIdentities.get(group, name))
    return {id: i.id ?? '', principalId: i.principalId ?? '', clientId: i.clientId ?? '', ...(i.tenantId ? {tenantId: i.tenantId} : {}), tags: (i.tags ?? {}) as Record<string, string>}
  } catch (error) {
    if (error instanceof NotFoundError) return undefined
    const code = armErrorInfo((error as {cause?: unknown}).cause ?? error).code
    if (code === 'ResourceGroupNotFound') return undefined
    throw error
  }
}

async function assignmentExists(ctx: IdentityContext, a: Assignment): Promise<boolean> {
  const auth = await ctx.clients.authorization()
  try {
    await ctx.clients.call(`reading role assignment on '${a.bucket}'`, () => auth.roleAssignments.get(bare(a.scope), a.name))
    return true
  } catch (error) {
    if (error instanceof NotFoundError) return false
    throw error
  }
}

function identityActual(v: IdentityView, region: string, buckets: Partial<Record<BucketRole, string>>, assignments: Assignment[]): ActualResource {
  return {
    id: v.id,
    attributes: {buckets},
    outputs: {identityId: v.id, principalId: v.principalId, clientId: v.clientId, region, assignments: assignments.map((a) => ({role: a.role, bucket: a.bucket, scope: a.scope, name: a.name}))},
  }
}

export async function readIdentity(ctx: IdentityContext, record: ResourceRecord | undefined, call: ProviderCallContext): Promise<ActualResource | null> {
  const region = recordRegion(record, call.deployment)
  const d = call.deployment.deploymentId
  const v = await getIdentity(ctx, regionGroup(region), deploymentResourceName(d, 'id'))
  if (!v || !ownedBy(v.tags, d)) return null
  ctx.clientIds.set(d, v.clientId)
  // Which of the wanted (or recorded) buckets the identity holds a role on: a missing one shows as an update.
  const wanted = ownBuckets(desiredBuckets(record?.attributes ?? {}), call.deployment.spec, ctx.credential)
  const held: Partial<Record<BucketRole, string>> = {}
  const assignments: Assignment[] = []
  for (const a of await assignmentsFor(ctx, wanted, v.principalId).catch(() => [] as Assignment[])) {
    if (await assignmentExists(ctx, a)) {
      held[a.role] = a.bucket
      assignments.push(a)
    }
  }
  return identityActual(v, region, held, assignments)
}

/** PUT one assignment: RoleAssignmentExists is success; PrincipalNotFound is retried within the budget. */
async function assign(ctx: IdentityContext, a: Assignment, principalId: string, deploymentId: string, call: ProviderCallContext): Promise<void> {
  const auth = await ctx.clients.authorization()
  const deadline = Date.now() + ctx.timing.principalWaitMs
  let pause = Math.min(2_000, ctx.timing.pollMs)
  for (;;) {
    try {
      await ctx.clients.call(`assigning Storage Blob Data Contributor on container '${a.bucket}'`, () =>
        auth.roleAssignments.create(bare(a.scope), a.name, {
          roleDefinitionId: roleDefinitionId(ctx.clients.subscriptionId),
          principalId,
          principalType: 'ServicePrincipal',
          description: `anycloud-deployment=${deploymentId}`,
        }), {signal: call.signal})
      return
    } catch (error) {
      const code = armErrorInfo((error as {cause?: unknown}).cause ?? error).code
      if (code === 'RoleAssignmentExists') return
      if (code === 'PrincipalNotFound' && Date.now() < deadline && !call.signal?.aborted) {
        call.progress(`the identity's principal is not visible to Azure RBAC yet (PrincipalNotFound); retrying`)
        await sleep(pause, call.signal)
        pause = Math.min(pause * 2, 15_000)
        continue
      }
      throw error
    }
  }
}

/** Creates (PUT by name) the identity and its role assignments; removes assignments on buckets no longer wanted. */
export async function createIdentity(ctx: IdentityContext, resource: DesiredResource, call: ProviderCallContext, previous?: ResourceRecord): Promise<ActualResource> {
  const {deploymentId, project} = call.deployment
  const region = call.deployment.placement.region
  const group = regionGroup(region)
  const name = deploymentResourceName(deploymentId, 'id')
  const existing = await getIdentity(ctx, group, name)
  if (existing && !ownedBy(existing.tags, deploymentId)) {
    throw new ProviderError(`azure: managed identity ${existing.id} exists but is not anycloud's for deployment ${deploymentId}`, 'azure.identity-foreign', AZURE, ctx.credential)
  }
  const resources = await ctx.clients.resources()
  await ctx.clients.call(`creating resource group '${group}'`, () => resources.resourceGroups.createOrUpdate(group, {location: region, tags: {'anycloud-managed': 'true'}}), {where: region, signal: call.signal})
  const msi = await ctx.clients.msi()
  call.progress(`creating managed identity ${name} in ${group}`)
  const made = await ctx.clients.call(`creating managed identity '${name}'`, () => msi.userAssignedIdentities.createOrUpdate(group, name, {location: region, tags: ownershipTags(project, deploymentId, resource.address)}), {where: region, signal: call.signal})
  const v: IdentityView = {id: made.id ?? '', principalId: made.principalId ?? '', clientId: made.clientId ?? '', tags: (made.tags ?? {}) as Record<string, string>}
  if (!v.principalId) throw new ProviderError(`azure: managed identity '${name}' came back without a principal id`, 'azure.identity', AZURE, ctx.credential)
  ctx.clientIds.set(deploymentId, v.clientId)
  const buckets = ownBuckets(desiredBuckets(resource.attributes), call.deployment.spec, ctx.credential)
  const assignments = await assignmentsFor(ctx, buckets, v.principalId)
  for (const a of assignments) {
    call.progress(`granting ${name} Storage Blob Data Contributor on container ${a.bucket}`)
    await assign(ctx, a, v.principalId, deploymentId, call)
  }
  // Assignments of the previous buckets that are no longer wanted.
  const keep = new Set(assignments.map((a) => a.name))
  for (const old of recordedAssignments(previous)) if (!keep.has(old.name)) await removeAssignment(ctx, old, call)
  return identityActual(v, region, buckets, assignments)
}

function recordedAssignments(record: ResourceRecord | undefined): Array<{scope: string; name: string; bucket?: string}> {
  const a = record?.outputs?.assignments
  return Array.isArray(a) ? (a as Array<{scope: string; name: string; bucket?: string}>).filter((x) => x && typeof x.scope === 'string' && typeof x.name === 'string') : []
}

async function removeAssignment(ctx: IdentityContext, a: {scope: string; name: string; bucket?: string}, call: ProviderCallContext): Promise<void> {
  const auth = await ctx.clients.authorization()
  call.progress(`removing role assignment ${a.name}${a.bucket ? ` on container ${a.bucket}` : ''}`)
  try {
    await ctx.clients.call(`deleting role assignment ${a.name}`, () => auth.roleAssignments.delete(bare(a.scope), a.name), {signal: call.signal})
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error
  }
  try {
    await auth.roleAssignments.get(bare(a.scope), a.name)
    throw new ProviderError(`azure: role assignment ${a.name} still exists after its delete`, 'azure.role-delete', AZURE, ctx.credential)
  } catch (error) {
    if (error instanceof ProviderError) throw error
    if ((error as {statusCode?: number}).statusCode !== 404) throw error
  }
}

export async function updateIdentity(ctx: IdentityContext, resource: DesiredResource, record: ResourceRecord, call: ProviderCallContext): Promise<ActualResource> {
  return createIdentity(ctx, resource, call, record)
}

/**
 * Role assignments first (the recorded ones, and any other of this principal on the containers
 * found by listing), then the identity; each confirmed gone.
 */
export async function deleteIdentity(ctx: IdentityContext, record: ResourceRecord, call: ProviderCallContext): Promise<void> {
  const region = recordRegion(record, call.deployment)
  const d = call.deployment.deploymentId
  const group = regionGroup(region)
  const name = deploymentResourceName(d, 'id')
  const v = await getIdentity(ctx, group, name)
  if (v && !ownedBy(v.tags, d)) {
    call.progress(`kept managed identity ${v.id}: not anycloud's for deployment ${d}`)
    return
  }
  const targets = new Map<string, {scope: string; name: string; bucket?: string}>()
  for (const a of recordedAssignments(record)) targets.set(a.name, a)
  if (v?.principalId) {
    // State may have lost some: the principal's assignments on the containers of this deployment's buckets.
    const auth = await ctx.clients.authorization()
    const wanted = ownBuckets(desiredBuckets(record.attributes ?? {}), call.deployment.spec, ctx.credential)
    for (const bucket of Object.values(wanted)) {
      const c = bucket ? await ctx.storage.findContainer(bucket).catch(() => null) : null
      if (!c) continue
      const scope = containerScope(ctx.clients.subscriptionId, c.account, c.name)
      for await (const ra of auth.roleAssignments.listForScope(bare(scope), {filter: `principalId eq '${v.principalId}'`})) {
        if (ra.name && ra.scope && ra.scope.toLowerCase() === scope.toLowerCase()) targets.set(ra.name, {scope, name: ra.name, bucket: c.name})
      }
    }
  }
  for (const a of targets.values()) await removeAssignment(ctx, a, call)
  if (!v) return
  const msi = await ctx.clients.msi()
  call.progress(`deleting managed identity ${name}`)
  try {
    await ctx.clients.call(`deleting managed identity '${name}'`, () => msi.userAssignedIdentities.delete(group, name), {signal: call.signal})
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error
  }
  if (await getIdentity(ctx, group, name)) throw new ProviderError(`azure: managed identity '${name}' still exists after its delete`, 'azure.identity-delete', AZURE, ctx.credential)
  ctx.clientIds.delete(d)
}
