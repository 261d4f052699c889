/**
 * SDK clients of one `aws` credential, created on first use. Every `@aws-sdk/*` module is loaded
 * on first use (util/aws-sdk.ts), so loading the provider loads no SDK, an S3-only run never loads EC2,
 * and `anycloud validate` loads none at all.
 *
 * Credentials, in this order:
 * 1. `accessKeyId` + `secretAccessKey` (+ `sessionToken`) from the file (already interpolated
 *    from `${env:…}`: they are held in memory only, registered as secrets);
 * 2. a named `profile` of ~/.aws/credentials or ~/.aws/config (`fromIni`);
 * 3. the default chain (`fromNodeProviderChain`: env, SSO, ini default, process, web identity,
 *    container and instance metadata).
 * `endpoints` override each service's endpoint (S3 then uses path-style addressing, for
 * S3-compatible stores and emulators). Retries: the SDK's `standard` mode (exponential backoff
 * with jitter, a retry quota, throttling and transient errors only), at most `maxAttempts`.
 */
import type {EC2Client} from '@aws-sdk/client-ec2'
import type {IAMClient} from '@aws-sdk/client-iam'
import type {S3Client} from '@aws-sdk/client-s3'
import type {STSClient} from '@aws-sdk/client-sts'
import type {AwsCredentialIdentity, AwsCredentialIdentityProvider} from '@aws-sdk/types'

import type {AwsCredential, NamedCredential} from '../../config/types.js'
import {AnycloudError, ProviderError} from '../../errors/index.js'
import {callWithDeadline} from '../../remote/deadline.js'
import {registerSecret} from '../../util/redact.js'
import {credentialProvidersSdk, ec2Sdk, iamSdk, s3Sdk, stsSdk} from '../../util/aws-sdk.js'

// The SDK prints an 8-line notice about future Node versions on the first client it creates; on
// our supported Node (engines: >=20) it is noise on every command that touches AWS. The SDK reads
// this variable when a client is constructed, so setting it before the first import is enough.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

/** Settings merged into every SDK client (tests pass a fast retry strategy here). */
export interface AwsSdkOverrides {
  maxAttempts?: number
  retryMode?: 'standard' | 'adaptive' | 'legacy'
  /** An SDK retry strategy object (e.g. the fake's `fastRetryStrategy`). */
  retryStrategy?: unknown
}

/** Default attempts per call (first try included): a bounded budget, a little above the SDK's 3. */
export const DEFAULT_MAX_ATTEMPTS = 5

/** One HTTP attempt's limit (the SDK then retries); without `throwOnRequestTimeout` the SDK only warns. */
export const ATTEMPT_TIMEOUT_MS = 60_000
/** One call's limit, its retries included (and never past the command's `--timeout` budget). */
export const CALL_TIMEOUT_MS = 120_000

/** The parts of an SDK client and command the deadline wrapper touches. */
interface SdkClientLike {
  send(command: unknown, options?: unknown, cb?: unknown): Promise<unknown>
}
interface SdkCommandLike {
  constructor: {name: string}
  middlewareStack: {add(mw: unknown, options: Record<string, unknown>): void}
}

/**
 * Gives every `send` of an SDK client a deadline ({@link CALL_TIMEOUT_MS}, cut to the command's
 * `--timeout` budget) and, when it runs out or the endpoint never answers over HTTP, an error that
 * names the call, the endpoint, the credential and what was tried (attempts, last failure).
 * Waiters and paginators go through `send` too.
 */
