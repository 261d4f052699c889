import {join} from 'node:path'

import type {ResolvedConfig, ResolvedProfile} from '../config/types.js'
import {AnycloudError, AuthError, CapacityError, isAnycloudError} from '../errors/index.js'
import {addressOf, deploymentContext as contextOf, kindRank, type ActualResource, type DeploymentContext, type DesiredResource, type Placement, type ResourceRecord, type WorkloadPhase} from '../model/resources.js'
import {declaredKinds, kindOf, ownershipTags, type Provider, type ProviderCallContext} from '../providers/provider.js'
import type {ProviderSet} from '../providers/registry.js'
import type {DeploymentRecord, StateDocument, StateStore} from '../state/types.js'
import {hashOf} from '../util/hash.js'
import type {Reporter} from './events.js'
import {type GraphNode, walkGraph} from './graph.js'
import type {Change, Plan} from './plan.js'
import {livesOnMachine} from './machine-reach.js'
import {saveWorkloadLog} from './saved-logs.js'
import {StateWriter} from './state-writer.js'

export interface ApplyOptions {
  plan: Plan
  config: ResolvedConfig
  store: StateStore
  state: StateDocument | undefined
  providers: ProviderSet
  reporter: Reporter
  signal?: AbortSignal
  concurrency?: number
  /** Rotate to the next credential on AuthError (fresh applies only; a saved plan is applied exactly). */
  allowRotation?: boolean
  /** Test-only crash point (`after-intent:train.vm`, `after-create:…`): the process kills itself there. */
  crashAt?: string
}

export interface ApplyResult {
  state: StateDocument
  done: string[]
  failed: Array<{address: string; message: string; error: unknown}>
  skipped: Array<{address: string; reason: string}>
  /** Per profile, credentials that failed authentication during this apply. */
  authFailures: Record<string, string[]>
  interrupted: boolean
}

/** Test-only crash points, injected through {@link ApplyOptions.crashAt}: the process kills itself. */
function crashPoint(at: string | undefined, step: string, address: string): void {
  if (at && at === `${step}:${address}`) process.kill(process.pid, 'SIGKILL')
}

/**
 * Where a VM is tried, in order: the zone the profile pins (only); else the zone the deployment
 * landed in before, the other zones of its region, then the zones of the provider's fallback
 * regions when the profile names no region. Placement keeps the deployment's region; the zone
 * says where the VM is. One `{region}` without a zone where the cloud picks.
 */
function zoneCandidates(provider: Provider, ctx: DeploymentContext): Array<{region: string; zone?: string}> {
  const home = ctx.placement.region
  if (ctx.profile.zone) return [{region: home, zone: ctx.profile.zone}]
  const regions = [home, ...(ctx.profile.region ? [] : (provider.fallbackRegions?.(home) ?? []))]
  const out: Array<{region: string; zone?: string}> = []
  const landed = ctx.placement.zone
  if (landed) out.push({region: regions.find((r) => provider.zones(r).includes(landed)) ?? home, zone: landed})
  for (const region of regions) for (const zone of provider.zones(region)) if (zone !== landed) out.push({region, zone})
  return out.length > 0 ? out : [{region: home}]
}

/** Per profile, the kinds its compute provider declares (the order deletes run in, reversed). */
async function declaredPerProfile(plan: Plan, providers: ProviderSet): Promise<Map<string, readonly string[]>> {
  const out = new Map<string, readonly string[]>()
  for (const [name, pp] of Object.entries(plan.profiles)) {
    const provider = await providers.get(pp.placement.credential).catch(() => undefined)
    if (provider) out.set(name, declaredKinds(provider))
  }
  return out
}

