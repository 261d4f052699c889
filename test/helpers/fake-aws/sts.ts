/**
 * The fake STS API (Query protocol, version 2011-06-15): GetCallerIdentity, AssumeRole,
 * GetFederationToken and GetSessionToken, enforcing the real duration limits (role maximum,
 * the 1 h role-chaining cap, 900–129 600 s for federation tokens) and recording every minted
 * session with its policy so tests can assert how anycloud scoped it.
 */
import {randomBytes} from 'node:crypto'
import type {FakeClock} from './clock.js'
import type {ActionHandler, RequestContext} from './context.js'
import {AwsApiError} from './errors.js'
import {checkPolicyDocument} from './iam.js'
import {FAKE_ACCOUNT_ID, iamId, type FakeAwsState, type FakeCredential, type FakeRole, type IssuedSession} from './model.js'
import {isoSeconds, type XmlObject} from './xml.js'

/** What the STS service needs from the fake. */
export interface StsHost {
  readonly state: FakeAwsState
  readonly clock: FakeClock
  /** Whether AssumeRole checks the role's trust policy against the caller. */
  readonly enforceTrustPolicies: boolean
  findRole(name: string): FakeRole | undefined
  /** Called for every credential STS mints. */
  credentialsIssued(credential: FakeCredential, session: IssuedSession): void
  log(message: string): void
}

function validation(value: string, field: string, constraint: string): AwsApiError {
  return new AwsApiError('ValidationError', `1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: ${constraint}`, 400)
}

function secret(length: number): string {
  return randomBytes(length).toString('base64').replace(/[^A-Za-z0-9]/g, 'x').slice(0, length)
}

/** An `ASIA…` access key id. */
function tempAccessKeyId(): string {
  return iamId('ASIA').slice(0, 20)
}

/** A session token that looks like one (long, base64). */
function sessionToken(): string {
  return `FwoGZXIvYXdzE${randomBytes(240).toString('base64')}`
}

/** The STS actions. */
export class StsService {
  private readonly host: StsHost
  /** The action handlers by name. */
  readonly handlers: Record<string, ActionHandler>

  constructor(host: StsHost) {
    this.host = host
    this.handlers = {
      GetCallerIdentity: (ctx) => ({UserId: ctx.credential.userId, Account: ctx.credential.account, Arn: ctx.credential.arn}),
      AssumeRole: (ctx) => this.assumeRole(ctx),
      GetFederationToken: (ctx) => this.getFederationToken(ctx),
      GetSessionToken: (ctx) => this.getSessionToken(ctx),
    }
  }

  private duration(ctx: RequestContext, def: number, min: number, max: number): number {
    const raw = ctx.params.str('DurationSeconds')
    if (raw === undefined) return def
    const n = ctx.params.int('DurationSeconds')
    if (n === undefined || !Number.isInteger(n)) throw validation(raw, 'durationSeconds', 'Member must be an integer')
    if (n < min) throw validation(raw, 'durationSeconds', `Member must have value greater than or equal to ${min}`)
    if (n > max) throw validation(raw, 'durationSeconds', `Member must have value less than or equal to ${max}`)
    return n
  }

  private sessionPolicy(ctx: RequestContext): {policy?: string; policyJson?: unknown; policyArns: string[]; packed?: number} {
    const policy = ctx.params.str('Policy')
    const policyArns = ctx.params.structList('PolicyArns.member').map((m) => m.str('arn') ?? '')
    if (policyArns.length > 10) throw validation(String(policyArns.length), 'policyArns', 'Member must have length less than or equal to 10')
    for (const arn of policyArns) if (!/^arn:aws:iam::(aws|[0-9]{12}):policy\/.+/.test(arn)) throw new AwsApiError('InvalidParameterValue', `Invalid PolicyArn: ${arn}`, 400)
    if (policy === undefined) return {policyArns}
    if (policy.length > 2048) throw validation('…', 'policy', 'Member must have length less than or equal to 2048')
    let policyJson: unknown
    try {
      policyJson = JSON.parse(policy)
    } catch {
      throw new AwsApiError('MalformedPolicyDocument', 'The policy is not in the valid JSON format.', 400)
    }
    try {
      checkPolicyDocument(policy, 'identity')
    } catch (err) {
      if (err instanceof AwsApiError) throw new AwsApiError('MalformedPolicyDocument', err.message, 400)
      throw err
    }
    const packed = Math.max(1, Math.round((policy.replace(/\s+/g, '').length / 2048) * 100))
    if (packed > 100) throw new AwsApiError('PackedPolicyTooLarge', `Packed size of the policy exceeds 100% of the allowed value.`, 400)
    return {policy, policyJson, policyArns, packed}
  }

