/**
 * Deterministic Azure names of anycloud's resources (every create is a PUT by name, so a retried
 * or replayed create lands on the same resource, and a run that lost its state finds what it made
 * by name and tags), tag helpers and the role assignment's deterministic GUID.
 *
 * Layout (notes/azure-provider.md §2):
 * - per region, shared and long-lived: resource group `anycloud-{region}`, VNet `anycloud-vnet`
 *   with subnet `default`;
 * - per deployment `d`, in that group: `anycloud-{d}-nsg`, `-pip`, `-nic`, `-id` (the managed
 *   identity) and `-vm`;
 * - storage: `anycloud-storage-{continent}` and `anycloud{continent}{subscriptionPrefix}` (buckets.ts).
 */
import {createHash} from 'node:crypto'

import {sha256} from '../../util/hash.js'

/** Storage Blob Data Contributor (built-in role). */
export const STORAGE_BLOB_DATA_CONTRIBUTOR = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

export const VNET_NAME = 'anycloud-vnet'
export const SUBNET_NAME = 'default'
export const VNET_PREFIX = '10.42.0.0/16'
export const SUBNET_PREFIX = '10.42.0.0/20'

/** A Linux VM name may have 64 characters; the others allow more, so every name keeps to 64. */
export const NAME_MAX = 64

/** The shared resource group of a region. */
export function regionGroup(region: string): string {
  return `anycloud-${region}`
}

export type DeploymentPart = 'nsg' | 'pip' | 'nic' | 'id' | 'vm'

/**
 * `anycloud-{deploymentId}-{part}`, shortened past 64 characters to a prefix plus 8 hex digits
 * of the full name's SHA-256 (deterministic, distinct for distinct ids).
 */
export function deploymentResourceName(deploymentId: string, part: DeploymentPart): string {
  const full = `anycloud-${deploymentId}-${part}`
  if (full.length <= NAME_MAX) return full
  const hash = sha256(full).slice(0, 8)
  const head = `anycloud-${deploymentId}`.slice(0, NAME_MAX - part.length - 10).replace(/[-_.]+$/, '')
  return `${head}-${hash}-${part}`
}

/**
 * The role assignment's name: a GUID derived from scope, principal and role (the idea of Bicep's
 * `guid()`: SHA-1 over a namespace and the parts, version 5 and variant bits set). A re-apply PUTs
 * the same name.
 */
export function roleAssignmentName(scope: string, principalId: string, roleGuid: string): string {
  const ns = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex')
  const h = createHash('sha1').update(ns).update(`${scope.toLowerCase()}|${principalId.toLowerCase()}|${roleGuid.toLowerCase()}`).digest()
  h[6] = (h[6]! & 0x0f) | 0x50
  h[8] = (h[8]! & 0x3f) | 0x80
  const x = h.subarray(0, 16).toString('hex')
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`
}

/** Whether ARM tags carry anycloud's ownership (and, when given, this deployment's id). */
export function ownedBy(tags: Record<string, string> | undefined, deploymentId?: string): boolean {
  if (!tags || tags['anycloud-managed'] !== 'true') return false
  return deploymentId === undefined || tags['anycloud-deployment'] === deploymentId
}

/** The resource group of an ARM id. */
export function groupOf(id: string): string | undefined {
  return /\/resourceGroups\/([^/]+)/i.exec(id)?.[1]
}
