/**
 * In-process engine runs on the in-memory provider (test/helpers/memory-provider.ts), standing in
 * for the `local` credentials of the anycloud.yaml it writes: each credential's `root` is its own
 * memory cloud (`clouds[root]`), nothing is spawned. An optional wrapper injects faults (e.g. an
 * AuthError in a create). The `local` provider itself is tested in test/providers/local.
 */
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {stringify} from 'yaml'

import {openSession, type Session} from '../../src/engine/session.js'
import {kindOps, kindTable, type KindOps, type Provider, type ProviderCallContext, type ResourceLookup} from '../../src/providers/provider.js'
import type {ActualResource, DesiredResource, ResourceRecord} from '../../src/model/resources.js'
import type {ProviderSet} from '../../src/providers/registry.js'
import {memoryCloud, useMemoryProvider, type MemoryCloud} from '../helpers/memory-provider.js'

export interface Harness {
  dir: string
  /** Each credential's cloud, by its root (`cloud` for the default `laptop`). */
  clouds: Record<string, MemoryCloud>
  open(options?: {lock?: string; profiles?: string[]}): Promise<Session>
  /** Wraps every provider the session hands out. */
  wrap(session: Session, wrapper: (credential: string, provider: Provider) => Provider): void
  /** Releases the locks (and connections) of every session opened so far. */
  releaseAll(): Promise<void>
  cleanup(): Promise<void>
}

export function makeHarness(profiles: Record<string, Record<string, unknown>>, credentials: Record<string, string> = {laptop: 'cloud'}): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'anycloud-engine-'))
  const home = join(dir, '.home')
  mkdirSync(home)
  const yaml = stringify({
    version: 1,
    project: 'eng',
    credentials: Object.fromEntries(Object.entries(credentials).map(([n, root]) => [n, {provider: 'local', root}])),
    profiles,
  })
  writeFileSync(join(dir, 'anycloud.yaml'), yaml)
  const clouds: Record<string, MemoryCloud> = Object.fromEntries(Object.values(credentials).map((root) => [root, memoryCloud()]))
  const restore = useMemoryProvider((credential) => clouds[(credential.spec as {root: string}).root], 'local')
  const env = {...process.env, ANYCLOUD_HOME: home}
  const sessions: Session[] = []
  return {
    dir,
    clouds,
    async open(options = {}) {
      const s = await openSession({file: join(dir, 'anycloud.yaml'), env, profiles: options.profiles, lock: options.lock})
      sessions.push(s)
      return s
    },
    wrap(session, wrapper) {
      const inner = session.providers
      const cache = new Map<string, Promise<Provider>>()
      const get = (name: string) => {
        let p = cache.get(name)
        if (!p) {
          p = inner.get(name).then((provider) => wrapper(name, provider))
          cache.set(name, p)
        }
        return p
      }
      session.providers = new Proxy(inner, {
        get: (target, prop) => (prop === 'get' ? get : typeof Reflect.get(target, prop) === 'function' ? (Reflect.get(target, prop) as (...a: unknown[]) => unknown).bind(target) : Reflect.get(target, prop)),
      }) as ProviderSet
    },
    async releaseAll() {
      for (const s of sessions) await s.release()
    },
    async cleanup() {
      try {
        for (const s of sessions) await s.release()
      } finally {
        restore()
        rmSync(dir, {recursive: true, force: true})
      }
    },
  }
}

/** A provider whose methods can be overridden one by one; everything else goes to `inner`. */
/** What a test may swap in a provider: any of its members, or the resource operations of all its kinds. */
export type Overrides = Partial<Provider> & Partial<KindOps>

export function override(inner: Provider, overrides: Overrides): Provider {
  const {read, create, update, delete: remove, ...methods} = overrides
  // Resource operations go through the kind table: each kind's spec, with the overridden operations swapped in.
  const ops = {read, create, update, delete: remove}
  const wrapped = Object.values(ops).some(Boolean)
    ? kindTable([...inner.compute.values()].map((spec) => ({
        ...spec,
        read: (lookup: ResourceLookup, ctx: ProviderCallContext, batch?: unknown) => (read ? read(lookup, ctx) : spec.read(lookup, ctx, batch)),
        create: (r: DesiredResource, ctx: ProviderCallContext) => (create ? create(r, ctx) : spec.create(r, ctx)),
        update: (r: DesiredResource, record: ResourceRecord, ctx: ProviderCallContext) => (update ? update(r, record, ctx) : spec.update(r, record, ctx)),
        delete: (record: ResourceRecord, ctx: ProviderCallContext) => (remove ? remove(record, ctx) : spec.delete(record, ctx)),
      })))
    : undefined
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'compute' && wrapped) return wrapped
      if (prop in methods) return (methods as Record<string | symbol, unknown>)[prop]
      const v = Reflect.get(target, prop, receiver)
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
}

const MACHINE_KINDS = new Set(['bootstrap', 'workload'])

/**
 * A cloud provider with its machine steps (bootstrap, workload: SSH to the VM) answered in memory
 * from what was asked and recorded; everything else, refresh's batch included, is the real
 * provider. `extra` overrides more of it (a fault to inject).
 */
export function stubMachine(p: Provider, extra: Overrides = {}): Provider {
  const fake = (kind: string, id: string, attributes: Record<string, unknown>): ActualResource => ({id, attributes, ...(kind === 'workload' ? {phase: 'running' as const} : {})})
  const methods: Overrides = {
    desiredAttributes: (r, ctx) => (MACHINE_KINDS.has(r.kind) ? {} : (p.desiredAttributes?.(r, ctx) ?? {})),
    read: async (r, ctx) => (MACHINE_KINDS.has(r.kind) ? (r.record ? fake(r.kind, r.record.id, r.record.attributes) : null) : kindOps(p).read(r, ctx)),
    create: async (r, ctx) => (MACHINE_KINDS.has(r.kind) ? fake(r.kind, r.name, r.attributes) : kindOps(p).create(r, ctx)),
    update: async (r, rec, ctx) => (MACHINE_KINDS.has(r.kind) ? fake(r.kind, rec.id, r.attributes) : kindOps(p).update(r, rec, ctx)),
    delete: async (rec, ctx) => (MACHINE_KINDS.has(rec.kind) ? undefined : kindOps(p).delete(rec, ctx)),
  }
  if (p.readMany) {
    const readMany = p.readMany.bind(p)
    methods.readMany = async (requests) => {
      const real = await readMany(requests.filter((q) => !MACHINE_KINDS.has(q.lookup.kind)))
      let i = 0
      return requests.map((q) => (MACHINE_KINDS.has(q.lookup.kind) ? {value: q.lookup.record ? fake(q.lookup.kind, q.lookup.record.id, q.lookup.record.attributes) : null} : real[i++]))
    }
  }
  return override(p, {...methods, ...extra})
}

/** A session's provider set made by `make`, once per credential name; `closeAll` closes what was made. */
export function providersOf(make: (name: string) => Provider): ProviderSet {
  const made = new Map<string, Provider>()
  return {
    get: async (name: string) => {
      if (!made.has(name)) made.set(name, make(name))
      return made.get(name)!
    },
    closeAll: async () => {
      for (const p of made.values()) await p.close?.()
    },
  } as unknown as ProviderSet
}
