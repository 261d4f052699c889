/**
 * The azure provider against the ARM fake (test/helpers/fake-azure) and azurite: a service
 * principal credential whose `endpoints` point at the fake (login and Resource Manager), the
 * fake's CA, 1 ms long-running-operation polls and fast retries.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {NamedCredential, ResolvedProfile} from '../../../src/config/types.js'
import type {AzureCredential} from '../../../src/config/schema-types.js'
import {deploymentContext, type DeploymentContext, type Placement, type ResourceRecord} from '../../../src/model/resources.js'
import {createAzureProvider, type AzureFactoryOptions, type AzureProvider, type AzureTiming} from '../../../src/providers/azure/index.js'
import type {Provider, ProviderCallContext} from '../../../src/providers/provider.js'
import type {FakeAzure} from '../../helpers/fake-azure/index.js'

export const CLIENT_ID = '22222222-2222-2222-2222-222222222222'
export const CLIENT_SECRET = 'fake-client-secret-value'

export const FAST_TIMING: Partial<AzureTiming> = {pollMs: 5, createWaitMs: 5_000, inUseWaitMs: 2_000, principalWaitMs: 5_000, sshWaitMs: 60_000, sshReadWaitMs: 10_000}

export function azureCredential(name: string, fake: FakeAzure, spec: Partial<AzureCredential> = {}): NamedCredential {
  return {
    name,
    origin: 'file',
    spec: {provider: 'azure', subscriptionId: fake.subscriptionId, tenantId: fake.tenantId, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, region: 'eastus', endpoints: {resourceManager: fake.url, login: fake.url}, ...spec},
  }
}

export async function makeArmProvider(fake: FakeAzure, options: {credential?: NamedCredential; others?: Record<string, Provider>; timing?: Partial<AzureTiming>; env?: NodeJS.ProcessEnv; retryBudgetMs?: number} = {}): Promise<AzureProvider> {
  const credential = options.credential ?? azureCredential('az', fake)
  const factory: AzureFactoryOptions = {
    credential,
    configDir: '/nonexistent',
    credentials: {[credential.name]: credential},
    env: options.env ?? {},
    providerFor: async (n) => {
      const p = options.others?.[n]
      if (!p) throw new Error(`no provider ${n}`)
      return p
    },
    sdk: {ca: fake.ca, updateIntervalInMs: 1, retry: {maxRetries: 2, retryDelayInMs: 1, maxRetryDelayInMs: 5}, retryBudgetMs: options.retryBudgetMs ?? 3_000},
    timing: {...FAST_TIMING, ...(options.timing ?? {})},
  }
  return (await createAzureProvider(factory)) as AzureProvider
}

export function profileOf(overrides: Partial<ResolvedProfile> = {}): ResolvedProfile {
  return {
    name: 'train',
    credentials: ['az'],
    hardware: {kind: 'vm', vmType: 'Standard_D2s_v5'},
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
    const d = mkdtempSync(join(tmpdir(), 'anycloud-azure-state-'))
    this.dirs.push(d)
    return d
  }
  cleanup(): void {
    for (const d of this.dirs.splice(0)) rmSync(d, {recursive: true, force: true})
  }
}

export function deploymentOf(stateDir: string, options: {deploymentId?: string; profile?: Partial<ResolvedProfile>; placement?: Partial<Placement>} = {}): DeploymentContext {
  const profile = profileOf(options.profile)
  return deploymentContext({
    project: 'acme',
    deploymentId: options.deploymentId ?? 'acme-train-abc123',
    lineage: 'test-lineage',
    profile,
    placement: {credential: 'az', provider: 'azure', region: 'eastus', spot: profile.spot, ...(profile.hardware.kind === 'vm' ? {vmType: profile.hardware.vmType} : {}), ...(options.placement ?? {})},
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
  return {address, kind, credential: 'az', provider: 'azure', name, id: actual.id, status: 'created', attributes: actual.attributes, outputs: actual.outputs ?? {}, updatedAt: new Date().toISOString(), ...extra}
}
