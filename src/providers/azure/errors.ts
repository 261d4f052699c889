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
import {AnycloudError, AuthError, CapacityError, NotFoundError, ProviderError, ThrottledError} from '../../errors/index.js'

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

// -------------------------------------------------------------------------------------------------
// Azure Resource Manager (notes/azure-provider.md §2, §5)

/** Where an ARM error sends the engine. */
export type ArmErrorClass = 'capacity' | 'retry' | 'auth' | 'config' | 'not-found' | 'other'

/**
 * The code and message of an ARM failure. A failed initial call is a `RestError` (`statusCode`,
 * `code` from the body's `error.code`); a failed long-running operation is a plain Error whose
 * message reads "The long-running operation has failed. <code>. <message>" (HLC and modular alike).
 */
export function armErrorInfo(error: unknown): AzureErrorInfo {
  const info = azureErrorInfo(error)
  const lro = /has failed\.\s*([A-Za-z][\w.]*)\.\s*([\s\S]*)$/.exec(info.message)
  if (!info.code && lro) return {status: info.status, code: lro[1], message: lro[2]!.trim() || info.message}
  // Identity errors (token endpoint refusals) and az CLI errors carry a name, not a code.
  const name = error && typeof error === 'object' ? (error as {name?: unknown}).name : undefined
  if (!info.code && typeof name === 'string' && IDENTITY_ERRORS.has(name)) return {...info, code: name}
  return info
}

/** Error classes of @azure/identity: the credential could not get a token. */
const IDENTITY_ERRORS = new Set(['AuthenticationError', 'AuthenticationRequiredError', 'CredentialUnavailableError', 'AggregateAuthenticationError'])

const ARM_CAPACITY = new Set([
  'SkuNotAvailable',
  'AllocationFailed',
  'ZonalAllocationFailed',
  'OverconstrainedAllocationRequest',
  'OverconstrainedZonalAllocationRequest',
  'SpotVMQuotaExceeded',
])
const ARM_RETRY = new Set([
  'TooManyRequests',
  'RetryableError',
  'InternalExecutionError',
  'InternalServerError',
  'ServerTimeout',
  'StorageAccountOperationInProgress',
  'AnotherOperationInProgress',
  'NicReservedForAnotherVm',
  'OperationPreempted',
  'Conflict',
])
const ARM_AUTH = new Set([
  'AuthorizationFailed',
  'AuthenticationFailed',
  'InvalidAuthenticationToken',
  'InvalidAuthenticationTokenTenant',
  'InvalidAuthenticationTokenAudience',
  'ExpiredAuthenticationToken',
  'ReadOnlyDisabledSubscription',
  'SubscriptionNotFound',
  'DisabledSubscription',
  'MissingSubscriptionRegistration',
  'LinkedAuthorizationFailed',
  ...IDENTITY_ERRORS,
])
const ARM_CONFIG = new Set([
  'InvalidParameter',
  'ImageNotFound',
  'PlatformImageNotFound',
  'InvalidTemplateDeployment',
  'PropertyChangeNotAllowed',
  'EvictionPolicyCanBeSetOnlyOnLowPriorityVirtualMachines',
  'VariablePriceGreaterThanProvidedMaxPrice',
  'MaxPriceValueInvalid',
  'InvalidResourceReference',
  'AccountNameInvalid',
  'InvalidRequestFormat',
  'LocationNotAvailableForResourceType',
  'NoRegisteredProviderFound',
])

/** The notes' §5 table: capacity/quota → next region or size; transient → retry; credential → next credential; bad request → fail fast. */
export function classifyArm(info: AzureErrorInfo): ArmErrorClass {
  const code = info.code ?? ''
  if (code === 'OperationNotAllowed' && /quota/i.test(info.message)) return 'capacity'
  if (ARM_CAPACITY.has(code)) return 'capacity'
  if (ARM_AUTH.has(code) || info.status === 401) return 'auth'
  if (info.status === 403) return 'auth'
  if (ARM_CONFIG.has(code)) return 'config'
  if (info.status === 404 || /NotFound$/.test(code)) return 'not-found'
  if (ARM_RETRY.has(code) || info.status === 429 || (info.status !== undefined && info.status >= 500)) return 'retry'
  if (info.status === undefined && code && NETWORK_CODES.has(code)) return 'retry'
  return 'other'
}

/**
 * The typed error of a failed ARM call: AuthError (next credential), CapacityError (next region or
 * size; `where` names the region), ThrottledError (retries spent), NotFoundError, else a
 * ProviderError naming the code, the operation and, for bad requests, what to fix.
 */
export function toArmError(error: unknown, what: string, credential: string, where?: string): Error {
  if (error instanceof AnycloudError) return error
  const info = armErrorInfo(error)
  const detail = info.code && !info.message.includes(info.code) ? `${info.code}: ${info.message}` : info.message
  switch (classifyArm(info)) {
    case 'auth':
      return new AuthError(
        `azure credential '${credential}': ${what} was refused: ${detail}${info.code === 'AuthorizationFailed' && /roleAssignments/i.test(info.message) ? ' (creating role assignments needs Owner, User Access Administrator or Role Based Access Control Administrator)' : ''}`,
        AZURE,
        credential,
        error,
      )
    case 'capacity':
      return new CapacityError(`azure: ${what}${where ? ` in ${where}` : ''}: ${detail}`, AZURE, where, error)
    case 'not-found':
      return new NotFoundError(`azure: ${what}: not found (${detail})`, AZURE, error)
    case 'retry':
      if (info.status === 429 || info.code === 'TooManyRequests') return new ThrottledError(`azure: ${what}: Azure Resource Manager kept throttling (${detail}) and the retry budget ran out`, AZURE, error)
      if (info.status === undefined && info.code && NETWORK_CODES.has(info.code)) {
        return new ProviderError(`azure: ${what}: cannot reach Azure Resource Manager (${detail})`, 'azure.unreachable', AZURE, credential, error, ['Check the credential\'s `cloud`/`endpoints` and the network.'])
      }
      return new ProviderError(`azure: ${what} failed after retries: ${detail}`, 'azure.transient', AZURE, credential, error, ['A transient Azure error: apply again.'])
    case 'config':
      return new ProviderError(`azure: ${what} was rejected as invalid: ${detail}`, 'azure.invalid-request', AZURE, credential, error, ['Check the profile (vmType, gpuType, region, diskSizeGb) in anycloud.yaml.'])
    default:
      return new ProviderError(`azure: ${what} failed: ${info.status ? `HTTP ${info.status} ` : ''}${detail}`, 'azure.arm', AZURE, credential, error)
  }
}

/** The Retry-After (seconds) of a throttled RestError, if any. */
export function retryAfterMs(error: unknown): number | undefined {
  const headers = (error as {response?: {headers?: {get?(name: string): string | undefined}}})?.response?.headers
  const v = headers?.get?.('retry-after')
  if (v === undefined) return undefined
  const n = Number(v)
  if (Number.isFinite(n)) return Math.max(0, n * 1000)
  const at = Date.parse(v)
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined
}
