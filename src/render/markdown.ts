import type {Change, Plan} from '../model/plan.js'
import {displayPlan, maskNewDeploymentIds} from './known-after-apply.js'
import {attributeLines, summaryLine, visibleChanges} from './plan-text.js'

/** GitHub refuses PR comments over 65,536 characters; stay under with room for the wrapper. */
export const MARKDOWN_LIMIT = 65_000
/** Past this many changes the diff is collapsed in a `<details>` section. */
export const MARKDOWN_OPEN_CHANGES = 20

/**
 * Column-0 markers of a ```diff block as GitHub colours them: `+` green, `-` red, `!` orange
 * (changed). An update (`~`) and a replace (`-/+`) are changes, not deletions: they get `!`, with
 * their own glyph after it.
 */
const DIFF_MARK: Record<string, {mark: string; glyph: string}> = {
  create: {mark: '+', glyph: ''},
  delete: {mark: '-', glyph: ''},
  update: {mark: '!', glyph: '~ '},
  replace: {mark: '!', glyph: '-/+ '},
}

function changeLines(c: Change): string[] {
  const m = DIFF_MARK[c.action] ?? {mark: ' ', glyph: ''}
  return [`# ${c.address}: ${c.reason}`, `${m.mark} ${m.glyph}${c.address}`, ...attributeLines(c).map((l) => `${m.mark}     ${l}`), '']
}

export interface MarkdownOptions {
  /** The project name, shown in the heading. */
  project?: string
  /** Heading verb: `plan` (default), `apply`. */
  title?: string
  /** A line after the diff (apply's outcome). */
  footer?: string
  limit?: number
}

/**
 * A pull-request comment (or a job summary): a heading with the project, the summary line, then
 * the changes as a ```diff block that GitHub colours, collapsed past 20 changes, cut to fit 65,000
 * characters with a note. Deterministic; never-applied deployment ids read `(known after apply)`.
 */
export function renderPlanMarkdown(original: Plan, options: MarkdownOptions = {}): string {
  const plan = displayPlan(original)
  const limit = options.limit ?? MARKDOWN_LIMIT
  const verb = options.title ?? (plan.destroy ? 'destroy plan' : 'plan')
  const changes = visibleChanges(plan)
  let head = `### anycloud ${verb}${options.project ? `: ${escapeMd(options.project)}` : ''}\n\n**${summaryLine(plan.summary)}**\n\n`
  const profiles = Object.entries(plan.profiles)
  if (profiles.length > 0 && changes.length > 0) {
    for (const [name, p] of profiles) {
      const where = [p.placement.credential, p.placement.provider, p.placement.region, p.placement.zone, p.placement.vmType, p.placement.spot ? 'spot' : undefined].filter(Boolean).join(', ')
      head += `- \`${name}\`: deployment \`${p.deploymentId}\` on ${escapeMd(where)}${p.phase === 'done' ? ' (workload finished)' : ''}\n`
    }
    head += '\n'
  }
  let tail = ''
  for (const d of plan.diagnostics) tail += `> **${d.severity}**: ${d.profile ? `${escapeMd(d.profile)}: ` : ''}${escapeMd(d.message)}\n`
  if (tail) tail = `\n${tail}`
  if (options.footer) tail += `\n${options.footer}\n`
  head = maskNewDeploymentIds(plan, head)
  tail = maskNewDeploymentIds(plan, tail)
  if (changes.length === 0) return head + tail
  const collapsed = changes.length > MARKDOWN_OPEN_CHANGES
  const open = (collapsed ? `<details><summary>Show all ${changes.length} changes</summary>\n\n` : '') + '```diff\n'
  const close = '```\n' + (collapsed ? '\n</details>\n' : '')
  const body = maskNewDeploymentIds(plan, changes.flatMap(changeLines).join('\n')).replaceAll('```', '` ` `')
  const budget = limit - head.length - open.length - close.length - tail.length
  if (body.length <= budget) return head + open + body + close + tail
  const note = '# … cut here to fit a pull-request comment: run `anycloud plan` to see the whole plan\n'
  let cut = body.slice(0, Math.max(0, budget - note.length))
  cut = cut.slice(0, cut.lastIndexOf('\n') + 1)
  return head + open + cut + note + close + tail
}

function escapeMd(text: string): string {
  return text.replace(/[<>&]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&amp;'))
}
