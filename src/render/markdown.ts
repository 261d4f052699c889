import type {Plan} from '../engine/plan.js'
import {renderPlanText, summaryLine} from './plan-text.js'

/** GitHub refuses PR comments over 65,536 characters; stay under with room for the wrapper. */
export const MARKDOWN_LIMIT = 65_000

/**
 * A PR comment: the summary line first, then the full plan in a collapsible section, cut to fit
 * with a note saying so.
 */
export function renderPlanMarkdown(plan: Plan, options: {title?: string; limit?: number} = {}): string {
  const limit = options.limit ?? MARKDOWN_LIMIT
  const head = `### ${options.title ?? 'anycloud plan'}\n\n**${summaryLine(plan.summary, plan.destroy)}**\n\n`
  const open = '<details><summary>Show the plan</summary>\n\n```diff\n'
  const close = '```\n\n</details>\n'
  // A diff block colours +/- lines; the text uses those glyphs already.
  const body = renderPlanText(plan, {color: false}).replaceAll('```', '` ` `')
  const budget = limit - head.length - open.length - close.length
  if (body.length <= budget) return head + open + body + close
  const note = '\n… (plan cut to fit a pull-request comment: run `anycloud plan` to see all of it)\n'
  let cut = body.slice(0, Math.max(0, budget - note.length))
  cut = cut.slice(0, cut.lastIndexOf('\n') + 1)
  return head + open + cut + note + close
}
