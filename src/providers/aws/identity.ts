/**
 * The per-deployment identity on AWS (`PROFILE.identity`): an IAM role `anycloud-<deploymentId>`
 * (shortened with a hash past 64 characters) that EC2 may assume, an instance profile of the same
 * name holding it, and one inline policy naming exactly the deployment's buckets on this account:
 * ListBucket on each bucket, GetObject on the input bucket's objects, Get/Put/DeleteObject on the
 * output and checkpoint buckets' objects. No wildcard action, no wildcard resource.
 *
 * Buckets on another credential (`inputStorageCredentials` / `outputStorageCredentials`) are not
 * in the policy: the machine reaches them with scoped credentials minted by that credential.
 *
 * Roles and instance profiles live under the IAM path `/anycloud/<project>/`, so refresh lists a
 * project's identities once (ListRoles / ListInstanceProfiles with PathPrefix, paginated) instead
 * of three Get calls per deployment. IAM's listings omit tags and inline policies, so the role's
 * description names its deployment and the buckets its policy was last written for (the policy is
 * written first, the description after, so a run stopped in between shows as an update). Roles made
 * before identities had a path (no path, `/`) are still read by name when state records them.
 */
import type {IAMClient} from '@aws-sdk/client-iam'

import {ProviderError} from '../../errors/index.js'
import {ownBuckets} from '../../model/deployment-spec.js'
import type {ActualResource, BucketRole, DeploymentContext, DesiredResource, ResourceRecord} from '../../model/resources.js'
import type {ProviderCallContext} from '../provider.js'
import type {AwsClients} from './clients.js'
import {awsCall, awsCode, isIamNotFound, PROVIDER, toProviderError} from './errors.js'
import {iamName, ownedBy, ROLE_POLICY_NAME, tagList, tagMap} from './names.js'
import {objectActions, partitionOf} from './rclone.js'
import {ownershipTags} from '../provider.js'
import {iamSdk} from '../../util/aws-sdk.js'

export interface IdentityContext {
  clients: AwsClients
  credential: string
}

/** The trust policy: only EC2 may assume the role. */
export const EC2_TRUST_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{Effect: 'Allow', Principal: {Service: 'ec2.amazonaws.com'}, Action: 'sts:AssumeRole'}],
})

/** The inline policy document for those buckets, or undefined when there is none. */
export function rolePolicyDocument(buckets: Partial<Record<BucketRole, string>>, region = 'us-east-1'): string | undefined {
  const partition = partitionOf(region)
  const names = (['input', 'output', 'checkpoint'] as const).filter((r) => buckets[r])
  if (names.length === 0) return undefined
  const statements: Record<string, unknown>[] = [
    {Sid: 'ListTheBuckets', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [...new Set(names.map((r) => `arn:${partition}:s3:::${buckets[r]}`))]},
  ]
  if (buckets.input) statements.push({Sid: 'ReadInput', Effect: 'Allow', Action: objectActions('input'), Resource: [`arn:${partition}:s3:::${buckets.input}/*`]})
  const writable = [buckets.output, buckets.checkpoint].filter((b): b is string => Boolean(b))
  if (writable.length > 0) statements.push({Sid: 'ReadWriteOutputAndCheckpoint', Effect: 'Allow', Action: objectActions('output'), Resource: [...new Set(writable.map((b) => `arn:${partition}:s3:::${b}/*`))]})
  return JSON.stringify({Version: '2012-10-17', Statement: statements})
}

/** The IAM path of a project's roles and instance profiles. */
export function iamPath(project: string): string {
  return `/anycloud/${project}/`
}

/** The role's description: its deployment and the buckets its inline policy names (IAM lists descriptions, not tags or policies). */
export function roleDescription(deploymentId: string, buckets: Partial<Record<BucketRole, string>>): string {
  const sorted = Object.fromEntries((['input', 'output', 'checkpoint'] as const).filter((r) => buckets[r]).map((r) => [r, buckets[r]]))
  return `anycloud deployment ${deploymentId} buckets=${JSON.stringify(sorted)}`
}

