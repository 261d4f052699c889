/**
 * The fake IAM API (Query protocol, version 2010-05-08): roles, inline and managed policy
 * attachments, instance profiles and role tags, with IAM's error codes and statuses
 * (`NoSuchEntity` 404, `EntityAlreadyExists` / `DeleteConflict` / `LimitExceeded` 409, …).
 *
 * Policy documents are kept exactly as sent (`role.inlinePolicies.get(name)`) and, like real
 * IAM, returned URL-encoded (RFC 3986) in GetRole/GetRolePolicy responses.
 */
import type {FakeClock} from './clock.js'
import {decodeNextToken, encodeNextToken, type ActionHandler, type RequestContext} from './context.js'
import {AwsApiError} from './errors.js'
import {FAKE_ACCOUNT_ID, iamId, type FakeAwsState, type FakeInstanceProfile, type FakeRole, type Tags} from './model.js'
import type {QueryParams} from './query.js'
import {isoSeconds, memberList, type XmlObject} from './xml.js'

/** What the IAM service needs from the fake. */
export interface IamHost {
  readonly state: FakeAwsState
  readonly clock: FakeClock
  log(message: string): void
}

const NAME_RE = /^[\w+=,.@-]+$/

function validation(value: string, field: string, constraint: string): AwsApiError {
  return new AwsApiError('ValidationError', `1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: ${constraint}`, 400)
}

function checkName(value: string | undefined, field: string, max: number): string {
  if (value === undefined) throw validation('null', field, 'Member must not be null')
  if (value.length < 1 || value.length > max) throw validation(value, field, `Member must have length less than or equal to ${max}`)
  if (!NAME_RE.test(value)) throw validation(value, field, 'Member must satisfy regular expression pattern: [\\w+=,.@-]+')
  return value
}

function noSuchRole(name: string): AwsApiError {
  return new AwsApiError('NoSuchEntity', `The role with name ${name} cannot be found.`, 404)
}

function noSuchProfile(name: string): AwsApiError {
  return new AwsApiError('NoSuchEntity', `Instance Profile ${name} cannot be found.`, 404)
}

/** Parses and sanity-checks a policy document the way IAM's validator does (roughly). */
export function checkPolicyDocument(text: string, kind: 'trust' | 'identity'): unknown {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    throw new AwsApiError('MalformedPolicyDocument', 'This policy contains invalid Json', 400)
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new AwsApiError('MalformedPolicyDocument', 'This policy contains invalid Json', 400)
  const d = doc as Record<string, unknown>
  if (d.Version !== undefined && d.Version !== '2012-10-17' && d.Version !== '2008-10-17') {
    throw new AwsApiError('MalformedPolicyDocument', 'The policy must contain a valid version string', 400)
  }
  const statements = Array.isArray(d.Statement) ? d.Statement : d.Statement !== undefined ? [d.Statement] : []
  if (statements.length === 0) throw new AwsApiError('MalformedPolicyDocument', 'Syntax errors in policy.', 400)
  for (const s of statements) {
    if (!s || typeof s !== 'object') throw new AwsApiError('MalformedPolicyDocument', 'Syntax errors in policy.', 400)
    const st = s as Record<string, unknown>
    if (st.Effect !== 'Allow' && st.Effect !== 'Deny') throw new AwsApiError('MalformedPolicyDocument', 'Missing required field Effect', 400)
    if (st.Action === undefined && st.NotAction === undefined) throw new AwsApiError('MalformedPolicyDocument', 'Policy statement must contain actions.', 400)
    if (kind === 'trust') {
      if (st.Principal === undefined && st.NotPrincipal === undefined) throw new AwsApiError('MalformedPolicyDocument', 'Missing required field Principal', 400)
      if (st.Resource !== undefined) throw new AwsApiError('MalformedPolicyDocument', 'Has prohibited field Resource', 400)
    } else {
      if (st.Principal !== undefined || st.NotPrincipal !== undefined) throw new AwsApiError('MalformedPolicyDocument', 'Policy document should not specify a principal.', 400)
      if (st.Resource === undefined && st.NotResource === undefined) throw new AwsApiError('MalformedPolicyDocument', 'Policy statement must contain resources.', 400)
    }
  }
  return doc
}

