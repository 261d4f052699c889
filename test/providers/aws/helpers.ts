/**
 * Shared set-up of the aws provider tests: the fake EC2/IAM/STS server and the S3 emulator on
 * loopback, credentials pointing at them, and providers with fast retries and waits (the SDK still
 * classifies every error itself; only the waits shrink). No test sleeps for timing; nothing leaves
 * loopback (explicit keys and endpoints, no metadata service, a net-connect guard).
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {AwsCredential} from '../../../src/config/schema-types.js'
import type {NamedCredential, ResolvedProfile} from '../../../src/config/types.js'
import {deploymentContext, type DeploymentContext, type Placement, type ResourceRecord} from '../../../src/model/resources.js'
import type {Provider, ProviderCallContext} from '../../../src/providers/provider.js'
import {AwsProvider, type AwsTiming} from '../../../src/providers/aws/index.js'
import {disableSdkAmbientConfig, fastRetryStrategy, startFakeAws, type FakeAws, type FakeAwsOptions} from '../../helpers/fake-aws/index.js'
import {loopbackOnly, startS3Emulator, type S3Emulator, type S3EmulatorOptions} from '../../helpers/storage/index.js'

/** The keys both rigs accept: s3rver's built-in account, added to the fake as an IAM user. */
export const KEYS = {accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER'}

/** The env of a CLI run against the fake AWS: its keys (for configs' `${env:E2E_AWS_KEY_ID}`/`${env:E2E_AWS_SECRET}`), no ambient AWS config, metadata or SDK warning. */
export const AWS_ENV = {
  E2E_AWS_KEY_ID: KEYS.accessKeyId, E2E_AWS_SECRET: KEYS.secretAccessKey,
  AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
}

export const FAST_TIMING: Partial<AwsTiming> = {
  pollMs: 1,
  runningTimeoutMs: 5_000,
  terminateTimeoutMs: 5_000,
  iamPropagationTimeoutMs: 2_000,
  iamPropagationInitialMs: 1,
  sgDeleteTimeoutMs: 50,
  sshWaitMs: 20_000,
  sshReadWaitMs: 5_000,
}

export interface Rigs {
  fake: FakeAws
  s3: S3Emulator
  restoreNet: () => void
}

/** Starts both rigs (call in `before`); `stopRigs` in `after`. */
export async function startRigs(options: {fake?: FakeAwsOptions; s3?: S3EmulatorOptions} = {}): Promise<Rigs> {
  disableSdkAmbientConfig()
  const restoreNet = loopbackOnly()
  const fake = await startFakeAws({users: [{...KEYS, userName: 'anycloud-test'}], ...options.fake})
  const s3 = await startS3Emulator(options.s3)
  return {fake, s3, restoreNet}
}

export async function stopRigs(r: Rigs | undefined): Promise<void> {
  if (!r) return
  await r.fake.close()
  await r.s3.stop()
  r.restoreNet()
}

/** A named aws credential against the rigs (override anything). */
export function awsCredential(name: string, r: Rigs, spec: Partial<AwsCredential> = {}): NamedCredential {
  return {
    name,
    origin: 'file',
    spec: {provider: 'aws', region: 'us-east-1', ...KEYS, endpoints: {s3: r.s3.endpoint, ec2: r.fake.url, iam: r.fake.url, sts: r.fake.url}, ...spec} as AwsCredential,
  }
}

export interface ProviderOptions {
  credentials?: Record<string, NamedCredential>
  providers?: Record<string, Provider>
  maxAttempts?: number
  timing?: Partial<AwsTiming>
  env?: NodeJS.ProcessEnv
}

/** A provider with the fake's fast retry strategy (3 attempts, 1 ms apart) and fast waits. */
export function makeProvider(credential: NamedCredential, options: ProviderOptions = {}): AwsProvider {
  const credentials = {[credential.name]: credential, ...(options.credentials ?? {})}
  const maxAttempts = options.maxAttempts ?? 3
  return new AwsProvider({
    credential,
    configDir: tmpdir(),
    credentials,
    env: {AWS_EC2_METADATA_DISABLED: 'true', ...(options.env ?? {})},
    providerFor: async (n) => {
      const p = options.providers?.[n]
      if (p) return p
      if (credentials[n]) return makeProvider(credentials[n], {...options, credentials})
      throw new Error(`no provider ${n}`)
    },
    sdk: {maxAttempts, retryStrategy: fastRetryStrategy(maxAttempts, 1)},
    timing: {...FAST_TIMING, ...(options.timing ?? {})},
  })
}

export function profileOf(overrides: Partial<ResolvedProfile> = {}): ResolvedProfile {
  return {
    name: 'train',
    credentials: ['aws'],
    hardware: {kind: 'vm', vmType: 't3.micro'},
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

/** A temp state directory per test (keys live under it). */
export class StateDirs {
  private readonly dirs: string[] = []
  make(): string {
    const d = mkdtempSync(join(tmpdir(), 'anycloud-aws-state-'))
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
    placement: {credential: options.credential ?? 'aws', provider: 'aws', region: 'us-east-1', spot: profile.spot, ...(profile.hardware.kind === 'vm' ? {vmType: profile.hardware.vmType} : {}), ...(options.placement ?? {})},
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

/** A state record from what a create returned. */
export function recordOf(address: string, kind: ResourceRecord['kind'], name: string, actual: {id: string; attributes: Record<string, unknown>; outputs?: Record<string, unknown>}, extra: Partial<ResourceRecord> = {}): ResourceRecord {
  return {address, kind, credential: 'aws', provider: 'aws', name, id: actual.id, status: 'created', attributes: actual.attributes, outputs: actual.outputs ?? {}, updatedAt: new Date().toISOString(), ...extra}
}

/** Every string inside a value (to grep for secrets and wildcards). */
export function allStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (Array.isArray(value)) return value.flatMap(allStrings)
  if (value && typeof value === 'object') return Object.values(value).flatMap(allStrings)
  return []
}