/** The policy's buckets from a description {@link roleDescription} wrote for this deployment; undefined for any other text. */
export function bucketsFromDescription(description: string | undefined, deploymentId: string): Partial<Record<BucketRole, string>> | undefined {
  const m = /^anycloud deployment (\S+) buckets=(\{.*\})$/.exec(description ?? '')
  if (!m || m[1] !== deploymentId) return undefined
  try {
    const parsed = JSON.parse(m[2]) as Record<string, unknown>
    const out: Partial<Record<BucketRole, string>> = {}
    for (const r of ['input', 'output', 'checkpoint'] as const) if (typeof parsed[r] === 'string') out[r] = parsed[r] as string
    return out
  } catch {
    return undefined
  }
}

/** A project's roles and instance profiles under its IAM path, by name (one listing per refresh). */
export interface ListedIdentities {
  roles: Map<string, {arn: string; path: string; description?: string}>
  profiles: Map<string, {arn: string; path: string; roles: string[]}>
}

/** Every page of an IAM listing (Marker / IsTruncated). */
async function allPages<T>(what: string, credential: string, page: (marker: string | undefined) => Promise<{items: T[]; isTruncated?: boolean; marker?: string}>): Promise<T[]> {
  const out: T[] = []
  let marker: string | undefined
  for (;;) {
    const r = await awsCall(what, credential, () => page(marker))
    out.push(...r.items)
    if (!r.isTruncated) return out
    if (!r.marker || r.marker === marker) throw new ProviderError(`${what}: IAM said the listing is truncated but gave no new Marker`, 'aws.iam-listing', PROVIDER, credential)
    marker = r.marker
  }
}

/** ListRoles and ListInstanceProfiles under the project's path, every page. `pageSize` is IAM's MaxItems (1 to 1000). */
export async function listIdentities(ctx: IdentityContext, project: string, pageSize = 1000): Promise<ListedIdentities> {
  const {ListRolesCommand, ListInstanceProfilesCommand} = await iamSdk()
  const iam = await iamOf(ctx)
  const PathPrefix = iamPath(project)
  const [roles, profiles] = await Promise.all([
    allPages(`ListRoles ${PathPrefix}`, ctx.credential, async (Marker) => {
      const out = await iam.send(new ListRolesCommand({PathPrefix, MaxItems: pageSize, ...(Marker ? {Marker} : {})}))
      return {items: out.Roles ?? [], isTruncated: out.IsTruncated, marker: out.Marker}
    }),
    allPages(`ListInstanceProfiles ${PathPrefix}`, ctx.credential, async (Marker) => {
      const out = await iam.send(new ListInstanceProfilesCommand({PathPrefix, MaxItems: pageSize, ...(Marker ? {Marker} : {})}))
      return {items: out.InstanceProfiles ?? [], isTruncated: out.IsTruncated, marker: out.Marker}
    }),
  ])
  const listed: ListedIdentities = {roles: new Map(), profiles: new Map()}
  for (const r of roles) if (r.RoleName) listed.roles.set(r.RoleName, {arn: r.Arn ?? '', path: r.Path ?? '/', ...(r.Description !== undefined ? {description: r.Description} : {})})
  for (const p of profiles) if (p.InstanceProfileName) listed.profiles.set(p.InstanceProfileName, {arn: p.Arn ?? '', path: p.Path ?? '/', roles: (p.Roles ?? []).map((r) => r.RoleName ?? '')})
  return listed
}

function desiredBuckets(attributes: Record<string, unknown>): Partial<Record<BucketRole, string>> {
  const b = attributes.buckets
  return b && typeof b === 'object' ? (b as Partial<Record<BucketRole, string>>) : {}
}