/** IAM's own size accounting ignores whitespace. */
function policySize(text: string): number {
  return text.replace(/\s+/g, '').length
}

function readIamTags(p: QueryParams): Tags {
  const tags: Tags = {}
  for (const t of p.structList('Tags.member')) {
    const key = t.str('Key')
    const value = t.str('Value') ?? ''
    if (!key) throw validation('null', 'tags.member.key', 'Member must not be null')
    if (key.length > 128) throw validation(key, 'tags.member.key', 'Member must have length less than or equal to 128')
    if (value.length > 256) throw validation(value, 'tags.member.value', 'Member must have length less than or equal to 256')
    if (key.toLowerCase().startsWith('aws:')) throw new AwsApiError('InvalidInput', `User-defined tag keys can't start with 'aws:'. This prefix is reserved for AWS tags.`, 400)
    if (Object.keys(tags).some((k) => k.toLowerCase() === key.toLowerCase())) throw new AwsApiError('InvalidInput', 'Duplicate tag keys found. Please note that Tag keys are case insensitive.', 400)
    tags[key] = value
  }
  return tags
}

function tagsXml(tags: Tags): XmlObject {
  return memberList(Object.entries(tags), ([Key, Value]) => ({Key, Value}))
}

function checkPath(path: string | undefined): string {
  const p = path ?? '/'
  if (!/^\/(?:[\x21-\x7e]*\/)?$/.test(p) || p.length > 512) throw validation(p, 'path', 'Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007F]+\\u002F)')
  return p
}

function paginateMarker<T>(items: T[], p: QueryParams, listing: string): {page: T[]; isTruncated: boolean; marker?: string} {
  const maxItems = p.int('MaxItems') ?? 100
  if (!Number.isInteger(maxItems) || maxItems < 1 || maxItems > 1000) throw validation(String(p.str('MaxItems')), 'maxItems', 'Member must have value less than or equal to 1000')
  let offset = 0
  const marker = p.str('Marker')
  if (marker !== undefined) {
    const o = decodeNextToken(listing, marker)
    if (o === undefined) throw new AwsApiError('ValidationError', 'Invalid Marker.', 400)
    offset = o
  }
  const page = items.slice(offset, offset + maxItems)
  const next = offset + maxItems
  return next < items.length ? {page, isTruncated: true, marker: encodeNextToken(listing, next)} : {page, isTruncated: false}
}

/** The IAM actions. */
export class IamService {
  private readonly host: IamHost
  /** The action handlers by name. */
  readonly handlers: Record<string, ActionHandler>

  constructor(host: IamHost) {
    this.host = host
    this.handlers = {
      CreateRole: (ctx) => this.createRole(ctx),
      GetRole: (ctx) => ({Role: this.roleXml(this.role(ctx.params.str('RoleName')), true)}),
      DeleteRole: (ctx) => this.deleteRole(ctx),
      ListRoles: (ctx) => this.listRoles(ctx),
      UpdateAssumeRolePolicy: (ctx) => this.updateAssumeRolePolicy(ctx),
      UpdateRole: (ctx) => this.updateRole(ctx),
      TagRole: (ctx) => this.tagRole(ctx),
      UntagRole: (ctx) => this.untagRole(ctx),
      ListRoleTags: (ctx) => this.listRoleTags(ctx),
      PutRolePolicy: (ctx) => this.putRolePolicy(ctx),
      GetRolePolicy: (ctx) => this.getRolePolicy(ctx),
      DeleteRolePolicy: (ctx) => this.deleteRolePolicy(ctx),
      ListRolePolicies: (ctx) => this.listRolePolicies(ctx),
      AttachRolePolicy: (ctx) => this.attachRolePolicy(ctx, true),
      DetachRolePolicy: (ctx) => this.attachRolePolicy(ctx, false),
      ListAttachedRolePolicies: (ctx) => this.listAttachedRolePolicies(ctx),
      CreateInstanceProfile: (ctx) => this.createInstanceProfile(ctx),
      GetInstanceProfile: (ctx) => ({InstanceProfile: this.profileXml(this.profile(ctx.params.str('InstanceProfileName')))}),
      DeleteInstanceProfile: (ctx) => this.deleteInstanceProfile(ctx),
      AddRoleToInstanceProfile: (ctx) => this.addRoleToInstanceProfile(ctx),
      RemoveRoleFromInstanceProfile: (ctx) => this.removeRoleFromInstanceProfile(ctx),
      ListInstanceProfiles: (ctx) => this.listInstanceProfiles(ctx),
      ListInstanceProfilesForRole: (ctx) => this.listInstanceProfilesForRole(ctx),
    }
  }

