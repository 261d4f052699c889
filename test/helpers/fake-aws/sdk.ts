/**
 * Helpers for pointing the real `@aws-sdk/*` v3 clients at the fake from tests: explicit fake
 * credentials, the fake's endpoint, and a retry strategy that keeps the SDK's own error
 * classification (throttling/transient vs. not retryable) but waits only a millisecond.
 */
import type {EC2ClientConfig} from '@aws-sdk/client-ec2'
import type {FakeAws} from './server.js'

/** The SDK's retry strategy type (the V2 token interface). */
export type SdkRetryStrategy = NonNullable<EC2ClientConfig['retryStrategy']>

interface Token {
  getRetryCount(): number
  getRetryDelay(): number
}

/**
 * A retry strategy for tests: the SDK's retry middleware classifies each error
 * (`THROTTLING`, `TRANSIENT`, `SERVER_ERROR`, `CLIENT_ERROR`) exactly as in production, and this
 * strategy retries the same two kinds the SDK's standard strategy retries, up to `maxAttempts`
 * attempts, `delayMs` apart (the standard strategy waits up to seconds for throttling).
 */
export function fastRetryStrategy(maxAttempts = 3, delayMs = 1): SdkRetryStrategy {
  const token = (count: number): Token => ({getRetryCount: () => count, getRetryDelay: () => delayMs})
  const strategy = {
    mode: 'standard',
    async acquireInitialRetryToken(): Promise<Token> {
      return token(0)
    },
    async refreshRetryTokenForRetry(t: Token, info: {errorType: string}): Promise<Token> {
      if ((info.errorType === 'THROTTLING' || info.errorType === 'TRANSIENT') && t.getRetryCount() + 1 < maxAttempts) return token(t.getRetryCount() + 1)
      throw new Error('No retry token available')
    },
    recordSuccess(): void {},
  }
  return strategy as unknown as SdkRetryStrategy
}

/** Options of {@link sdkConfig}. */
export interface SdkConfigOptions {
  /** Default `us-east-1` (IAM must be signed for `us-east-1`). */
  region?: string
  /** Default: the fake's default IAM user. */
  credentials?: {accessKeyId: string; secretAccessKey: string; sessionToken?: string}
  /** Attempts including the first; default 3 (the SDK's default). */
  maxAttempts?: number
  /** Delay between retries; default 1 ms. */
  retryDelayMs?: number
}

/** Client config for `new EC2Client(…)`, `new IAMClient(…)`, `new STSClient(…)` against the fake. */
export function sdkConfig(
  fake: FakeAws,
  options: SdkConfigOptions = {},
): {endpoint: string; region: string; credentials: {accessKeyId: string; secretAccessKey: string; sessionToken?: string}; maxAttempts: number; retryStrategy: SdkRetryStrategy} {
  const maxAttempts = options.maxAttempts ?? 3
  return {
    endpoint: fake.url,
    region: options.region ?? 'us-east-1',
    credentials: options.credentials ?? fake.credentials,
    maxAttempts,
    retryStrategy: fastRetryStrategy(maxAttempts, options.retryDelayMs ?? 1),
  }
}

/** Environment a test process should have before creating SDK clients (no IMDS, no warnings). */
export function disableSdkAmbientConfig(): void {
  process.env.AWS_EC2_METADATA_DISABLED = 'true'
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
}

/** The fields of an SDK service exception tests look at. */
export interface SdkError extends Error {
  /** The SDK's exception name: the wire code for EC2, the modelled class for IAM/STS (`NoSuchEntityException`). */
  name: string
  /** Wire error code as the service sent it (IAM/STS/EC2 all carry it here). */
  Code?: string
  $fault?: 'client' | 'server'
  $metadata: {httpStatusCode?: number; attempts?: number; totalRetryDelay?: number; requestId?: string}
}

/** Awaits a promise that must reject and returns the rejection (fails if it resolves). */
export async function expectSdkError(promise: Promise<unknown>): Promise<SdkError> {
  try {
    await promise
  } catch (err) {
    return err as SdkError
  }
  throw new Error('expected the SDK call to fail, but it succeeded')
}
