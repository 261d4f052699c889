import type {Plan} from '../model/plan.js'

/** What a never-applied profile's deployment id reads as in human and Markdown output (SPEC §8). */
export const KNOWN_AFTER_APPLY = '(known after apply)'

/**
 * Replaces the deployment ids a plan minted for never-applied profiles (and the names built from
 * them) with `(known after apply)`, so a pull-request comment does not change from push to push.
 * JSON and saved plans keep the real id: apply uses exactly that one.
 */
export function maskNewDeploymentIds(plan: Plan, text: string): string {
  let out = text
  for (const p of Object.values(plan.profiles)) if (p.newDeployment) out = out.replaceAll(p.deploymentId, KNOWN_AFTER_APPLY)
  return out
}

/**
 * The plan as human and Markdown output show it: for never-applied profiles, values derived from
 * the deployment id that cannot be shown stably (the bootstrap hash covers files naming the id)
 * read `(known after apply)` too. The plan itself is not changed.
 */
export function displayPlan(plan: Plan): Plan {
  const fresh = new Set(Object.entries(plan.profiles).filter(([, p]) => p.newDeployment).map(([name]) => name))
  if (fresh.size === 0) return plan
  return {
    ...plan,
    changes: plan.changes.map((c) => (fresh.has(c.profile) && c.kind === 'bootstrap' && c.after && 'hash' in c.after ? {...c, after: {...c.after, hash: KNOWN_AFTER_APPLY}} : c)),
  }
}