export function withDeadlines<C extends SdkClientLike>(client: C, service: string, credential: string, defaultEndpoint: string): C {
  const send = client.send.bind(client)
  client.send = ((command: SdkCommandLike, options?: {abortSignal?: AbortSignal} | ((...a: unknown[]) => void), cb?: unknown) => {
    if (typeof options === 'function' || cb !== undefined) return send(command, options, cb)
    const call = `${service}:${command.constructor.name.replace(/Command$/, '')}`
    const seen = {attempts: 0, endpoint: defaultEndpoint, last: undefined as string | undefined}
    command.middlewareStack.add(
      (next: (args: {request?: {protocol?: string; hostname?: string; port?: number}}) => Promise<unknown>) => async (args: {request?: {protocol?: string; hostname?: string; port?: number}}) => {
        seen.attempts++
        const r = args.request
        if (r?.hostname) seen.endpoint = `${r.protocol ?? 'https:'}//${r.hostname}${r.port ? `:${r.port}` : ''}`
        try {
          return await next(args)
        } catch (error) {
          seen.last = describeFailure(error)
          throw error
        }
      },
      // Inside the SDK's retry loop (finalizeRequest, high priority): once per HTTP attempt.
      {step: 'finalizeRequest', priority: 'low', name: 'anycloudAttemptCounter', override: true},
    )
    const tried = () => `${seen.attempts} attempt${seen.attempts === 1 ? '' : 's'}${seen.last ? `; last: ${seen.last}` : seen.attempts > 0 ? '; no response yet' : ''}`
    return callWithDeadline({call, endpoint: defaultEndpoint, credential, timeoutMs: CALL_TIMEOUT_MS, signal: options?.abortSignal, tried}, (signal) =>
      send(command, {...(options ?? {}), abortSignal: signal}),
    ).catch((error: unknown) => {
      // No HTTP answer at all (refused, reset, timed out): say where and how often.
      const e = error as {$metadata?: {httpStatusCode?: number}; name?: string}
      if (seen.attempts > 0 && !e?.$metadata?.httpStatusCode && error instanceof Error && !(error instanceof AnycloudError) && !options?.abortSignal?.aborted) {
        throw new ProviderError(`${call} to ${seen.endpoint} (credential '${credential}') got no HTTP answer; tried: ${tried()}`, 'cloud.unreachable', 'aws', credential, error, [
          `Check that ${seen.endpoint} is reachable from here (address, firewall, proxy), and the endpoints of credential '${credential}'.`,
        ])
      }
      throw error
    })
  }) as C['send']
  return client
}

function describeFailure(error: unknown): string {
  const e = error as {code?: string; name?: string; message?: string; $metadata?: {httpStatusCode?: number}}
  const status = e?.$metadata?.httpStatusCode
  const code = typeof e?.code === 'string' ? e.code : e?.name
  const message = e?.message && e.message !== code ? e.message : ''
  return `${code ?? 'error'}${message ? `: ${message}` : ''}${status ? ` (HTTP ${status})` : ''}`
}

export function awsSpec(credential: NamedCredential): AwsCredential {
  if (credential.spec.provider !== 'aws') throw new TypeError(`credential '${credential.name}' is not an aws credential`)
  return credential.spec as AwsCredential
}

/** A credential provider that asks its source again only shortly before the identity expires. */
function memoized(source: AwsCredentialIdentityProvider): AwsCredentialIdentityProvider {
  let current: Promise<AwsCredentialIdentity> | undefined
  let expires = 0
  return async () => {
    if (!current || (expires && Date.now() > expires - 5 * 60_000)) {
      current = source().then(
        (identity) => {
          expires = identity.expiration ? identity.expiration.getTime() : 0
          registerSecret(identity.secretAccessKey)
          registerSecret(identity.sessionToken)
          return identity
        },
        (error: unknown) => {
          current = undefined
          throw error
        },
      )
    }
    return current
  }
}

/** The SDK clients of one credential. */
export class AwsClients {
  readonly spec: AwsCredential
  private readonly s3s = new Map<string, Promise<S3Client>>()
  private readonly ec2s = new Map<string, Promise<EC2Client>>()
  private readonly stss = new Map<string, Promise<STSClient>>()
  private iamClient: Promise<IAMClient> | undefined
  private provider: AwsCredentialIdentityProvider | undefined

  constructor(
    readonly credential: NamedCredential,
    private readonly env: NodeJS.ProcessEnv,
    private readonly overrides: AwsSdkOverrides = {},
  ) {
    this.spec = awsSpec(credential)
    registerSecret(this.spec.secretAccessKey)
    registerSecret(this.spec.sessionToken)
  }

  /** Whether the credential carries its own static keys (not a profile or the chain). */
  get hasStaticKeys(): boolean {
    return Boolean(this.spec.accessKeyId && this.spec.secretAccessKey)
  }

  /** The region calls go to when nothing else says. */
  defaultRegion(): string {
    return this.spec.region ?? this.env.AWS_REGION ?? this.env.AWS_DEFAULT_REGION ?? 'us-east-1'
  }

