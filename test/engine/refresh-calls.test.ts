import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {NamedCredential, ResolvedConfig, ResolvedProfile} from '../../src/config/types.js'
import {silentReporter} from '../../src/engine/events.js'
import type {Plan} from '../../src/engine/plan.js'
import {planChanges} from '../../src/engine/planner.js'
import {MACHINE_KINDS, type ActualResource, type ResourceKind} from '../../src/model/resources.js'
import {kindTable, updatableIn, type Provider, type ReadResult, type ResourceKindSpec} from '../../src/providers/provider.js'
import {ProviderSet, registerProvider} from '../../src/providers/registry.js'
import type {StateDocument} from '../../src/state/types.js'

/**
 * A cloud that reads like AWS does after refresh was batched: one listing per (region, resource
 * kind) for the machine resources, one bucket listing per credential. Every call is logged.
 */
interface CountingCloud {
  store: Map<string, ActualResource>
  log: string[]
}

const KIND = 'counting-cloud'

function countingProvider(credential: NamedCredential, cloud: CountingCloud): Provider {
  const bucket = (name: string) => cloud.store.get(`bucket/${name}`) ?? (name.startsWith('data-') ? {id: name, attributes: {name}} : null)
  const refuse = () => Promise.reject(new Error('the steady plan test never applies'))
  return {
    kind: KIND,
    credential,
    // A VM cloud's kinds: what the machine needs first (each wanted), then the machine's own.
    compute: kindTable((['identity', 'network', 'sshkey', 'vm', 'bootstrap', 'workload'] as ResourceKind[]).map((kind): ResourceKindSpec => ({
      kind, dependsOn: [], diff: updatableIn(), ...(MACHINE_KINDS.includes(kind) ? {} : {desired: () => ({attributes: {}})}),
      read: async (r) => {
        cloud.log.push(`read ${r.kind} ${r.name}`)
        return cloud.store.get(`${r.kind}/${r.name}`) ?? null
      },
      create: refuse,
      update: refuse,
      delete: refuse,
    }))),
    checkAuth: async () => {
      cloud.log.push('checkAuth')
      return {}
    },
    defaultRegion: () => 'region-a',
    zones: () => [],
    readBucket: async (name: string) => {
      cloud.log.push(`readBucket ${name}`)
      return bucket(name)
    },
    readBuckets: async (names: readonly string[]) => {
      cloud.log.push('listBuckets')
      return names.map((n): ReadResult => ({value: bucket(n)}))
    },
    readMany: async (requests: ReadonlyArray<{lookup: {kind: string; name: string}; ctx: {deployment: {placement: {region: string}}}}>) => {
      for (const call of new Set(requests.map((r) => `list ${r.lookup.kind} in ${r.ctx.deployment.placement.region}`))) cloud.log.push(call)
      return requests.map(({lookup}): ReadResult => ({value: cloud.store.get(`${lookup.kind}/${lookup.name}`) ?? null}))
    },
    createBucket: refuse,
    deleteBucket: refuse,
  } as unknown as Provider
}

function config(n: number, regions: string[], dir: string): ResolvedConfig {
  const profiles: Record<string, ResolvedProfile> = {}
  for (let i = 0; i < n; i++) {
    profiles[`p${i}`] = {
      name: `p${i}`, credentials: ['c'], region: regions[i % regions.length], hardware: {kind: 'vm', vmType: 'small'}, spot: true, env: {A: 'b', TOKEN: 'shared'}, sensitiveEnv: ['TOKEN'],
      runtime: 'docker', image: 'img', command: ['run'], inputBucket: `data-${i}`, outputBucket: `results-${i}`, persistBucket: false, persist: false, syncIntervalSeconds: 60, extendsChain: [],
    }
  }
  return {file: join(dir, 'anycloud.yaml'), dir, project: 'calls', state: {backend: 'local', path: '.anycloud'}, credentials: {c: {name: 'c', origin: 'file', spec: {provider: KIND} as never}}, profiles}
}

/** What the first plan would make, made: the cloud holds it and state records it. */
function converge(plan: Plan, cloud: CountingCloud): StateDocument {
  const now = new Date(0).toISOString()
  const state: StateDocument = {formatVersion: 1, lineage: 'calls', serial: 1, project: 'calls', deployments: {}}
  for (const [name, p] of Object.entries(plan.profiles)) state.deployments[name] = {id: p.deploymentId, profile: name, placement: p.placement, createdAt: now, resources: {}}
  for (const c of plan.changes) {
    if (!c.after) continue
    cloud.store.set(c.kind === 'bucket' ? `bucket/${c.name}` : `${c.kind}/${c.name}`, {id: c.name, attributes: c.after, ...(c.kind === 'workload' ? {phase: 'running' as const} : {})})
    state.deployments[c.profile].resources[c.address] = {address: c.address, kind: c.kind, ...(c.role ? {role: c.role} : {}), credential: c.credential, provider: c.provider, name: c.name, id: c.name, status: 'created', attributes: c.after, outputs: {}, updatedAt: now}
  }
  return state
}

describe('engine: calls per steady plan grow with regions and resource kinds, not with profiles', function () {
  this.timeout(60_000)
  const dirs: string[] = []
  after(() => {
    for (const d of dirs) rmSync(d, {recursive: true, force: true})
  })

  /** The call log of the steady plan (after a converge) of `n` profiles spread over `regions`. */
  async function steadyCalls(n: number, regions: string[]): Promise<string[]> {
    const dir = mkdtempSync(join(tmpdir(), 'anycloud-refresh-calls-'))
    dirs.push(dir)
    const cloud: CountingCloud = {store: new Map(), log: []}
    registerProvider(KIND, async () => async ({credential}) => countingProvider(credential, cloud))
    const cfg = config(n, regions, dir)
    const options = {config: cfg, profiles: Object.values(cfg.profiles), reporter: silentReporter, stateDir: join(dir, '.anycloud')}
    const first = await planChanges({...options, state: undefined, lineage: 'calls', providers: new ProviderSet({credentials: cfg.credentials, configDir: dir, env: {}})})
    assert.equal(first.summary.create, first.changes.filter((c) => c.action === 'create').length)
    const state = converge(first, cloud)
    cloud.log = []
    const steady = await planChanges({...options, state, providers: new ProviderSet({credentials: cfg.credentials, configDir: dir, env: {}})})
    assert.deepEqual(steady.summary, {create: 0, update: 0, replace: 0, delete: 0}, 'converged: nothing to change')
    assert.equal(Object.keys(steady.profiles).length, n)
    return cloud.log.sort()
  }

  it('1 and 100 profiles in one region: the same calls (one listing per kind, one bucket listing)', async () => {
    const one = await steadyCalls(1, ['region-a'])
    const hundred = await steadyCalls(100, ['region-a'])
    assert.deepEqual(hundred, one)
    assert.deepEqual(one, ['list bootstrap in region-a', 'list identity in region-a', 'list network in region-a', 'list sshkey in region-a', 'list vm in region-a', 'list workload in region-a', 'listBuckets'])
  })

  it('100 profiles over two regions make the calls of 2 profiles over the same two regions; one region more adds one listing per kind', async () => {
    const two = await steadyCalls(2, ['region-a', 'region-b'])
    const hundred = await steadyCalls(100, ['region-a', 'region-b'])
    assert.deepEqual(hundred, two)
    const oneRegion = await steadyCalls(100, ['region-a'])
    assert.equal(hundred.length - oneRegion.length, 6, 'six machine kinds listed in the second region')
  })
})