/** Reconstructs `{buckets}` from the policy on the role (for a role found by name when state lost it). */
function bucketsFromPolicy(doc: string | undefined, deployment: DeploymentContext, credential: string): Partial<Record<BucketRole, string>> {
  const out: Partial<Record<BucketRole, string>> = {}
  if (doc) {
    try {
      const parsed = JSON.parse(doc) as {Statement?: Array<{Sid?: string; Resource?: string | string[]}>}
      for (const s of parsed.Statement ?? []) {
        const resources = ([] as string[]).concat(s.Resource ?? []).map((r) => r.replace(/^arn:[\w-]+:s3:::/, '').replace(/\/\*$/, ''))
        if (s.Sid === 'ReadInput') out.input = resources[0]
        if (s.Sid === 'ReadWriteOutputAndCheckpoint') {
          for (const r of resources) {
            if (r === deployment.deploymentId) out.checkpoint = r
            else out.output = r
          }
        }
      }
    } catch {
      // not our document: nothing to reconstruct
    }
  }
  return withOtherAccounts(out, deployment, credential)
}

/** The buckets on other credentials (never in the policy) added back, as the desired attributes name them. */
function withOtherAccounts(onThisAccount: Partial<Record<BucketRole, string>>, deployment: DeploymentContext, credential: string): Partial<Record<BucketRole, string>> {
  const out = {...onThisAccount}
  for (const b of deployment.spec.buckets) if (b.explicitCredential && b.credential !== credential) out[b.role] = b.name
  return out
}

async function iamOf(ctx: IdentityContext): Promise<IAMClient> {
  return ctx.clients.iam()
}

const notFound = (code: string) => isIamNotFound(code)

async function getRole(ctx: IdentityContext, name: string): Promise<{arn: string; tags: Record<string, string>} | undefined> {
  const {GetRoleCommand} = await iamSdk()
  const iam = await iamOf(ctx)
  try {
    const out = await iam.send(new GetRoleCommand({RoleName: name}))
    return {arn: out.Role?.Arn ?? '', tags: tagMap(out.Role?.Tags)}
  } catch (error) {
    if (notFound(awsCode(error))) return undefined
    throw toProviderError(error, `GetRole ${name}`, ctx.credential)
  }
}

async function getProfile(ctx: IdentityContext, name: string): Promise<{arn: string; roles: string[]; tags: Record<string, string>} | undefined> {
  const {GetInstanceProfileCommand} = await iamSdk()
  const iam = await iamOf(ctx)
  try {
    const out = await iam.send(new GetInstanceProfileCommand({InstanceProfileName: name}))
    return {arn: out.InstanceProfile?.Arn ?? '', roles: (out.InstanceProfile?.Roles ?? []).map((r) => r.RoleName ?? ''), tags: tagMap(out.InstanceProfile?.Tags)}
  } catch (error) {
    if (notFound(awsCode(error))) return undefined
    throw toProviderError(error, `GetInstanceProfile ${name}`, ctx.credential)
  }
}

async function getPolicy(ctx: IdentityContext, role: string): Promise<string | undefined> {
  const {GetRolePolicyCommand} = await iamSdk()
  const iam = await iamOf(ctx)
  try {
    const out = await iam.send(new GetRolePolicyCommand({RoleName: role, PolicyName: ROLE_POLICY_NAME}))
    return out.PolicyDocument ? decodeURIComponent(out.PolicyDocument) : undefined
  } catch (error) {
    if (notFound(awsCode(error))) return undefined
    throw toProviderError(error, `GetRolePolicy ${role}`, ctx.credential)
  }
}

function foreign(what: string, name: string, tags: Record<string, string>, deploymentId: string, credential: string): ProviderError {
  return new ProviderError(
    `IAM ${what} '${name}' exists but is not anycloud's for deployment '${deploymentId}'${tags['anycloud-deployment'] ? ` (tagged for '${tags['anycloud-deployment']}')` : ' (no anycloud tags)'}: refusing to use or change it`,
    'aws.identity-foreign',
    PROVIDER,
    credential,
  )
}

