/**
 * The Google clients of one `gcp` credential, created on first use, each from the SAME credential
 * source but with an auth object of its own library's google-auth-library copy
 * (notes/gcp-provider.md §1.3: `@google-cloud/compute`'s gax and `@googleapis/iam` each nest
 * google-auth-library 10.5.0, `@google-cloud/storage` 7 uses 9.x; an auth client of another copy
 * is silently not used, and the request goes out with no Authorization header).
 *
 * The credential source, resolved once (no I/O but reading a file):
 * 1. `accessToken` (`${env:NAME}`: a short-lived OAuth token, e.g. from CI's workload identity
 *    federation): every client sends it as the bearer;
 * 2. `keyFile` (a service-account JSON key): every client signs its own requests with the key
 *    (a self-signed JWT scoped to cloud-platform: no token server round trip);
 * 3. application default credentials: the file GOOGLE_APPLICATION_CREDENTIALS names, else
 *    gcloud's `application_default_credentials.json`; a service-account key there is used as in
 *    2, any other type (authorized_user, external_account) through each library's GoogleAuth;
 * 4. the metadata server, ONLY when anycloud itself runs on GCE and is told so
 *    (`ANYCLOUD_GCP_METADATA=1`): off GCP, nothing ever probes the metadata address.
 * With `apiEndpoint` set (an emulator or a private endpoint) credentials are still sent (SPEC §6);
 * only an `apiEndpoint` with no credential at all talks anonymously (local emulators).
 *
 * Compute clients are deep imports (`build/src/v1/<x>_client.js`): the package index loads ~120
 * clients (about a second); the protos they parse are cut to our services first (compute-protos.ts).
 */