  private get state(): FakeAwsState {
    return this.host.state
  }

  /** Finds a role by name (IAM names are case-insensitive). */
  findRole(name: string): FakeRole | undefined {
    const exact = this.state.roles.get(name)
    if (exact) return exact
    const lower = name.toLowerCase()
    return [...this.state.roles.values()].find((r) => r.roleName.toLowerCase() === lower)
  }

  private role(name: string | undefined): FakeRole {
    const n = checkName(name, 'roleName', 64)
    const r = this.findRole(n)
    if (!r) throw noSuchRole(n)
    return r
  }

  private findProfile(name: string): FakeInstanceProfile | undefined {
    const exact = this.state.instanceProfiles.get(name)
    if (exact) return exact
    const lower = name.toLowerCase()
    return [...this.state.instanceProfiles.values()].find((p) => p.instanceProfileName.toLowerCase() === lower)
  }

  private profile(name: string | undefined): FakeInstanceProfile {
    const n = checkName(name, 'instanceProfileName', 128)
    const p = this.findProfile(n)
    if (!p) throw noSuchProfile(n)
    return p
  }

  /**
   * `full` (GetRole) adds RoleLastUsed and always Tags; `listed` (ListRoles, and the roles inside
   * listed instance profiles) leaves Tags out: IAM's listings return a subset of each role
   * (no PermissionsBoundary, RoleLastUsed or Tags; GetRole has them).
   */
  private roleXml(r: FakeRole, full: boolean, listed = false): XmlObject {
    return {
      Path: r.path,
      RoleName: r.roleName,
      RoleId: r.roleId,
      Arn: r.arn,
      CreateDate: isoSeconds(r.createDate),
      AssumeRolePolicyDocument: encodeURIComponent(r.assumeRolePolicyDocument),
      Description: r.description,
      MaxSessionDuration: r.maxSessionDuration,
      Tags: listed ? undefined : full || Object.keys(r.tags).length > 0 ? tagsXml(r.tags) : undefined,
      RoleLastUsed: full ? {} : undefined,
    }
  }

  /** `listed` (ListInstanceProfiles, ListInstanceProfilesForRole): no Tags, as IAM documents for its listings. */
  private profileXml(p: FakeInstanceProfile, listed = false): XmlObject {
    return {
      Path: p.path,
      InstanceProfileName: p.instanceProfileName,
      InstanceProfileId: p.instanceProfileId,
      Arn: p.arn,
      CreateDate: isoSeconds(p.createDate),
      Roles: memberList(
        p.roles.map((n) => this.findRole(n)).filter((r): r is FakeRole => r !== undefined),
        (r) => this.roleXml(r, false, listed),
      ),
      Tags: !listed && Object.keys(p.tags).length > 0 ? tagsXml(p.tags) : undefined,
    }
  }

