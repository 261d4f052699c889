/**
 * Shared set-up of the gcp provider tests: the fake GCE/IAM server (which proxies storage paths
 * to the GCS fake, so one `apiEndpoint` serves all three, as a credential's does), a bearer token
 * the fake issued, and providers with fast retries and waits. Nothing leaves loopback (a
 * net-connect guard; metadata detection off and its host a dead loopback port).
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {GcpCredential} from '../../../src/config/schema-types.js'
import type {NamedCredential, ResolvedProfile} from '../../../src/config/types.js'
import {deploymentContext, type DeploymentContext, type Placement, type ResourceRecord} from '../../../src/model/resources.js'
import type {Provider, ProviderCallContext} from '../../../src/providers/provider.js'
import {GcpProvider, gcpSettings, type GcpTiming} from '../../../src/providers/gcp/index.js'
import {FAKE_GCP_PROJECT, startFakeGcp, type FakeGcp, type FakeGcpOptions} from '../../helpers/fake-gcp/index.js'
import {loopbackOnly, startGcsFake, type GcsFake} from '../../helpers/storage/index.js'

export const FAST_TIMING: Partial<GcpTiming> = {
  retry: {totalMs: 2_000, initialMs: 1},
  operationTimeoutMs: 10_000,
  pollMs: 1,
  iamPropagationTimeoutMs: 2_000,
  sshWaitMs: 20_000,
  sshReadWaitMs: 5_000,
}

export interface Rigs {
  fake: FakeGcp
  gcs: GcsFake
  token: string
  restoreNet: () => void
}

/** Keeps every Google library off the metadata server (and any accidental probe on a dead loopback port). */
export function noMetadata(): void {
  process.env.METADATA_SERVER_DETECTION = 'none'
  process.env.GCE_METADATA_HOST = '127.0.0.1:9'
  process.env.GCE_METADATA_IP = '127.0.0.1:9'
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS
}

export async function startRigs(options: {fake?: FakeGcpOptions} = {}): Promise<Rigs> {
  noMetadata()
  const restoreNet = loopbackOnly()
  const gcs = await startGcsFake()
  const fake = await startFakeGcp({storage: gcs.apiEndpoint, ...options.fake})
  const token = fake.issueToken('anycloud-test')
  return {fake, gcs, token, restoreNet}
}

export async function stopRigs(r: Rigs | undefined): Promise<void> {
  if (!r) return
  await r.fake.close()
  await r.gcs.stop()
  r.restoreNet()
}

export function gcpCredential(name: string, r: Rigs, spec: Partial<GcpCredential> = {}): NamedCredential {
  return {name, origin: 'file', spec: {provider: 'gcp', project: FAKE_GCP_PROJECT, region: 'us-central1', apiEndpoint: r.fake.url, accessToken: r.token, ...spec} as GcpCredential}
}

export function makeProvider(credential: NamedCredential, options: {credentials?: Record<string, NamedCredential>; providers?: Record<string, Provider>; timing?: Partial<GcpTiming>; env?: NodeJS.ProcessEnv; configDir?: string} = {}): GcpProvider {
  const credentials = {[credential.name]: credential, ...(options.credentials ?? {})}
  const env = {HOME: '/nonexistent', ...(options.env ?? {})}
  const factory = {
    credential,
    configDir: options.configDir ?? tmpdir(),
    credentials,
    env,
    providerFor: async (n: string): Promise<Provider> => {
      const p = options.providers?.[n]
      if (p) return p
      if (credentials[n]?.spec.provider === 'gcp') return makeProvider(credentials[n]!, {...options, credentials})
      throw new Error(`no provider ${n}`)
    },
  }
  return new GcpProvider(credential, gcpSettings(credential.spec as GcpCredential, factory.configDir, env), {retryOptions: {autoRetry: false}}, {factory, env, timing: {...FAST_TIMING, ...(options.timing ?? {})}})
}

export function profileOf(overrides: Partial<ResolvedProfile> = {}): ResolvedProfile {
  return {
    name: 'train',
    credentials: ['gcp'],
    hardware: {kind: 'vm', vmType: 'e2-small'},
    spot: false,
    env: {},
    sensitiveEnv: [],
    runtime: 'process',
    persistBucket: false,
    persist: false,
    syncIntervalSeconds: 60,
    extendsChain: [],
    ...overrides,
  }
}

export class StateDirs {
  private readonly dirs: string[] = []
  make(): string {
    const d = mkdtempSync(join(tmpdir(), 'anycloud-gcp-state-'))
    this.dirs.push(d)
    return d
  }
  cleanup(): void {
    for (const d of this.dirs.splice(0)) rmSync(d, {recursive: true, force: true})
  }
}

export function deploymentOf(stateDir: string, options: {deploymentId?: string; profile?: Partial<ResolvedProfile>; placement?: Partial<Placement>; credential?: string} = {}): DeploymentContext {
  const profile = profileOf(options.profile)
  return deploymentContext({
    project: 'acme',
    deploymentId: options.deploymentId ?? 'acme-train-abc123',
    lineage: 'test-lineage',
    profile,
    placement: {credential: options.credential ?? 'gcp', provider: 'gcp', region: 'us-central1', zone: 'us-central1-a', spot: profile.spot, ...(profile.hardware.kind === 'vm' ? {vmType: profile.hardware.vmType} : {}), ...(options.placement ?? {})},
    configDir: stateDir,
    stateDir,
  })
}

export interface CallContext extends ProviderCallContext {
  messages: string[]
}

export function callOf(deployment: DeploymentContext, records: Record<string, ResourceRecord> = {}, token?: string): CallContext {
  const messages: string[] = []
  return {deployment, records, progress: (m) => messages.push(m), messages, ...(token ? {token} : {})}
}

export function recordOf(address: string, kind: ResourceRecord['kind'], name: string, actual: {id: string; attributes: Record<string, unknown>; outputs?: Record<string, unknown>}, extra: Partial<ResourceRecord> = {}): ResourceRecord {
  return {address, kind, credential: 'gcp', provider: 'gcp', name, id: actual.id, status: 'created', attributes: actual.attributes, outputs: actual.outputs ?? {}, updatedAt: new Date().toISOString(), ...extra}
}