function actualOf(name: string, role: {arn: string}, profile: {arn: string}, buckets: Partial<Record<BucketRole, string>>): ActualResource {
  return {
    id: name,
    attributes: {buckets},
    outputs: {roleName: name, roleArn: role.arn, instanceProfileName: name, instanceProfileArn: profile.arn, policyName: ROLE_POLICY_NAME},
  }
}

/** Null unless the role, its instance profile (holding it) and anycloud's tags are all there. */
export async function readIdentity(ctx: IdentityContext, resourceName: string, call: ProviderCallContext): Promise<ActualResource | null> {
  const name = iamName(resourceName)
  const deploymentId = call.deployment.deploymentId
  const role = await getRole(ctx, name)
  if (!role) return null
  if (!ownedBy(role.tags, deploymentId)) throw foreign('role', name, role.tags, deploymentId, ctx.credential)
  const profile = await getProfile(ctx, name)
  if (!profile || !profile.roles.includes(name)) return null
  const policy = await getPolicy(ctx, name)
  return actualOf(name, role, profile, bucketsFromPolicy(policy, call.deployment, ctx.credential))
}

/**
 * The identity from the project's listing: no IAM call for a role under the project's path whose
 * description anycloud wrote. A role not listed there is read by name only when state records it
 * (made before roles had a path); otherwise it is absent (a create still checks the name first).
 */
export async function readListedIdentity(ctx: IdentityContext, listed: ListedIdentities, resourceName: string, call: ProviderCallContext, recorded: boolean): Promise<ActualResource | null> {
  const name = iamName(resourceName)
  const role = listed.roles.get(name)
  const path = iamPath(call.deployment.project)
  if (!role || role.path !== path) return recorded || role ? readIdentity(ctx, resourceName, call) : null
  const policyBuckets = bucketsFromDescription(role.description, call.deployment.deploymentId)
  // Not the description anycloud writes: read it the long way (tags decide whether it is ours).
  if (!policyBuckets) return readIdentity(ctx, resourceName, call)
  const profile = listed.profiles.get(name)
  if (!profile || !profile.roles.includes(name)) return null
  return actualOf(name, role, profile, withOtherAccounts(policyBuckets, call.deployment, ctx.credential))
}

async function putPolicy(ctx: IdentityContext, name: string, buckets: Partial<Record<BucketRole, string>>, call: ProviderCallContext): Promise<void> {
  const {PutRolePolicyCommand, DeleteRolePolicyCommand, UpdateRoleCommand} = await iamSdk()
  const iam = await iamOf(ctx)
  const onThisAccount = ownBuckets(buckets, call.deployment.spec, ctx.credential)
  const doc = rolePolicyDocument(onThisAccount, call.deployment.placement.region)
  if (doc) {
    await awsCall(`PutRolePolicy ${name}`, ctx.credential, () => iam.send(new PutRolePolicyCommand({RoleName: name, PolicyName: ROLE_POLICY_NAME, PolicyDocument: doc})))
  } else {
    await iam.send(new DeleteRolePolicyCommand({RoleName: name, PolicyName: ROLE_POLICY_NAME})).catch((error: unknown) => {
      if (!notFound(awsCode(error))) throw toProviderError(error, `DeleteRolePolicy ${name}`, ctx.credential)
    })
  }
  // After the policy: a run stopped in between leaves the old description, which reads as an update.
  const Description = roleDescription(call.deployment.deploymentId, onThisAccount)
  await awsCall(`UpdateRole ${name}`, ctx.credential, () => iam.send(new UpdateRoleCommand({RoleName: name, Description})))
}

/**
 * Creates (or completes, after an interrupted create) the role, its policy and the instance
 * profile. Things that exist are adopted only when they carry this deployment's tags. A create
 * that fails removes what it made.
 */