  private createRole(ctx: RequestContext): XmlObject {
    const p = ctx.params
    const name = checkName(p.str('RoleName'), 'roleName', 64)
    const doc = p.str('AssumeRolePolicyDocument')
    if (doc === undefined) throw validation('null', 'assumeRolePolicyDocument', 'Member must not be null')
    if (policySize(doc) > 2048) throw new AwsApiError('LimitExceeded', 'Cannot exceed quota for ACLSizePerRole: 2048', 409)
    checkPolicyDocument(doc, 'trust')
    const path = checkPath(p.str('Path'))
    const maxSession = p.int('MaxSessionDuration') ?? 3600
    if (!Number.isInteger(maxSession) || maxSession < 3600 || maxSession > 43200) {
      throw validation(String(p.str('MaxSessionDuration')), 'maxSessionDuration', 'Member must have value between 3600 and 43200')
    }
    const description = p.str('Description')
    if (description !== undefined && description.length > 1000) throw validation(description, 'description', 'Member must have length less than or equal to 1000')
    const tags = readIamTags(p)
    if (this.findRole(name)) throw new AwsApiError('EntityAlreadyExists', `Role with name ${name} already exists.`, 409)
    const role: FakeRole = {
      roleName: name,
      roleId: iamId('AROA'),
      arn: `arn:aws:iam::${FAKE_ACCOUNT_ID}:role${path}${name}`,
      path,
      createDate: this.host.clock.now(),
      assumeRolePolicyDocument: doc,
      ...(description !== undefined ? {description} : {}),
      maxSessionDuration: maxSession,
      tags,
      inlinePolicies: new Map(),
      attachedPolicies: new Set(),
    }
    this.state.roles.set(name, role)
    this.host.log(`CreateRole ${name}`)
    return {Role: this.roleXml(role, false)}
  }

  private deleteRole(ctx: RequestContext): XmlObject {
    const r = this.role(ctx.params.str('RoleName'))
    if ([...this.state.instanceProfiles.values()].some((p) => p.roles.includes(r.roleName))) {
      throw new AwsApiError('DeleteConflict', 'Cannot delete entity, must remove roles from instance profile first.', 409)
    }
    if (r.inlinePolicies.size > 0) throw new AwsApiError('DeleteConflict', 'Cannot delete entity, must delete policies first.', 409)
    if (r.attachedPolicies.size > 0) throw new AwsApiError('DeleteConflict', 'Cannot delete entity, must detach all policies first.', 409)
    this.state.roles.delete(r.roleName)
    this.host.log(`DeleteRole ${r.roleName}`)
    return {}
  }

  private listRoles(ctx: RequestContext): XmlObject {
    const prefix = ctx.params.str('PathPrefix') ?? '/'
    const roles = [...this.state.roles.values()].filter((r) => r.path.startsWith(prefix)).sort((a, b) => a.roleName.localeCompare(b.roleName))
    const {page, isTruncated, marker} = paginateMarker(roles, ctx.params, 'ListRoles')
    return {Roles: memberList(page, (r) => this.roleXml(r, false, true)), IsTruncated: isTruncated, Marker: marker}
  }

  private updateAssumeRolePolicy(ctx: RequestContext): XmlObject {
    const r = this.role(ctx.params.str('RoleName'))
    const doc = ctx.params.str('PolicyDocument')
    if (doc === undefined) throw validation('null', 'policyDocument', 'Member must not be null')
    if (policySize(doc) > 2048) throw new AwsApiError('LimitExceeded', 'Cannot exceed quota for ACLSizePerRole: 2048', 409)
    checkPolicyDocument(doc, 'trust')
    r.assumeRolePolicyDocument = doc
    return {}
  }

  private updateRole(ctx: RequestContext): XmlObject {
    const r = this.role(ctx.params.str('RoleName'))
    const max = ctx.params.int('MaxSessionDuration')
    if (max !== undefined) {
      if (!Number.isInteger(max) || max < 3600 || max > 43200) throw validation(String(ctx.params.str('MaxSessionDuration')), 'maxSessionDuration', 'Member must have value between 3600 and 43200')
      r.maxSessionDuration = max
    }
    const d = ctx.params.str('Description')
    if (d !== undefined) r.description = d
    return {}
  }

  private tagRole(ctx: RequestContext): XmlObject {
    const r = this.role(ctx.params.str('RoleName'))
    const tags = readIamTags(ctx.params)
    const merged = {...r.tags}
    for (const [k, v] of Object.entries(tags)) {
      for (const existing of Object.keys(merged)) if (existing.toLowerCase() === k.toLowerCase()) delete merged[existing]
      merged[k] = v
    }
    if (Object.keys(merged).length > 50) throw new AwsApiError('LimitExceeded', 'The number of tags has reached the maximum limit.', 409)
    r.tags = merged
    return {}
  }

