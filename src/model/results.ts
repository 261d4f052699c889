/**
 * What the engine façade (`engine/anycloud.ts`) returns: plain data for the views in `render/`.
 * Each `XResult` answers the façade method `x`.
 */
import type {OutcomeCounts, OutcomeStatus} from './outcome.js'
import type {Plan} from './plan.js'
import type {DeploymentStatus} from './status.js'
import type {WorkloadPhase} from './resources.js'

export interface PlanResult {
  plan: Plan
  project: string
  /** Whether the plan changes anything (`--detailed-exitcode`). */
  changes: boolean
  /** The file the plan was saved to (`--out`). */
  savedTo?: string
}

export interface WorkloadOutcome {
  phase: WorkloadPhase
  exitCode?: number
}

/** A workload an interrupted `apply --wait` left running. */
export interface StillRunning {
  profile: string
  deploymentId?: string
  credential?: string
}

export interface ConvergeOutcome {
  /** The plan shown (or the saved plan applied). */
  plan: Plan
  project: string
  /** The anycloud.yaml, as the user named it. */
  configFile: string
  /** False when the confirmation was declined: nothing changed. */
  applied: boolean
  counts: OutcomeCounts
  status: OutcomeStatus
  interrupted: boolean
}

export interface ApplyResult extends ConvergeOutcome {
  /** `--wait`: how each workload ended. */
  workloads?: Record<string, WorkloadOutcome>
  /** `--wait` interrupted: what still runs (and is billed). */
  stillRunning: StillRunning[]
  /** `--wait` was asked for. */
  wait: boolean
}

export type DestroyResult = ConvergeOutcome

export interface StatusResult {
  project: string
  state: {lineage: string | null; serial: number}
  deployments: DeploymentStatus[]
}

export type LogsResult =
  | {source: 'machine'}
  | {
      /** The machine is gone: the output saved when it was torn down. */
      source: 'saved'
      deploymentId: string
      savedAt: string
      phase?: string
      exitCode?: number
      truncated: boolean
      text: string
    }

export interface WatchResult {
  /** Reconciles run (a locked or failed one included). */
  reconciles: number
}

export interface CredentialCheck {
  name: string
  provider: string
  ok: boolean
  account?: string
  message?: string
}

export interface CredentialsTestResult {
  credentials: CredentialCheck[]
}

export interface StateListResult {
  lineage: string | null
  serial: number
  resources: Array<{address: string; deploymentId: string; status: string; id: string}>
}

export interface StateShowResult {
  /** The resource with its deployment id and placement, secrets masked. */
  resource: Record<string, unknown>
}

export interface StateRmResult {
  address: string
}

export type StateUnlockResult = {released: true; lockId: string} | {released: false; store: string}

export interface StatePullResult {
  store: string
  /** The stored state; undefined when the store holds none yet. */
  document?: unknown
}

export interface StatePushResult {
  file: string
  store: string
  written: {lineage: string; serial: number}
  previous?: {lineage: string; serial: number}
  clearedErrored: boolean
}

export type StateMigrateResult =
  | {migrated: false}
  | {migrated: true; already: boolean; source: string; target: string; lineage: string; serial: number}
