import {setTimeout as delay} from 'node:timers/promises'

import {StalePlanError, UsageError} from '../errors/index.js'
import {workloadParts} from '../model/deployment-spec.js'
import {addressOf} from '../model/resources.js'
import type {WorkloadOutcome} from '../model/results.js'
import {hashOf} from '../util/hash.js'
import {kindOf} from '../providers/provider.js'
import {applyPlan, type ApplyResult} from './apply.js'
import {workloadAttributes} from './desired.js'
import type {Reporter} from './events.js'
import type {Plan} from './plan.js'
import {loadPlan} from './plan-file.js'
import {planAndApply} from './run.js'
import {recordedDeploymentContext, type Session} from './session.js'

/**
 * Applies a saved plan exactly. Refused (exit 5) when the state moved since the plan was made,
 * or when a profile's workload no longer matches what the plan was made from.
 */
export async function applySavedPlan(options: {session: Session; planFile: string; reporter: Reporter; signal?: AbortSignal; onPlan?: (plan: Plan) => Promise<void>}): Promise<{plan: Plan; results: ApplyResult[]}> {
  const {session} = options
  const plan = loadPlan(options.planFile)
  const state = session.state
  const lineage = state?.lineage ?? null
  const serial = state?.serial ?? 0
  // With no state yet, the plan names the lineage the apply creates the state with.
  if (plan.state.lineage !== lineage && !(state === undefined && serial === 0)) {
    throw new StalePlanError(`the saved plan ${options.planFile} was made for state lineage ${plan.state.lineage ?? '(none)'}, but ${session.store.description} has lineage ${lineage ?? '(none)'}`)
  }
  if (plan.state.serial !== serial) {
    throw new StalePlanError(`the saved plan ${options.planFile} is stale: it was made at state serial ${plan.state.serial}, and ${session.store.description} is now at serial ${serial} (another run changed it)`)
  }
  for (const name of plan.scope) {
    const profile = session.config.profiles[name]
    const change = plan.changes.find((c) => c.address === addressOf(name, 'workload') && c.after)
    if (!profile) {
      if (plan.profiles[name] && !plan.destroy && change) throw new UsageError(`the saved plan covers profile '${name}', which is no longer in ${session.config.file}`)
      continue
    }
    if (change && change.after?.specHash !== hashOf(workloadAttributes(workloadParts(profile), plan.state.lineage ?? lineage ?? 'none', change.after ?? undefined))) {
      throw new StalePlanError(`profile '${name}' changed in ${session.config.file} since the plan was made (image, command, env or hardware)`)
    }
  }
  await options.onPlan?.(plan)
  const result = await applyPlan({plan, config: session.config, store: session.store, state, providers: session.providers, reporter: options.reporter, signal: options.signal, allowRotation: false, crashAt: session.crashAt})
  session.state = result.state
  return {plan, results: [result]}
}

/**
 * `apply --wait`: polls the workloads of the session's profiles until each finished (or was lost),
 * then converges once more so finished jobs are torn down (unless persist). The state lock is not
 * held while polling (other runs may apply other profiles meanwhile); it is taken again for the
 * teardown.
 */
export async function waitForWorkloads(options: {session: Session; reporter: Reporter; signal?: AbortSignal; pollMs?: number}): Promise<Record<string, WorkloadOutcome>> {
  const {session, reporter} = options
  const outcomes: Record<string, WorkloadOutcome> = {}
  const waiting = new Set(session.profiles.map((p) => p.name).filter((n) => session.state?.deployments[n]?.resources[addressOf(n, 'workload')]))
  let poll = options.pollMs ?? 500
  while (waiting.size > 0 && !options.signal?.aborted) {
    for (const name of [...waiting]) {
      const dep = session.state!.deployments[name]
      const record = dep.resources[addressOf(name, 'workload')]
      const provider = await session.providers.get(record.credential)
      const profile = session.config.profiles[name]
      const actual = await kindOf(provider, 'workload').read({address: record.address, kind: 'workload', name: record.name, record}, {
        deployment: recordedDeploymentContext(session, profile, dep, dep.placement!),
        records: dep.resources,
        progress: () => {},
      })
      const phase = actual?.phase ?? dep.workload?.phase ?? 'lost'
      if (phase === 'completed' || phase === 'failed' || phase === 'lost') {
        outcomes[name] = {phase, ...(actual?.exitCode !== undefined ? {exitCode: actual.exitCode} : {})}
        reporter.emit({type: 'diagnostic', severity: 'info', profile: name, message: `workload ${phase}${actual?.exitCode !== undefined ? ` (exit ${actual.exitCode})` : ''}`})
        waiting.delete(name)
      }
    }
    if (waiting.size > 0) {
      await delay(poll, undefined, {signal: options.signal}).catch(() => undefined)
      poll = Math.min(poll * 2, 5000)
    }
  }
  if (!options.signal?.aborted) {
    // The lock is held per operation: not while waiting, again for the teardown (on fresh state).
    await session.relock()
    try {
      await planAndApply({session, reporter, signal: options.signal})
    } finally {
      await session.unlock()
    }
  }
  return outcomes
}
