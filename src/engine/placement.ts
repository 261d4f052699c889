import type {ResolvedConfig, ResolvedProfile} from '../config/types.js'
import {AuthError} from '../errors/index.js'
import {workloadParts} from '../model/deployment-spec.js'
import {addressOf, type Placement} from '../model/resources.js'
import type {Provider} from '../providers/provider.js'
import type {ProviderSet} from '../providers/registry.js'
import type {DeploymentRecord} from '../state/types.js'
import {workloadSpecMatches} from './desired.js'
import type {Reporter} from './events.js'

export type AuthResult = {ok: true} | {ok: false; error: Error}

export interface PlacementOptions {
  config: ResolvedConfig
  providers: ProviderSet
  reporter: Reporter
  /** Credentials that failed at apply, per profile: placement skips them. */
  excludeCredentials?: Record<string, string[]>
  replace: ReadonlySet<string>
  /** One auth check per credential per run (memoised by the caller). */
  checkAuth(credential: string): Promise<AuthResult>
  /** The state's lineage (salt of sensitive values' hashes). */
  lineage: string
}

/** Where a deployment goes: a placement, a reason none was found, or nothing to place (destroy of what never ran). */
export type PlacementOutcome = {placement: Placement} | {failure: string} | {nothing: true}

/**
 * Where the profile wants to run on a credential: region, zone, spot and vmType come from the file
 * (a change there must show in the plan); the zone a VM landed in is kept while the region stays.
 */
function placementOn(profile: ResolvedProfile, config: ResolvedConfig, name: string, kind: Placement['provider'], defaultRegion: string, recorded?: Placement): Placement {
  const region = profile.region ?? (config.credentials[name].spec as {region?: string}).region ?? defaultRegion
  const zone = profile.zone ?? (recorded && recorded.credential === name && recorded.region === region ? recorded.zone : undefined)
  const {spot} = profile
  const vmType = profile.hardware.kind === 'vm' ? profile.hardware.vmType : undefined
  // Whole literals in plan JSON's key order (no spreads of throwaway objects: a plan makes thousands).
  if (zone) return vmType === undefined ? {credential: name, provider: kind, region, zone, spot} : {credential: name, provider: kind, region, zone, spot, vmType}
  return vmType === undefined ? {credential: name, provider: kind, region, spot} : {credential: name, provider: kind, region, spot, vmType}
}

/** Whether the recorded placement still holds: its credential is listed, not excluded, and something lives or finished there. */
export function keepsRecorded(profile: ResolvedProfile, record: DeploymentRecord | undefined, destroy: boolean, options: PlacementOptions): boolean {
  if (!record?.placement) return false
  const {credential} = record.placement
  if (!profile.credentials.includes(credential) || options.excludeCredentials?.[profile.name]?.includes(credential)) return false
  let hasLive = false
  for (const address in record.resources) {
    const {kind} = record.resources[address]
    if (kind !== 'bucket' && kind !== 'workload') {
      hasLive = true
      break
    }
  }
  // A job that finished with the spec the file still has stays where it ran: there is nothing to
  // place, and re-placing would move (re-create elsewhere, delete here) the buckets it left.
  const w = record.workload
  const finishedHere = Boolean(w && (w.phase === 'completed' || w.phase === 'failed') && workloadSpecMatches(w.specHash, workloadParts(profile), options.lineage, record.resources[addressOf(profile.name, 'workload')]?.attributes) && !options.replace.has(addressOf(profile.name, 'workload')))
  return hasLive || finishedHere || destroy
}

/** Credential rotation: the first listed credential that authenticates, each attempt reported. */
async function rotate(profile: ResolvedProfile, record: DeploymentRecord | undefined, options: PlacementOptions): Promise<PlacementOutcome> {
  const excluded = new Set(options.excludeCredentials?.[profile.name] ?? [])
  for (const name of profile.credentials) {
    if (excluded.has(name)) continue
    const result = await options.checkAuth(name)
    const provider = await options.providers.get(name)
    const region = profile.region ?? (options.config.credentials[name].spec as {region?: string}).region ?? provider.defaultRegion()
    if (result.ok) {
      options.reporter.emit({type: 'attempt', profile: profile.name, credential: name, provider: provider.kind, region, outcome: 'ok'})
      return {placement: placementOn(profile, options.config, name, provider.kind, provider.defaultRegion(), record?.placement)}
    }
    const outcome = result.error instanceof AuthError ? 'auth-failed' : 'error'
    options.reporter.emit({type: 'attempt', profile: profile.name, credential: name, provider: provider.kind, region, outcome, message: result.error.message})
    if (!(result.error instanceof AuthError)) throw result.error
  }
  return {failure: `no listed credential authenticates (${profile.credentials.join(', ')}): ${profile.credentials.length > 1 ? 'each was tried in order' : 'check it with `anycloud credentials test`'}`}
}

/**
 * Where a deployment {@link keepsRecorded} keeps goes: the recorded placement as the file now asks
 * for it there (a destroy: as recorded). `provider`: the recorded credential's (a destroy needs none).
 */
export function placeKept(profile: ResolvedProfile, record: DeploymentRecord, destroy: boolean, options: PlacementOptions, provider: Provider | undefined): Placement {
  const recorded = record.placement!
  if (destroy) return recorded
  return placementOn(profile, options.config, recorded.credential, recorded.provider, provider!.defaultRegion(), recorded)
}

/**
 * The placement stage (before refresh and plan): the recorded placement while its credential is
 * still listed, else the first listed credential that authenticates. A destroy never re-places.
 */
export async function placeProfile(profile: ResolvedProfile, record: DeploymentRecord | undefined, destroy: boolean, options: PlacementOptions): Promise<PlacementOutcome> {
  if (keepsRecorded(profile, record, destroy, options)) return {placement: placeKept(profile, record!, destroy, options, destroy ? undefined : await options.providers.get(record!.placement!.credential))}
  if (!destroy) return rotate(profile, record, options)
  return record?.placement ? {placement: record.placement} : {nothing: true}
}
