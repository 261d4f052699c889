import {basename} from 'node:path'

import {resourceNameProblems} from '../model/bucket-names.js'
import {parseGpuType} from '../model/gpu-catalog.js'
import type {Credential, State} from './schema-types.js'
import type {Hardware, NamedCredential, ResolvedProfile, Runtime} from './types.js'

/** Where each merged field came from (for diagnostics on resolved values). */
export type Origins = Record<string, Array<string | number>>

export interface MergedProfile {
  fields: Record<string, unknown>
  origins: Origins
  /** Nearest first; stops before a cycle or an unknown parent (the rules report those). */
  chain: string[]
  /** Set when the extends chain loops: the names in order, the first repeated at the end. */
  cycle?: string[]
}

export const DEFAULT_SYNC_INTERVAL_SECONDS = 60
export const DEFAULT_STATE: State = {backend: 'local', path: '.anycloud'}
/** The credential used when a file names none and none is stored: everything on this machine. */
export const IMPLICIT_LOCAL: NamedCredential = {name: 'local', origin: 'implicit', spec: {provider: 'local'}}

type Layer = {fields: Record<string, unknown>; at: Array<string | number>}

/**
 * defaults + the extends chain (root first) + the profile, like CloudConfig.replace(): a field set
 * closer to the profile replaces the inherited one wholesale. Setting one of vmType/gpuType drops the
 * other inherited one (both set on the same level is an error the rules report).
 */
export function mergeProfile(name: string, profiles: Record<string, unknown>, defaults: unknown): MergedProfile {
  const chain: string[] = []
  const layers: Layer[] = []
  let current: string | undefined = name
  const visited: string[] = []
  let cycle: string[] | undefined
  while (current !== undefined) {
    if (visited.includes(current)) {
      cycle = [...visited.slice(visited.indexOf(current)), current]
      break
    }
    visited.push(current)
    const raw: unknown = profiles[current]
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) break
    if (current !== name) chain.push(current)
    layers.unshift({fields: raw as Record<string, unknown>, at: ['profiles', current]})
    const parent: unknown = (raw as Record<string, unknown>).extends
    current = typeof parent === 'string' ? parent : undefined
  }
  if (defaults && typeof defaults === 'object' && !Array.isArray(defaults)) layers.unshift({fields: defaults as Record<string, unknown>, at: ['defaults']})
  const fields: Record<string, unknown> = {}
  const origins: Origins = {}
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer.fields)) {
      if (key === 'extends') continue
      if (key === 'vmType' && !('gpuType' in layer.fields)) delete fields.gpuType
      if (key === 'gpuType' && !('vmType' in layer.fields)) delete fields.vmType
      fields[key] = value
      origins[key] = [...layer.at, key]
    }
  }
  return {fields, origins, chain, cycle}
}

/**
 * The project name from the folder: lowercase, `[a-z0-9-]`, starting with a letter, at most 24
 * characters, usable in resource names; `anycloud` when nothing usable is left.
 */
export function sanitizeProjectName(dir: string): string {
  let name = basename(dir).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^[-0-9]+/, '')
  name = name.slice(0, 24).replace(/-+$/, '')
  // A folder like `google-drive` cannot name cloud resources (GCS refuses "google"): use the default.
  return name && resourceNameProblems(name, 'project').length === 0 ? name : 'anycloud'
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const bool = (v: unknown): boolean => v === true

/** Builds the resolved profile from merged fields; only called once the rules found no error. */
export function toResolvedProfile(name: string, merged: MergedProfile, credentials: string[], sensitiveEnv: string[]): ResolvedProfile {
  const f = merged.fields
  let hardware: Hardware = {kind: 'default'}
  if (typeof f.vmType === 'string') hardware = {kind: 'vm', vmType: f.vmType}
  else if (typeof f.gpuType === 'string') {
    const parsed = parseGpuType(f.gpuType)
    if (!parsed.ok) throw new Error(`unvalidated gpuType reached resolution: ${parsed.error}`)
    hardware = {kind: 'gpu', gpuType: f.gpuType, name: parsed.value.name, count: parsed.value.count}
  }
  const image = str(f.image)
  const runtime: Runtime = (str(f.runtime) as Runtime | undefined) ?? (image ? 'docker' : 'process')
  const env = (f.env && typeof f.env === 'object' ? f.env : {}) as Record<string, string>
  const storage = (cred: unknown, region: unknown) => (typeof cred === 'string' ? {credential: cred, region: str(region)} : undefined)
  return {
    name,
    credentials,
    hardware,
    gpus: f.gpus as 'all' | number | undefined,
    region: str(f.region),
    zone: str(f.zone),
    spot: bool(f.spot),
    diskSizeGb: typeof f.diskSizeGb === 'number' ? f.diskSizeGb : undefined,
    shmSize: f.shmSize as string | number | undefined,
    image,
    command: f.command as string[] | string | undefined,
    env: {...env},
    sensitiveEnv: [...sensitiveEnv].sort(),
    runtime,
    inputBucket: str(f.inputBucket),
    outputBucket: str(f.outputBucket),
    inputStorage: storage(f.inputStorageCredentials, f.inputStorageRegion),
    outputStorage: storage(f.outputStorageCredentials, f.outputStorageRegion),
    persistBucket: bool(f.persistBucket),
    ...(spotFallbackOf(f.spotFallback) ? {spotFallback: spotFallbackOf(f.spotFallback)} : {}),
    persist: bool(f.persist),
    ...(Array.isArray(f.sshAllowFrom) ? {sshAllowFrom: (f.sshAllowFrom as string[]).map(String)} : {}),
    syncIntervalSeconds: typeof f.syncIntervalSeconds === 'number' ? f.syncIntervalSeconds : DEFAULT_SYNC_INTERVAL_SECONDS,
    extendsChain: merged.chain,
  }
}

/** The file's credentials over the store's (the file wins on a shared name). */
export function knownCredentials(fileCredentials: unknown, stored: Record<string, Credential>): Record<string, NamedCredential> {
  const out: Record<string, NamedCredential> = {}
  for (const [name, spec] of Object.entries(stored)) out[name] = {name, origin: 'store', spec}
  if (fileCredentials && typeof fileCredentials === 'object') {
    for (const [name, spec] of Object.entries(fileCredentials as Record<string, Credential>)) out[name] = {name, origin: 'file', spec}
  }
  return out
}

function spotFallbackOf(v: unknown): ResolvedProfile['spotFallback'] {
  if (!v || typeof v !== 'object') return undefined
  const o = v as Record<string, unknown>
  const out: NonNullable<ResolvedProfile['spotFallback']> = {}
  if (typeof o.afterPreemptions === 'number') out.afterPreemptions = o.afterPreemptions
  if (typeof o.afterMinutesWithoutCapacity === 'number') out.afterMinutesWithoutCapacity = o.afterMinutesWithoutCapacity
  return Object.keys(out).length > 0 ? out : undefined
}
