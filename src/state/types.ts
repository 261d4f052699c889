import type {Placement, ResourceRecord, SpotRecord, WorkloadPhase} from '../model/resources.js'

/** The state document (SPEC §7). Never holds a secret value. */
export interface StateDocument {
  formatVersion: 1
  /** Random id fixed at creation: a state from another lineage is never overwritten. */
  lineage: string
  /** Incremented on every write. */
  serial: number
  project: string
  deployments: Record<string, DeploymentRecord>
}

export interface DeploymentRecord {
  /** `<project>-<profile>-<6 chars>`, stable for the deployment's life. */
  id: string
  profile: string
  placement?: Placement
  createdAt: string
  resources: Record<string, ResourceRecord>
  /** The last workload outcome, remembered after its machine is gone. */
  workload?: {phase: WorkloadPhase; exitCode?: number; specHash?: string; finishedAt?: string}
  /** Pinned SSH host keys by `host:port` (public keys only). */
  hostKeys?: Record<string, string>
  /** Spot deployments: preemptions and the on-demand fallback. */
  spot?: SpotRecord
}

export interface LockInfo {
  id: string
  operation: string
  who: string
  host: string
  pid: number
  created: string
}

export interface StateStore {
  /** For messages: `.anycloud/state.json`. */
  readonly description: string
  /** The directory for local companions of the state (key files, errored state). */
  readonly localDir: string
  read(): Promise<StateDocument | undefined>
  /** Writes a new version; refuses to overwrite a different lineage or an older serial. */
  write(document: StateDocument): Promise<void>
  lock(operation: string): Promise<LockInfo>
  unlock(lockId: string, options?: {force?: boolean}): Promise<void>
  readLock(): Promise<LockInfo | undefined>
}
