import {ExitCode} from '../errors/exit-codes.js'
import {outcomeStatus, type OutcomeCounts} from '../model/outcome.js'
import type {ApplyResult, ConvergeOutcome, DestroyResult} from '../model/results.js'
import {renderPlanMarkdown} from './markdown.js'
import {writeJson, type Sink} from './sink.js'
import {workloadText} from './status-view.js'

/**
 * The one grammar of the closing line of apply and destroy:
 * `Apply complete: 5 done, 0 kept, 0 failed, 0 skipped.` /
 * `Destroy failed: 3 destroyed, 1 kept, 1 failed, 2 skipped.`
 */
export function outcomeLine(command: 'apply' | 'destroy', counts: OutcomeCounts, interrupted: boolean): string {
  const verb = command === 'apply' ? 'Apply' : 'Destroy'
  const doneWord = command === 'apply' ? 'done' : 'destroyed'
  return `${verb} ${outcomeStatus(counts, interrupted)}: ${counts.done.length} ${doneWord}, ${counts.kept.length} kept, ${counts.failed.length} failed, ${counts.skipped.length} skipped.`
}

function outcomeJson(r: ConvergeOutcome): Record<string, unknown> {
  const {counts} = r
  return {status: r.status, ...counts, interrupted: r.interrupted, summary: {done: counts.done.length, kept: counts.kept.length, failed: counts.failed.length, skipped: counts.skipped.length}}
}

/** The exit code of an apply or destroy: declined and failed 1, interrupted 130. */
function exitCodeOf(r: ConvergeOutcome): ExitCode {
  if (!r.applied) return ExitCode.Failed
  if (r.interrupted) return ExitCode.Interrupted
  return r.counts.failed.length > 0 ? ExitCode.Failed : ExitCode.Ok
}

function showProblems(r: ConvergeOutcome, sink: Sink): void {
  for (const f of r.counts.failed) sink.stderr(`Error: ${f.address}: ${f.message}`)
  for (const k of r.counts.kept) sink.stderr(`Kept: ${k.address}: ${k.reason}`)
}

/** GitHub's job summary of an apply: the plan with the new deployments' ids (known now) and the closing line. */
export function applySummaryMarkdown(r: ApplyResult): string {
  const applied = {...r.plan, profiles: Object.fromEntries(Object.entries(r.plan.profiles).map(([name, p]) => [name, {...p, newDeployment: false}]))}
  return renderPlanMarkdown(applied, {project: r.project, title: 'apply', footer: `**${outcomeLine('apply', r.counts, r.interrupted)}**`})
}

/** The outcome of `apply` (the plan itself was shown before the changes ran); returns the exit code. */
export function showApply(r: ApplyResult, options: {json: boolean}, sink: Sink): ExitCode {
  if (!r.applied) {
    sink.stderr('Apply cancelled: nothing was changed.')
    return exitCodeOf(r)
  }
  const stillRunningShown = r.interrupted && r.wait
  if (options.json) {
    writeJson(sink, {plan: r.plan, outcome: {...outcomeJson(r), ...(stillRunningShown ? {stillRunning: r.stillRunning.map((s) => s.profile)} : {})}, ...(r.workloads ? {workloads: r.workloads} : {})})
  } else {
    showProblems(r, sink)
    if (r.workloads) for (const [p, w] of Object.entries(r.workloads)) sink.stdout(`${p}: workload ${workloadText(w)}\n`)
    sink.stdout(outcomeLine('apply', r.counts, r.interrupted) + '\n')
  }
  if (stillRunningShown && r.stillRunning.length > 0) showStillRunning(r, sink)
  return exitCodeOf(r)
}

/** SPEC §3: an interrupted `apply --wait` says what still runs, and how to watch or tear it down. */
function showStillRunning(r: ApplyResult, sink: Sink): void {
  const file = r.configFile === 'anycloud.yaml' ? '' : ` -f ${r.configFile}`
  const profiles = r.stillRunning.map((s) => s.profile)
  const names = profiles.join(' ')
  sink.stderr(`Interrupted while waiting: still running (and billed) on their machines: ${r.stillRunning.map((s) => `${s.profile} (${s.deploymentId ?? '?'} on ${s.credential ?? '?'})`).join(', ')}.`)
  sink.stderr(`  Watch:         anycloud status${file} ${names}   /   anycloud logs${file} ${profiles[0]} --follow`)
  sink.stderr(`  Wait again:    anycloud apply${file} -y --wait ${names}`)
  sink.stderr(`  Tear it down:  anycloud destroy${file} -y ${names}`)
}

/** The outcome of `destroy`; returns the exit code. */
export function showDestroy(r: DestroyResult, options: {json: boolean}, sink: Sink): ExitCode {
  if (!r.applied) {
    sink.stderr('Destroy cancelled: nothing was changed.')
    return exitCodeOf(r)
  }
  if (options.json) writeJson(sink, {plan: r.plan, outcome: outcomeJson(r)})
  else {
    showProblems(r, sink)
    sink.stdout(outcomeLine('destroy', r.counts, r.interrupted) + '\n')
  }
  return exitCodeOf(r)
}
