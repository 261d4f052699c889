import type {RcloneRemoteSpec} from '../../../src/bootstrap/types.js'
import {addressOf, type BucketRole, type DesiredResource, type ResourceRecord} from '../../../src/model/resources.js'
import {ownershipTags} from '../../../src/providers/provider.js'

export const PROJECT = 'proj'
export const DEPLOYMENT = 'proj-train-abc123'

export function desiredBucket(name: string, role: BucketRole, credential: string, provider: 'azure' | 'gcp'): DesiredResource {
  return {address: addressOf('train', 'bucket', role), profile: 'train', kind: 'bucket', role, credential, provider, name, dependsOn: [], attributes: {name, role}}
}

export function tagsFor(role: BucketRole, deploymentId = DEPLOYMENT): Record<string, string> {
  return ownershipTags(PROJECT, deploymentId, addressOf('train', 'bucket', role))
}

export function recordOf(d: DesiredResource, id: string, outputs: Record<string, unknown> = {}): ResourceRecord {
  return {address: d.address, kind: 'bucket', role: d.role, credential: d.credential, provider: d.provider, name: d.name, id, status: 'created', attributes: d.attributes, outputs, updatedAt: new Date().toISOString()}
}

/**
 * `RCLONE_CONFIG_<REMOTE>_*` variables for one remote, named exactly as src/bootstrap/render.ts
 * writes them into the machine's rclone env file: TYPE, each public option and each secret option
 * upper-cased.
 */
export function rcloneRemoteEnv(remote: string, spec: RcloneRemoteSpec, secrets: Record<string, string>): Record<string, string> {
  const prefix = `RCLONE_CONFIG_${remote}_`
  const env: Record<string, string> = {[`${prefix}TYPE`]: spec.type}
  for (const [k, v] of Object.entries(spec.options)) env[prefix + k.toUpperCase()] = v
  for (const k of spec.secretOptions) {
    const v = secrets[k]
    if (v === undefined) throw new Error(`the provider declared secret option ${k} but rcloneSecrets did not supply it`)
    env[prefix + k.toUpperCase()] = v
  }
  return env
}
