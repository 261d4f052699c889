import {join} from 'node:path'

import {AnycloudError, CapacityError, isAnycloudError} from '../errors/index.js'
import {addressOf, type ActualResource, type DeploymentContext, type DesiredResource, type ResourceRecord, type WorkloadPhase} from '../model/resources.js'
import {kindOf, ownershipTags, VM_MISSING, type Provider} from '../providers/provider.js'
import type {DeploymentRecord} from '../state/types.js'
import {hashOf} from '../util/hash.js'
import type {ApplyRun} from './apply-run.js'
import {livesOnMachine} from './machine-reach.js'
import type {Change} from './plan.js'
import {saveWorkloadLog} from './saved-logs.js'

/**
 * One resource operation of an apply: create (intent saved first, with an idempotency token;
 * zone failover for a VM), update in place, or delete (the bucket-keeping rules, the machine's
 * output saved first, best-effort cleanup of a machine that goes anyway). State is saved after each.
 */

/**
 * Where a VM is tried, in order: the zone the profile pins (only); else the zone the deployment
 * landed in before, the other zones of its region, then the zones of the provider's fallback
 * regions when the profile names no region. Placement keeps the deployment's region; the zone
 * says where the VM is. One `{region}` without a zone where the cloud picks.
 */
function zoneCandidates(provider: Provider, ctx: DeploymentContext): Array<{region: string; zone?: string}> {
  const home = ctx.placement.region
  if (ctx.spec.placement.zone) return [{region: home, zone: ctx.spec.placement.zone}]
  const regions = [home, ...(ctx.spec.placement.region ? [] : (provider.fallbackRegions?.(home) ?? []))]
  const out: Array<{region: string; zone?: string}> = []
  const landed = ctx.placement.zone
  if (landed) out.push({region: regions.find((r) => provider.zones(r).includes(landed)) ?? home, zone: landed})
  for (const region of regions) for (const zone of provider.zones(region)) if (zone !== landed) out.push({region, zone})
  return out.length > 0 ? out : [{region: home}]
}

/**
 * Creates a VM, moving to the next zone the profile allows on a capacity error (a whole region
 * without capacity or quota skips that region's other zones). Sets `ctx.placement` to where it landed.
 */
async function createVm(run: ApplyRun, change: Change, ctx: DeploymentContext, provider: Provider, desired: DesiredResource, token: string): Promise<ActualResource> {
  const {reporter} = run.options
  const candidates = zoneCandidates(provider, ctx)
  let lastError: unknown
  let actual: ActualResource | undefined
  const regionsOut = new Set<string>()
  const attempt = {type: 'attempt' as const, profile: change.profile, credential: change.credential, provider: change.provider}
  for (const {region, zone} of candidates) {
    if (regionsOut.has(region)) continue
    const placement = {...ctx.placement, ...(zone ? {zone} : {})}
    try {
      actual = await kindOf(provider, change.kind).create(desired, run.callContext(change, {...ctx, placement}, token))
      reporter.emit({...attempt, region, zone, outcome: 'ok'})
      ctx.placement = placement
      if (zone) run.landedZones.set(change.profile, zone)
      lastError = undefined
      break
    } catch (error) {
      if (!(error instanceof CapacityError)) throw error
      lastError = error
      if (error.where === region) regionsOut.add(region)
      reporter.emit({...attempt, region, zone, outcome: 'no-capacity', message: error.message})
    }
  }
  await rememberCapacity(run, change, ctx, Boolean(actual && !lastError))
  if (lastError || !actual) {
    throw new AnycloudError(`no capacity for ${change.address} in ${candidates.map((c) => c.zone).filter(Boolean).join(', ') || ctx.placement.region}: ${(lastError as Error)?.message ?? 'unknown'} (credential '${ctx.placement.credential}', cloud ${ctx.placement.provider})`, {code: 'cloud.capacity', source: 'cloud', cause: lastError})
  }
  return actual
}

/** No spot capacity anywhere the profile allows: remembered for spotFallback.afterMinutesWithoutCapacity (forgotten once a VM launches). */
async function rememberCapacity(run: ApplyRun, change: Change, ctx: DeploymentContext, launched: boolean): Promise<void> {
  const {writer} = run
  if (ctx.placement.spot && !launched) {
    await writer.update((doc) => {
      const d = doc.deployments[change.profile]
      if (d) d.spot = {preemptions: 0, counted: [], ...d.spot, noCapacitySince: d.spot?.noCapacitySince ?? new Date().toISOString()}
    })
  } else if (launched && writer.doc.deployments[change.profile]?.spot?.noCapacitySince) {
    await writer.update((doc) => {
      const d = doc.deployments[change.profile]
      if (d?.spot) delete d.spot.noCapacitySince
    })
  }
}

