/**
 * How AWS SDK v3 errors become the typed errors the engine acts on (provider.ts):
 *
 * - AuthError: the credential does not authenticate (expired, revoked, unknown key, bad
 *   signature, no credential found by the chain). The engine rotates to the next listed credential.
 * - CapacityError: no capacity or quota for this machine in this zone (EC2 launch errors). The
 *   engine moves to the next zone.
 * - ThrottledError: the SDK's retry budget ran out on throttling.
 * - NotFoundError: the thing does not exist (deletes treat it as success).
 * - Anything else: a ProviderError naming the AWS code and the operation, never the request
 *   (requests can carry user data and keys).
 *
 * Service codes differ per protocol: EC2 puts the wire code in `name`, IAM/STS put the modelled
 * exception name in `name` and the wire code in `Code`, S3 HEAD requests have only a status.
 */
import {AnycloudError, AuthError, CapacityError, NotFoundError, ProviderError, ThrottledError} from '../../errors/index.js'

export const PROVIDER = 'aws'

/** The fields of an SDK v3 service exception we look at. */
export interface AwsSdkError extends Error {
  Code?: string
  code?: string
  $fault?: 'client' | 'server'
  $metadata?: {httpStatusCode?: number; attempts?: number; totalRetryDelay?: number; requestId?: string}
}

/** The AWS error code of an SDK error: the wire code when present, else the exception name without `Exception`. */
export function awsCode(error: unknown): string {
  if (!error || typeof error !== 'object') return ''
  const e = error as AwsSdkError
  const code = e.Code ?? (typeof e.code === 'string' ? e.code : undefined) ?? e.name ?? ''
  return code
}

export function httpStatus(error: unknown): number | undefined {
  return (error as AwsSdkError | undefined)?.$metadata?.httpStatusCode
}

/** Codes meaning the credential itself is bad (not a missing permission). */
const AUTH_CODES = new Set([
  'ExpiredToken',
  'ExpiredTokenException',
  'RequestExpired',
  'InvalidClientTokenId',
  'InvalidClientTokenIdException',
  'UnrecognizedClientException',
  'AuthFailure',
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'InvalidToken',
  'TokenRefreshRequired',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'CredentialsProviderError',
])

const THROTTLE_CODES = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'SlowDown',
  'PriorRequestNotComplete',
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
])

/**
 * EC2 launch errors that mean "not here, not now": another zone (or later) may work. Quota errors
 * are regional, but trying the other zones costs little and the last error names the quota.
 */
export const CAPACITY_CODES = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientHostCapacity',
  'InsufficientReservedInstanceCapacity',
  'InsufficientCapacity',
  'InsufficientFreeAddressesInSubnet',
  'SpotMaxPriceTooLow',
  'MaxSpotInstanceCountExceeded',
  'MaxSpotFleetRequestCountExceeded',
  'VcpuLimitExceeded',
  'InstanceLimitExceeded',
  'Unsupported',
])

export function isAuthError(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false
  const code = awsCode(error)
  if (AUTH_CODES.has(code)) return true
  // S3 answers HEAD with a bare 403 on a bad key as well as on a missing permission: not auth.
  return false
}

export function isThrottle(error: unknown): boolean {
  return THROTTLE_CODES.has(awsCode(error))
}

export function isCapacity(error: unknown): boolean {
  return CAPACITY_CODES.has(awsCode(error))
}

/** One line about an SDK error: `Code: message (HTTP n, k attempts)`. Never includes request data. */
export function describeAwsError(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const e = error as AwsSdkError
  const code = awsCode(e)
  const status = e.$metadata?.httpStatusCode
  const attempts = e.$metadata?.attempts
  const extra = [status ? `HTTP ${status}` : '', attempts && attempts > 1 ? `${attempts} attempts` : ''].filter(Boolean).join(', ')
  const message = e.message && e.message !== code ? e.message : ''
  return `${code || e.name}${message ? `: ${message}` : ''}${extra ? ` (${extra})` : ''}`
}

/**
 * Maps an SDK error to the engine's typed errors. `what` names the operation (`RunInstances in
 * us-east-1`), `credential` the anycloud credential. Already-typed errors pass through.
 */
export function toProviderError(error: unknown, what: string, credential: string, options: {notFound?: (code: string, status?: number) => boolean} = {}): Error {
  // Typed already (a ProviderError, a call that ran out of time: DeadlineError).
  if (error instanceof AnycloudError) return error
  const code = awsCode(error)
  const status = httpStatus(error)
  const detail = describeAwsError(error)
  if (isAuthError(error)) {
    return new AuthError(`aws credential '${credential}': ${what} was refused: ${detail}`, PROVIDER, credential, error)
  }
  if (isThrottle(error)) {
    return new ThrottledError(`aws credential '${credential}': ${what} is still throttled after the retry budget: ${detail}`, PROVIDER, error)
  }
  if (isCapacity(error)) {
    return new CapacityError(`${what}: ${detail}`, PROVIDER, undefined, error)
  }
  if (options.notFound?.(code, status)) {
    return new NotFoundError(`${what}: ${detail}`, PROVIDER, error)
  }
  if (code === 'AccessDenied' || code === 'AccessDeniedException' || code === 'UnauthorizedOperation' || code === 'Forbidden') {
    return new ProviderError(`aws credential '${credential}' is not allowed to do ${what}: ${detail}`, 'aws.access-denied', PROVIDER, credential, error, [
      'Grant the permission to the credential\'s IAM user or role, or use another credential.',
    ])
  }
  return new ProviderError(`${what} failed: ${detail}`, `aws.${code || 'error'}`, PROVIDER, credential, error)
}

/** Runs an SDK call and maps its error (see {@link toProviderError}). */
export async function awsCall<T>(what: string, credential: string, fn: () => Promise<T>, options: {notFound?: (code: string, status?: number) => boolean} = {}): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    throw toProviderError(error, what, credential, options)
  }
}

/** EC2 "does not exist" codes (`InvalidInstanceID.NotFound`, `InvalidGroup.NotFound`, …). */
export function isEc2NotFound(code: string): boolean {
  return /\.NotFound$/.test(code) || code === 'InvalidGroupId.Malformed'
}

/** IAM "does not exist". */
export function isIamNotFound(code: string): boolean {
  return code === 'NoSuchEntity' || code === 'NoSuchEntityException'
}

/** A listing the credential may not make (AccessDenied): undefined, so the caller reads each name on its own. */
export function listingDenied(error: unknown): undefined {
  if (error instanceof ProviderError && error.code === 'aws.access-denied') return undefined
  throw error
}
