/**
 * Plan against a fake provider that adds 50 ms to every call, one region: 10, 100 and 1,000
 * profiles on a converged state (the steady plan every CI run makes). Prints the cloud calls per
 * steady plan and the time. Targets: 100 profiles ≤ 12 calls; 1,000 profiles within 2x of 100.
 * The fake batches like a cloud with list-by-tag APIs (readMany per region, readBuckets = one
 * list): the engine must ask for everything at once for that to pay off.
 */
import {setTimeout as delay} from 'node:timers/promises'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {NamedCredential, ResolvedConfig, ResolvedProfile} from '../src/config/types.js'
import {silentReporter} from '../src/engine/events.js'
import {planChanges} from '../src/engine/planner.js'
import type {Plan} from '../src/engine/plan.js'
import {MACHINE_KINDS, type ActualResource, type ResourceKind} from '../src/model/resources.js'
import {kindTable, updatableIn, type Provider, type ReadResult, type ResourceKindSpec} from '../src/providers/provider.js'
import {ProviderSet, registerProvider} from '../src/providers/registry.js'
import type {StateDocument} from '../src/state/types.js'

const LATENCY_MS = 50

interface FakeCloud {
  store: Map<string, ActualResource>
  calls: number
}

function fakeProvider(credential: NamedCredential, cloud: FakeCloud): Provider {
  const call = async <T>(fn: () => T): Promise<T> => {
    cloud.calls++
    await delay(LATENCY_MS)
    return fn()
  }
  const bucket = (name: string) => cloud.store.get(`bucket/${name}`) ?? (name.startsWith('data-') ? {id: name, attributes: {name}} : null)
  return {
    kind: 'local',
    credential,
    // A VM cloud's kinds: what the machine needs first (each wanted), then the machine's own.
    compute: kindTable((['identity', 'network', 'sshkey', 'vm', 'bootstrap', 'workload'] as ResourceKind[]).map((kind): ResourceKindSpec => ({
      kind, dependsOn: [], diff: updatableIn(), ...(MACHINE_KINDS.includes(kind) ? {} : {desired: () => ({attributes: {}})}),
      read: (r) => call(() => cloud.store.get(`${r.kind}/${r.name}`) ?? null),
      create: () => Promise.reject(new Error('not in the bench')),
      update: () => Promise.reject(new Error('not in the bench')),
      delete: () => Promise.reject(new Error('not in the bench')),
    }))),
    checkAuth: () => call(() => ({})),
    defaultRegion: () => 'us-east-1',
    zones: () => [],
    readBucket: (name) => call(() => bucket(name)),
    // One listing shows every bucket of the account.
    readBuckets: (names) => call(() => names.map((n): ReadResult => ({value: bucket(n)}))),
    // One list-by-tag call per region for every kind.
    readMany: (requests) => call(() => requests.map(({lookup}): ReadResult => ({value: cloud.store.get(`${lookup.kind}/${lookup.name}`) ?? null}))),
    createBucket: () => Promise.reject(new Error('not in the bench')),
    deleteBucket: () => Promise.reject(new Error('not in the bench')),
  }
}

function config(n: number, dir: string): ResolvedConfig {
  const profiles: Record<string, ResolvedProfile> = {}
  for (let i = 0; i < n; i++) {
    profiles[`p${i}`] = {
      name: `p${i}`, credentials: ['fake'], hardware: {kind: 'vm', vmType: 't3.large'}, spot: true, env: {A: 'b', TOKEN: 'shared-secret-token'}, sensitiveEnv: ['TOKEN'], runtime: 'docker', image: 'img', command: ['run'],
      inputBucket: `data-${i}`, outputBucket: `results-${i}`, persistBucket: false, persist: false, syncIntervalSeconds: 60, extendsChain: [],
    }
  }
  return {file: join(dir, 'anycloud.yaml'), dir, project: 'bench', state: {backend: 'local', path: '.anycloud'}, credentials: {fake: {name: 'fake', origin: 'file', spec: {provider: 'local'}}}, profiles}
}

/** The converged world of a first plan: every change made in the cloud and recorded in state. */
function converge(plan: Plan, cloud: FakeCloud): StateDocument {
  const now = new Date(0).toISOString()
  const state: StateDocument = {formatVersion: 1, lineage: 'bench', serial: 1, project: 'bench', deployments: {}}
  for (const [name, p] of Object.entries(plan.profiles)) state.deployments[name] = {id: p.deploymentId, profile: name, placement: p.placement, createdAt: now, resources: {}}
  for (const c of plan.changes) {
    if (!c.after) continue
    const actual: ActualResource = {id: c.name, attributes: c.after, ...(c.kind === 'workload' ? {phase: 'running' as const} : {})}
    cloud.store.set(c.kind === 'bucket' ? `bucket/${c.name}` : `${c.kind}/${c.name}`, actual)
    state.deployments[c.profile].resources[c.address] = {address: c.address, kind: c.kind, ...(c.role ? {role: c.role} : {}), credential: c.credential, provider: c.provider, name: c.name, id: c.name, status: 'created', attributes: c.after, outputs: {}, updatedAt: now}
  }
  return state
}

export async function benchPlan(): Promise<void> {
  console.log(`== steady plan against a fake provider (+${LATENCY_MS} ms per call), one region`)
  console.log('profiles  calls   time      CPU time   peak RSS')
  const times: Record<number, number> = {}
  const calls: Record<number, number> = {}
  for (const n of [10, 100, 1000]) {
    const dir = mkdtempSync(join(tmpdir(), 'anycloud-bench-plan-'))
    try {
      const cloud: FakeCloud = {store: new Map(), calls: 0}
      registerProvider('local', async () => async ({credential}) => fakeProvider(credential, cloud))
      const cfg = config(n, dir)
      const opts = {config: cfg, profiles: Object.values(cfg.profiles), reporter: silentReporter, stateDir: join(dir, '.anycloud')}
      const first = await planChanges({...opts, state: undefined, lineage: 'bench', providers: new ProviderSet({credentials: cfg.credentials, configDir: dir, env: {}})})
      const state = converge(first, cloud)
      cloud.calls = 0
      const t = performance.now()
      const cpu = process.cpuUsage()
      const steady = await planChanges({...opts, state, providers: new ProviderSet({credentials: cfg.credentials, configDir: dir, env: {}})})
      times[n] = performance.now() - t
      const used = process.cpuUsage(cpu)
      const cpuMs = (used.user + used.system) / 1000
      calls[n] = cloud.calls
      if (steady.summary.create + steady.summary.update + steady.summary.replace + steady.summary.delete > 0) throw new Error(`the steady plan of ${n} profiles has changes: ${JSON.stringify(steady.summary)}`)
      const rss = process.resourceUsage().maxRSS / 1024
      console.log(`${String(n).padStart(8)}  ${String(calls[n]).padStart(5)}  ${times[n].toFixed(0).padStart(6)} ms  ${cpuMs.toFixed(0).padStart(6)} ms  ${rss.toFixed(0)} MiB`)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  }
  console.log(`target: 100 profiles ≤ 12 calls (${calls[100]}); 1,000 profiles within 2x the time of 100 (${(times[1000] / times[100]).toFixed(2)}x)`)
  console.log('(on a loaded machine wall time includes waiting for a CPU: compare the CPU column too)')
}
