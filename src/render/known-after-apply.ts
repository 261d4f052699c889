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
