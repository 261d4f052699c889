/**
 * GCS errors → anycloud's typed provider errors (provider.ts).
 *
 * `@google-cloud/storage` 7 raises an `ApiError` with `code` = the HTTP status (a number) and
 * `errors[0].reason` (`notFound`, `conflict`, `forbidden`, `required`, `invalid`…), after its own
 * retries of 408/429/5xx (notes/gcp-provider.md §1.4). Auth failures before any request (no
 * application default credentials, a bad key file, a refused token) come from google-auth-library
 * as plain Errors or GaxiosErrors; connection failures carry a Node errno `code` (a string).
 */
import {AuthError, NotFoundError, ProviderError, ThrottledError} from '../../errors/index.js'

export const GCP = 'gcp'

export interface GcpErrorInfo {
  status?: number
  reason?: string
  /** A Node errno code (`ECONNREFUSED`) for connection failures. */
  errno?: string
  message: string
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE'])

/** Messages of google-auth-library when there is no usable credential at all. */
const AUTH_MESSAGES = [
  /could not load the default credentials/i,
  /invalid_grant/i,
  /invalid_client/i,
  /unauthorized_client/i,
  /error:.*(DECODER|PEM|private key)/i,
  /no key or keyFile set/i,
  /The incoming JSON object does not contain a client_email field/i,
  /Unable to detect a Project Id/i,
]

export function gcpErrorInfo(error: unknown): GcpErrorInfo {
  if (!error || typeof error !== 'object') return {message: String(error)}
  const e = error as {code?: unknown; status?: unknown; errors?: Array<{reason?: unknown}>; message?: unknown; response?: {status?: unknown}}
  const status =
    typeof e.code === 'number' ? e.code : typeof e.status === 'number' ? e.status : typeof e.response?.status === 'number' ? e.response.status : undefined
  const reason = Array.isArray(e.errors) && typeof e.errors[0]?.reason === 'string' ? e.errors[0].reason : undefined
  const errno = typeof e.code === 'string' ? e.code : undefined
  const message = typeof e.message === 'string' && e.message ? e.message.split('\n')[0]!.trim() : String(error)
  return {status, reason, errno, message}
}

export function gcpStatus(error: unknown): number | undefined {
  return gcpErrorInfo(error).status
}

/**
 * The typed error for a failed call: 401/403 and credential-loading failures → AuthError, 404 →
 * NotFoundError, 429/503 (after the SDK's retries) → ThrottledError, connection failures →
 * `gcp.unreachable`, anything else → `gcp.storage`.
 */
export function toGcpError(error: unknown, what: string, credential: string, where?: string): Error {
  if (error instanceof ProviderError) return error
  const {status, reason, errno, message} = gcpErrorInfo(error)
  const detail = reason && !message.includes(reason) ? `${reason}: ${message}` : message
  if (status === 401 || status === 403 || (status === undefined && AUTH_MESSAGES.some((re) => re.test(message)))) {
    return new AuthError(`gcp credential '${credential}': ${what} was refused: ${detail}`, GCP, credential, error)
  }
  if (status === 404) return new NotFoundError(`gcp: ${what}: not found (${detail})`, GCP, error)
  if (status === 429 || status === 503 || reason === 'rateLimitExceeded') {
    return new ThrottledError(`gcp: ${what}: GCS asked to slow down (${detail}) and retries ran out`, GCP, error)
  }
  if (errno !== undefined && NETWORK_CODES.has(errno)) {
    // The failed connection may be the token server's rather than the endpoint's: keep the message.
    return new ProviderError(`gcp: ${what}: network error talking to ${where ?? 'Google Cloud'} or its token server (${message.includes(errno) ? message : `${errno}: ${message}`})`, 'gcp.unreachable', GCP, credential, error, [
      'Check the credential\'s `apiEndpoint` and the network.',
    ])
  }
  return new ProviderError(`gcp: ${what} failed: ${status ? `HTTP ${status} ` : ''}${detail}`, 'gcp.storage', GCP, credential, error)
}

// -------------------------------------------------------------------------------------------------
// Compute Engine and IAM (notes/gcp-provider.md §1.4, §5.2)

/** What a compute / IAM failure says, from any of the shapes the clients raise. */
export interface GceErrorInfo {
  status?: number
  /** `notFound`, `alreadyExists`, `quotaExceeded`, `rateLimitExceeded`…, or an IAM status (`ALREADY_EXISTS`). */
  reason?: string
  message: string
  errno?: string
}

/**
 * Compute (gax REST): a GaxiosError whose `message` is the raw JSON body
 * `{"error":{"code","message","errors":[{reason}]}}`; IAM (googleapis): the body in
 * `response.data.error` (`{code, message, status}`).
 */
export function gceErrorInfo(error: unknown): GceErrorInfo {
  if (!error || typeof error !== 'object') return {message: String(error)}
  // A typed error made from a client error: read the original.
  if (error instanceof ProviderError && (error as {cause?: unknown}).cause) return gceErrorInfo((error as {cause?: unknown}).cause)
  const e = error as {code?: unknown; status?: unknown; message?: unknown; response?: {status?: unknown; data?: unknown}}
  let status = typeof e.status === 'number' ? e.status : typeof e.code === 'number' ? e.code : typeof e.response?.status === 'number' ? e.response.status : undefined
  let message = typeof e.message === 'string' ? e.message : String(error)
  let reason: string | undefined
  const fromBody = (body: unknown) => {
    const b = body as {error?: {code?: unknown; message?: unknown; status?: unknown; errors?: Array<{reason?: unknown}>}} | undefined
    if (!b?.error || typeof b.error !== 'object') return false
    if (typeof b.error.code === 'number') status ??= b.error.code
    if (typeof b.error.message === 'string') message = b.error.message
    const r = b.error.errors?.[0]?.reason
    reason = typeof r === 'string' ? r : typeof b.error.status === 'string' ? b.error.status : undefined
    return true
  }
  if (!fromBody(e.response?.data) && typeof e.message === 'string' && e.message.trimStart().startsWith('{')) {
    try {
      fromBody(JSON.parse(e.message))
    } catch {
      // not JSON after all
    }
  }
  const errno = typeof e.code === 'string' ? e.code : undefined
  return {...(status !== undefined ? {status} : {}), ...(reason ? {reason} : {}), message: message.split('\n')[0]!.trim(), ...(errno ? {errno} : {})}
}

/** Whether a compute/IAM failure is worth retrying in place (Terraform's global predicates). */
export function isTransient(error: unknown): boolean {
  const {status, reason, message, errno} = gceErrorInfo(error)
  if (errno && NETWORK_CODES.has(errno)) return true
  if (/socket hang up|ECONNRESET|ETIMEDOUT|EAI_AGAIN/i.test(message) && status === undefined) return true
  if (status === 429 || status === 500 || status === 502 || status === 503 || status === 504) return true
  if (status === 403 && (reason === 'rateLimitExceeded' || reason === 'userRateLimitExceeded' || /Quota exceeded for quota metric .* per minute|CONCURRENT_OPERATIONS_QUOTA_EXCEEDED/i.test(message))) return true
  if (status === 409 && /operationInProgress/.test(`${reason} ${message}`)) return true
  if (status === 400 && reason === 'resourceNotReady') return true
  return false
}

export function isNotFound(error: unknown): boolean {
  const {status, reason} = gceErrorInfo(error)
  return status === 404 || reason === 'NOT_FOUND'
}

export function isAlreadyExists(error: unknown): boolean {
  const {status, reason} = gceErrorInfo(error)
  return status === 409 && (reason === 'alreadyExists' || reason === 'ALREADY_EXISTS' || reason === undefined)
}

/** Budget of {@link gceCall}'s retries (tests shrink it). */
export interface RetryBudget {
  /** Total time for one call, retries included. */
  totalMs: number
  /** First pause (doubles, jittered, capped at 10 s). */
  initialMs: number
}

export const DEFAULT_RETRY: RetryBudget = {totalMs: 120_000, initialMs: 1_000}

/**
 * Runs a compute/IAM call, retrying transient failures (429, 5xx, per-minute API quotas, network
 * errors) with jittered backoff within the budget: the compute client retries none of them itself.
 * Only idempotent calls go through here, or POSTs carrying a `requestId`.
 */
export async function gceCall<T>(what: string, credential: string, fn: () => Promise<T>, budget: RetryBudget = DEFAULT_RETRY, signal?: AbortSignal): Promise<T> {
  const deadline = Date.now() + budget.totalMs
  let wait = budget.initialMs
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (error) {
      if (!isTransient(error) || signal?.aborted) throw toGceError(error, what, credential)
      const pause = Math.min(wait, 10_000) * (0.5 + Math.random() / 2)
      if (Date.now() + pause > deadline) {
        const {status, message} = gceErrorInfo(error)
        if (status === 429 || status === 403) throw new ThrottledError(`gcp: ${what}: still rate limited after ${attempt} attempts in ${Math.round(budget.totalMs / 1000)} s (${message})`, GCP, error)
        throw toGceError(error, `${what} (after ${attempt} attempts)`, credential)
      }
      await new Promise((r) => setTimeout(r, pause))
      wait *= 2
    }
  }
}