  private untagRole(ctx: RequestContext): XmlObject {
    const r = this.role(ctx.params.str('RoleName'))
    for (const key of ctx.params.strList('TagKeys.member')) {
      for (const existing of Object.keys(r.tags)) if (existing.toLowerCase() === key.toLowerCase()) delete r.tags[existing]
    }
    return {}
  }

  private listRoleTags(ctx: RequestContext): XmlObject {
    const r = this.role(ctx.params.str('RoleName'))
    const {page, isTruncated, marker} = paginateMarker(Object.entries(r.tags), ctx.params, `ListRoleTags/${r.roleName}`)
    return {Tags: memberList(page, ([Key, Value]) => ({Key, Value})), IsTruncated: isTruncated, Marker: marker}
  }

  private putRolePolicy(ctx: RequestContext): XmlObject {
    const p = ctx.params
    const r = this.role(p.str('RoleName'))
    const name = checkName(p.str('PolicyName'), 'policyName', 128)
    const doc = p.str('PolicyDocument')
    if (doc === undefined) throw validation('null', 'policyDocument', 'Member must not be null')
    checkPolicyDocument(doc, 'identity')
    let total = policySize(doc)
    for (const [n, d] of r.inlinePolicies) if (n !== name) total += policySize(d)
    if (total > 10240) throw new AwsApiError('LimitExceeded', `Maximum policy size of 10240 bytes exceeded for role ${r.roleName}`, 409)
    r.inlinePolicies.set(name, doc)
    this.host.log(`PutRolePolicy ${r.roleName}/${name}`)
    return {}
  }

  private getRolePolicy(ctx: RequestContext): XmlObject {
    const p = ctx.params
    const r = this.role(p.str('RoleName'))
    const name = checkName(p.str('PolicyName'), 'policyName', 128)
    const doc = r.inlinePolicies.get(name)
    if (doc === undefined) throw new AwsApiError('NoSuchEntity', `The role policy with name ${name} cannot be found.`, 404)
    return {RoleName: r.roleName, PolicyName: name, PolicyDocument: encodeURIComponent(doc)}
  }

  private deleteRolePolicy(ctx: RequestContext): XmlObject {
    const p = ctx.params
    const r = this.role(p.str('RoleName'))
    const name = checkName(p.str('PolicyName'), 'policyName', 128)
    if (!r.inlinePolicies.delete(name)) throw new AwsApiError('NoSuchEntity', `The role policy with name ${name} cannot be found.`, 404)
    return {}
  }

  private listRolePolicies(ctx: RequestContext): XmlObject {
    const r = this.role(ctx.params.str('RoleName'))
    const names = [...r.inlinePolicies.keys()].sort()
    const {page, isTruncated, marker} = paginateMarker(names, ctx.params, `ListRolePolicies/${r.roleName}`)
    return {PolicyNames: memberList(page, (n) => n), IsTruncated: isTruncated, Marker: marker}
  }

  private attachRolePolicy(ctx: RequestContext, attach: boolean): XmlObject {
    const r = this.role(ctx.params.str('RoleName'))
    const arn = ctx.params.str('PolicyArn')
    if (!arn) throw validation('null', 'policyArn', 'Member must not be null')
    if (!/^arn:aws:iam::(aws|[0-9]{12}):policy\/.+/.test(arn)) throw new AwsApiError('InvalidInput', `ARN ${arn} is not valid.`, 400)
    if (attach) {
      if (!arn.startsWith('arn:aws:iam::aws:policy/')) throw new AwsApiError('NoSuchEntity', `Policy ${arn} does not exist or is not attachable.`, 404)
      if (!r.attachedPolicies.has(arn) && r.attachedPolicies.size >= 10) throw new AwsApiError('LimitExceeded', 'Cannot exceed quota for PoliciesPerRole: 10', 409)
      r.attachedPolicies.add(arn)
    } else if (!r.attachedPolicies.delete(arn)) {
      throw new AwsApiError('NoSuchEntity', `Policy ${arn} was not found.`, 404)
    }
    return {}
  }

