/**
 * The storage side of bucket sync for an `aws` credential: how rclone on a machine reaches one
 * S3 bucket (SPEC §5, reference "Bucket Sync", Credentials).
 *
 * 1. `endpoints.s3` is set (an S3-compatible store or an emulator): there is no STS and no
 *    instance role that store would honour, so rclone gets the credential's own keys, and the
 *    plan carries a warning naming the credential.
 * 2. The machine carries this account's instance identity (an EC2 instance with the deployment's
 *    instance profile): `env_auth`, rclone takes the role's credentials from the instance metadata
 *    service; no secret is written.
 * 3. Otherwise (an ssh host, or compute on another cloud): scoped, short-lived STS credentials for
 *    that one bucket. The session policy names exactly that bucket (ListBucket on it) and the
 *    object actions its role needs (input: GetObject; output and checkpoint: GetObject, PutObject,
 *    DeleteObject), so the credentials can reach nothing else, whatever the caller may do.
 *    - An IAM user's long-term keys: GetFederationToken, up to 36 h (129 600 s, the API's maximum;
 *      the reference's promise). Never refreshed mid-run: a job running longer loses sync.
 *    - The account's root keys: GetFederationToken too, but AWS caps root at 1 h.
 *    - A role session (assumed-role ARN, e.g. SSO or a profile with role_arn): GetFederationToken
 *      is refused for session credentials, so AssumeRole of the same role with the session policy.
 *      That is role chaining, which AWS caps at 1 h: a longer request is refused here, before
 *      calling AWS, with a message naming the limit.
 *    - Federated-user sessions cannot mint anything: refused with what to use instead.
 */
import {ProviderError} from '../../errors/index.js'
import type {BucketRole} from '../../model/resources.js'
import type {RcloneRemoteSpec} from '../../bootstrap/types.js'
import {hashOf, sha256} from '../../util/hash.js'
import {registerSecret} from '../../util/redact.js'
import type {RcloneRequest} from '../provider.js'
import type {AwsClients} from './clients.js'
import {awsCall, PROVIDER} from './errors.js'
import {iamSdk, stsSdk} from '../../util/aws-sdk.js'

/** GetFederationToken's maximum, and what the reference promises for cross-cloud storage. */
export const FEDERATION_MAX_SECONDS = 129_600
/** Root credentials and role chaining: one hour. */
export const CHAINED_MAX_SECONDS = 3_600
/** STS minimum. */
export const STS_MIN_SECONDS = 900

const READ_ACTIONS = ['s3:GetObject']
const WRITE_ACTIONS = ['s3:GetObject', 's3:PutObject', 's3:DeleteObject']

/** The ARN partition of a region (`aws`, `aws-cn`, `aws-us-gov`). */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn'
  if (region.startsWith('us-gov-')) return 'aws-us-gov'
  return 'aws'
}

/** The object actions a bucket of that role needs. */
export function objectActions(role: BucketRole): string[] {
  return role === 'input' ? [...READ_ACTIONS] : [...WRITE_ACTIONS]
}

/**
 * The session policy of scoped credentials for one bucket: ListBucket on the bucket, the role's
 * object actions on its objects. No wildcard action, no resource outside the bucket.
 */
export function bucketSessionPolicy(bucket: string, role: BucketRole, partition = 'aws'): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {Sid: 'ListTheBucket', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: `arn:${partition}:s3:::${bucket}`},
      {Sid: role === 'input' ? 'ReadObjects' : 'ReadWriteObjects', Effect: 'Allow', Action: objectActions(role), Resource: `arn:${partition}:s3:::${bucket}/*`},
    ],
  })
}

/** What kind of principal a GetCallerIdentity ARN is. */
export type CallerKind = 'user' | 'root' | 'assumed-role' | 'federated-user' | 'other'

