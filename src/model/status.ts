/** What `status` shows of one resource, read live. */
export interface ResourceStatus {
  address: string
  kind: string
  name: string
  id: string
  credential: string
  exists: boolean | null
  outputs: Record<string, unknown>
}

/** What `status` shows of one profile's deployment. */
export interface DeploymentStatus {
  profile: string
  deploymentId: string
  placement?: {credential: string; provider: string; region: string; zone?: string}
  workload: {phase: string; exitCode?: number; lastSync?: unknown}
  address?: string
  resources: ResourceStatus[]
  /** A profile in the file that was never applied. */
  applied: boolean
  /** Spot deployments: how often the cloud took the VM back, the on-demand fallback, and the newest checkpoint object. */
  spot?: SpotStatus
}

export interface SpotStatus {
  preemptions: number
  lastPreemptedAt?: string
  /** Why the deployment runs on-demand now (spotFallback fired). */
  onDemand?: string
  /** The newest object in the checkpoint bucket and its age; null when the bucket is empty or was not readable. */
  newestCheckpoint: {key: string; modified: string; ageSeconds: number} | null
  /** The VM, still up, had its interruption notice (the notice program's record: cloud, event, noticedAt…): the cloud is taking it back. */
  notice?: Record<string, unknown>
}
