/**
 * The `gcp` provider: for now only its STORAGE side (GCS buckets, and how rclone on a machine
 * reaches them), so that an ssh host (or another cloud) can keep its buckets on GCS. GCE compute
 * comes later: `kinds` is empty and read/create/update/delete of any other kind raise a clear
 * error.
 *
 * Client (`@google-cloud/storage` 7, imported on first use):
 * - `apiEndpoint` set (an emulator such as the test suite's GCS fake): requests go there, and are
 *   not authenticated unless `keyFile` is set too (then the key signs them:
 *   `useAuthWithCustomEndpoint`, for private endpoints of the real service);
 * - else the real GCS with `keyFile` (a service-account JSON key, relative to anycloud.yaml's
 *   directory), or application default credentials.
 *
 * Buckets (provider.ts): labels carry the ownership tags (GCS label rules: buckets.ts); the
 * location is the requested region when it is a GCP region, else the credential's region, else
 * us-central1; `readBucket` reports the location, its continent (`continentOfGcsLocation`), owned
 * and empty. A 409 on create is resolved by reading the bucket: ours (labelled
 * `anycloud-managed=true`) → adopted; readable without our labels → "name taken"; 403 → taken by
 * another project (names are global). Deletes only owned buckets of the record's deployment;
 * GCS itself refuses to delete a non-empty bucket, so "kept because it holds data" is race-free.
 *
 * rclone (RcloneRemoteSpec):
 * - instance identity: `env_auth` (the VM's service account; needs rclone ≥ 1.62 on the machine,
 *   `rcloneMinVersion` on the returned spec), no secret;
 * - otherwise the storage credential's own service-account key as `service_account_credentials`,
 *   with a `warning` naming the credential (SPEC: "for GCS, the storage credential's own keys are
 *   written, and the plan says so"); the key comes from `keyFile`, else from the file
 *   GOOGLE_APPLICATION_CREDENTIALS names;
 * - `apiEndpoint` without `keyFile` (an emulator): `endpoint` + `anonymous`, no secret.
 */
import {readFileSync} from 'node:fs'
import {isAbsolute, resolve} from 'node:path'

import type {StorageOptions} from '@google-cloud/storage'

import type {RcloneRemoteSpec} from '../../bootstrap/types.js'
import type {NamedCredential} from '../../config/types.js'
import type {GcpCredential} from '../../config/schema-types.js'
import {AuthError, ProviderError, UsageError} from '../../errors/index.js'
import {bucketNameProblems} from '../../model/bucket-names.js'
import {canonicalRegion, zonesFor} from '../../model/continents.js'
import type {ActualResource, DesiredResource, ResourceRecord} from '../../model/resources.js'
import {hashOf, sha256} from '../../util/hash.js'
import {registerSecret} from '../../util/redact.js'
import {bucketDeployment, type Provider, type RcloneRequest} from '../provider.js'
import {compact} from '../../util/object.js'
import {StorageOnlyProvider} from '../storage-only.js'
import type {ProviderFactory} from '../provider.js'
import {GCP_DEFAULT_REGION, GcsStore, bucketLocation, labelValue, tagsToLabels, type BucketState} from './buckets.js'
import {GCP, gcpStatus, toGcpError} from './errors.js'

export {GCP_DEFAULT_REGION, bucketLocation, bucketState, labelKey, labelValue, tagsToLabels, type BucketState} from './buckets.js'
export {gcpErrorInfo, toGcpError} from './errors.js'

/** rclone's GCS backend reads instance (metadata server) credentials with `env_auth` only from 1.62 on. */
export const GCS_INSTANCE_AUTH_MIN_RCLONE = '1.62'

export const GCP_COMPUTE_UNAVAILABLE = 'compute on gcp is not available yet: use this credential as storage for an ssh host or another cloud'

/** An rclone remote for GCS; `rcloneMinVersion` is the least rclone the machine needs for it. */
export interface GcsRcloneRemoteSpec extends RcloneRemoteSpec {
  rcloneMinVersion?: string
}

/** Where the provider's settings come from (resolved from the credential, no I/O). */
export interface GcpSettings {
  project: string
  /** Absolute path of the service-account key file, when the credential names one. */
  keyFile?: string
  apiEndpoint?: string
  region?: string
  /** GOOGLE_APPLICATION_CREDENTIALS: the key rclone gets when `keyFile` is not set. */
  adcKeyFile?: string
}

/** A service-account key as rclone takes it. */
interface ServiceAccountKey {
  /** One-line JSON (the rclone env file holds one value per line). */
  json: string
  email: string
  privateKey: string
  fingerprint: string
}

export class GcpProvider extends StorageOnlyProvider implements Provider {
  readonly kind = 'gcp' as const
  readonly readConcurrency = 16