  private mint(
    sourceAccessKeyId: string,
    action: IssuedSession['action'],
    durationSeconds: number,
    identity: Pick<FakeCredential, 'kind' | 'arn' | 'userId'> & Partial<FakeCredential>,
    name: string,
    policy: {policy?: string; policyJson?: unknown; policyArns: string[]},
    chained: boolean,
  ): FakeCredential {
    const now = this.host.clock.now()
    const expiration = new Date(Math.floor(now.getTime() / 1000) * 1000 + durationSeconds * 1000)
    const cred: FakeCredential = {
      ...identity,
      accessKeyId: tempAccessKeyId(),
      secretAccessKey: secret(40),
      sessionToken: sessionToken(),
      account: FAKE_ACCOUNT_ID,
      issuedAt: now,
      expiration,
      ...(policy.policy !== undefined ? {sessionPolicy: policy.policy} : {}),
      ...(policy.policyArns.length > 0 ? {policyArns: policy.policyArns} : {}),
      sourceAccessKeyId,
      chained,
    }
    this.host.state.credentials.set(cred.accessKeyId, cred)
    const session: IssuedSession = {
      action,
      accessKeyId: cred.accessKeyId,
      sourceAccessKeyId,
      ...(identity.roleArn !== undefined ? {roleArn: identity.roleArn} : {}),
      name,
      durationSeconds,
      expiration,
      ...(policy.policy !== undefined ? {policy: policy.policy, policyJson: policy.policyJson} : {}),
      policyArns: policy.policyArns,
      chained,
    }
    this.host.state.sessions.push(session)
    this.host.credentialsIssued(cred, session)
    this.host.log(`${action} ${name}: ${cred.accessKeyId} until ${expiration.toISOString()}`)
    return cred
  }

  /**
   * The credentials a VM gets from its metadata service for its instance-profile role (a real VM
   * would fetch them from IMDS; the fake hands them to the instance backend instead).
   */
  instanceProfileCredentials(role: FakeRole, instanceId: string, durationSeconds = 6 * 3600): FakeCredential {
    return this.mint(
      'ec2.amazonaws.com',
      'InstanceProfile',
      durationSeconds,
      {
        kind: 'assumed-role',
        arn: `arn:aws:sts::${FAKE_ACCOUNT_ID}:assumed-role/${role.roleName}/${instanceId}`,
        userId: `${role.roleId}:${instanceId}`,
        roleName: role.roleName,
        roleArn: role.arn,
        sessionName: instanceId,
      },
      instanceId,
      {policyArns: []},
      false,
    )
  }

  private credentialsXml(c: FakeCredential): XmlObject {
    return {
      AccessKeyId: c.accessKeyId,
      SecretAccessKey: c.secretAccessKey,
      SessionToken: c.sessionToken,
      Expiration: isoSeconds(c.expiration as Date),
    }
  }