  /** The credential provider shared by every client of this credential. */
  async credentials(): Promise<AwsCredentialIdentityProvider> {
    if (this.provider) return this.provider
    const spec = this.spec
    if (spec.accessKeyId && spec.secretAccessKey) {
      const identity: AwsCredentialIdentity = {accessKeyId: spec.accessKeyId, secretAccessKey: spec.secretAccessKey, ...(spec.sessionToken ? {sessionToken: spec.sessionToken} : {})}
      this.provider = async () => identity
      return this.provider
    }
    const {fromIni, fromNodeProviderChain} = await credentialProvidersSdk()
    this.provider = memoized(spec.profile ? fromIni({profile: spec.profile}) : fromNodeProviderChain())
    return this.provider
  }

  /** Resolves the identity now (for the STS decisions and rclone's own-keys path). */
  async identity(): Promise<AwsCredentialIdentity> {
    return (await this.credentials())()
  }

  private async base(region: string, endpoint: string | undefined): Promise<Record<string, unknown>> {
    const o = this.overrides
    return {
      region,
      credentials: await this.credentials(),
      ...(endpoint ? {endpoint} : {}),
      maxAttempts: o.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      ...(o.retryStrategy ? {retryStrategy: o.retryStrategy} : {retryMode: o.retryMode ?? 'standard'}),
      requestHandler: {connectionTimeout: 10_000, requestTimeout: ATTEMPT_TIMEOUT_MS, throwOnRequestTimeout: true},
    }
  }

  s3(region: string): Promise<S3Client> {
    let c = this.s3s.get(region)
    if (!c) {
      c = (async () => {
        const {S3Client} = await s3Sdk()
        const endpoint = this.spec.endpoints?.s3
        return this.instrument(new S3Client({
          ...(await this.base(region, endpoint)),
          // An S3-compatible store or emulator: path-style, and no aws-chunked bodies (they often cannot decode them).
          ...(endpoint ? {forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED'} : {followRegionRedirects: true}),
        }), 's3', region, endpoint)
      })()
      c.catch(() => this.s3s.delete(region))
      this.s3s.set(region, c)
    }
    return c
  }

  ec2(region: string): Promise<EC2Client> {
    let c = this.ec2s.get(region)
    if (!c) {
      c = (async () => {
        const {EC2Client} = await ec2Sdk()
        return this.instrument(new EC2Client(await this.base(region, this.spec.endpoints?.ec2)), 'ec2', region, this.spec.endpoints?.ec2)
      })()
      c.catch(() => this.ec2s.delete(region))
      this.ec2s.set(region, c)
    }
    return c
  }

  /** IAM is global; it is signed for us-east-1 (the aws partition). */
  iam(): Promise<IAMClient> {
    if (!this.iamClient) {
      this.iamClient = (async () => {
        const {IAMClient} = await iamSdk()
        return this.instrument(new IAMClient(await this.base('us-east-1', this.spec.endpoints?.iam)), 'iam', 'us-east-1', this.spec.endpoints?.iam)
      })()
      this.iamClient.catch(() => (this.iamClient = undefined))
    }
    return this.iamClient
  }

  sts(region = this.defaultRegion()): Promise<STSClient> {
    let c = this.stss.get(region)
    if (!c) {
      c = (async () => {
        const {STSClient} = await stsSdk()
        return this.instrument(new STSClient(await this.base(region, this.spec.endpoints?.sts)), 'sts', region, this.spec.endpoints?.sts)
      })()
      c.catch(() => this.stss.delete(region))
      this.stss.set(region, c)
    }
    return c
  }

  private instrument<C extends SdkClientLike>(client: C, service: string, region: string, endpoint: string | undefined): C {
    const host = service === 'iam' ? 'https://iam.amazonaws.com' : `https://${service}.${region}.amazonaws.com`
    return withDeadlines(client, service, this.credential.name, endpoint ?? host)
  }

  /** Closes the HTTP agents (tests; a CLI run simply exits). */
  async destroy(): Promise<void> {
    const all = [...this.s3s.values(), ...this.ec2s.values(), ...this.stss.values(), ...(this.iamClient ? [this.iamClient] : [])]
    for (const c of all) {
      try {
        ;(await c).destroy()
      } catch {
        // a client that failed to build has nothing to close
      }
    }
  }
}
