/**
 * A VM cloud for measuring steady plans (test/engine/refresh-calls, bench/plan): it batches reads
 * like a cloud with list-by-tag APIs (readMany per region, readBuckets = one listing), counts and
 * logs every call, optionally waits on each, and never applies. `convergeSteadyCloud` makes what a
 * first plan would make, so the next plan is the steady one.
 */
import {setTimeout as delay} from 'node:timers/promises'
import {join} from 'node:path'

import type {NamedCredential, ResolvedConfig, ResolvedProfile} from '../../src/config/types.js'
import type {Plan} from '../../src/engine/plan.js'
import {MACHINE_KINDS, type ActualResource, type ResourceKind} from '../../src/model/resources.js'
import {kindTable, updatableIn, type Provider, type ReadResult, type ResourceKindSpec} from '../../src/providers/provider.js'
import {registerProvider} from '../../src/providers/registry.js'
import type {StateDocument} from '../../src/state/types.js'

export interface SteadyCloud {
  /** What exists, by `kind/name` (`bucket/name` for buckets); buckets named `data-*` always do. */
  store: Map<string, ActualResource>
  /** Provider calls made (one per readMany, whatever it covers). */
  calls: number
  /** What was asked: `read <kind> <name>`, `list <kind> in <region>` (per kind and region of a readMany), `readBucket <name>`, `listBuckets`, `checkAuth`. */
  log: string[]
  /** Added to every call. */
  latencyMs?: number
  /** A profile whose desired resources the provider fails to work out (it throws this message). */
  failDesired?: {profile: string; message: string}
}

export function steadyCloud(latencyMs?: number): SteadyCloud {
  return {store: new Map(), calls: 0, log: [], ...(latencyMs ? {latencyMs} : {})}
}

/** The provider over `cloud` for a credential, of provider kind `kind`. */
export function steadyCloudProvider(kind: string, credential: NamedCredential, cloud: SteadyCloud): Provider {
  // A call is counted and logged when it is made. With a latency, the answer is worked out while
  // the caller waits for it (a cloud does its own work on its own machines: this process has only
  // the one thread, so the answer is made on the next turn of the event loop, not inside the
  // caller's turn), and arrives after the latency.
  const call = async <T>(lines: () => string[], fn: () => T): Promise<T> => {
    cloud.calls++
    if (!cloud.latencyMs) {
      cloud.log.push(...lines())
      return fn()
    }
    const arrives = delay(cloud.latencyMs)
    await new Promise<void>((resolve) => setImmediate(resolve))
    cloud.log.push(...lines())
    const answer = fn()
    await arrives
    return answer
  }
  const bucket = (name: string) => cloud.store.get(`bucket/${name}`) ?? (name.startsWith('data-') ? {id: name, attributes: {name}} : null)
  const refuse = () => Promise.reject(new Error('a steady cloud is never applied to'))
  const wanted = (profile: string) => {
    if (cloud.failDesired?.profile === profile) throw new Error(cloud.failDesired.message)
    return {attributes: {}}
  }
  // The list calls a readMany stands for, in first-asked order: one per kind and region.
  const listed = (requests: Parameters<NonNullable<Provider['readMany']>>[0]): string[] => {
    const lines: string[] = []
    const regions = new Map<string, Set<string>>()
    for (const {lookup, ctx} of requests) {
      const region = ctx.deployment.placement.region
      let kinds = regions.get(region)
      if (!kinds) regions.set(region, (kinds = new Set()))
      if (kinds.has(lookup.kind)) continue
      kinds.add(lookup.kind)
      lines.push(`list ${lookup.kind} in ${region}`)
    }
    return lines
  }
  return {
    kind,
    credential,
    // A VM cloud's kinds: what the machine needs first (each wanted), then the machine's own.
    compute: kindTable((['identity', 'network', 'sshkey', 'vm', 'bootstrap', 'workload'] as ResourceKind[]).map((k): ResourceKindSpec => ({
      kind: k, dependsOn: [], diff: updatableIn(), ...(MACHINE_KINDS.includes(k) ? {} : {desired: (ctx) => wanted(ctx.spec.name)}),
      read: (r) => call(() => [`read ${r.kind} ${r.name}`], () => cloud.store.get(`${r.kind}/${r.name}`) ?? null),
      create: refuse,
      update: refuse,
      delete: refuse,
    }))),
    checkAuth: () => call(() => ['checkAuth'], () => ({})),
    defaultRegion: () => 'region-a',
    zones: () => [],
    readBucket: (name) => call(() => [`readBucket ${name}`], () => bucket(name)),
    // One listing shows every bucket of the account.
    readBuckets: (names) => call(() => ['listBuckets'], () => names.map((n): ReadResult => ({value: bucket(n)}))),
    // One list-by-tag call per region for every kind.
    readMany: (requests) => call(() => listed(requests), () => requests.map(({lookup}): ReadResult => ({value: cloud.store.get(`${lookup.kind}/${lookup.name}`) ?? null}))),
    createBucket: refuse,
    deleteBucket: refuse,
  } as Provider
}