  private store?: Promise<GcsStore>
  private key?: ServiceAccountKey

  /**
   * @param storageOverrides extra `Storage` options (tests: retry settings); never credentials.
   */
  constructor(
    readonly credential: NamedCredential,
    readonly settings: GcpSettings,
    private readonly storageOverrides: Partial<StorageOptions> = {},
  ) {
    super()
  }

  private get name(): string {
    return this.credential.name
  }

  /** Lists at most one bucket of the project: 401/403 (or no usable credential at all) → AuthError. */
  async checkAuth(): Promise<{account?: string}> {
    if (this.settings.keyFile) this.readKeyFileOrAuthError(this.settings.keyFile)
    const store = await this.gcs()
    try {
      await store.probe()
    } catch (error) {
      throw toGcpError(error, `listing buckets of project '${this.settings.project}'`, this.name, this.settings.apiEndpoint)
    }
    const email = this.settings.keyFile ? this.key?.email : undefined
    return {account: email ? `${email} (project ${this.settings.project})` : `project ${this.settings.project}`}
  }

  defaultRegion(): string {
    return this.settings.region ?? GCP_DEFAULT_REGION
  }

  /** `us-central1-a`… where GCP's naming is known (GCE itself is not here yet). */
  zones(region: string): string[] {
    return [...(zonesFor('gcp', region) ?? [])]
  }

  // ---------------------------------------------------------------------------------------------
  // Buckets

  async readBucket(name: string): Promise<ActualResource | null> {
    this.checkName(name)
    const store = await this.gcs()
    let state: BucketState | null
    try {
      state = await store.read(name)
    } catch (error) {
      if (gcpStatus(error) === 403) return this.readForbidden(store, name, error)
      throw toGcpError(error, `reading bucket '${name}'`, this.name, this.settings.apiEndpoint)
    }
    return state ? this.actual(state) : null
  }

  /**
   * Creates the bucket in the location of `ctx.region` (see {@link bucketLocation}) with the
   * ownership tags as labels. Idempotent: a 409 whose bucket carries `anycloud-managed=true` is
   * adopted (a retried create); any other 409 is "name taken", and nothing is changed.
   */
  async createBucket(resource: DesiredResource, ctx: {region: string; tags: Record<string, string>}): Promise<ActualResource> {
    const name = resource.name
    this.checkName(name)
    const store = await this.gcs()
    const location = bucketLocation(ctx.region, this.defaultRegion())
    let outcome: 'created' | 'conflict'
    try {
      outcome = await store.create(name, {location, labels: tagsToLabels(ctx.tags)})
    } catch (error) {
      throw toGcpError(error, `creating bucket '${name}' in ${location}`, this.name, this.settings.apiEndpoint)
    }
    let state: BucketState | null
    try {
      state = await store.read(name)
    } catch (error) {
      if (outcome === 'conflict' && gcpStatus(error) === 403) throw this.nameTaken(name, 'it belongs to another Google Cloud project (GCS bucket names are global)', error)
      throw toGcpError(error, `reading bucket '${name}'`, this.name, this.settings.apiEndpoint)
    }
    if (!state) {
      throw new ProviderError(
        outcome === 'conflict' ? `gcp: bucket '${name}' was reported to exist but cannot be found: apply again` : `gcp: bucket '${name}' vanished right after it was created`,
        'gcp.storage',
        GCP,
        this.name,
      )
    }
    const actual = this.actual(state)
    if (!actual.owned) throw this.nameTaken(name, `a bucket of that name exists in project ${state.projectNumber ?? '?'} and was not created by anycloud`)
    return actual
  }

  /**
   * Deletes a bucket only when its labels carry anycloud's tags and, when the record names its
   * deployment (`outputs.deployment`, or a checkpoint bucket's name), that deployment. `force`
   * deletes its objects first; otherwise a bucket holding objects is kept. Missing is success.
   */
  async deleteBucket(record: ResourceRecord, options: {force: boolean}): Promise<{deleted: boolean; reason?: string}> {
    const name = record.name
    this.checkName(name)
    const store = await this.gcs()
    let state: BucketState | null
    try {
      state = await store.read(name)
    } catch (error) {
      if (gcpStatus(error) === 403) return {deleted: false, reason: 'not readable by this credential (another project\'s bucket?)'}
      throw toGcpError(error, `reading bucket '${name}'`, this.name, this.settings.apiEndpoint)
    }
    if (!state) return {deleted: true}
    if (state.labels['anycloud-managed'] !== 'true') return {deleted: false, reason: 'not created by anycloud (no ownership tags)'}
    const expected = bucketDeployment(record)
    if (expected !== undefined && state.labels['anycloud-deployment'] !== labelValue(expected)) {
      return {deleted: false, reason: `owned by deployment '${state.labels['anycloud-deployment'] ?? '?'}', not '${expected}'`}
    }
    if (!state.empty && !options.force) return {deleted: false, reason: 'holds data'}
    try {
      // Two rounds at most: objects a last sync wrote while the first round ran are caught by the second.
      for (let round = 0; round < 2; round++) {
        if (options.force && !(await store.isEmpty(name))) await store.emptyBucket(name)
        const outcome = await store.remove(name)
        if (outcome !== 'not-empty') return {deleted: true}
        if (!options.force) break
      }
    } catch (error) {
      if (gcpStatus(error) === 404) return {deleted: true}
      throw toGcpError(error, `deleting bucket '${name}'`, this.name, this.settings.apiEndpoint)
    }
    return {deleted: false, reason: 'holds data'}
  }

