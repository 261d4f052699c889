/**
 * The `gcp` provider (SPEC §6, issue 11): GCS buckets, a service account per deployment, and jobs
 * on Compute Engine VMs over SSH.
 *
 * Resources and files (the same split as the aws provider):
 * - buckets (buckets.ts and below): GCS, labelled with anycloud's ownership tags, location from
 *   the region, uniform bucket-level access, public access prevented; a 409 on create is read as
 *   "ours" (adopted) or "taken" (by this project without our labels, or by another project: 403).
 * - `identity` (identity.ts): a service account per deployment with bucket-level Storage Object
 *   Admin (Viewer for the input) bindings, written with etag read-modify-write.
 * - `network`, `sshkey`, `vm` (compute.ts): the SSH firewall rule on a per-deployment target tag,
 *   the login key (local ed25519 pair; public half in the VM's `ssh-keys` metadata), and the VM
 *   (Ubuntu LTS family, spot with termination DELETE, GPUs, requestId on every insert, host key
 *   from cloud-init user data, pinned).
 * - `bootstrap`, `workload` (bootstrap.ts): the machine logic shared with the ssh and aws
 *   providers, over SSH.
 * - clients (clients.ts): one credential source feeding every client (keyFile, accessToken,
 *   application default credentials; never the metadata server off GCE); `apiEndpoint` serves
 *   GCE, IAM and GCS alike, credentials always sent.
 * - errors (errors.ts): client errors → AuthError / CapacityError / ThrottledError / NotFoundError,
 *   and the retry wrapper (the compute client retries nothing itself).
 *
 * rclone (RcloneRemoteSpec):
 * - instance identity (a GCE VM of this credential): `env_auth` (the VM's service account; needs
 *   rclone ≥ 1.62 on the machine, `rcloneMinVersion` on the returned spec), `no_check_bucket`
 *   (objectAdmin has no storage.buckets.get), no secret;
 * - otherwise the storage credential's own service-account key as `service_account_credentials`,
 *   with a `warning` naming the credential (SPEC: "for GCS, the storage credential's own keys are
 *   written, and the plan says so"); the key comes from `keyFile`, else from the file
 *   GOOGLE_APPLICATION_CREDENTIALS names;
 * - `apiEndpoint` without `keyFile` (an emulator): `endpoint` + `anonymous`, no secret.
 *
 * Knobs (environment): ANYCLOUD_GCP_SSH_USER (login user; default `anycloud`), ANYCLOUD_GCP_POLL_MS,
 * ANYCLOUD_GCP_METADATA=1 (anycloud runs on GCE: its metadata server may supply credentials), and,
 * shared with the ssh provider, ANYCLOUD_REMOTE_PREFIX and ANYCLOUD_STORAGE_CHECK.
 */
import {readFileSync} from 'node:fs'
import {isAbsolute, resolve} from 'node:path'

import type {StorageOptions} from '@google-cloud/storage'

import type {RcloneRemoteSpec} from '../../bootstrap/types.js'
import type {NamedCredential} from '../../config/types.js'
import type {GcpCredential} from '../../config/schema-types.js'
import {AuthError, ProviderError, UsageError} from '../../errors/index.js'
import {bucketNameProblems} from '../../model/bucket-names.js'
import {canonicalRegion, continentOf, knownRegions} from '../../model/continents.js'
import type {ActualResource, BucketRole, DeploymentContext, DesiredResource} from '../../model/resources.js'
import {hashOf} from '../../util/hash.js'
import {registerSecret} from '../../util/redact.js'
import {kindTable, type KindTable, type Provider, type RcloneRequest} from '../provider.js'
import {cloudKinds} from '../cloud-kinds.js'
import {CloudProvider} from '../cloud-provider.js'
import type {BucketHead, BucketStore} from '../owned-buckets.js'
import {compact} from '../../util/object.js'
import type {ProviderFactory, ProviderFactoryOptions} from '../provider.js'
import {GcpMachine} from './bootstrap.js'
import {GcpClients, gcloudAdcPath, type GcpSettings} from './clients.js'
import * as compute from './compute.js'
import * as identity from './identity.js'
import {GCP_DEFAULT_REGION, GcsStore, bucketLocation, labelValue, tagsToLabels, type BucketState} from './buckets.js'
import {GCP, gcpStatus, toGcpError} from './errors.js'

