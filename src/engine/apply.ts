import {AnycloudError, AuthError} from '../errors/index.js'
import {kindRank} from '../model/resources.js'
import {declaredKinds} from '../providers/provider.js'
import {createResource, removeResource, updateResource} from './apply-operation.js'
import {ApplyRun, type ApplyOptions, type ApplyResult} from './apply-run.js'
import {type GraphNode, type NodeOutcome, walkGraph} from './graph.js'
import type {Change, Plan} from './plan.js'

export type {ApplyOptions, ApplyResult} from './apply-run.js'

/**
 * Applying a plan, in three parts: the graph of its changes (a replace split in its delete and
 * create halves), one resource operation per node (apply-operation.ts), and the nodes' outcomes
 * folded into the result.
 */

/** A replace is two nodes: its delete half runs in reverse order with the other deletes (an old VM goes before its old security group), its create half in dependency order after it. */
const DELETE_HALF = '#delete'

/** Per profile, the kinds its compute provider declares (the order deletes run in, reversed). */
async function declaredPerProfile(plan: Plan, run: ApplyRun): Promise<Map<string, readonly string[]>> {
  const out = new Map<string, readonly string[]>()
  for (const [name, pp] of Object.entries(plan.profiles)) {
    const provider = await run.options.providers.get(pp.placement.credential).catch(() => undefined)
    if (provider) out.set(name, declaredKinds(provider))
  }
  return out
}

/** A failed operation: reported; an AuthError starts the rotation away from its credential (fresh applies only). */
function failed(run: ApplyRun, change: Change, error: unknown): unknown {
  if (error instanceof AuthError && run.options.allowRotation) {
    run.rotating.add(change.profile)
    ;(run.result.authFailures[change.profile] ??= []).push(change.credential)
  }
  run.options.reporter.emit({type: 'change-failed', address: change.address, action: change.action, message: error instanceof Error ? error.message : String(error)})
  return error
}

function guardRotation(run: ApplyRun, change: Change): void {
  if (run.rotating.has(change.profile)) throw new AnycloudError(`skipped: credential ${change.credential} failed authentication`, {code: 'rotating', source: 'cloud'})
}

function begin(run: ApplyRun, change: Change): void {
  run.options.reporter.emit({type: 'change-start', address: change.address, action: change.action})
  run.started.set(change.address, Date.now())
}

/** A replace's delete half: the old resource goes (on its old credential when the resource moves). */
async function runDeleteHalf(run: ApplyRun, change: Change): Promise<void> {
  guardRotation(run, change)
  const ctx = run.deploymentContext(change.profile)
  begin(run, change)
  const old = run.writer.doc.deployments[change.profile]?.resources[change.address]
  try {
    if (old && old.credential !== change.credential) {
      // A move: the old credential may be the one that stopped authenticating. Its
      // failure must neither block the new resource nor be blamed on the new credential.
      await removeResource(run, change, ctx).catch((error: unknown) => {
        run.options.reporter.emit({type: 'change-progress', address: change.address, message: `could not delete the old ${change.address} on credential '${old.credential}' (${(error as Error).message}); it is no longer tracked: delete '${old.name}' there by hand`})
      })
    } else await removeResource(run, change, ctx)
  } catch (error) {
    throw failed(run, change, error)
  }
}

/** A change's node: create (or a replace's create half), update, or delete. */
async function runChange(run: ApplyRun, change: Change): Promise<void> {
  guardRotation(run, change)
  const ctx = run.deploymentContext(change.profile)
  if (change.action !== 'replace') begin(run, change)
  try {
    if (change.action === 'create' || change.action === 'replace') await createResource(run, change, ctx)
    else if (change.action === 'update') await updateResource(run, change, ctx)
    else if (change.action === 'delete') await removeResource(run, change, ctx)
    const note = run.notes.get(change.address)
    run.options.reporter.emit({type: 'change-done', address: change.address, action: change.action, elapsedMs: Date.now() - (run.started.get(change.address) ?? Date.now()), ...(note ? {note} : {})})
  } catch (error) {
    throw failed(run, change, error)
  }
}

/** The plan's changes as a graph: dependencies first; deletes in reverse creation order (per the provider's declared kinds). */
function buildGraph(run: ApplyRun, actionable: Change[], declared: ReadonlyMap<string, readonly string[]>): GraphNode[] {
  const ids = new Set(actionable.map((c) => c.address))
  const rankOf = (c: Change) => kindRank(c.address, declared.get(c.profile))
  const removalsAbove = (change: Change) =>
    actionable
      .filter((o) => o.profile === change.profile && (o.action === 'delete' || o.action === 'replace') && rankOf(o) > rankOf(change))
      .map((o) => (o.action === 'replace' ? o.address + DELETE_HALF : o.address))
  const nodes: GraphNode[] = []
  for (const change of actionable) {
    if (change.action === 'replace') nodes.push({id: change.address + DELETE_HALF, dependsOn: removalsAbove(change), run: () => runDeleteHalf(run, change)})
    const dependsOn =
      change.action === 'delete'
        ? removalsAbove(change)
        : [...change.dependsOn.filter((d) => ids.has(d)), ...removalsAbove(change), ...(change.action === 'replace' ? [change.address + DELETE_HALF] : [])]
    nodes.push({id: change.address, dependsOn, run: () => runChange(run, change)})
  }
  return nodes
}

/** The nodes' outcomes as the result: a replace's delete half reports under its address only when it failed (then its create half was skipped). */
function foldOutcomes(result: ApplyResult, outcomes: Map<string, NodeOutcome>): void {
  for (const [id, outcome] of outcomes) {
    const address = id.endsWith(DELETE_HALF) ? id.slice(0, -DELETE_HALF.length) : id
    if (id.endsWith(DELETE_HALF) && outcome.status !== 'failed') continue
    if (outcome.status === 'done') result.done.push(address)
    else if (outcome.status === 'skipped') {
      if (!outcomes.has(address + DELETE_HALF) || outcomes.get(address + DELETE_HALF)!.status !== 'failed') result.skipped.push({address, reason: outcome.reason.replaceAll(DELETE_HALF, '')})
    } else result.failed.push({address, message: (outcome.error as Error)?.message ?? String(outcome.error), error: outcome.error})
  }
}

/** Applies a plan as a graph walk, saving state after every resource operation. */
export async function applyPlan(options: ApplyOptions): Promise<ApplyResult> {
  const {plan, reporter} = options
  const run = new ApplyRun(options)
  await run.recordSpot()
  await run.recordObservations()
  const actionable = plan.changes.filter((c) => c.action === 'create' || c.action === 'update' || c.action === 'replace' || c.action === 'delete')
  const nodes = buildGraph(run, actionable, await declaredPerProfile(plan, run))
  const outcomes = await walkGraph(nodes, {
    concurrency: options.concurrency ?? 8,
    signal: options.signal,
    onSkip: (id, reason) => {
      if (id.endsWith(DELETE_HALF)) return
      const change = actionable.find((c) => c.address === id)!
      reporter.emit({type: 'change-skipped', address: id, action: change.action, reason: reason.replaceAll(DELETE_HALF, '')})
    },
  })
  await run.writer.flush()
  foldOutcomes(run.result, outcomes)
  run.result.interrupted = Boolean(options.signal?.aborted)
  run.result.state = run.writer.doc
  return run.result
}