  // ---------------------------------------------------------------------------------------------
  // rclone

  /**
   * Pure but for reading the key file once (to fingerprint it: a rotated key changes the plan).
   * See the module comment for the three shapes.
   */
  rcloneRemote(request: RcloneRequest): GcsRcloneRemoteSpec {
    this.checkName(request.bucket)
    const {apiEndpoint, keyFile} = this.settings
    const endpoint: Record<string, string> = apiEndpoint ? {endpoint: apiEndpoint} : {}
    if (apiEndpoint && !keyFile) {
      return {type: 'google cloud storage', options: {...endpoint, anonymous: 'true', bucket_policy_only: 'true'}, path: request.bucket, secretOptions: [], secretsFingerprint: ''}
    }
    if (request.instanceIdentity) {
      return {
        type: 'google cloud storage',
        options: {...endpoint, env_auth: 'true', bucket_policy_only: 'true'},
        path: request.bucket,
        secretOptions: [],
        secretsFingerprint: '',
        rcloneMinVersion: GCS_INSTANCE_AUTH_MIN_RCLONE,
      }
    }
    const key = this.serviceAccountKey()
    return {
      type: 'google cloud storage',
      options: {...endpoint, bucket_policy_only: 'true'},
      path: request.bucket,
      secretOptions: ['service_account_credentials'],
      secretsFingerprint: key.fingerprint,
      warning: `the storage credential '${this.name}''s own service-account key (${key.email}) is written to the machine's rclone env file (mode 0600) to reach bucket '${request.bucket}': GCS has no bucket-scoped credential anycloud can mint for a machine without a Google service account`,
    }
  }

  /** `{service_account_credentials}` (the one-line key JSON), or `{}` when no secret is needed. */
  async rcloneSecrets(request: RcloneRequest): Promise<Record<string, string>> {
    const spec = this.rcloneRemote(request)
    if (!spec.secretOptions.includes('service_account_credentials')) return {}
    return {service_account_credentials: this.serviceAccountKey().json}
  }

  // ---------------------------------------------------------------------------------------------

  private actual(state: BucketState): ActualResource {
    const owned = state.labels['anycloud-managed'] === 'true'
    return {
      id: state.name,
      attributes: {name: state.name},
      ...(state.region ? {region: state.region} : {}),
      ...(state.continent ? {continent: state.continent} : {}),
      empty: state.empty,
      owned,
      outputs: compact({
        location: state.location,
        locationType: state.locationType,
        projectNumber: state.projectNumber,
        deployment: owned ? state.labels['anycloud-deployment'] : undefined,
      }),
    }
  }

  /**
   * A 403 on the bucket's metadata: someone else's bucket, or a credential with object access
   * only. When listing its objects works, it is readable (never owned: anycloud will not delete
   * it, and its location is unknown); otherwise the read fails naming both possibilities.
   */
  private async readForbidden(store: GcsStore, name: string, cause: unknown): Promise<ActualResource> {
    let empty: boolean
    try {
      empty = await store.isEmpty(name)
    } catch (error) {
      if (gcpStatus(error) === 404) {
        throw new ProviderError(`gcp: bucket '${name}' is not visible to credential '${this.name}' (403 on the bucket, 404 on its objects)`, 'gcp.bucket-forbidden', GCP, this.name, cause)
      }
      if (gcpStatus(error) !== 403) throw toGcpError(error, `listing objects of bucket '${name}'`, this.name, this.settings.apiEndpoint)
      throw new ProviderError(
        `gcp: bucket '${name}' exists but credential '${this.name}' may not read it: it belongs to another Google Cloud project, or this credential lacks storage.buckets.get and storage.objects.list on it`,
        'gcp.bucket-forbidden',
        GCP,
        this.name,
        cause,
        ['Pick another bucket name (GCS bucket names are global), or grant this credential access to the bucket.'],
      )
    }
    return {id: name, attributes: {name}, empty, owned: false, outputs: {note: 'bucket metadata not readable (403): location unknown'}}
  }