export {GCP_DEFAULT_REGION, bucketLocation, bucketState, labelKey, labelValue, tagsToLabels, type BucketState} from './buckets.js'
export {gcpErrorInfo, toGcpError} from './errors.js'

/** rclone's GCS backend reads instance (metadata server) credentials with `env_auth` only from 1.62 on. */
export const GCS_INSTANCE_AUTH_MIN_RCLONE = '1.62'

/** An rclone remote for GCS; `rcloneMinVersion` is the least rclone the machine needs for it. */
export interface GcsRcloneRemoteSpec extends RcloneRemoteSpec {
  rcloneMinVersion?: string
}

export type {GcpSettings} from './clients.js'
export {machineFor, schedulingFor, classifyInsertFailure, renderUserData, DEFAULT_TIMING, type GcpTiming} from './compute.js'
export {requestIdOf, serviceAccountId, vmName, firewallName, sshTag} from './names.js'

/** A service-account key as rclone takes it. */
interface ServiceAccountKey {
  /** One-line JSON (the rclone env file holds one value per line). */
  json: string
  email: string
  privateKey: string
  fingerprint: string
}

/** A GCS bucket found for a delete (its labels are the tags). */
type GcsHead = BucketHead

/** Options beyond the credential (the factory's, tests' timing and storage overrides). */
export interface GcpProviderExtras {
  factory?: ProviderFactoryOptions
  timing?: Partial<compute.GcpTiming>
  env?: NodeJS.ProcessEnv
}

export class GcpProvider extends CloudProvider<BucketState, GcsHead> implements Provider {
  readonly kind = 'gcp' as const
  readonly compute: KindTable
  readonly clients: GcpClients

  private store?: Promise<GcsStore>
  private key?: ServiceAccountKey
  private readonly computeContext: compute.ComputeContext
  private readonly machine: GcpMachine

