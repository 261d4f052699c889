/**
 * Deterministic GCP names of a deployment's resources (a run killed before it saved state finds
 * what it made by these names and by anycloud's labels), label helpers and request ids.
 *
 * - VM and firewall names: RFC 1035, at most 63 characters (`anycloud-<deploymentId>`, shortened
 *   with a hash when longer);
 * - the service account id: 6–30 characters, `ac-` + a hash of the deployment id + a hash of the
 *   create's intent token (a deleted SA's id is never reused for a new principal, and a replayed
 *   create asks for the same one);
 * - `requestId`: a UUID derived from the create's intent token, so a retried or replayed insert is
 *   deduplicated by GCE (≥ 60 min) and never makes a second VM.
 */
import {sha256} from '../../util/hash.js'
import {labelValue} from './buckets.js'

export const GCE_NAME_MAX = 63

/** A lower-case RFC 1035 name from `base`, at most 63 characters (hash-shortened when longer). */
export function gceName(base: string): string {
  let n = base.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/-+/g, '-')
  if (!/^[a-z]/.test(n)) n = `a-${n}`
  if (n.length > GCE_NAME_MAX) n = `${n.slice(0, GCE_NAME_MAX - 9).replace(/-+$/, '')}-${sha256(base).slice(0, 8)}`
  return n.replace(/-+$/, '') || 'anycloud'
}

/** The VM of a deployment. */
export function vmName(deploymentId: string): string {
  return gceName(`anycloud-${deploymentId}`)
}

/** The deployment's SSH firewall rule (firewalls have no labels: the name and description say whose). */
export function firewallName(deploymentId: string): string {
  return gceName(`anycloud-${deploymentId}-ssh`)
}

/** The network tag the firewall rule targets (one per deployment). */
export function sshTag(deploymentId: string): string {
  return gceName(`anycloud-ssh-${sha256(deploymentId).slice(0, 12)}`)
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

function base32(hex: string, n: number): string {
  let out = ''
  const bytes = Buffer.from(hex, 'hex')
  for (let i = 0; out.length < n; i++) out += BASE32[bytes[i % bytes.length]! % 32]
  return out
}

/** The service account id (6–30 chars, `^[a-z]([-a-z0-9]*[a-z0-9])$`). */
export function serviceAccountId(deploymentId: string, token: string | undefined): string {
  return `ac-${base32(sha256(deploymentId), 10)}-${base32(sha256(token ?? deploymentId), 4)}`
}

export const SA_PREFIX = 'ac-'

/** The text every anycloud service account's description starts with (SAs have no labels). */
export function serviceAccountDescription(deploymentId: string): string {
  return `anycloud-managed deployment=${deploymentId}`
}

/** The deployment an SA description names, if it is anycloud's. */
export function deploymentOfDescription(description: unknown): string | undefined {
  const m = typeof description === 'string' ? /^anycloud-managed deployment=(\S+)/.exec(description) : null
  return m?.[1]
}

/** A UUID (RFC 4122 layout, version 5 bits) from any string: GCE's `requestId`. */
export function requestIdOf(seed: string): string {
  const h = sha256(`anycloud-request|${seed}`)
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/** Ownership tags → GCE labels (the same rules as GCS labels). */
export function labelsOf(tags: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(tags)) out[labelValue(k)] = labelValue(v)
  return out
}

/** Whether labels carry anycloud's ownership (and, when given, this deployment's id). */
export function ownedByLabels(labels: Record<string, string> | null | undefined, deploymentId?: string): boolean {
  if (!labels || labels['anycloud-managed'] !== 'true') return false
  return deploymentId === undefined || labels['anycloud-deployment'] === labelValue(deploymentId)
}