export function callerKind(arn: string): CallerKind {
  if (/^arn:[\w-]+:iam::\d{12}:root$/.test(arn)) return 'root'
  if (/^arn:[\w-]+:iam::\d{12}:user\//.test(arn)) return 'user'
  if (/^arn:[\w-]+:sts::\d{12}:assumed-role\//.test(arn)) return 'assumed-role'
  if (/^arn:[\w-]+:sts::\d{12}:federated-user\//.test(arn)) return 'federated-user'
  return 'other'
}

/** How long scoped credentials for this caller may live, and why. */
export function stsLimit(kind: CallerKind): {maxSeconds: number; why: string} {
  switch (kind) {
    case 'user':
      return {maxSeconds: FEDERATION_MAX_SECONDS, why: 'GetFederationToken with an IAM user\'s keys allows up to 36 h'}
    case 'root':
      return {maxSeconds: CHAINED_MAX_SECONDS, why: 'GetFederationToken with root credentials is limited to 1 h'}
    case 'assumed-role':
      return {maxSeconds: CHAINED_MAX_SECONDS, why: 'the credential is itself a role session, so AssumeRole is role chaining, which AWS limits to 1 h'}
    default:
      return {maxSeconds: 0, why: 'federated-user and other session credentials cannot mint credentials'}
  }
}

/** The session name for STS (`[\w+=,.@-]`, at most `max` characters), readable and unique per deployment and bucket. */
function sessionName(deploymentId: string, bucket: string, max: number): string {
  const hash = sha256(`${deploymentId}\u0000${bucket}`).slice(0, 8)
  const base = `ac-${deploymentId}`.replace(/[^\w+=,.@-]/g, '-').slice(0, max - 9)
  return `${base}-${hash}`
}

/** Options of the rclone side of one credential. */
export interface RcloneContext {
  clients: AwsClients
  credential: string
  /** Known bucket regions (reads, creates and `prepare` fill it). */
  regions: Map<string, string>
  /** The caller's ARN (GetCallerIdentity, memoised by the provider). */
  callerArn(): Promise<string>
}

/** The public part of the remote (pure). See the module comment for the three cases. */
export function rcloneRemote(ctx: RcloneContext, request: RcloneRequest): RcloneRemoteSpec {
  const spec = ctx.clients.spec
  const region = ctx.regions.get(request.bucket) ?? ctx.clients.defaultRegion()
  const endpoint = spec.endpoints?.s3
  // An S3-compatible store with its own STS (both endpoints overridden) mints scoped credentials
  // like AWS does for a machine that has no identity there.
  if (endpoint && spec.endpoints?.sts && !request.instanceIdentity) {
    return {
      type: 's3',
      options: {provider: 'Other', endpoint, force_path_style: 'true', region, env_auth: 'false'},
      path: request.bucket,
      secretOptions: ['access_key_id', 'secret_access_key', 'session_token'],
      secretsFingerprint: '',
    }
  }
  if (endpoint) {
    const secretOptions = ['access_key_id', 'secret_access_key', ...(spec.sessionToken ? ['session_token'] : [])]
    return {
      type: 's3',
      options: {provider: 'Other', endpoint, force_path_style: 'true', region, env_auth: 'false'},
      path: request.bucket,
      secretOptions,
      // Static keys: a changed key changes the plan. Kept in memory only: the bootstrap shows and
      // hashes it through the lineage-salted sensitiveMarker, never as is.
      secretsFingerprint: ctx.clients.hasStaticKeys ? hashOf([spec.accessKeyId, spec.secretAccessKey, spec.sessionToken ?? ''], 64) : '',
      warning: `aws credential '${ctx.credential}' has an S3 endpoint override (${endpoint}), which has no STS: its own keys are written to the machine's rclone env file (mode 0600) for bucket '${request.bucket}'`,
    }
  }
  if (request.instanceIdentity) {
    return {type: 's3', options: {provider: 'AWS', env_auth: 'true', region}, path: request.bucket, secretOptions: [], secretsFingerprint: ''}
  }
  return {
    type: 's3',
    options: {provider: 'AWS', env_auth: 'false', region},
    path: request.bucket,
    secretOptions: ['access_key_id', 'secret_access_key', 'session_token'],
    // Minted per apply: a new token must not show as a change in every plan.
    secretsFingerprint: '',
  }
}

/** The secret options of {@link rcloneRemote}: the own keys, nothing, or freshly minted STS credentials. */
export async function rcloneSecrets(ctx: RcloneContext, request: RcloneRequest): Promise<Record<string, string>> {
  return (await rcloneSecretsWithExpiry(ctx, request)).values
}

/** {@link rcloneSecrets} and, for minted credentials, when they expire and how long they were minted for. */
export async function rcloneSecretsWithExpiry(ctx: RcloneContext, request: RcloneRequest): Promise<{values: Record<string, string>; expiresAt?: string; durationSeconds?: number}> {
  const spec = ctx.clients.spec
  // Minted: a machine without an identity here, on AWS or on a store with its own STS.
  const mints = !request.instanceIdentity && (!spec.endpoints?.s3 || Boolean(spec.endpoints?.sts))
  if (!mints) return {values: await ownOrNone(ctx, request)}
  const minted = await mintScopedCredentials(ctx, request)
  return {
    values: {access_key_id: minted.accessKeyId, secret_access_key: minted.secretAccessKey, session_token: minted.sessionToken},
    ...(minted.expiration ? {expiresAt: new Date(minted.expiration).toISOString()} : {}),
    durationSeconds: minted.durationSeconds,
  }
}

async function ownOrNone(ctx: RcloneContext, request: RcloneRequest): Promise<Record<string, string>> {
  const spec = ctx.clients.spec
  if (spec.endpoints?.s3) {
    const id = await awsCall('resolving the credentials', ctx.credential, () => ctx.clients.identity())
    return {access_key_id: id.accessKeyId, secret_access_key: id.secretAccessKey, ...(id.sessionToken ? {session_token: id.sessionToken} : {})}
  }
  return {}
}

/** Scoped STS credentials and what they are. */
export interface ScopedCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken: string
  expiration?: Date
  /** `GetFederationToken` or `AssumeRole`. */
  via: 'GetFederationToken' | 'AssumeRole'
  durationSeconds: number
}

/**
 * Mints credentials for `request.bucket` alone (see the module comment for which STS call and
 * which lifetime). `expiresInSeconds` defaults to the caller kind's maximum; above it, it is
 * refused before any call, naming the limit.
 */
export async function mintScopedCredentials(ctx: RcloneContext, request: RcloneRequest): Promise<ScopedCredentials> {
  const arn = await ctx.callerArn()
  const kind = callerKind(arn)
  const limit = stsLimit(kind)
  if (limit.maxSeconds === 0) {
    throw new ProviderError(
      `aws credential '${ctx.credential}' (${arn}) cannot mint scoped credentials for bucket '${request.bucket}': ${limit.why}`,
      'aws.sts-unsupported',
      PROVIDER,
      ctx.credential,
      undefined,
      ['Use an IAM user\'s keys or a role session for the storage credential.'],
    )
  }
  const wanted = request.expiresInSeconds ?? limit.maxSeconds
  if (wanted > limit.maxSeconds) {
    throw new ProviderError(
      `scoped credentials for bucket '${request.bucket}' were asked for ${wanted} s, but ${limit.why} (${limit.maxSeconds} s): refused before calling AWS`,
      'aws.sts-duration',
      PROVIDER,
      ctx.credential,
      undefined,
      kind === 'assumed-role'
        ? ['Give the storage credential an IAM user\'s keys (up to 36 h), or accept 1 h credentials for jobs shorter than that.']
        : ['Ask for at most the limit.'],
    )
  }
  const duration = Math.max(STS_MIN_SECONDS, wanted)
  const region = ctx.regions.get(request.bucket) ?? ctx.clients.defaultRegion()
  const policy = bucketSessionPolicy(request.bucket, request.role, partitionOf(region))
  const sts = await ctx.clients.sts()
  let out: ScopedCredentials
  if (kind === 'assumed-role') {
    const {AssumeRoleCommand} = await stsSdk()
    const roleArn = await roleArnOfSession(ctx, arn)
    const r = await awsCall(`AssumeRole ${roleArn} (scoped to bucket ${request.bucket})`, ctx.credential, () =>
      sts.send(new AssumeRoleCommand({RoleArn: roleArn, RoleSessionName: sessionName(request.deploymentId, request.bucket, 64), Policy: policy, DurationSeconds: duration})),
    )
    out = fromCredentials(r.Credentials, 'AssumeRole', duration, ctx.credential)
  } else {
    const {GetFederationTokenCommand} = await stsSdk()
    const r = await awsCall(`GetFederationToken (scoped to bucket ${request.bucket})`, ctx.credential, () =>
      sts.send(new GetFederationTokenCommand({Name: sessionName(request.deploymentId, request.bucket, 32), Policy: policy, DurationSeconds: duration})),
    )
    out = fromCredentials(r.Credentials, 'GetFederationToken', duration, ctx.credential)
  }
  return out
}

function fromCredentials(
  c: {AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string; Expiration?: Date} | undefined,
  via: ScopedCredentials['via'],
  durationSeconds: number,
  credential: string,
): ScopedCredentials {
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) {
    throw new ProviderError(`${via} answered without credentials`, 'aws.sts-empty', PROVIDER, credential)
  }
  registerSecret(c.SecretAccessKey)
  registerSecret(c.SessionToken)
  return {accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, ...(c.Expiration ? {expiration: c.Expiration} : {}), via, durationSeconds}
}

/**
 * The role ARN behind an assumed-role session ARN. The session ARN drops the role's path, so
 * IAM is asked (GetRole) when allowed; otherwise the path-less ARN is used.
 */
async function roleArnOfSession(ctx: RcloneContext, sessionArn: string): Promise<string> {
  const m = /^arn:([\w-]+):sts::(\d{12}):assumed-role\/([^/]+)\//.exec(sessionArn)
  if (!m) throw new ProviderError(`not an assumed-role ARN: ${sessionArn}`, 'aws.sts-unsupported', PROVIDER, ctx.credential)
  const [, partition, account, roleName] = m
  try {
    const {GetRoleCommand} = await iamSdk()
    const iam = await ctx.clients.iam()
    const role = await iam.send(new GetRoleCommand({RoleName: roleName}))
    if (role.Role?.Arn) return role.Role.Arn
  } catch {
    // no iam:GetRole: fall back to the path-less ARN
  }
  return `arn:${partition}:iam::${account}:role/${roleName}`
}
