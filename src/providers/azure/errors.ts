/**
 * Azure Blob errors → anycloud's typed provider errors (provider.ts: AuthError rotates the
 * credential, ThrottledError means the SDK's retry budget is spent, NotFoundError is "absent").
 *
 * `@azure/storage-blob` raises a `RestError` with `statusCode` (HTTP) and `code` (the
 * `x-ms-error-code`, e.g. `ContainerNotFound`; for a HEAD the body is empty and the code comes
 * from the header). Connection failures are RestErrors too, with a Node errno `code`
 * (`ECONNREFUSED`) and no status. Codes: Blob service error codes, "Common REST API error codes"
 * (notes/azure-provider.md §3).
 */
import {AuthError, NotFoundError, ProviderError, ThrottledError} from '../../errors/index.js'

export const AZURE = 'azure'

/** Error codes of a credential that does not authenticate or is not allowed (not a missing thing). */
const AUTH_CODES = new Set([
  'AuthenticationFailed',
  'AuthorizationFailure',
  'AuthorizationPermissionMismatch',
  'AuthorizationProtocolMismatch',
  'AuthorizationResourceTypeMismatch',
  'AuthorizationServiceMismatch',
  'AuthorizationSourceIPMismatch',
  'InsufficientAccountPermissions',
  'InvalidAuthenticationInfo',
  'NoAuthenticationInformation',
  'KeyBasedAuthenticationNotPermitted',
  'AccountIsDisabled',
])

const THROTTLE_CODES = new Set(['ServerBusy', 'OperationTimedOut', 'TooManyRequests'])

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'REQUEST_SEND_ERROR'])

/** The parts of an SDK error anycloud looks at. */
export interface AzureErrorInfo {
  status?: number
  code?: string
  message: string
}

export function azureErrorInfo(error: unknown): AzureErrorInfo {
  if (!error || typeof error !== 'object') return {message: String(error)}
  const e = error as {statusCode?: unknown; code?: unknown; message?: unknown; details?: {errorCode?: unknown}}
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined
  const detailsCode = typeof e.details?.errorCode === 'string' ? e.details.errorCode : undefined
  const code = detailsCode ?? (typeof e.code === 'string' ? e.code : undefined)
  // The SDK's message may carry the whole XML body and a RequestId/Time: keep the first line.
  const message = typeof e.message === 'string' && e.message ? e.message.split('\n')[0]!.trim() : String(error)
  return {status, code, message}
}

/** True for `ContainerNotFound`, `BlobNotFound`, `ResourceNotFound` (404). */
export function isAzureNotFound(error: unknown): boolean {
  const {status, code} = azureErrorInfo(error)
  return status === 404 || code === 'ContainerNotFound' || code === 'BlobNotFound' || code === 'ResourceNotFound'
}

export function hasAzureCode(error: unknown, ...codes: string[]): boolean {
  const {code} = azureErrorInfo(error)
  return code !== undefined && codes.includes(code)
}

/**
 * The typed error for a failed call. `what` says what was being done (`reading container 'x'
 * in storage account 'y'`); `where` names the endpoint for connection errors.
 */
export function toAzureError(error: unknown, what: string, credential: string, where?: string): Error {
  if (error instanceof ProviderError) return error
  const {status, code, message} = azureErrorInfo(error)
  const detail = code && !message.includes(code) ? `${code}: ${message}` : message
  if (status === 401 || status === 403 || (code !== undefined && AUTH_CODES.has(code))) {
    const hint =
      code === 'KeyBasedAuthenticationNotPermitted'
        ? ' (the storage account forbids shared-key access)'
        : code === 'AuthorizationPermissionMismatch'
          ? ' (the identity lacks a Storage Blob Data role on it)'
          : ''
    return new AuthError(`azure credential '${credential}': ${what} was refused${hint}: ${detail}`, AZURE, credential, error)
  }
  if (isAzureNotFound(error)) return new NotFoundError(`azure: ${what}: not found (${detail})`, AZURE, error)
  if (status === 429 || status === 503 || (code !== undefined && THROTTLE_CODES.has(code))) {
    return new ThrottledError(`azure: ${what}: the storage service is busy (${detail}) and retries ran out`, AZURE, error)
  }
  if (status === undefined && code !== undefined && NETWORK_CODES.has(code)) {
    return new ProviderError(`azure: ${what}: cannot reach ${where ?? 'the blob endpoint'} (${detail})`, 'azure.unreachable', AZURE, credential, error, [
      'Check the credential\'s `endpoint` and the network.',
    ])
  }
  if (error instanceof Error && error.name === 'AbortError') {
    return new ProviderError(`azure: ${what}: timed out talking to ${where ?? 'the blob endpoint'}`, 'azure.unreachable', AZURE, credential, error)
  }
  return new ProviderError(`azure: ${what} failed: ${status ? `HTTP ${status} ` : ''}${detail}`, 'azure.storage', AZURE, credential, error)
}
