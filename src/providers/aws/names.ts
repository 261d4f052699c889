/**
 * Deterministic AWS names of a deployment's resources (a run killed before it saved state finds
 * what it made by these names and by anycloud's tags), and tag helpers.
 */
import {sha256} from '../../util/hash.js'

/** IAM role and instance profile names allow 64 characters. */
export const IAM_NAME_MAX = 64

/**
 * `anycloud-<deploymentId>` when it fits in 64 characters, else a prefix of it plus `-` and 8 hex
 * digits of its SHA-256 (a deployment id can reach 55 characters, so the name 65). Deterministic,
 * and distinct for distinct ids.
 */
export function iamName(resourceName: string): string {
  if (resourceName.length <= IAM_NAME_MAX) return resourceName
  const hash = sha256(resourceName).slice(0, 8)
  return `${resourceName.slice(0, IAM_NAME_MAX - 9).replace(/[-_.]+$/, '')}-${hash}`
}

/** The name of the per-deployment resources on EC2 (security group, key pair): `anycloud-<deploymentId>`. */
export function ec2Name(deploymentId: string): string {
  return `anycloud-${deploymentId}`
}

/** The inline policy on the deployment role. */
export const ROLE_POLICY_NAME = 'anycloud-buckets'

/** `[{Key, Value}]` for EC2/IAM/S3 tag APIs, sorted by key. */
export function tagList(tags: Record<string, string>): Array<{Key: string; Value: string}> {
  return Object.entries(tags)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([Key, Value]) => ({Key, Value}))
}

/** `{key: value}` from `[{Key, Value}]`. */
export function tagMap(tags: ReadonlyArray<{Key?: string; Value?: string}> | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const t of tags ?? []) if (t.Key !== undefined) out[t.Key] = t.Value ?? ''
  return out
}

/** Whether `tags` carry anycloud's ownership (and, when given, this deployment's id). */
export function ownedBy(tags: Record<string, string>, deploymentId?: string): boolean {
  if (tags['anycloud-managed'] !== 'true') return false
  return deploymentId === undefined || tags['anycloud-deployment'] === deploymentId
}