  private nameTaken(name: string, why: string, cause?: unknown): ProviderError {
    return new ProviderError(`gcp: the bucket name '${name}' is taken: ${why}`, 'gcp.bucket-taken', GCP, this.name, cause, [
      'Pick another bucket name in anycloud.yaml (GCS bucket names are global), or use the bucket as an input bucket.',
    ])
  }

  private checkName(name: string): void {
    const problems = bucketNameProblems(name, 'gcp')
    if (problems.length > 0) throw new UsageError(`'${name}' cannot be a GCS bucket: ${problems.join('; ')}`, [], 'bucket.invalid-name')
  }

  private gcs(): Promise<GcsStore> {
    if (!this.store) {
      const {project, keyFile, apiEndpoint} = this.settings
      const options: StorageOptions & {projectId: string} = {
        ...this.storageOverrides,
        projectId: project,
        ...(apiEndpoint ? {apiEndpoint, useAuthWithCustomEndpoint: Boolean(keyFile)} : {}),
        ...(keyFile ? {keyFilename: keyFile} : {}),
      }
      this.store = GcsStore.open(options).catch((error: unknown) => {
        this.store = undefined
        throw error
      })
    }
    return this.store
  }

  private readKeyFileOrAuthError(path: string): ServiceAccountKey | undefined {
    try {
      return this.serviceAccountKey(path)
    } catch (error) {
      throw new AuthError((error as Error).message, GCP, this.name, error)
    }
  }

  /** The key rclone gets: `keyFile`, else GOOGLE_APPLICATION_CREDENTIALS. Read once. */
  private serviceAccountKey(path = this.settings.keyFile ?? this.settings.adcKeyFile): ServiceAccountKey {
    if (this.key) return this.key
    if (!path) {
      throw new UsageError(
        `gcp credential '${this.name}' has no service-account key, and a machine without a Google service account (an ssh host, another cloud) needs one to reach GCS`,
        ['Set keyFile on the credential (a service-account JSON key), or point GOOGLE_APPLICATION_CREDENTIALS at one.'],
        'gcp.no-key-file',
      )
    }
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (error) {
      throw new UsageError(`gcp credential '${this.name}': cannot read the key file ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, [], 'gcp.bad-key-file')
    }
    let parsed: Record<string, unknown>
    try {
      parsed = JSON.parse(text) as Record<string, unknown>
    } catch {
      throw new UsageError(`gcp credential '${this.name}': the key file ${path} is not JSON`, [], 'gcp.bad-key-file')
    }
    if (parsed.type !== 'service_account' || typeof parsed.client_email !== 'string' || typeof parsed.private_key !== 'string') {
      throw new UsageError(
        `gcp credential '${this.name}': ${path} is not a service-account key (type '${String(parsed.type)}')`,
        ['rclone on a machine needs a service-account JSON key; user credentials from `gcloud auth application-default login` cannot be handed to it.'],
        'gcp.bad-key-file',
      )
    }
    const json = JSON.stringify(parsed)
    registerSecret(parsed.private_key)
    registerSecret(json)
    this.key = {
      json,
      email: parsed.client_email,
      privateKey: parsed.private_key,
      fingerprint: hashOf({email: parsed.client_email, keyId: parsed.private_key_id ?? null, key: sha256(parsed.private_key)}),
    }
    return this.key
  }

}

/** The provider's settings from a credential: `keyFile` resolved against `configDir`, region canonical. */
export function gcpSettings(spec: GcpCredential, configDir: string, env: NodeJS.ProcessEnv): GcpSettings {
  const keyFile = spec.keyFile ? (isAbsolute(spec.keyFile) ? spec.keyFile : resolve(configDir, spec.keyFile)) : undefined
  const region = spec.region ? (canonicalRegion('gcp', spec.region) ?? spec.region) : undefined
  const adc = env.GOOGLE_APPLICATION_CREDENTIALS
  return {
    project: spec.project,
    ...(keyFile ? {keyFile} : {}),
    ...(spec.apiEndpoint ? {apiEndpoint: spec.apiEndpoint.replace(/\/+$/, '')} : {}),
    ...(region ? {region} : {}),
    ...(adc ? {adcKeyFile: isAbsolute(adc) ? adc : resolve(adc)} : {}),
  }
}

/** {@link ProviderFactory} of the `gcp` provider (registry.ts imports it lazily). */
export const createGcpProvider: ProviderFactory = async (options) => {
  const spec = options.credential.spec
  if (spec.provider !== 'gcp') {
    throw new UsageError(`credential '${options.credential.name}' is a ${spec.provider} credential, not a gcp one`, [], 'provider.mismatch')
  }
  return new GcpProvider(options.credential, gcpSettings(spec, options.configDir, options.env))
}