export async function createIdentity(ctx: IdentityContext, resource: DesiredResource, call: ProviderCallContext): Promise<ActualResource> {
  const {CreateRoleCommand, CreateInstanceProfileCommand, AddRoleToInstanceProfileCommand} = await iamSdk()
  const iam = await iamOf(ctx)
  const name = iamName(resource.name)
  const {deploymentId, project} = call.deployment
  const tags = tagList(ownershipTags(project, deploymentId, resource.address))
  const buckets = desiredBuckets(resource.attributes)
  const made: Array<'role' | 'profile'> = []
  try {
    let role = await getRole(ctx, name)
    if (role && !ownedBy(role.tags, deploymentId)) throw foreign('role', name, role.tags, deploymentId, ctx.credential)
    if (!role) {
      call.progress(`creating IAM role ${name}`)
      try {
        const out = await iam.send(new CreateRoleCommand({RoleName: name, Path: iamPath(project), AssumeRolePolicyDocument: EC2_TRUST_POLICY, Description: `anycloud deployment ${deploymentId}`, Tags: tags}))
        role = {arn: out.Role?.Arn ?? '', tags: tagMap(tags)}
        made.push('role')
      } catch (error) {
        if (awsCode(error) !== 'EntityAlreadyExists' && awsCode(error) !== 'EntityAlreadyExistsException') throw toProviderError(error, `CreateRole ${name}`, ctx.credential)
        role = await getRole(ctx, name)
        if (!role || !ownedBy(role.tags, deploymentId)) throw foreign('role', name, role?.tags ?? {}, deploymentId, ctx.credential)
      }
    }
    await putPolicy(ctx, name, buckets, call)
    let profile = await getProfile(ctx, name)
    if (profile && !ownedBy(profile.tags, deploymentId)) throw foreign('instance profile', name, profile.tags, deploymentId, ctx.credential)
    if (!profile) {
      call.progress(`creating instance profile ${name}`)
      try {
        const out = await iam.send(new CreateInstanceProfileCommand({InstanceProfileName: name, Path: iamPath(project), Tags: tags}))
        profile = {arn: out.InstanceProfile?.Arn ?? '', roles: [], tags: tagMap(tags)}
        made.push('profile')
      } catch (error) {
        if (awsCode(error) !== 'EntityAlreadyExists' && awsCode(error) !== 'EntityAlreadyExistsException') throw toProviderError(error, `CreateInstanceProfile ${name}`, ctx.credential)
        profile = await getProfile(ctx, name)
        if (!profile || !ownedBy(profile.tags, deploymentId)) throw foreign('instance profile', name, profile?.tags ?? {}, deploymentId, ctx.credential)
      }
    }
    if (!profile.roles.includes(name)) {
      try {
        await iam.send(new AddRoleToInstanceProfileCommand({InstanceProfileName: name, RoleName: name}))
      } catch (error) {
        // LimitExceeded: a replayed add already put it there (a profile holds one role).
        if (awsCode(error) !== 'LimitExceeded' && awsCode(error) !== 'LimitExceededException') throw toProviderError(error, `AddRoleToInstanceProfile ${name}`, ctx.credential)
        const again = await getProfile(ctx, name)
        if (!again?.roles.includes(name)) throw toProviderError(error, `AddRoleToInstanceProfile ${name}`, ctx.credential)
      }
    }
    return actualOf(name, role, profile, buckets)
  } catch (error) {
    if (made.length > 0) {
      call.progress(`create failed: removing the ${made.join(' and ')} it made`)
      await removeIdentity(ctx, name, deploymentId, () => {}).catch(() => undefined)
    }
    throw error
  }
}

/** In place: the policy follows the buckets. */
export async function updateIdentity(ctx: IdentityContext, resource: DesiredResource, record: ResourceRecord, call: ProviderCallContext): Promise<ActualResource> {
  const name = iamName(record.name)
  const role = await getRole(ctx, name)
  if (!role) throw new ProviderError(`IAM role ${name} no longer exists: run \`anycloud plan\` again`, 'aws.identity-missing', PROVIDER, ctx.credential)
  if (!ownedBy(role.tags, call.deployment.deploymentId)) throw foreign('role', name, role.tags, call.deployment.deploymentId, ctx.credential)
  const buckets = desiredBuckets(resource.attributes)
  await putPolicy(ctx, name, buckets, call)
  const profile = await getProfile(ctx, name)
  return actualOf(name, role, profile ?? {arn: ''}, buckets)
}

