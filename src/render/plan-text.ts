import type {Change, Plan, PlanSummary} from '../model/plan.js'
import {ACTION_STYLE, paint} from './actions.js'
import {displayPlan, maskNewDeploymentIds} from './known-after-apply.js'

/** The one grammar of the summary line (SPEC §4), destroy plans included. */
export function summaryLine(summary: PlanSummary): string {
  const total = summary.create + summary.update + summary.replace + summary.delete
  if (total === 0) return 'No changes.'
  return `Plan: ${summary.create} to create, ${summary.update} to update, ${summary.replace} to replace, ${summary.delete} to delete.`
}

/** A value as the plan shows it; a sensitive marker's hash is for change detection, not for eyes. */
function value(v: unknown): string {
  return v === undefined ? '(none)' : JSON.stringify(v).replace(/"\(sensitive\):[0-9a-f]+"/g, '(sensitive)')
}

export function attributeLines(change: Change): string[] {
  const before = change.before ?? {}
  const after = change.after ?? {}
  if (change.action === 'create') {
    return Object.keys(after).filter((k) => k !== 'specHash').sort().map((k) => `${k} = ${value(after[k])}`)
  }
  if (change.action === 'update' || change.action === 'replace') {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => k !== 'specHash').sort()
    return keys.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k])).map((k) => `${k}: ${value(before[k])} -> ${value(after[k])}`)
  }
  return []
}

/** Changes worth showing a human: everything but no-ops and reads. */
export function visibleChanges(plan: Plan): Change[] {
  return plan.changes.filter((c) => c.action !== 'no-op' && c.action !== 'read')
}

/** The Terraform-style human plan. Deterministic: golden files pin it. */
export function renderPlanText(original: Plan, options: {color?: boolean} = {}): string {
  const plan = displayPlan(original)
  const color = options.color ?? false
  const lines: string[] = []
  const changes = visibleChanges(plan)
  const profiles = Object.entries(plan.profiles)
  if (profiles.length > 0 && changes.length > 0) {
    for (const [name, p] of profiles) {
      const where = [p.placement.credential, p.placement.provider, p.placement.region, p.placement.zone, p.placement.vmType, p.placement.spot ? 'spot' : undefined].filter(Boolean).join(', ')
      lines.push(`${name}: deployment ${p.deploymentId} on ${where}${p.phase === 'done' ? ' (workload finished)' : ''}`)
    }
    lines.push('')
  }
  if (changes.length > 0) {
    lines.push('anycloud will perform the following actions:', '')
    for (const c of changes) {
      const style = ACTION_STYLE[c.action]
      lines.push(paint(`  # ${c.address} ${style.plan}: ${c.reason}`, 'dim', color))
      lines.push(paint(`${style.glyph.padStart(3)} ${c.address}`, style.color, color))
      for (const l of attributeLines(c)) lines.push(`        ${l}`)
      lines.push('')
    }
  }
  for (const d of plan.diagnostics) lines.push(`${d.severity}: ${d.profile ? d.profile + ': ' : ''}${d.message}`)
  if (plan.diagnostics.length > 0) lines.push('')
  lines.push(paint(summaryLine(plan.summary), 'bold', color))
  return maskNewDeploymentIds(plan, lines.join('\n') + '\n')
}
