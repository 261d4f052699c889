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
  /**
   * The workload output kept when a machine was torn down, by profile (the latest run): a pointer
   * to a file under the state's local directory, so `anycloud logs PROFILE` works afterwards. It
   * outlives the deployment record (a destroy removes that).
   */
  logs?: Record<string, SavedLog>
}

/** A workload's output saved before its machine went (secrets masked). */
export interface SavedLog {
  deploymentId: string
  /** Relative to the state's local directory: `logs/<deploymentId>.log`. */
  file: string
  savedAt: string
  /** Bytes kept (the tail of the output). */
  bytes: number
  /** Whether older output was cut to keep only the tail. */
  truncated: boolean
  phase?: WorkloadPhase
  exitCode?: number
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
  /** The CI run that holds the lock, when known (GitHub Actions, GitLab CI). */
  ciUrl?: string
}

export interface StateStore {
  /** For messages: `.anycloud/state.json`. */
  readonly description: string
  /** The directory for local companions of the state (key files). */
  readonly localDir: string
  /** Where a state that could not be saved is written (0600), to be pushed with `state push`. */
  readonly erroredPath: string
  read(): Promise<StateDocument | undefined>
  /**
   * Writes a new version; refuses to overwrite a different lineage or an older serial (unless
   * `force`: `state push --force`). Remote stores also make the write conditional on the version
   * last read, so a run that lost its lock never overwrites newer state.
   */
  write(document: StateDocument, options?: {force?: boolean}): Promise<void>
  lock(operation: string): Promise<LockInfo>
  unlock(lockId: string, options?: {force?: boolean}): Promise<void>
  readLock(): Promise<LockInfo | undefined>
  /**
   * Fails unless the store really refuses a conditional create on an existing key (remote
   * stores; a lock on a store that ignores the condition could never fail). Local: a no-op.
   */
  probe?(): Promise<void>
  /** Closes clients and stops lease renewal (idempotent). */
  close?(): Promise<void>
}
