/**
 * The secrets a machine's rclone needs for its buckets, fetched or minted at bootstrap time from
 * each bucket's storage provider, and when the earliest minted one expires. Shared by every machine
 * (cloud VMs and ssh hosts): the expiry goes in the bootstrap's outputs, and `watch` re-mints before
 * it (src/engine/spot.ts credentialsRenewal), rewriting only the machine's 0600 rclone env file.
 */
import {REMOTE_NAMES, type BucketRequest} from '../bootstrap/spec.js'
import {registerSecret} from '../util/redact.js'
import type {Provider} from './provider.js'

export interface BucketSecrets {
  /** By rclone remote name (REMOTE_NAMES), the secret options of each bucket's remote. */
  secrets: Record<string, Record<string, string>>
  /** Outputs of the bootstrap: the earliest expiry of minted credentials (none for secrets that do not expire). */
  outputs: {credentialsExpireAt?: string; credentialsLifetimeSeconds?: number}
}

export async function bucketSecrets(requests: readonly BucketRequest[], providerOf: (credential: string) => Promise<Provider>): Promise<BucketSecrets> {
  const secrets: Record<string, Record<string, string>> = {}
  let soonest: {expiresAt: string; durationSeconds: number} | undefined
  for (const {role, credential, request} of requests) {
    const provider = await providerOf(credential)
    const values = (await provider.rcloneSecrets?.(request)) ?? {}
    for (const v of Object.values(values)) registerSecret(v)
    secrets[REMOTE_NAMES[role]] = values
    // Read right after the mint: what this provider handed out for this bucket, this run.
    const expiry = provider.rcloneSecretsExpiry?.(request.bucket)
    if (expiry && (!soonest || Date.parse(expiry.expiresAt) < Date.parse(soonest.expiresAt))) soonest = expiry
  }
  return {secrets, outputs: soonest ? {credentialsExpireAt: soonest.expiresAt, credentialsLifetimeSeconds: soonest.durationSeconds} : {}}
}
