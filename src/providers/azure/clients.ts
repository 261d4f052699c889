/**
 * SDK clients of one `azure` credential, made on first use. Every `@azure/*` module is imported
 * here with `await import()`: loading the provider loads no SDK, and `anycloud validate` or an
 * AWS-only profile never loads `@azure/arm-*` (a test proves it).
 *
 * Credentials (never the metadata-probing default chain):
 * - a service principal: `tenantId` + `clientId` + `clientSecret` (a `${env:…}` reference,
 *   already resolved; held in memory only, registered as a secret) → `ClientSecretCredential`;
 * - none of the three: the Azure CLI's login (`az login`) → `AzureCliCredential`.
 * Setting only some of them is a usage error naming the missing ones.
 *
 * Endpoints: `cloud` (public, china, usgov) picks Resource Manager, login host and token audience;
 * `endpoints.resourceManager` / `endpoints.login` override them (Azure Stack, the test fake). The
 * credential is always sent, also to a custom endpoint; a private CA is trusted through
 * `NODE_EXTRA_CA_CERTS` (tests in one process pass the CA in {@link AzureSdkOverrides}).
 *
 * Retries: each request goes through the SDK's retry policy (429 and 5xx, honouring
 * Retry-After); {@link AzureClients.call} adds a time budget on top, so a long throttling spell
 * ends in ThrottledError rather than hanging.
 */
import type {TokenCredential} from '@azure/core-auth'
import type {AuthorizationManagementClient} from '@azure/arm-authorization'
import type {ComputeManagementClient} from '@azure/arm-compute'
import type {ManagedServiceIdentityClient} from '@azure/arm-msi'
import type {NetworkManagementClient} from '@azure/arm-network'
import type {ResourceManagementClient} from '@azure/arm-resources'
import type {StorageManagementClient} from '@azure/arm-storage'

import type {AzureCredential, NamedCredential} from '../../config/types.js'
import {AnycloudError, UsageError} from '../../errors/index.js'
import {callWithDeadline} from '../../remote/deadline.js'
import {sleep} from '../../util/process.js'
import {registerSecret} from '../../util/redact.js'
import {armErrorInfo, classifyArm, retryAfterMs, toArmError} from './errors.js'
import {authorizationSdk, computeSdk, identitySdk, msiSdk, networkSdk, resourcesSdk, storageSdk} from '../../util/azure-sdk.js'

export type AzureCloud = 'public' | 'china' | 'usgov'

export interface CloudEndpoints {
  resourceManager: string
  login: string
  /** Token audience of Resource Manager. */
  audience: string
}

/** Resource Manager and login hosts of the sovereign clouds. */
export const AZURE_CLOUDS: Readonly<Record<AzureCloud, CloudEndpoints>> = {
  public: {resourceManager: 'https://management.azure.com', login: 'https://login.microsoftonline.com', audience: 'https://management.azure.com'},
  china: {resourceManager: 'https://management.chinacloudapi.cn', login: 'https://login.chinacloudapi.cn', audience: 'https://management.chinacloudapi.cn'},
  usgov: {resourceManager: 'https://management.usgovcloudapi.net', login: 'https://login.microsoftonline.us', audience: 'https://management.usgovcloudapi.net'},
}

/** Test and tuning knobs (in-process tests: the fake's CA, fast retries and polls). */
export interface AzureSdkOverrides {
  /** PEM of an extra CA to trust (the CLI uses NODE_EXTRA_CA_CERTS instead). */
  ca?: string
  retry?: {maxRetries?: number; retryDelayInMs?: number; maxRetryDelayInMs?: number}
  /** Poll interval of long-running operations (default 2000 ms; the SDK's first poll waits this too). */
  updateIntervalInMs?: number
  /** How long {@link AzureClients.call} keeps retrying throttled or transient calls (default 3 min). */
  retryBudgetMs?: number
}

export function azureSpec(credential: NamedCredential): AzureCredential {
  if (credential.spec.provider !== 'azure') throw new TypeError(`credential '${credential.name}' is not an azure credential`)
  return credential.spec as AzureCredential
}

/** The endpoints a credential talks to. */
export function cloudEndpoints(spec: AzureCredential): CloudEndpoints {
  const base = AZURE_CLOUDS[(spec.cloud ?? 'public') as AzureCloud]
  const trim = (u: string) => u.replace(/\/+$/, '')
  const resourceManager = spec.endpoints?.resourceManager ? trim(spec.endpoints.resourceManager) : base.resourceManager
  return {
    resourceManager,
    login: spec.endpoints?.login ? trim(spec.endpoints.login) : base.login,
    audience: spec.endpoints?.resourceManager ? resourceManager : base.audience,
  }
}

/** How the credential authenticates (no I/O). */
export function authMode(name: string, spec: AzureCredential): 'service-principal' | 'azure-cli' {
  const parts = {tenantId: spec.tenantId, clientId: spec.clientId, clientSecret: spec.clientSecret}
  const set = Object.entries(parts).filter(([, v]) => Boolean(v)).map(([k]) => k)
  if (set.length === 3) return 'service-principal'
  if (set.length === 0) return 'azure-cli'
  const missing = Object.keys(parts).filter((k) => !set.includes(k))
  throw new UsageError(`azure credential '${name}': a service principal needs tenantId, clientId and clientSecret; ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing`, [
    'Set all three (clientSecret as ${env:NAME}), or none of them to use the Azure CLI login (`az login`).',
  ], 'azure.partial-service-principal')
}

