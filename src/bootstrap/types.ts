import type {BucketRole} from '../model/resources.js'
import type {NoticeSpec} from './notice.js'
import type {RclonePin} from './rclone-release.js'

/**
 * How rclone reaches one bucket, as the storage credential's provider describes it. `options` are
 * public (they go into the plan's hash); secrets are fetched (or minted) only at apply time and are
 * written to the 0600 rclone env file, never to a command line or supervisord's `environment=`.
 */
export interface RcloneRemoteSpec {
  /** rclone backend: `s3`, `azureblob`, `google cloud storage`, `local`. */
  type: string
  /** Public options, e.g. {provider: 'AWS', region: 'us-east-1', env_auth: 'true'}. */
  options: Record<string, string>
  /** The path after `REMOTE:`: the bucket (s3, gcs), the container (azure), a directory (local). */
  path: string
  /** Names of the secret options the provider will supply at apply time (e.g. access_key_id). */
  secretOptions: string[]
  /**
   * A hash that changes when long-lived secret values change (static keys); empty for secrets
   * minted per apply (STS), which must not make every plan show a change. Never shown or stored as
   * is: the render passes it through the lineage-salted `sensitiveMarker`.
   */
  secretsFingerprint: string
  /** Said in the plan, e.g. "the storage credential's own keys are written to the host". */
  warning?: string
  /** Oldest rclone that can use this remote (GCS instance auth needs 1.62). */
  rcloneMinVersion?: string
}

export interface BucketMount {
  role: BucketRole
  /** rclone remote name: upper-case letters and digits (used in RCLONE_CONFIG_<NAME>_*). */
  remote: string
  spec: RcloneRemoteSpec
}

/** Everything the bootstrap of one deployment on one machine depends on. */
export interface BootstrapSpec {
  deploymentId: string
  runtime: 'docker' | 'process'
  image?: string
  command?: string[] | string
  /** Workload env with real values (only ever written to 0600 files). */
  env: Record<string, string>
  /** Names of env entries that are secrets (hashed, never shown). */
  sensitiveEnv: string[]
  /** The state's lineage: the salt of the hashes of sensitive values (see sensitiveMarker). */
  lineage: string
  gpus?: 'all' | number
  shmSize?: string | number
  syncIntervalSeconds: number
  buckets: BucketMount[]
  /** Connectivity check: `--retries N --retries-sleep Ss` (30 and 15 in production). */
  storageCheck: {retries: number; sleepSeconds: number}
  /** Where /mnt/{input,output,checkpoint} live; `/mnt` on real machines. */
  mountRoot: string
  /** Base directories on the machine (overridable so several test "VMs" can share one filesystem). */
  roots: {etc: string; lib: string; log: string}
  /** Minimum rclone version (GCS instance auth needs 1.62). */
  rcloneMinVersion?: string
  /**
   * The rclone release installed (checksum-verified) when the machine's rclone is older than
   * `rcloneMinVersion`; its binary then runs every rclone command of the deployment. Required with
   * `rcloneMinVersion`, absent without it (`machineLayout` gives the one for the machine's prefix).
   */
  rclonePin?: RclonePin
  /** Spot machines: the cloud's interruption notice, watched by a program that flushes on it. */
  notice?: NoticeSpec
}

export const DEFAULT_ROOTS = {etc: '/etc/anycloud', lib: '/var/lib/anycloud', log: '/var/log/anycloud'} as const
