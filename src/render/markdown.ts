import type {Plan} from '../model/plan.js'
import {renderPlanText, summaryLine} from './plan-text.js'

/** GitHub refuses PR comments over 65,536 characters; stay under with room for the wrapper. */
export const MARKDOWN_LIMIT = 65_000

/**
 * A PR comment: the summary line is its first line (what a reviewer and a bot read), then the full
 * plan in a collapsible section, cut to fit with a note saying so.
 */
export function renderPlanMarkdown(plan: Plan, options: {title?: string; limit?: number} = {}): string {
  const limit = options.limit ?? MARKDOWN_LIMIT
  const head = `${summaryLine(plan.summary)}\n\n`
  const open = `<details><summary>${escapeHtml(options.title ?? (plan.destroy ? 'anycloud destroy plan' : 'anycloud plan'))}</summary>\n\n\`\`\`diff\n`
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

function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}