export class AzureClients {
  readonly spec: AzureCredential
  readonly endpoints: CloudEndpoints
  readonly mode: 'service-principal' | 'azure-cli'
  private cred: Promise<TokenCredential> | undefined
  private readonly made = new Map<string, Promise<unknown>>()

  constructor(
    readonly credential: NamedCredential,
    readonly overrides: AzureSdkOverrides = {},
  ) {
    this.spec = azureSpec(credential)
    this.endpoints = cloudEndpoints(this.spec)
    this.mode = authMode(credential.name, this.spec)
    registerSecret(this.spec.clientSecret)
  }

  get subscriptionId(): string {
    return this.spec.subscriptionId
  }

  /** Options of long-running calls. */
  get lro(): {updateIntervalInMs?: number} {
    return this.overrides.updateIntervalInMs !== undefined ? {updateIntervalInMs: this.overrides.updateIntervalInMs} : {}
  }

  tokenCredential(): Promise<TokenCredential> {
    if (!this.cred) {
      this.cred = (async () => {
        const identity = await identitySdk()
        const tls = this.overrides.ca ? {tlsOptions: {ca: this.overrides.ca}} : {}
        if (this.mode === 'service-principal') {
          const known = Object.values(AZURE_CLOUDS).some((c) => c.login === this.endpoints.login)
          return new identity.ClientSecretCredential(this.spec.tenantId!, this.spec.clientId!, this.spec.clientSecret!, {
            authorityHost: this.endpoints.login,
            // A custom login host is not in Microsoft's instance list: never ask the public one.
            ...(known ? {} : {disableInstanceDiscovery: true}),
            ...tls,
          } as never)
        }
        return new identity.AzureCliCredential(this.spec.tenantId ? {tenantId: this.spec.tenantId} : {})
      })()
      this.cred.catch(() => (this.cred = undefined))
    }
    return this.cred
  }

  /** Options shared by every client: endpoint, scopes (both SDK styles), retries, TLS. */
  private async options(): Promise<Record<string, unknown>> {
    const scope = `${this.endpoints.audience}/.default`
    const r = this.overrides.retry
    return {
      endpoint: this.endpoints.resourceManager,
      credentialScopes: [scope],
      credentials: {scopes: [scope]},
      retryOptions: {maxRetries: r?.maxRetries ?? 4, retryDelayInMs: r?.retryDelayInMs ?? 1000, maxRetryDelayInMs: r?.maxRetryDelayInMs ?? 30_000},
      userAgentOptions: {userAgentPrefix: 'anycloud'},
      ...(this.overrides.ca ? {tlsOptions: {ca: this.overrides.ca}} : {}),
    }
  }

  private client<T>(key: string, make: (cred: TokenCredential, opts: Record<string, unknown>) => Promise<T>): Promise<T> {
    let c = this.made.get(key) as Promise<T> | undefined
    if (!c) {
      c = (async () => make(await this.tokenCredential(), await this.options()))()
      c.catch(() => this.made.delete(key))
      this.made.set(key, c)
    }
    return c
  }

  resources(): Promise<ResourceManagementClient> {
    return this.client('resources', async (cred, o) => new (await resourcesSdk()).ResourceManagementClient(cred, this.subscriptionId, o))
  }

  network(): Promise<NetworkManagementClient> {
    return this.client('network', async (cred, o) => new (await networkSdk()).NetworkManagementClient(cred, this.subscriptionId, o))
  }

  compute(): Promise<ComputeManagementClient> {
    return this.client('compute', async (cred, o) => new (await computeSdk()).ComputeManagementClient(cred, this.subscriptionId, o))
  }

  storage(): Promise<StorageManagementClient> {
    return this.client('storage', async (cred, o) => new (await storageSdk()).StorageManagementClient(cred, this.subscriptionId, o))
  }

  msi(): Promise<ManagedServiceIdentityClient> {
    return this.client('msi', async (cred, o) => new (await msiSdk()).ManagedServiceIdentityClient(cred, this.subscriptionId, o))
  }

  authorization(): Promise<AuthorizationManagementClient> {
    return this.client('authorization', async (cred, o) => new (await authorizationSdk()).AuthorizationManagementClient(cred, this.subscriptionId, o))
  }

  /**
   * Runs an ARM call; throttled (429) and transient failures are tried again, waiting what
   * Retry-After asks (else a doubling pause), while the budget lasts. Then (or for any other
   * failure) the typed error of {@link toArmError}.
   */
  async call<T>(what: string, fn: () => Promise<T>, options: {where?: string; signal?: AbortSignal; retry?: (code: string | undefined) => boolean; timeoutMs?: number} = {}): Promise<T> {
    const budget = this.overrides.retryBudgetMs ?? 3 * 60_000
    const deadline = Date.now() + budget
    let pause = 1000
    for (;;) {
      try {
        // Nothing waits forever: the call's own deadline (long enough for a VM's long-running
        // operation), cut to the command's budget.
        return await callWithDeadline({call: what, endpoint: this.endpoints.resourceManager, credential: this.credential.name, timeoutMs: options.timeoutMs ?? 30 * 60_000, ...(options.signal ? {signal: options.signal} : {})}, () => fn())
      } catch (error) {
        if (error instanceof AnycloudError) throw error
        const info = armErrorInfo(error)
        const again = classifyArm(info) === 'retry' || options.retry?.(info.code) === true
        if (again && !options.signal?.aborted) {
          const wait = retryAfterMs(error) ?? pause
          if (Date.now() + wait < deadline) {
            await sleep(wait, options.signal)
            pause = Math.min(pause * 2, 30_000)
            continue
          }
        }
        throw toArmError(error, what, this.credential.name, options.where)
      }
    }
  }
}
