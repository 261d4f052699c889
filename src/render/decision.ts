import type {Decision} from '../model/decision.js'

/** The human line of a `watch` decision. */
export function decisionLine(d: Decision): string {
  if (d.action === 'none' || d.action === 'wait') return `${d.time} ${d.address ? `${d.address}: wait (` : ''}${d.reason}${d.address ? ')' : ''}${d.error ? `: ${d.error}` : ''}`
  const how = d.outcome === 'done' ? `done${d.elapsedMs !== undefined ? ` in ${(d.elapsedMs / 1000).toFixed(1)}s` : ''}` : `${d.outcome}${d.error ? `: ${d.error}` : ''}`
  return `${d.time} ${d.address}: ${d.action} (${d.reason}): ${how}`
}
