import {existsSync, statSync} from 'node:fs'

import {UsageError} from '../errors/index.js'
import type {Plan} from '../model/plan.js'
import type {ApplyResult, ConvergeOutcome, DestroyResult, PlanResult, StillRunning, WorkloadOutcome} from '../model/results.js'
import {onAbort, type CommonOptions, type EngineContext, type LockOptions} from './context.js'
import {OutcomeTally, outcomeStatus} from './outcome.js'
import {hasChanges} from './plan.js'
import {savePlan} from './plan-file.js'
import {planChanges} from './planner.js'
import {outcomeOf, planAndApply} from './run.js'
import {applySavedPlan, waitForWorkloads} from './saved-plan.js'
import type {Session} from './session.js'

export interface PlanOptions extends CommonOptions {
  /** Profiles to plan (default: all). */
  profiles?: string[]
  /** Addresses to replace whatever their diff says. */
  replace?: string[]
  destroy?: boolean
  /** Save the plan to this file (for `apply FILE`). */
  out?: string
}

export interface ApplyOptions extends CommonOptions, LockOptions {
  /** One saved plan file, or the profiles to apply (default: all). */
  targets: string[]
  /** Apply without asking; without it a fresh plan is confirmed through the host. */
  autoApprove?: boolean
  /** Wait for the workloads to finish, then tear down what they no longer need. */
  wait?: boolean
  replace?: string[]
}

export interface DestroyOptions extends CommonOptions, LockOptions {
  profiles?: string[]
  autoApprove?: boolean
}

/** Refreshes and plans; changes nothing. */
export async function planOnly(ctx: EngineContext, options: PlanOptions): Promise<PlanResult> {
  const session = await ctx.open({file: options.file, profiles: options.profiles})
  let plan: Plan
  try {
    for (const diagnostic of session.warnings) await ctx.io.notify({type: 'config-warning', diagnostic})
    plan = await planChanges({
      config: session.config, profiles: session.profiles, state: session.state, providers: session.providers, reporter: ctx.io, stateDir: session.store.localDir,
      replace: options.replace, destroy: options.destroy,
    })
  } finally {
    // Closes provider connections (an ssh host's SSH session would keep the process alive).
    await session.release()
  }
  if (options.out) savePlan(options.out, plan)
  return {plan, project: session.config.project, changes: hasChanges(plan), ...(options.out ? {savedTo: options.out} : {})}
}

function noSuchPlanFile(arg: string): UsageError {
  return new UsageError(`no such plan file: ${arg}`, ['Save a plan with `anycloud plan --out FILE`, or name a profile to apply.'], 'usage.no-plan-file')
}

/** Opens the apply session; `apply plan.json` with a file that is not there says so, not "unknown profile" or "needs -y". */
async function openForApply(ctx: EngineContext, options: ApplyOptions): Promise<{session: Session; planFile?: string}> {
  const args = options.targets
  const planFile = args.length === 1 && existsSync(args[0]) && statSync(args[0]).isFile() ? args[0] : undefined
  if (!planFile && args.length === 1 && /[\\/]|\.json$/i.test(args[0])) throw noSuchPlanFile(args[0])
  if (!planFile && !options.autoApprove && !ctx.io.interactive) {
    throw new UsageError('refusing to apply without -y/--auto-approve in a non-interactive session', ['Review `anycloud plan`, then run `anycloud apply -y`, or save a plan with `anycloud plan --out plan.json` and run `anycloud apply plan.json`.'], 'usage.needs-approval')
  }
  const session = await ctx.open({file: options.file, profiles: planFile ? [] : args, lock: 'apply', signal: options.signal, lockTimeoutMs: options.lockTimeoutMs, noLock: options.noLock}).catch((error: unknown) => {
    const arg = args.length === 1 ? args[0] : undefined
    if (arg && error instanceof UsageError && error.code === 'usage.unknown-profile' && arg.includes('.')) throw noSuchPlanFile(arg)
    throw error
  })
  return {session, ...(planFile ? {planFile} : {})}
}

/**
 * plan → confirm (through the host, unless `autoApprove`) → apply, with the host told of each
 * plan and of the approval. Resolves `applied: false` when the confirmation was declined.
 */
async function converge(ctx: EngineContext, session: Session, tally: OutcomeTally, options: {command: 'apply' | 'destroy'; question: string; autoApprove?: boolean; replace?: string[]; signal?: AbortSignal}) {
  const {io} = ctx
  return planAndApply({
    session, reporter: tally, signal: options.signal, replace: options.replace, destroy: options.command === 'destroy',
    onPlan: async (plan, attempt) => {
      // The plan is a result; progress starts only once the changes are approved, so nothing draws over the question.
      await io.notify({type: 'plan', plan, attempt})
      if (hasChanges(plan) && (attempt > 1 || options.autoApprove)) await io.notify({type: 'approved', plan})
    },
    confirm: options.autoApprove ? undefined : async (plan) => {
      const yes = await io.confirm({command: options.command, question: options.question})
      if (yes) await io.notify({type: 'approved', plan})
      return yes
    },
  })
}