/** A compute/IAM failure as a typed error naming the call and the credential. */
export function toGceError(error: unknown, what: string, credential: string): Error {
  if (error instanceof ProviderError) return error
  const {status, reason, message, errno} = gceErrorInfo(error)
  const detail = reason && !message.includes(reason) ? `${reason}: ${message}` : message
  if (status === 401 || (status === undefined && AUTH_MESSAGES.some((re) => re.test(message)))) {
    return new AuthError(`gcp credential '${credential}': ${what} was refused: ${detail}`, GCP, credential, error)
  }
  if (status === 403 && !/quota/i.test(`${reason} ${message}`)) {
    return new ProviderError(`gcp credential '${credential}' may not do this: ${what}: ${detail}`, 'gcp.forbidden', GCP, credential, error, [
      'Grant the credential roles/compute.instanceAdmin.v1, roles/compute.securityAdmin, roles/iam.serviceAccountAdmin, roles/iam.serviceAccountUser and roles/storage.admin on the project.',
    ])
  }
  if (status === 404) return new NotFoundError(`gcp: ${what}: not found (${detail})`, GCP, error)
  if (status === 429) return new ThrottledError(`gcp: ${what}: rate limited (${detail})`, GCP, error)
  if (errno !== undefined && NETWORK_CODES.has(errno)) {
    return new ProviderError(`gcp: ${what}: network error (${message})`, 'gcp.unreachable', GCP, credential, error, ['Check the credential\'s `apiEndpoint` and the network.'])
  }
  return new ProviderError(`gcp: ${what} failed: ${status ? `HTTP ${status} ` : ''}${detail}`, 'gcp.api', GCP, credential, error)
}