/** Merges what an operation learned about other records of its deployment (see ActualResource.related). */
function mergeRelated(deployment: DeploymentRecord, actual: ActualResource): void {
  for (const [address, outputs] of Object.entries(actual.related ?? {})) {
    const record = deployment.resources[address]
    if (record) record.outputs = {...record.outputs, ...outputs}
  }
}

/** Creates a resource: the intent (a pending record with its idempotency token) is saved first, the result after. */
export async function createResource(run: ApplyRun, change: Change, ctx: DeploymentContext): Promise<void> {
  const {writer} = run
  const provider = await run.options.providers.get(change.credential)
  const existing = writer.doc.deployments[change.profile]?.resources[change.address]
  const token = existing?.status === 'pending' && existing.token ? existing.token : hashOf([ctx.deploymentId, change.address, change.after, Date.now()], 32)
  const pendingRecord: ResourceRecord = {
    address: change.address, kind: change.kind, ...(change.role ? {role: change.role} : {}), credential: change.credential, provider: change.provider,
    name: change.name, id: change.name, status: 'pending', attributes: change.after ?? {}, outputs: {}, token, updatedAt: new Date().toISOString(),
  }
  await writer.update((doc) => {
    run.ensureDeployment(doc, change, ctx).resources[change.address] = pendingRecord
  })
  run.crashPoint('after-intent', change.address)
  const desired = run.desiredOf(change)
  const actual =
    change.kind === 'bucket'
      ? await provider.createBucket(desired, {region: String(change.after?.region ?? ctx.placement.region), tags: ownershipTags(run.options.config.project, ctx.deploymentId, change.address)})
      : change.kind === 'vm'
        ? await createVm(run, change, ctx, provider, desired, token)
        : await kindOf(provider, change.kind).create(desired, run.callContext(change, ctx, token))
  run.crashPoint('after-create', change.address)
  await writer.update((doc) => {
    const d = run.ensureDeployment(doc, change, ctx)
    // A VM records the zone it landed in, so the next plan (placed there) sees no zone change.
    const attributes = change.kind === 'vm' && ctx.placement.zone && !ctx.spec.placement.zone ? {...pendingRecord.attributes, zone: ctx.placement.zone} : pendingRecord.attributes
    d.resources[change.address] = {...pendingRecord, attributes, id: actual.id, status: 'created', outputs: {...(actual.outputs ?? {}), ...(actual.phase ? {phase: actual.phase} : {})}, updatedAt: new Date().toISOString()}
    mergeRelated(d, actual)
    if (change.kind === 'workload') d.workload = {phase: actual.phase ?? 'running', specHash: String(change.after?.specHash ?? '')}
  })
}

/** Updates a resource in place (created instead when state lost its record). */
export async function updateResource(run: ApplyRun, change: Change, ctx: DeploymentContext): Promise<void> {
  const provider = await run.options.providers.get(change.credential)
  const record = run.writer.doc.deployments[change.profile]?.resources[change.address]
  if (!record) return createResource(run, change, ctx)
  const actual = await kindOf(provider, change.kind).update(run.desiredOf(change), record, run.callContext(change, ctx))
  await run.writer.update((doc) => {
    const r = doc.deployments[change.profile].resources[change.address]
    r.attributes = change.after ?? r.attributes
    r.outputs = {...r.outputs, ...(actual.outputs ?? {})}
    r.updatedAt = new Date().toISOString()
    mergeRelated(doc.deployments[change.profile], actual)
  })
}

/**
 * Before a workload goes, its output's tail is shown and saved under the state directory, with a
 * pointer in state, so `anycloud logs PROFILE` works after the machine is gone. Best effort.
 */