/** Registers the steady cloud as provider kind `kind`; returns the undo (the kind then refuses to load). */
export function useSteadyCloud(kind: string, cloud: () => SteadyCloud): () => void {
  registerProvider(kind, async () => async ({credential}) => steadyCloudProvider(kind, credential, cloud()))
  return () => registerProvider(kind, async () => {
    throw new Error(`the ${kind} provider is registered by tests only`)
  })
}

/** `n` alike docker profiles on one credential of provider kind `kind`, spread over `regions` (none: the provider's default). */
export function steadyConfig(n: number, options: {dir: string; kind: string; project: string; regions?: string[]}): ResolvedConfig {
  const {dir, kind, project, regions = []} = options
  const profiles: Record<string, ResolvedProfile> = {}
  for (let i = 0; i < n; i++) {
    profiles[`p${i}`] = {
      name: `p${i}`, credentials: ['c'], ...(regions.length ? {region: regions[i % regions.length]} : {}), hardware: {kind: 'vm', vmType: 'small'}, spot: true, env: {A: 'b', TOKEN: 'shared'}, sensitiveEnv: ['TOKEN'],
      runtime: 'docker', image: 'img', command: ['run'], inputBucket: `data-${i}`, outputBucket: `results-${i}`, persistBucket: false, persist: false, syncIntervalSeconds: 60, extendsChain: [],
    }
  }
  return {file: join(dir, 'anycloud.yaml'), dir, project, state: {backend: 'local', path: '.anycloud'}, credentials: {c: {name: 'c', origin: 'file', spec: {provider: kind} as never}}, profiles}
}

/** What the first plan would make, made: the cloud holds it and state records it. */
export function convergeSteadyCloud(plan: Plan, cloud: SteadyCloud, project: string): StateDocument {
  const now = new Date(0).toISOString()
  const state: StateDocument = {formatVersion: 1, lineage: project, serial: 1, project, deployments: {}}
  for (const [name, p] of Object.entries(plan.profiles)) state.deployments[name] = {id: p.deploymentId, profile: name, placement: p.placement, createdAt: now, resources: {}}
  for (const c of plan.changes) {
    if (!c.after) continue
    cloud.store.set(c.kind === 'bucket' ? `bucket/${c.name}` : `${c.kind}/${c.name}`, {id: c.name, attributes: c.after, ...(c.kind === 'workload' ? {phase: 'running' as const} : {})})
    state.deployments[c.profile].resources[c.address] = {address: c.address, kind: c.kind, ...(c.role ? {role: c.role} : {}), credential: c.credential, provider: c.provider, name: c.name, id: c.name, status: 'created', attributes: c.after, outputs: {}, updatedAt: now}
  }
  return state
}