/** Applies a plan as a graph walk, saving state after every resource operation. */
export async function applyPlan(options: ApplyOptions): Promise<ApplyResult> {
  const {plan, config, providers, reporter} = options
  // A new state takes the lineage the plan was made for (it salted the plan's sensitive values).
  const writer = new StateWriter(options.store, options.state, config.project, plan.state.lineage ?? undefined)
  const result: ApplyResult = {state: writer.doc, done: [], failed: [], skipped: [], authFailures: {}, interrupted: false}
  const rotating = new Set<string>()
  /** Outcomes worth telling apart from the action's usual one (a bucket kept because it holds data). */
  const notes = new Map<string, string>()

  /** Zones VMs landed in during this apply, by profile (they may differ from the plan's). */
  const landedZones = new Map<string, string>()
  const deploymentContext = (profileName: string): DeploymentContext => {
    const pp = plan.profiles[profileName]
    const rec = writer.doc.deployments[profileName]
    let placement: Placement = pp?.placement ?? rec?.placement
    // The zone a VM landed in (capacity failover) is recorded by its create: later steps keep it,
    // also when this apply re-created it in another zone than the plan's (a replaced VM).
    const landed = landedZones.get(profileName)
    if (pp?.placement && landed) placement = {...pp.placement, zone: landed}
    else if (pp?.placement && !pp.placement.zone && rec?.placement?.zone && rec.placement.credential === pp.placement.credential && rec.placement.region === pp.placement.region) {
      placement = {...pp.placement, zone: rec.placement.zone}
    }
    const profile: ResolvedProfile = config.profiles[profileName] ?? {
      name: profileName, credentials: [], hardware: {kind: 'default'}, spot: false, env: {}, sensitiveEnv: [], runtime: 'process', persistBucket: false, persist: false, syncIntervalSeconds: 60, extendsChain: [],
    }
    return contextOf({project: config.project, deploymentId: pp?.deploymentId ?? rec!.id, lineage: writer.doc.lineage, profile, placement, configDir: config.dir, stateDir: options.store.localDir, credentials: config.credentials})
  }
  const callContext = (change: Change, ctx: DeploymentContext, token?: string): ProviderCallContext => ({
    deployment: ctx,
    records: writer.doc.deployments[change.profile]?.resources ?? {},
    progress: (message) => reporter.emit({type: 'change-progress', address: change.address, message}),
    signal: options.signal,
    token,
  })
  const ensureDeployment = (doc: StateDocument, change: Change, ctx: DeploymentContext) => {
    doc.deployments[change.profile] ??= {id: ctx.deploymentId, profile: change.profile, placement: ctx.placement, createdAt: new Date().toISOString(), resources: {}}
    const d = doc.deployments[change.profile]
    if (change.kind !== 'bucket') d.placement = ctx.placement
    return d
  }
  const desiredOf = (change: Change): DesiredResource => ({
    address: change.address, profile: change.profile, kind: change.kind, ...(change.role ? {role: change.role} : {}), credential: change.credential, provider: change.provider,
    name: change.name, dependsOn: change.dependsOn, attributes: change.after ?? {},
  })

  const create = async (change: Change, ctx: DeploymentContext) => {
    const provider = await providers.get(change.credential)
    const existing = writer.doc.deployments[change.profile]?.resources[change.address]
    const token = existing?.status === 'pending' && existing.token ? existing.token : hashOf([ctx.deploymentId, change.address, change.after, Date.now()], 32)
    const pendingRecord: ResourceRecord = {
      address: change.address, kind: change.kind, ...(change.role ? {role: change.role} : {}), credential: change.credential, provider: change.provider,
      name: change.name, id: change.name, status: 'pending', attributes: change.after ?? {}, outputs: {}, token, updatedAt: new Date().toISOString(),
    }
    await writer.update((doc) => {
      ensureDeployment(doc, change, ctx).resources[change.address] = pendingRecord
    })
    crashPoint(options.crashAt, 'after-intent', change.address)
    const desired = desiredOf(change)
    let actual
    if (change.kind === 'bucket') {
      actual = await provider.createBucket(desired, {region: String(change.after?.region ?? ctx.placement.region), tags: ownershipTags(config.project, ctx.deploymentId, change.address)})
    } else if (change.kind === 'vm') {
      // Capacity errors move to the next zone the profile allows.
      // A zone the profile pins is the only one; otherwise every zone of the region, the one the
      // deployment was in first (a replaced VM goes back there if it can), then, where the
      // provider allows it and the profile pins no region, the zones of its fallback regions.
      const candidates = zoneCandidates(provider, ctx)
      let lastError: unknown
      // A whole region without capacity or quota (the error says the region): its other zones are skipped.
      const regionsOut = new Set<string>()
      for (const {region, zone} of candidates) {
        if (regionsOut.has(region)) continue
        const placement = {...ctx.placement, ...(zone ? {zone} : {})}
        const zctx = {...ctx, placement}
        try {
          actual = await kindOf(provider, change.kind).create(desired, callContext(change, zctx, token))
          reporter.emit({type: 'attempt', profile: change.profile, credential: change.credential, provider: change.provider, region, zone, outcome: 'ok'})
          ctx.placement = placement
          if (zone) landedZones.set(change.profile, zone)
          lastError = undefined
          break
        } catch (error) {
          if (!(error instanceof CapacityError)) throw error
          lastError = error
          if (error.where === region) regionsOut.add(region)
          reporter.emit({type: 'attempt', profile: change.profile, credential: change.credential, provider: change.provider, region, zone, outcome: 'no-capacity', message: error.message})
        }
      }
      if (ctx.placement.spot && (lastError || !actual)) {
        // No spot capacity anywhere the profile allows: remembered for spotFallback.afterMinutesWithoutCapacity.
        await writer.update((doc) => {
          const d = doc.deployments[change.profile]
          if (d) d.spot = {preemptions: 0, counted: [], ...d.spot, noCapacitySince: d.spot?.noCapacitySince ?? new Date().toISOString()}
        })
      } else if (actual && writer.doc.deployments[change.profile]?.spot?.noCapacitySince) {
        await writer.update((doc) => {
          const d = doc.deployments[change.profile]
          if (d?.spot) delete d.spot.noCapacitySince
        })
      }
      if (lastError || !actual) {
        throw new AnycloudError(`no capacity for ${change.address} in ${candidates.map((c) => c.zone).filter(Boolean).join(', ') || ctx.placement.region}: ${(lastError as Error)?.message ?? 'unknown'}`, {code: 'cloud.capacity', source: 'cloud', cause: lastError})
      }
    } else {
      actual = await kindOf(provider, change.kind).create(desired, callContext(change, ctx, token))
    }
    crashPoint(options.crashAt, 'after-create', change.address)
    await writer.update((doc) => {
      const d = ensureDeployment(doc, change, ctx)
      // A VM records the zone it landed in, so the next plan (placed there) sees no zone change.
      const attributes = change.kind === 'vm' && ctx.placement.zone && !ctx.profile.zone ? {...pendingRecord.attributes, zone: ctx.placement.zone} : pendingRecord.attributes
      d.resources[change.address] = {...pendingRecord, attributes, id: actual.id, status: 'created', outputs: {...(actual.outputs ?? {}), ...(actual.phase ? {phase: actual.phase} : {})}, updatedAt: new Date().toISOString()}
      mergeRelated(d, actual)
      if (change.kind === 'workload') d.workload = {phase: actual.phase ?? 'running', specHash: String(change.after?.specHash ?? '')}
    })
  }

  /** Whether this apply deletes (or replaces, deleting the old one) the profile's machine. */
  const machineGoes = (profile: string) =>
    plan.changes.some((c) => c.profile === profile && c.kind === 'vm' && (c.action === 'delete' || c.action === 'replace'))

  /**
   * Before a workload goes, its output's tail is shown and saved under the state directory, with a
   * pointer in state, so `anycloud logs PROFILE` works after the machine is gone. Best effort.
   */
  const captured = new Set<string>()
  const keepOutput = async (change: Change, ctx: DeploymentContext, record: ResourceRecord, provider: Provider) => {
    const dep = writer.doc.deployments[change.profile]
    const phase = dep?.workload?.phase ?? (record.outputs?.phase as WorkloadPhase | undefined)
    const exitCode = dep?.workload?.exitCode ?? (typeof record.outputs?.exitCode === 'number' ? record.outputs.exitCode : undefined)
    try {
      const saved = await saveWorkloadLog(provider, callContext(change, ctx), options.store.localDir, {phase, exitCode})
      if (!saved) return
      await writer.update((doc) => {
        doc.logs = {...(doc.logs ?? {}), [change.profile]: saved.log}
      })
      const how = phase ? ` (${phase}${exitCode !== undefined ? `, exit ${exitCode}` : ''})` : ''
      const head = saved.tail.length > 0 ? `last ${saved.tail.length} line${saved.tail.length === 1 ? '' : 's'} of the workload's output${how}` : `the workload printed nothing${how}`
      reporter.emit({
        type: 'diagnostic', severity: 'info', profile: change.profile,
        message: `${head}; saved to ${join(options.store.localDir, saved.log.file)} (see \`anycloud logs ${change.profile}\`)${saved.tail.map((l) => `\n  | ${l}`).join('')}`,
      })
    } catch (error) {
      if (options.signal?.aborted) throw error
      // A machine already gone (preempted, deleted outside anycloud) has no output left to read.
      if (isAnycloudError(error) && (error.code === 'cloud.not-found' || error.code === 'aws.vm-missing')) return
      reporter.emit({type: 'diagnostic', severity: 'warning', profile: change.profile, message: `${change.address}: could not save the workload's output before deleting it: ${(error as Error).message}`})
    }
  }

  const remove = async (change: Change, ctx: DeploymentContext) => {
    const record = writer.doc.deployments[change.profile]?.resources[change.address]
    if (!record) return
    const provider = await providers.get(record.credential)
    // The first of the machine's resources to go (workload, bootstrap, vm) saves the output first.
    if ((livesOnMachine(record.kind) || record.kind === 'vm') && !captured.has(change.profile)) {
      captured.add(change.profile)
      const dep = writer.doc.deployments[change.profile]
      if (dep?.resources[addressOf(change.profile, 'workload')] || dep?.workload) await keepOutput(change, ctx, record, provider)
    }
    if (record.kind === 'bucket') {
      if (record.role === 'input') return
      // persistBucket keeps the checkpoint bucket through destroy (SPEC §4); state stops tracking it.
      const persisted = record.role === 'checkpoint' && (ctx.profile.persistBucket || (!config.profiles[change.profile] && record.attributes.persist === true))
      const outcome = persisted ? {deleted: false, reason: 'persistBucket is on'} : await provider.deleteBucket(record, {force: record.role === 'checkpoint'})
      if (!outcome.deleted) notes.set(change.address, `kept bucket '${record.name}' (${outcome.reason ?? 'not deleted'}); anycloud no longer tracks it`)
    } else if (livesOnMachine(record.kind) && !provider.keepsMachine && machineGoes(change.profile)) {
      // The machine is deleted in this apply: what lives on it goes with it. Cleaning up first
      // (stopping the workload runs its final upload) is best effort: an unreachable, failing or
      // already-gone machine is a warning and never keeps the VM and its cloud resources alive.
      try {
        await kindOf(provider, record.kind).delete(record, callContext(change, ctx))
      } catch (error) {
        if (options.signal?.aborted) throw error
        const what = record.kind === 'workload' ? 'stop the workload (and its final output upload)' : 'remove the programs and files anycloud wrote'
        reporter.emit({type: 'diagnostic', severity: 'warning', profile: change.profile, message: `${change.address}: could not ${what} on the machine, which is deleted anyway: ${(error as Error).message}`})
        notes.set(change.address, `left to the machine's deletion (the cleanup on it failed: see the warning)`)
      }
    } else {
      await kindOf(provider, record.kind).delete(record, callContext(change, ctx))
    }
    await writer.update((doc) => {
      const d = doc.deployments[change.profile]
      if (!d) return
      delete d.resources[change.address]
      if (change.kind === 'workload' && change.action === 'delete') delete d.workload
      if (Object.keys(d.resources).length === 0 && (plan.destroy || !config.profiles[change.profile])) delete doc.deployments[change.profile]
    })
  }

  // Spot bookkeeping the plan carries (preemptions counted, the on-demand fallback).
  const spotUpdates = Object.entries(plan.profiles).filter(([name, pp]) => pp.spot && writer.doc.deployments[name])
  if (spotUpdates.length > 0) {
    await writer.update((doc) => {
      for (const [name, pp] of spotUpdates) {
        const d = doc.deployments[name]
        if (d) d.spot = {...pp.spot!, ...(d.spot?.noCapacitySince && !pp.spot!.onDemand ? {noCapacitySince: d.spot.noCapacitySince} : {})}
      }
    })
  }

  // State-only changes first: what refresh observed (workload outcomes, adopted resources, forgotten ones).
  const observations = plan.changes.filter((c) => c.action === 'no-op' || c.action === 'read')
  if (observations.some((c) => c.observed || c.after === null)) {
    await writer.update((doc) => {
      for (const c of observations) {
        const d = doc.deployments[c.profile]
        if (c.after === null) {
          if (d) delete d.resources[c.address]
          if (d && Object.keys(d.resources).length === 0 && (plan.destroy || !config.profiles[c.profile])) delete doc.deployments[c.profile]
          continue
        }
        if (!c.observed) continue
        const ctx = deploymentContext(c.profile)
        const dep = ensureDeployment(doc, c, ctx)
        const rec = dep.resources[c.address]
        if (!rec || rec.status === 'pending') {
          dep.resources[c.address] = {
            address: c.address, kind: c.kind, ...(c.role ? {role: c.role} : {}), credential: c.credential, provider: c.provider, name: c.name,
            id: c.observed.id ?? c.name, status: 'created', attributes: c.after, outputs: c.observed.outputs ?? {}, ...(rec?.token ? {token: rec.token} : {}), updatedAt: new Date().toISOString(),
          }
        }
        if (c.kind === 'workload' && c.observed.phase) {
          const r = dep.resources[c.address]
          r.outputs = {...r.outputs, phase: c.observed.phase, ...(c.observed.exitCode !== undefined ? {exitCode: c.observed.exitCode} : {})}
          const finished = c.observed.phase === 'completed' || c.observed.phase === 'failed'
          dep.workload = {phase: c.observed.phase, ...(c.observed.exitCode !== undefined ? {exitCode: c.observed.exitCode} : {}), specHash: String(c.after.specHash ?? ''), ...(finished ? {finishedAt: dep.workload?.finishedAt ?? new Date().toISOString()} : {})}
        }
      }
    })
  }

  const declared = await declaredPerProfile(plan, providers)
  const rankOf = (c: Change) => kindRank(c.address, declared.get(c.profile))
  const actionable = plan.changes.filter((c) => c.action === 'create' || c.action === 'update' || c.action === 'replace' || c.action === 'delete')
  const ids = new Set(actionable.map((c) => c.address))
  // A replace is two nodes: its delete half runs in reverse order with the other deletes (an old VM
  // goes before its old security group), its create half in dependency order after it.
  const DELETE_HALF = '#delete'
  const removalsAbove = (change: Change) =>
    actionable
      .filter((o) => o.profile === change.profile && (o.action === 'delete' || o.action === 'replace') && rankOf(o) > rankOf(change))
      .map((o) => (o.action === 'replace' ? o.address + DELETE_HALF : o.address))
  const failed = (change: Change, error: unknown) => {
    if (error instanceof AuthError && options.allowRotation) {
      rotating.add(change.profile)
      ;(result.authFailures[change.profile] ??= []).push(change.credential)
    }
    reporter.emit({type: 'change-failed', address: change.address, action: change.action, message: error instanceof Error ? error.message : String(error)})
    return error
  }
  const guardRotation = (change: Change) => {
    if (rotating.has(change.profile)) throw new AnycloudError(`skipped: credential ${change.credential} failed authentication`, {code: 'rotating', source: 'cloud'})
  }
  const started = new Map<string, number>()
  const nodes: GraphNode[] = []
  for (const change of actionable) {
    if (change.action === 'replace') {
      nodes.push({
        id: change.address + DELETE_HALF,
        dependsOn: removalsAbove(change),
        run: async () => {
          guardRotation(change)
          const ctx = deploymentContext(change.profile)
          reporter.emit({type: 'change-start', address: change.address, action: change.action})
          started.set(change.address, Date.now())
          const old = writer.doc.deployments[change.profile]?.resources[change.address]
          try {
            if (old && old.credential !== change.credential) {
              // A move: the old credential may be the one that stopped authenticating. Its
              // failure must neither block the new resource nor be blamed on the new credential.
              await remove(change, ctx).catch((error: unknown) => {
                reporter.emit({type: 'change-progress', address: change.address, message: `could not delete the old ${change.address} on credential '${old.credential}' (${(error as Error).message}); it is no longer tracked: delete '${old.name}' there by hand`})
              })
            } else await remove(change, ctx)
          } catch (error) {
            throw failed(change, error)
          }
        },
      })
    }
    const dependsOn =
      change.action === 'delete'
        ? removalsAbove(change)
        : [...change.dependsOn.filter((d) => ids.has(d)), ...removalsAbove(change), ...(change.action === 'replace' ? [change.address + DELETE_HALF] : [])]
    nodes.push({
      id: change.address,
      dependsOn,
      run: async () => {
        guardRotation(change)
        const ctx = deploymentContext(change.profile)
        if (change.action !== 'replace') {
          reporter.emit({type: 'change-start', address: change.address, action: change.action})
          started.set(change.address, Date.now())
        }
        try {
          switch (change.action) {
            case 'create':
            case 'replace':
              await create(change, ctx)
              break
            case 'update': {
              const provider = await providers.get(change.credential)
              const record = writer.doc.deployments[change.profile]?.resources[change.address]
              if (!record) {
                await create(change, ctx)
                break
              }
              const actual = await kindOf(provider, change.kind).update(desiredOf(change), record, callContext(change, ctx))
              await writer.update((doc) => {
                const r = doc.deployments[change.profile].resources[change.address]
                r.attributes = change.after ?? r.attributes
                r.outputs = {...r.outputs, ...(actual.outputs ?? {})}
                r.updatedAt = new Date().toISOString()
                mergeRelated(doc.deployments[change.profile], actual)
              })
              break
            }
            case 'delete':
              await remove(change, ctx)
              break
            default:
              break
          }
          const note = notes.get(change.address)
          reporter.emit({type: 'change-done', address: change.address, action: change.action, elapsedMs: Date.now() - (started.get(change.address) ?? Date.now()), ...(note ? {note} : {})})
        } catch (error) {
          throw failed(change, error)
        }
      },
    })
  }
  const outcomes = await walkGraph(nodes, {
    concurrency: options.concurrency ?? 8,
    signal: options.signal,
    onSkip: (id, reason) => {
      if (id.endsWith(DELETE_HALF)) return
      const change = actionable.find((c) => c.address === id)!
      reporter.emit({type: 'change-skipped', address: id, action: change.action, reason: reason.replaceAll(DELETE_HALF, '')})
    },
  })
  await writer.flush()
  for (const [id, outcome] of outcomes) {
    // A replace's delete half reports under its address only when it failed (then its create half was skipped).
    const address = id.endsWith(DELETE_HALF) ? id.slice(0, -DELETE_HALF.length) : id
    if (id.endsWith(DELETE_HALF) && outcome.status !== 'failed') continue
    if (outcome.status === 'done') result.done.push(address)
    else if (outcome.status === 'skipped') {
      if (!outcomes.has(address + DELETE_HALF) || outcomes.get(address + DELETE_HALF)!.status !== 'failed') result.skipped.push({address, reason: outcome.reason.replaceAll(DELETE_HALF, '')})
    } else result.failed.push({address, message: (outcome.error as Error)?.message ?? String(outcome.error), error: outcome.error})
  }
  result.interrupted = Boolean(options.signal?.aborted)
  result.state = writer.doc
  return result
}

/** Merges what an operation learned about other records of its deployment (see ActualResource.related). */
function mergeRelated(deployment: DeploymentRecord, actual: ActualResource): void {
  for (const [address, outputs] of Object.entries(actual.related ?? {})) {
    const record = deployment.resources[address]
    if (record) record.outputs = {...record.outputs, ...outputs}
  }
}
