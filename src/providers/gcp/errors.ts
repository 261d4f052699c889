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