  private assumeRole(ctx: RequestContext): XmlObject {
    const p = ctx.params
    const roleArn = p.str('RoleArn')
    if (!roleArn) throw validation('null', 'roleArn', 'Member must not be null')
    if (roleArn.length < 20) throw validation(roleArn, 'roleArn', 'Member must have length greater than or equal to 20')
    const sessionName = p.str('RoleSessionName')
    if (sessionName === undefined) throw validation('null', 'roleSessionName', 'Member must not be null')
    if (sessionName.length < 2 || sessionName.length > 64) throw validation(sessionName, 'roleSessionName', 'Member must have length less than or equal to 64')
    if (!/^[\w+=,.@-]*$/.test(sessionName)) throw validation(sessionName, 'roleSessionName', 'Member must satisfy regular expression pattern: [\\w+=,.@-]*')
    const caller = ctx.credential
    const denied = new AwsApiError('AccessDenied', `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`, 403)
    const m = /^arn:aws:iam::([0-9]{12}):role\/(?:.*\/)?([\w+=,.@-]+)$/.exec(roleArn)
    if (!m) throw new AwsApiError('ValidationError', `${roleArn} is invalid`, 400)
    const role = m[1] === FAKE_ACCOUNT_ID ? this.host.findRole(m[2] as string) : undefined
    if (!role || role.arn !== roleArn) throw denied
    if (this.host.enforceTrustPolicies && !trusts(role, caller)) throw denied
    const chained = caller.kind === 'assumed-role'
    const duration = this.duration(ctx, 3600, 900, 43200)
    if (chained && duration > 3600) {
      throw new AwsApiError('ValidationError', 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.', 400)
    }
    if (duration > role.maxSessionDuration) {
      throw new AwsApiError('ValidationError', `The requested DurationSeconds exceeds the MaxSessionDuration set for this role.`, 400)
    }
    const policy = this.sessionPolicy(ctx)
    const cred = this.mint(
      ctx.credential.accessKeyId,
      'AssumeRole',
      duration,
      {
        kind: 'assumed-role',
        arn: `arn:aws:sts::${FAKE_ACCOUNT_ID}:assumed-role/${role.roleName}/${sessionName}`,
        userId: `${role.roleId}:${sessionName}`,
        roleName: role.roleName,
        roleArn: role.arn,
        sessionName,
      },
      sessionName,
      policy,
      chained,
    )
    return {
      Credentials: this.credentialsXml(cred),
      AssumedRoleUser: {AssumedRoleId: cred.userId, Arn: cred.arn},
      PackedPolicySize: policy.packed,
      SourceIdentity: p.str('SourceIdentity'),
    }
  }

  private getFederationToken(ctx: RequestContext): XmlObject {
    const p = ctx.params
    if (ctx.credential.kind !== 'user') throw new AwsApiError('AccessDenied', 'Cannot call GetFederationToken with session credentials', 403)
    const name = p.str('Name')
    if (name === undefined) throw validation('null', 'name', 'Member must not be null')
    if (name.length < 2 || name.length > 32) throw validation(name, 'name', name.length < 2 ? 'Member must have length greater than or equal to 2' : 'Member must have length less than or equal to 32')
    if (!/^[\w+=,.@-]*$/.test(name)) throw validation(name, 'name', 'Member must satisfy regular expression pattern: [\\w+=,.@-]*')
    const duration = this.duration(ctx, 43200, 900, 129600)
    const policy = this.sessionPolicy(ctx)
    const cred = this.mint(
      ctx.credential.accessKeyId,
      'GetFederationToken',
      duration,
      {kind: 'federated-user', arn: `arn:aws:sts::${FAKE_ACCOUNT_ID}:federated-user/${name}`, userId: `${FAKE_ACCOUNT_ID}:${name}`},
      name,
      policy,
      false,
    )
    return {
      Credentials: this.credentialsXml(cred),
      FederatedUser: {FederatedUserId: cred.userId, Arn: cred.arn},
      PackedPolicySize: policy.packed,
    }
  }

  private getSessionToken(ctx: RequestContext): XmlObject {
    if (ctx.credential.kind !== 'user') throw new AwsApiError('AccessDenied', 'Cannot call GetSessionToken with session credentials', 403)
    const duration = this.duration(ctx, 43200, 900, 129600)
    const caller = ctx.credential
    const cred = this.mint(ctx.credential.accessKeyId, 'GetSessionToken', duration, {kind: 'session', arn: caller.arn, userId: caller.userId}, caller.arn.split('/').pop() ?? 'session', {policyArns: []}, false)
    return {Credentials: this.credentialsXml(cred)}
  }
}

/** Whether a role's trust policy lets `caller` call sts:AssumeRole (Allow statements only). */
function trusts(role: FakeRole, caller: FakeCredential): boolean {
  let doc: {Statement?: unknown}
  try {
    doc = JSON.parse(role.assumeRolePolicyDocument) as {Statement?: unknown}
  } catch {
    return false
  }
  const statements = (Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement]) as Record<string, unknown>[]
  const callerIds = new Set([caller.arn, caller.account, `arn:aws:iam::${caller.account}:root`])
  if (caller.roleArn) callerIds.add(caller.roleArn)
  return statements.some((s) => {
    if (!s || s.Effect !== 'Allow') return false
    const actions = ([] as unknown[]).concat(s.Action ?? [])
    if (!actions.some((a) => a === 'sts:AssumeRole' || a === 'sts:*' || a === '*')) return false
    const principal = s.Principal
    if (principal === '*') return true
    if (!principal || typeof principal !== 'object') return false
    const aws = ([] as unknown[]).concat((principal as Record<string, unknown>).AWS ?? [])
    return aws.some((a) => a === '*' || (typeof a === 'string' && callerIds.has(a)))
  })
}