import {existsSync, readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {createRequire} from 'node:module'

import {AuthError, UsageError} from '../../errors/index.js'
import {registerSecret} from '../../util/redact.js'
import {preloadComputeProtos} from './compute-protos.js'
import {GCP} from './errors.js'

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform'

export type GcpCredentialSource =
  | {kind: 'token'; token: string}
  | {kind: 'key'; email: string; privateKey: string; keyId?: string; path: string; json: Record<string, unknown>}
  | {kind: 'adc'; type: string; path: string; json: Record<string, unknown>}
  | {kind: 'metadata'}
  | {kind: 'anonymous'}

/** Where the provider's settings come from (resolved from the credential, no I/O). */
export interface GcpSettings {
  project: string
  /** Absolute path of the service-account key file, when the credential names one. */
  keyFile?: string
  /** A short-lived OAuth access token (interpolated from `${env:…}`). */
  accessToken?: string
  apiEndpoint?: string
  region?: string
  /** GOOGLE_APPLICATION_CREDENTIALS: the key rclone gets when `keyFile` is not set. */
  adcKeyFile?: string
  /** `ANYCLOUD_GCP_METADATA=1`: anycloud runs on GCE and may use its metadata server. */
  onGce?: boolean
  /** Where gcloud keeps application default credentials (`$CLOUDSDK_CONFIG` or ~/.config/gcloud). */
  gcloudAdcFile?: string
}

/** Reads a JSON key file; errors name the credential and the file. */
export function readKeyJson(path: string, credential: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new AuthError(`gcp credential '${credential}': cannot read the key file ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, GCP, credential, error)
  }
  try {
    return JSON.parse(text) as Record<string, unknown>
  } catch {
    throw new AuthError(`gcp credential '${credential}': the key file ${path} is not JSON`, GCP, credential)
  }
}

/** Resolves the credential source (see the module comment). AuthError when there is none. */
export function credentialSource(settings: GcpSettings, credential: string): GcpCredentialSource {
  if (settings.accessToken) {
    registerSecret(settings.accessToken)
    return {kind: 'token', token: settings.accessToken}
  }
  const keyOf = (path: string): GcpCredentialSource => {
    const json = readKeyJson(path, credential)
    if (json.type === 'service_account') {
      if (typeof json.client_email !== 'string' || typeof json.private_key !== 'string') {
        throw new AuthError(`gcp credential '${credential}': ${path} is a service-account key without client_email/private_key`, GCP, credential)
      }
      registerSecret(json.private_key)
      return {kind: 'key', email: json.client_email, privateKey: json.private_key, ...(typeof json.private_key_id === 'string' ? {keyId: json.private_key_id} : {}), path, json}
    }
    if (typeof json.type !== 'string') throw new AuthError(`gcp credential '${credential}': ${path} is not a Google credential file (no "type")`, GCP, credential)
    for (const k of ['refresh_token', 'client_secret']) if (typeof json[k] === 'string') registerSecret(json[k] as string)
    return {kind: 'adc', type: json.type, path, json}
  }
  if (settings.keyFile) return keyOf(settings.keyFile)
  if (settings.adcKeyFile) return keyOf(settings.adcKeyFile)
  if (settings.gcloudAdcFile && existsSync(settings.gcloudAdcFile)) return keyOf(settings.gcloudAdcFile)
  if (settings.onGce) return {kind: 'metadata'}
  if (settings.apiEndpoint) return {kind: 'anonymous'}
  throw new AuthError(
    `gcp credential '${credential}': no credentials found (no keyFile or accessToken on the credential, GOOGLE_APPLICATION_CREDENTIALS unset, no gcloud application default credentials); anycloud does not probe the metadata server off GCE`,
    GCP,
    credential,
  )
}

/** gcloud's application default credentials file. */
export function gcloudAdcPath(env: NodeJS.ProcessEnv): string {
  const dir = env.CLOUDSDK_CONFIG || join(env.HOME || homedir(), '.config', 'gcloud')
  return join(dir, 'application_default_credentials.json')
}

/** The parts of a google-auth-library copy we use (every copy has the same shape). */
interface AuthLibrary {
  OAuth2Client?: new (o?: unknown) => {setCredentials(c: Record<string, unknown>): void}
  OAuth2?: new (o?: unknown) => {setCredentials(c: Record<string, unknown>): void}
  JWT: new (o: Record<string, unknown>) => {useJWTAccessWithScope?: boolean}
  GoogleAuth: new (o: Record<string, unknown>) => {getClient(): Promise<unknown>}
  Compute?: new (o?: unknown) => unknown
}

/** An auth client for one library copy from the shared source (undefined: anonymous). */
function authFor(lib: AuthLibrary, source: GcpCredentialSource): unknown {
  switch (source.kind) {
    case 'token': {
      const C = lib.OAuth2Client ?? lib.OAuth2!
      const c = new C()
      // No refresh token: when it expires the API answers 401 and the engine rotates credentials.
      c.setCredentials({access_token: source.token, expiry_date: Date.now() + 3_600_000})
      return c
    }
    case 'key': {
      const jwt = new lib.JWT({email: source.email, key: source.privateKey, ...(source.keyId ? {keyId: source.keyId} : {}), scopes: [CLOUD_PLATFORM_SCOPE]})
      jwt.useJWTAccessWithScope = true
      return jwt
    }
    case 'adc':
      return new lib.GoogleAuth({credentials: source.json, scopes: [CLOUD_PLATFORM_SCOPE]})
    case 'metadata':
      return new lib.GoogleAuth({scopes: [CLOUD_PLATFORM_SCOPE]})
    case 'anonymous':
      return undefined
  }
}

/** Where compute and IAM requests go (`apiEndpoint`: host, port, protocol). */
export function endpointParts(apiEndpoint: string | undefined): {apiEndpoint: string; port?: number; protocol?: string} | undefined {
  if (!apiEndpoint) return undefined
  const u = new URL(apiEndpoint)
  return {apiEndpoint: u.hostname, ...(u.port ? {port: Number(u.port)} : {}), protocol: u.protocol.replace(':', '')}
}

type Ctor<T> = new (o: Record<string, unknown>) => T

/** Every compute client we use (types from the package's declarations; loaded by deep path). */
import type {InstancesClient} from '@google-cloud/compute/build/src/v1/instances_client.js'
import type {ZoneOperationsClient} from '@google-cloud/compute/build/src/v1/zone_operations_client.js'
import type {FirewallsClient} from '@google-cloud/compute/build/src/v1/firewalls_client.js'
import type {GlobalOperationsClient} from '@google-cloud/compute/build/src/v1/global_operations_client.js'
import type {ImagesClient} from '@google-cloud/compute/build/src/v1/images_client.js'
import type {RegionsClient} from '@google-cloud/compute/build/src/v1/regions_client.js'

export interface ComputeClients {
  instances: InstancesClient
  zoneOps: ZoneOperationsClient
  firewalls: FirewallsClient
  globalOps: GlobalOperationsClient
  images: ImagesClient
  regions: RegionsClient
}

/** The IAM v1 API object of `@googleapis/iam` (only what we call). */
export interface IamApi {
  projects: {
    serviceAccounts: {
      create(p: Record<string, unknown>): Promise<{data: Record<string, unknown>}>
      get(p: Record<string, unknown>): Promise<{data: Record<string, unknown>}>
      delete(p: Record<string, unknown>): Promise<{data: unknown}>
      list(p: Record<string, unknown>): Promise<{data: {accounts?: Array<Record<string, unknown>>; nextPageToken?: string}}>
    }
  }
}

const requireHere = createRequire(import.meta.url)

/** The compute clients we use: module file under build/src/v1, class name (its service's name + `Client`). */
export const COMPUTE_CLIENTS = [
  ['instances_client', 'InstancesClient'],
  ['zone_operations_client', 'ZoneOperationsClient'],
  ['firewalls_client', 'FirewallsClient'],
  ['global_operations_client', 'GlobalOperationsClient'],
  ['images_client', 'ImagesClient'],
  ['regions_client', 'RegionsClient'],
] as const

/** The clients of one credential. */
export class GcpClients {
  private sourceValue: GcpCredentialSource | undefined
  private computeP: Promise<ComputeClients> | undefined
  private iamP: Promise<IamApi> | undefined

  constructor(
    readonly settings: GcpSettings,
    readonly credential: string,
  ) {}

  /** The shared credential source (AuthError when there is none). */
  source(): GcpCredentialSource {
    this.sourceValue ??= credentialSource(this.settings, this.credential)
    return this.sourceValue
  }

  /** Options for `new Storage(...)`: the same source, as an auth client of storage's own library copy. */
  async storageAuth(): Promise<Record<string, unknown>> {
    const source = this.source()
    if (source.kind === 'anonymous') return {}
    const lib = requireHere('google-auth-library') as AuthLibrary
    const auth = authFor(lib, source)
    return {authClient: auth, ...(this.settings.apiEndpoint ? {useAuthWithCustomEndpoint: true} : {})}
  }

  compute(): Promise<ComputeClients> {
    if (!this.computeP) {
      this.computeP = (async () => {
        const source = this.source()
        if (source.kind === 'anonymous') throw this.needsCredential('Compute Engine')
        // The auth library gax itself resolves (its nested copy).
        const gax = requireHere('google-gax') as {googleAuthLibrary: AuthLibrary}
        const auth = authFor(gax.googleAuthLibrary, source)
        const base: Record<string, unknown> = {
          projectId: this.settings.project,
          ...(auth instanceof Object && 'getClient' in (auth as object) ? {auth} : {authClient: auth}),
          fallback: true,
          ...(endpointParts(this.settings.apiEndpoint) ?? {}),
        }
        // Only the protobuf definitions of these clients' services (compute-protos.ts).
        preloadComputeProtos(COMPUTE_CLIENTS.map(([, name]) => name.replace(/Client$/, '')))
        const load = async <T>([file, name]: readonly [string, string]): Promise<T> => {
          const mod = requireHere(`@google-cloud/compute/build/src/v1/${file}.js`) as Record<string, Ctor<T>>
          return new mod[name]!(base)
        }
        const [instances, zoneOps, firewalls, globalOps, images, regions] = await Promise.all([
          load<InstancesClient>(COMPUTE_CLIENTS[0]),
          load<ZoneOperationsClient>(COMPUTE_CLIENTS[1]),
          load<FirewallsClient>(COMPUTE_CLIENTS[2]),
          load<GlobalOperationsClient>(COMPUTE_CLIENTS[3]),
          load<ImagesClient>(COMPUTE_CLIENTS[4]),
          load<RegionsClient>(COMPUTE_CLIENTS[5]),
        ])
        return {instances, zoneOps, firewalls, globalOps, images, regions}
      })()
      this.computeP.catch(() => (this.computeP = undefined))
    }
    return this.computeP
  }

  iam(): Promise<IamApi> {
    if (!this.iamP) {
      this.iamP = (async () => {
        const source = this.source()
        if (source.kind === 'anonymous') throw this.needsCredential('IAM')
        const mod = requireHere('@googleapis/iam') as {iam(o: Record<string, unknown>): IamApi; auth: AuthLibrary & {OAuth2: AuthLibrary['OAuth2']}}
        const auth = authFor(mod.auth, source)
        const root = this.settings.apiEndpoint ? `${this.settings.apiEndpoint.replace(/\/+$/, '')}/` : undefined
        return mod.iam({version: 'v1', auth, ...(root ? {rootUrl: root} : {})})
      })()
      this.iamP.catch(() => (this.iamP = undefined))
    }
    return this.iamP
  }

  private needsCredential(what: string): UsageError {
    return new UsageError(`gcp credential '${this.credential}' has no credentials (apiEndpoint without keyFile or accessToken): ${what} calls must be authenticated`, [
      'Set keyFile (a service-account key) or accessToken: ${env:NAME} on the credential.',
    ], 'gcp.no-credentials')
  }

  async close(): Promise<void> {
    const c = await this.computeP?.catch(() => undefined)
    if (c) for (const client of Object.values(c)) await (client as {close(): Promise<void>}).close().catch(() => undefined)
  }
}