function outcome(session: Session, plan: Plan, tally: OutcomeTally, applied: boolean, interrupted: boolean): ConvergeOutcome {
  const counts = tally.counts()
  return {plan, project: session.config.project, configFile: session.config.file, applied, counts, status: outcomeStatus(counts, interrupted), interrupted}
}

const APPLY_INTERRUPT = 'Interrupt received: finishing operations in flight, then stopping (press Ctrl-C again to exit now).'

/** `apply`: a saved plan exactly, or a fresh plan once approved; with `wait`, waits for the workloads and tears down. */
export async function applyChanges(ctx: EngineContext, options: ApplyOptions): Promise<ApplyResult> {
  const {session, planFile} = await openForApply(ctx, options)
  const tally = new OutcomeTally(ctx.io)
  const stopListening = onAbort(options.signal, () => ctx.io.emit({type: 'interrupt', message: APPLY_INTERRUPT}))
  try {
    for (const diagnostic of session.warnings) await ctx.io.notify({type: 'config-warning', diagnostic})
    let plan: Plan
    let interrupted: boolean
    if (planFile) {
      const r = await applySavedPlan({session, planFile, reporter: tally, signal: options.signal, onPlan: (p) => Promise.resolve(ctx.io.notify({type: 'approved', plan: p}))})
      plan = r.plan
      interrupted = outcomeOf(r.results).interrupted
    } else {
      const r = await converge(ctx, session, tally, {command: 'apply', question: 'Do you want to perform these actions?', autoApprove: options.autoApprove, replace: options.replace, signal: options.signal})
      // As Terraform: declining is not success (a script must not read it as "applied").
      if (!r.applied) return {...outcome(session, r.plan, tally, false, false), stillRunning: [], wait: Boolean(options.wait)}
      plan = r.plan
      interrupted = outcomeOf(r.results).interrupted
    }
    await ctx.io.notify({type: 'changes-settled'})
    const waited = options.wait && tally.counts().failed.length === 0 && !interrupted ? await waitAfterApply(session, tally, options.signal) : undefined
    interrupted ||= Boolean(waited?.interrupted)
    return {...outcome(session, plan, tally, true, interrupted), ...(waited ? {workloads: waited.workloads} : {}), stillRunning: waited?.stillRunning ?? [], wait: Boolean(options.wait)}
  } finally {
    stopListening()
    await session.release()
  }
}

/** `apply --wait`: the lock is not held while the workloads merely run (other runs may apply other profiles meanwhile). */
async function waitAfterApply(session: Session, tally: OutcomeTally, signal?: AbortSignal): Promise<{workloads: Record<string, WorkloadOutcome>; interrupted: boolean; stillRunning: StillRunning[]}> {
  await session.unlock()
  const workloads = await waitForWorkloads({session, reporter: tally, signal})
  for (const [p, w] of Object.entries(workloads)) {
    if (w.phase !== 'completed') tally.workloadFailed(`${p}.workload`, `workload ${w.phase}${w.exitCode !== undefined ? ` (exit ${w.exitCode})` : ''}`)
  }
  if (!signal?.aborted) return {workloads, interrupted: false, stillRunning: []}
  const stillRunning = session.profiles.map((p) => p.name).filter((n) => !workloads[n] && session.state?.deployments[n]?.resources[`${n}.workload`]).map((profile) => {
    const d = session.state?.deployments[profile]
    return {profile, ...(d?.id ? {deploymentId: d.id} : {}), ...(d?.placement?.credential ? {credential: d.placement.credential} : {})}
  })
  return {workloads, interrupted: true, stillRunning}
}

const DESTROY_INTERRUPT = 'Interrupt received: finishing operations in flight, then stopping.'

/** `destroy`: plans the destruction, confirms it through the host (unless `autoApprove`), carries it out. */
export async function destroyAll(ctx: EngineContext, options: DestroyOptions): Promise<DestroyResult> {
  if (!options.autoApprove && !ctx.io.interactive) throw new UsageError('refusing to destroy without -y/--auto-approve in a non-interactive session', ['Run `anycloud plan --destroy` to review, then `anycloud destroy -y`.'], 'usage.needs-approval')
  const session = await ctx.open({file: options.file, profiles: options.profiles, lock: 'destroy', signal: options.signal, lockTimeoutMs: options.lockTimeoutMs, noLock: options.noLock})
  const tally = new OutcomeTally(ctx.io)
  const stopListening = onAbort(options.signal, () => ctx.io.emit({type: 'interrupt', message: DESTROY_INTERRUPT}))
  try {
    const r = await converge(ctx, session, tally, {command: 'destroy', question: 'Do you really want to destroy these resources?', autoApprove: options.autoApprove, signal: options.signal})
    await ctx.io.notify({type: 'changes-settled'})
    return outcome(session, r.plan, tally, r.applied, r.applied && outcomeOf(r.results).interrupted)
  } finally {
    stopListening()
    await session.release()
  }
}
