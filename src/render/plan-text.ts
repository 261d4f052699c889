import type {Change, Plan, PlanSummary} from '../model/plan.js'
import {ACTION_STYLE, paint} from './actions.js'
import {displayPlan, maskNewDeploymentIds} from './known-after-apply.js'

/** The one grammar of the summary line (SPEC §4), destroy plans included. */
export function summaryLine(summary: PlanSummary): string {
  const total = summary.create + summary.update + summary.replace + summary.delete
  if (total === 0) return 'No changes.'
  return `Plan: ${summary.create} to create, ${summary.update} to update, ${summary.replace} to replace, ${summary.delete} to delete.`
}

const SENSITIVE = /^\(sensitive\)(:[0-9a-zA-Z+/=._-]*)?$/

function isSensitive(v: unknown): boolean {
  return typeof v === 'string' && SENSITIVE.test(v)
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return Boolean(v) && typeof v === 'object' && !Array.isArray(v)
}

/** A map key as HCL would write it: bare when it is an identifier, quoted otherwise. */
function keyText(k: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(k) ? k : JSON.stringify(k)
}

/**
 * A value as the plan shows it, Terraform-style, never raw JSON: strings quoted, a multi-line
 * string as a `<<-EOT` block, lists and maps one element per line. A sensitive marker's hash is
 * for change detection, not for eyes. Continuation lines start with `indent`.
 */
export function formatValue(v: unknown, indent = ''): string {
  if (v === undefined) return '(none)'
  if (v === null) return 'null'
  if (isSensitive(v)) return '(sensitive)'
  if (typeof v === 'string') {
    if (!v.includes('\n')) return JSON.stringify(v)
    const body = v.endsWith('\n') ? v.slice(0, -1) : v
    return ['<<-EOT', ...body.split('\n').map((l) => (l === '' ? '' : `${indent}    ${l}`)), `${indent}EOT`].join('\n')
  }
  if (typeof v !== 'object') return String(v)
  const inner = indent + '    '
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]'
    return ['[', ...v.map((x) => `${inner}${formatValue(x, inner)},`), `${indent}]`].join('\n')
  }
  const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))
  if (entries.length === 0) return '{}'
  const width = Math.max(...entries.map(([k]) => keyText(k).length))
  return ['{', ...entries.map(([k, x]) => `${inner}${keyText(k).padEnd(width)} = ${formatValue(x, inner)}`), `${indent}}`].join('\n')
}

/** The changed attributes of an update or replace: maps key by key, other values as before -> after. */
function diffLines(key: string, before: unknown, after: unknown): string[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return []
  if (isPlainObject(before) && isPlainObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()
    return keys.flatMap((k) => diffLines(`${key}.${keyText(k)}`, before[k], after[k]))
  }
  if (isSensitive(before) && isSensitive(after)) return [`${key}: (sensitive value changed)`]
  return `${key}: ${formatValue(before)} -> ${formatValue(after)}`.split('\n')
}

export function attributeLines(change: Change): string[] {
  const before = change.before ?? {}
  const after = change.after ?? {}
  if (change.action === 'create') {
    const keys = Object.keys(after).filter((k) => k !== 'specHash').sort()
    const width = Math.max(0, ...keys.map((k) => k.length))
    return keys.flatMap((k) => `${k.padEnd(width)} = ${formatValue(after[k])}`.split('\n'))
  }
  if (change.action === 'update' || change.action === 'replace') {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => k !== 'specHash').sort()
    return keys.flatMap((k) => diffLines(k, before[k], after[k]))
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