  private listAttachedRolePolicies(ctx: RequestContext): XmlObject {
    const r = this.role(ctx.params.str('RoleName'))
    const arns = [...r.attachedPolicies].sort()
    const {page, isTruncated, marker} = paginateMarker(arns, ctx.params, `ListAttachedRolePolicies/${r.roleName}`)
    return {
      AttachedPolicies: memberList(page, (arn) => ({PolicyName: arn.split('/').pop() ?? arn, PolicyArn: arn})),
      IsTruncated: isTruncated,
      Marker: marker,
    }
  }

  private createInstanceProfile(ctx: RequestContext): XmlObject {
    const p = ctx.params
    const name = checkName(p.str('InstanceProfileName'), 'instanceProfileName', 128)
    const path = checkPath(p.str('Path'))
    const tags = readIamTags(p)
    if (this.findProfile(name)) throw new AwsApiError('EntityAlreadyExists', `Instance Profile ${name} already exists.`, 409)
    const now = this.host.clock.now()
    const profile: FakeInstanceProfile = {
      instanceProfileName: name,
      instanceProfileId: iamId('AIPA'),
      arn: `arn:aws:iam::${FAKE_ACCOUNT_ID}:instance-profile${path}${name}`,
      path,
      createDate: now,
      roles: [],
      tags,
      changedAt: now,
    }
    this.state.instanceProfiles.set(name, profile)
    this.host.log(`CreateInstanceProfile ${name}`)
    return {InstanceProfile: this.profileXml(profile)}
  }

  private deleteInstanceProfile(ctx: RequestContext): XmlObject {
    const profile = this.profile(ctx.params.str('InstanceProfileName'))
    if (profile.roles.length > 0) throw new AwsApiError('DeleteConflict', 'Cannot delete entity, must remove roles from instance profile first.', 409)
    this.state.instanceProfiles.delete(profile.instanceProfileName)
    return {}
  }

  private addRoleToInstanceProfile(ctx: RequestContext): XmlObject {
    const profile = this.profile(ctx.params.str('InstanceProfileName'))
    const role = this.role(ctx.params.str('RoleName'))
    if (profile.roles.length >= 1) throw new AwsApiError('LimitExceeded', 'Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1', 409)
    profile.roles.push(role.roleName)
    profile.changedAt = this.host.clock.now()
    return {}
  }

  private removeRoleFromInstanceProfile(ctx: RequestContext): XmlObject {
    const profile = this.profile(ctx.params.str('InstanceProfileName'))
    const role = this.role(ctx.params.str('RoleName'))
    const i = profile.roles.indexOf(role.roleName)
    if (i < 0) throw noSuchRole(role.roleName)
    profile.roles.splice(i, 1)
    profile.changedAt = this.host.clock.now()
    return {}
  }

  private listInstanceProfiles(ctx: RequestContext): XmlObject {
    const prefix = ctx.params.str('PathPrefix') ?? '/'
    const profiles = [...this.state.instanceProfiles.values()].filter((p) => p.path.startsWith(prefix)).sort((a, b) => a.instanceProfileName.localeCompare(b.instanceProfileName))
    const {page, isTruncated, marker} = paginateMarker(profiles, ctx.params, 'ListInstanceProfiles')
    return {InstanceProfiles: memberList(page, (p) => this.profileXml(p, true)), IsTruncated: isTruncated, Marker: marker}
  }

  private listInstanceProfilesForRole(ctx: RequestContext): XmlObject {
    const role = this.role(ctx.params.str('RoleName'))
    const profiles = [...this.state.instanceProfiles.values()].filter((p) => p.roles.includes(role.roleName))
    const {page, isTruncated, marker} = paginateMarker(profiles, ctx.params, `ListInstanceProfilesForRole/${role.roleName}`)
    return {InstanceProfiles: memberList(page, (p) => this.profileXml(p, true)), IsTruncated: isTruncated, Marker: marker}
  }
}