async function keepOutput(run: ApplyRun, change: Change, ctx: DeploymentContext, record: ResourceRecord, provider: Provider): Promise<void> {
  const {reporter, store, signal} = run.options
  const dep = run.writer.doc.deployments[change.profile]
  const phase = dep?.workload?.phase ?? (record.outputs?.phase as WorkloadPhase | undefined)
  const exitCode = dep?.workload?.exitCode ?? (typeof record.outputs?.exitCode === 'number' ? record.outputs.exitCode : undefined)
  try {
    const saved = await saveWorkloadLog(provider, run.callContext(change, ctx), store.localDir, {phase, exitCode})
    if (!saved) return
    await run.writer.update((doc) => {
      doc.logs = {...(doc.logs ?? {}), [change.profile]: saved.log}
    })
    const how = phase ? ` (${phase}${exitCode !== undefined ? `, exit ${exitCode}` : ''})` : ''
    const head = saved.tail.length > 0 ? `last ${saved.tail.length} line${saved.tail.length === 1 ? '' : 's'} of the workload's output${how}` : `the workload printed nothing${how}`
    reporter.emit({
      type: 'diagnostic', severity: 'info', profile: change.profile,
      message: `${head}; saved to ${join(store.localDir, saved.log.file)} (see \`anycloud logs ${change.profile}\`)${saved.tail.map((l) => `\n  | ${l}`).join('')}`,
    })
  } catch (error) {
    if (signal?.aborted) throw error
    // A machine already gone (preempted, deleted outside anycloud) has no output left to read.
    if (isAnycloudError(error) && (error.code === 'cloud.not-found' || error.code === VM_MISSING)) return
    reporter.emit({type: 'diagnostic', severity: 'warning', profile: change.profile, message: `${change.address}: could not save the workload's output before deleting it: ${(error as Error).message}`})
  }
}

/** Input buckets are never deleted; persistBucket keeps the checkpoint bucket (SPEC §4); a bucket holding data is kept. State stops tracking each. */
async function removeBucket(run: ApplyRun, change: Change, ctx: DeploymentContext, record: ResourceRecord, provider: Provider): Promise<void> {
  if (record.role === 'input') return
  const persisted = record.role === 'checkpoint' && (ctx.spec.persistBucket || (!run.options.config.profiles[change.profile] && record.attributes.persist === true))
  const outcome = persisted ? {deleted: false, reason: 'persistBucket is on'} : await provider.deleteBucket(record, {force: record.role === 'checkpoint'})
  if (!outcome.deleted) run.notes.set(change.address, `kept bucket '${record.name}' (${outcome.reason ?? 'not deleted'}); anycloud no longer tracks it`)
}

/**
 * The machine is deleted in this apply: what lives on it goes with it. Cleaning up first
 * (stopping the workload runs its final upload) is best effort: an unreachable, failing or
 * already-gone machine is a warning and never keeps the VM and its cloud resources alive.
 */
async function removeFromDoomedMachine(run: ApplyRun, change: Change, ctx: DeploymentContext, record: ResourceRecord, provider: Provider): Promise<void> {
  try {
    await kindOf(provider, record.kind).delete(record, run.callContext(change, ctx))
  } catch (error) {
    if (run.options.signal?.aborted) throw error
    const what = record.kind === 'workload' ? 'stop the workload (and its final output upload)' : 'remove the programs and files anycloud wrote'
    run.options.reporter.emit({type: 'diagnostic', severity: 'warning', profile: change.profile, message: `${change.address}: could not ${what} on the machine, which is deleted anyway: ${(error as Error).message}`})
    run.notes.set(change.address, `left to the machine's deletion (the cleanup on it failed: see the warning)`)
  }
}

/** Deletes a recorded resource, then forgets it. */
export async function removeResource(run: ApplyRun, change: Change, ctx: DeploymentContext): Promise<void> {
  const {writer} = run
  const record = writer.doc.deployments[change.profile]?.resources[change.address]
  if (!record) return
  const provider = await run.options.providers.get(record.credential)
  // The first of the machine's resources to go (workload, bootstrap, vm) saves the output first.
  if ((livesOnMachine(record.kind) || record.kind === 'vm') && !run.captured.has(change.profile)) {
    run.captured.add(change.profile)
    const dep = writer.doc.deployments[change.profile]
    if (dep?.resources[addressOf(change.profile, 'workload')] || dep?.workload) await keepOutput(run, change, ctx, record, provider)
  }
  if (record.kind === 'bucket') await removeBucket(run, change, ctx, record, provider)
  else if (livesOnMachine(record.kind) && !provider.keepsMachine && run.machineGoes(change.profile)) await removeFromDoomedMachine(run, change, ctx, record, provider)
  else await kindOf(provider, record.kind).delete(record, run.callContext(change, ctx))
  await writer.update((doc) => {
    const d = doc.deployments[change.profile]
    if (!d) return
    delete d.resources[change.address]
    if (change.kind === 'workload' && change.action === 'delete') delete d.workload
    run.dropIfEmpty(doc, change.profile)
  })
}
