/**
 * Plan time against a fake provider that adds 50 ms to every call: 1, 10 and 100 profiles, on an
 * empty state (first plan) and on a converged one (steady state), next to the critical-path lower
 * bound. The chain per deployment is: auth check → every read at once → diff, i.e. 2 round trips.
 */
import {setTimeout as delay} from 'node:timers/promises'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {NamedCredential, ResolvedConfig, ResolvedProfile} from '../src/config/types.js'
import {silentReporter} from '../src/engine/events.js'
import {applyPlan} from '../src/engine/apply.js'
import {planChanges} from '../src/engine/planner.js'
import type {ActualResource, ResourceKind} from '../src/model/resources.js'
import type {Provider} from '../src/providers/provider.js'
import {ProviderSet, registerProvider} from '../src/providers/registry.js'
import {LocalStateStore} from '../src/state/local-store.js'

const LATENCY_MS = 50
const CRITICAL_PATH_ROUND_TRIPS = 2

function fakeProvider(credential: NamedCredential): Provider {
  const store = new Map<string, ActualResource>()
  let calls = 0
  const call = async <T>(fn: () => T): Promise<T> => {
    calls++
    await delay(LATENCY_MS)
    return fn()
  }
  return {
    kind: 'local',
    credential,
    // The fake stands for a provider that batches or tolerates wide fan-out; the bench measures
    // the engine's scheduling against the critical path, not a cloud's rate limit.
    readConcurrency: 1024,
    kinds: new Set<ResourceKind>(['identity', 'network', 'sshkey', 'vm', 'bootstrap', 'workload']),
    get calls() {
      return calls
    },
    checkAuth: () => call(() => ({})),
    defaultRegion: () => 'us-east-1',
    zones: () => [],
    readBucket: (name) => call(() => store.get(`bucket/${name}`) ?? (name.startsWith('data-') ? {id: name, attributes: {name}} : null)),
    createBucket: (r) => call(() => {
      const a = {id: r.name, attributes: r.attributes}
      store.set(`bucket/${r.name}`, a)
      return a
    }),
    deleteBucket: (r) => call(() => ({deleted: store.delete(`bucket/${r.name}`)})),
    read: (r) => call(() => store.get(`${r.kind}/${r.name}`) ?? null),
    create: (r) => call(() => {
      const a: ActualResource = {id: r.name, attributes: r.attributes, ...(r.kind === 'workload' ? {phase: 'running' as const} : {})}
      store.set(`${r.kind}/${r.name}`, a)
      return a
    }),
    update: (r) => call(() => ({id: r.name, attributes: r.attributes})),
    delete: (r) => call(() => void store.delete(`${r.kind}/${r.name}`)),
  } as Provider
}

function config(n: number, dir: string): ResolvedConfig {
  const profiles: Record<string, ResolvedProfile> = {}
  for (let i = 0; i < n; i++) {
    profiles[`p${i}`] = {
      name: `p${i}`, credentials: ['fake'], hardware: {kind: 'vm', vmType: 't3.large'}, spot: true, env: {A: 'b'}, sensitiveEnv: [], runtime: 'docker', image: 'img', command: ['run'],
      inputBucket: `data-${i}`, outputBucket: `results-${i}`, persistBucket: false, persist: false, syncIntervalSeconds: 60, extendsChain: [],
    }
  }
  return {file: join(dir, 'anycloud.yaml'), dir, project: 'bench', state: {backend: 'local', path: '.anycloud'}, credentials: {fake: {name: 'fake', origin: 'file', spec: {provider: 'local'}}}, profiles}
}

export async function benchPlan(): Promise<void> {
  console.log(`== plan against a fake provider (+${LATENCY_MS} ms per call); lower bound = ${CRITICAL_PATH_ROUND_TRIPS} round trips x ${LATENCY_MS} ms = ${CRITICAL_PATH_ROUND_TRIPS * LATENCY_MS} ms`)
  console.log('profiles  first plan    steady plan   ratio(steady/bound)  calls  peak RSS')
  for (const n of [1, 10, 100]) {
    const dir = mkdtempSync(join(tmpdir(), 'anycloud-bench-plan-'))
    try {
      let provider: Provider | undefined
      registerProvider('local', async () => async ({credential}) => (provider ??= fakeProvider(credential)))
      const cfg = config(n, dir)
      const providers = new ProviderSet({credentials: cfg.credentials, configDir: dir, env: {}})
      const store = new LocalStateStore(join(dir, '.anycloud'))
      const opts = {config: cfg, profiles: Object.values(cfg.profiles), providers, reporter: silentReporter, stateDir: store.localDir}
      let t = performance.now()
      const first = await planChanges({...opts, state: undefined})
      const firstMs = performance.now() - t
      const applied = await applyPlan({plan: first, config: cfg, store, state: undefined, providers, reporter: silentReporter, concurrency: 64})
      const before = (provider as unknown as {calls: number}).calls
      t = performance.now()
      await planChanges({...opts, state: applied.state})
      const steadyMs = performance.now() - t
      const calls = (provider as unknown as {calls: number}).calls - before
      const bound = CRITICAL_PATH_ROUND_TRIPS * LATENCY_MS
      const rss = process.resourceUsage().maxRSS / 1024
      console.log(`${String(n).padStart(8)}  ${firstMs.toFixed(0).padStart(7)} ms  ${steadyMs.toFixed(0).padStart(9)} ms   ${(steadyMs / bound).toFixed(2).padStart(8)}x           ${String(calls).padStart(5)}  ${rss.toFixed(0)} MiB`)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  }
  console.log('target: steady plan within 2x of the bound at 100 profiles')
}
