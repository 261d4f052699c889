import {ExitCode} from '../errors/exit-codes.js'
import type {PlanResult} from '../model/results.js'
import {useColor} from './actions.js'
import {renderPlanMarkdown} from './markdown.js'
import {renderPlanText} from './plan-text.js'
import {writeJson, type Sink} from './sink.js'

/** `plan`: the plan as text, Markdown or JSON on stdout; returns the exit code (`--detailed-exitcode`: 2 when changes are pending). */
export function showPlan(r: PlanResult, options: {json: boolean; markdown: boolean; detailedExitcode: boolean}, sink: Sink): ExitCode {
  if (options.json) writeJson(sink, r.plan)
  else if (options.markdown) sink.stdout(renderPlanMarkdown(r.plan, {project: r.project}))
  else sink.stdout(renderPlanText(r.plan, {color: useColor(process.stdout)}))
  if (r.savedTo && !options.json) sink.stderr(`Saved the plan to ${r.savedTo}. Apply exactly this plan with: anycloud apply ${r.savedTo}`)
  return options.detailedExitcode && r.changes ? ExitCode.ChangesPending : ExitCode.Ok
}