/** Deletes the instance profile (after taking the role out of it), then the role's policies, then the role; confirms each with IAM. */
export async function deleteIdentity(ctx: IdentityContext, record: ResourceRecord, call: ProviderCallContext): Promise<void> {
  await removeIdentity(ctx, iamName(record.name), call.deployment.deploymentId, call.progress)
}

async function removeIdentity(ctx: IdentityContext, name: string, deploymentId: string, progress: (m: string) => void): Promise<void> {
  const {
    RemoveRoleFromInstanceProfileCommand,
    DeleteInstanceProfileCommand,
    ListRolePoliciesCommand,
    DeleteRolePolicyCommand,
    ListAttachedRolePoliciesCommand,
    DetachRolePolicyCommand,
    DeleteRoleCommand,
  } = await iamSdk()
  const iam = await iamOf(ctx)
  const ignoreMissing = (what: string) => (error: unknown) => {
    if (!notFound(awsCode(error))) throw toProviderError(error, what, ctx.credential)
  }
  const profile = await getProfile(ctx, name)
  if (profile) {
    if (!ownedBy(profile.tags, deploymentId)) {
      progress(`kept instance profile ${name}: ${profile.tags['anycloud-managed'] ? `tagged for deployment '${profile.tags['anycloud-deployment']}'` : 'not created by anycloud (no ownership tags)'}`)
    } else {
      for (const r of profile.roles) {
        await iam.send(new RemoveRoleFromInstanceProfileCommand({InstanceProfileName: name, RoleName: r})).catch(ignoreMissing(`RemoveRoleFromInstanceProfile ${name}`))
      }
      await iam.send(new DeleteInstanceProfileCommand({InstanceProfileName: name})).catch(ignoreMissing(`DeleteInstanceProfile ${name}`))
      if (await getProfile(ctx, name)) throw new ProviderError(`instance profile ${name} still exists after DeleteInstanceProfile`, 'aws.identity-delete', PROVIDER, ctx.credential)
    }
  }
  const role = await getRole(ctx, name)
  if (!role) return
  if (!ownedBy(role.tags, deploymentId)) {
    progress(`kept IAM role ${name}: ${role.tags['anycloud-managed'] ? `tagged for deployment '${role.tags['anycloud-deployment']}'` : 'not created by anycloud (no ownership tags)'}`)
    return
  }
  const inline = await awsCall(`ListRolePolicies ${name}`, ctx.credential, () => iam.send(new ListRolePoliciesCommand({RoleName: name})), {notFound})
  for (const p of inline.PolicyNames ?? []) await iam.send(new DeleteRolePolicyCommand({RoleName: name, PolicyName: p})).catch(ignoreMissing(`DeleteRolePolicy ${name}`))
  const attached = await awsCall(`ListAttachedRolePolicies ${name}`, ctx.credential, () => iam.send(new ListAttachedRolePoliciesCommand({RoleName: name})), {notFound})
  for (const p of attached.AttachedPolicies ?? []) {
    if (p.PolicyArn) await iam.send(new DetachRolePolicyCommand({RoleName: name, PolicyArn: p.PolicyArn})).catch(ignoreMissing(`DetachRolePolicy ${name}`))
  }
  await iam.send(new DeleteRoleCommand({RoleName: name})).catch(ignoreMissing(`DeleteRole ${name}`))
  if (await getRole(ctx, name)) throw new ProviderError(`IAM role ${name} still exists after DeleteRole`, 'aws.identity-delete', PROVIDER, ctx.credential)
}