  /**
   * @param storageOverrides extra `Storage` options (tests: retry settings); never credentials.
   */
  constructor(
    readonly credential: NamedCredential,
    readonly settings: GcpSettings,
    private readonly storageOverrides: Partial<StorageOptions> = {},
    extras: GcpProviderExtras = {},
  ) {
    super(extras.factory)
    this.clients = new GcpClients(settings, credential.name)
    const env = extras.env ?? extras.factory?.env ?? {}
    const poll = Number(env.ANYCLOUD_GCP_POLL_MS)
    const timing: compute.GcpTiming = {...compute.DEFAULT_TIMING, ...(env.ANYCLOUD_GCP_POLL_MS && Number.isFinite(poll) && poll >= 0 ? {pollMs: poll} : {}), ...(extras.timing ?? {})}
    this.computeContext = {clients: this.clients, project: settings.project, credential: credential.name, timing, sshUser: env.ANYCLOUD_GCP_SSH_USER || compute.DEFAULT_SSH_USER, zones: new Map()}
    this.machine = new GcpMachine({
      compute: this.computeContext,
      env,
      credential: credential.name,
      storageFor: (name) => this.storageProvider(name),
      storageOf: (name) => this.storageOf(name),
    })
    const ids = () => this.identityContext()
    this.compute = kindTable(cloudKinds({
      cloud: 'gcp', credential: credential.name,
      identity: {
        read: (lookup, call) => identity.readIdentity(ids(), lookup, call),
        create: (resource, call) => identity.createIdentity(ids(), resource, call),
        update: (resource, record, call) => identity.updateIdentity(ids(), resource, record, call),
        delete: (record, call) => identity.deleteIdentity(ids(), record, call),
      },
      compute: {context: this.computeContext, module: compute},
      machine: this.machine,
      prepare: (deployment) => this.prepare(deployment),
    }))
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

  /** The zones of a region: as GCE listed them (prepare learns them), else the fixed table. */
  zones(region: string): string[] {
    return compute.zonesOf(this.computeContext, region)
  }

  /**
   * A stockout in every zone of the region moves on to the other regions of its continent, in the
   * table's order (restricted ones left out): a GCE VM needs nothing regional but itself, and the
   * deployment's buckets stay usable from anywhere in their continent.
   */
  fallbackRegions(region: string): string[] {
    const continent = continentOf('gcp', region)
    if (!continent) return []
    return knownRegions('gcp', {includeRestricted: false}).filter((r) => r !== region && continentOf('gcp', r) === continent)
  }

  // ---------------------------------------------------------------------------------------------
  // Buckets

  /** GCS as the owned-bucket lifecycle's store: errors mapped with toGcpError, names checked. */
  protected bucketStore(): BucketStore<BucketState, GcsHead> {
    const fail = (what: string) => (error: unknown): never => {
      throw toGcpError(error, what, this.name, this.settings.apiEndpoint)
    }
    return {
      checkName: (name) => this.checkName(name),
      list: async () => {
        const store = await this.gcs()
        return store.list().catch((error: unknown) => (gcpStatus(error) === 403 ? undefined : fail(`listing the buckets of project '${store.project}'`)(error)))
      },
      readListed: async (_name, state) => this.actual(state),
      read: async (name) => {
        const store = await this.gcs()
        let state: BucketState | null
        try {
          state = await store.read(name)
        } catch (error) {
          if (gcpStatus(error) === 403) return this.readForbidden(store, name, error)
          throw toGcpError(error, `reading bucket '${name}'`, this.name, this.settings.apiEndpoint)
        }
        return state ? this.actual(state) : null
      },
      create: async (resource, placement) => {
        const store = await this.gcs()
        const location = bucketLocation(placement.region, this.defaultRegion())
        const outcome = await store.create(resource.name, {location, labels: tagsToLabels(placement.tags)}).catch(fail(`creating bucket '${resource.name}' in ${location}`))
        return outcome === 'conflict' ? 'exists' : 'created'
      },
      readCreated: async (name, outcome) => {
        const store = await this.gcs()
        try {
          const state = await store.read(name)
          return state ? this.actual(state) : null
        } catch (error) {
          if (outcome === 'exists' && gcpStatus(error) === 403) throw this.nameTaken(name, 'it belongs to another Google Cloud project (GCS bucket names are global)', error)
          throw toGcpError(error, `reading bucket '${name}'`, this.name, this.settings.apiEndpoint)
        }
      },
      vanished: (name, outcome) =>
        new ProviderError(outcome === 'exists' ? `gcp: bucket '${name}' was reported to exist but cannot be found: apply again` : `gcp: bucket '${name}' vanished right after it was created`, 'gcp.storage', GCP, this.name),
      taken: (name, actual) => this.nameTaken(name, `a bucket of that name exists in project ${actual.outputs?.projectNumber ?? '?'} and was not created by anycloud`),
      head: async (name) => {
        const store = await this.gcs()
        try {
          const state = await store.read(name)
          return state ? {tags: state.labels, ...(state.empty !== undefined ? {empty: state.empty} : {})} : null
        } catch (error) {
          if (gcpStatus(error) === 403) return {keep: 'not readable by this credential (another project\'s bucket?)'}
          throw toGcpError(error, `reading bucket '${name}'`, this.name, this.settings.apiEndpoint)
        }
      },
      tagValue: labelValue,
      isEmpty: async (_bucket, name) => (await this.gcs()).isEmpty(name).catch(fail(`listing objects of bucket '${name}'`)),
      emptyBucket: async (_bucket, name) => {
        const store = await this.gcs()
        try {
          if (!(await store.isEmpty(name))) await store.emptyBucket(name)
        } catch (error) {
          // Gone meanwhile: the remove says so.
          if (gcpStatus(error) !== 404) fail(`deleting bucket '${name}'`)(error)
        }
      },
      remove: async (_bucket, name) => (await this.gcs()).remove(name).catch(fail(`deleting bucket '${name}'`)),
    }
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
        options: {...endpoint, env_auth: 'true', bucket_policy_only: 'true', no_check_bucket: 'true'},
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
  // Plan time

  /** The deployment's buckets on this credential's storage (what the service account is bound to). */
  private bucketsHere(ctx: DeploymentContext): Array<{role: BucketRole; name: string}> {
    return this.machine
      .bucketRequests(ctx)
      .filter((r) => r.credential === this.credential.name)
      .map((r) => ({role: r.role, name: r.request.bucket}))
  }

  protected async prepareOnce(ctx: DeploymentContext): Promise<void> {
    if (ctx.placement.credential !== this.credential.name) return
    await compute.learnZones(this.computeContext, ctx.placement.region).catch(() => undefined)
    await this.machine.prepareStorage(ctx)
  }

  protected kindAttributes(resource: DesiredResource, ctx: DeploymentContext): Record<string, unknown> {
    switch (resource.kind) {
      case 'vm': {
        const m = compute.machineFor(ctx)
        return {machineType: m.machineType, ...(m.accelerator ? {accelerator: `${m.accelerator.type}:${m.accelerator.count}`} : {})}
      }
      default:
        return {}
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Identity, network, login key, VM, bootstrap, workload

  private identityContext(): identity.IdentityContext {
    return {
      clients: this.clients,
      project: this.settings.project,
      credential: this.name,
      retry: this.computeContext.timing.retry,
      propagationTimeoutMs: this.computeContext.timing.iamPropagationTimeoutMs,
      initialBackoffMs: Math.min(1_000, Math.max(1, this.computeContext.timing.pollMs)),
      bucket: async (name) => (await this.gcs()).bucket(name),
      bucketsHere: (call) => this.bucketsHere(call.deployment),
    }
  }

  protected vmMachine(): GcpMachine {
    return this.machine
  }

  async close(): Promise<void> {
    await this.machine.close()
    await this.clients.close()
  }


  // ---------------------------------------------------------------------------------------------

  private actual(state: BucketState): ActualResource {
    const owned = state.labels['anycloud-managed'] === 'true'
    return {
      id: state.name,
      attributes: {name: state.name},
      ...(state.region ? {region: state.region} : {}),
      ...(state.continent ? {continent: state.continent} : {}),
      ...(state.empty !== undefined ? {empty: state.empty} : {}),
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
      void keyFile
      this.store = (async () => {
        // The same credential source as the compute and IAM clients, as an auth client of storage's own library copy.
        const auth = await this.clients.storageAuth()
        const options: StorageOptions & {projectId: string} = {
          ...this.storageOverrides,
          projectId: project,
          ...(apiEndpoint ? {apiEndpoint} : {}),
          ...auth,
        }
        return GcsStore.open(options)
      })().catch((error: unknown) => {
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
      // In memory only: the bootstrap shows and hashes it through the lineage-salted sensitiveMarker.
      fingerprint: hashOf({email: parsed.client_email, keyId: parsed.private_key_id ?? null, key: parsed.private_key}, 64),
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
    ...(spec.accessToken ? {accessToken: spec.accessToken} : {}),
    ...(env.ANYCLOUD_GCP_METADATA === '1' ? {onGce: true} : {}),
    gcloudAdcFile: gcloudAdcPath(env),
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
  return new GcpProvider(options.credential, gcpSettings(spec, options.configDir, options.env), {}, {factory: options, env: options.env})
}
