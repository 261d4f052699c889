// The plan as data (SPEC §4): what the engine produces, render shows and apply consumes.
import type {SpotRecord} from './resources.js'
import type {Action, BucketRole, Placement, ResourceKind, WorkloadPhase} from './resources.js'
import type {ProviderKind} from './profile.js'

/** One planned change (SPEC §4). `reason` is for humans only: apply never branches on it. */
export interface Change {
  address: string
  profile: string
  kind: ResourceKind
  role?: BucketRole
  action: Action
  reason: string
  /** No-op on purpose: the machine had its interruption notice and the cloud is taking it back (watch logs a wait). */
  waiting?: true
  credential: string
  provider: ProviderKind
  name: string
  dependsOn: string[]
  before: Record<string, unknown> | null
  after: Record<string, unknown> | null
  /** What refresh saw that state should remember (workload outcome, adopted ids). */
  observed?: {id?: string; phase?: WorkloadPhase; exitCode?: number; outputs?: Record<string, unknown>}
}

export interface PlanSummary {
  create: number
  update: number
  replace: number
  delete: number
}

export interface PlanDiagnostic {
  severity: 'error' | 'warning' | 'info'
  message: string
  profile?: string
}

export interface ProfilePlan {
  deploymentId: string
  /** Never applied: `deploymentId` is the one this plan's apply will assign (shown as `(known after apply)`). */
  newDeployment?: boolean
  placement: Placement
  /** `run`: the job should be running; `done`: it finished and only what is kept remains. */
  phase: 'run' | 'done'
  /** Spot deployments: preemptions counted and the on-demand fallback, as apply will record them. */
  spot?: SpotRecord
}

/** The plan as data: pure function of (desired, actual), sorted, round-trips through JSON. */
export interface Plan {
  formatVersion: '1'
  state: {lineage: string | null; serial: number}
  profiles: Record<string, ProfilePlan>
  changes: Change[]
  summary: PlanSummary
  diagnostics: PlanDiagnostic[]
  /** Profiles the plan covers (a saved plan is applied to these only). */
  scope: string[]
  /** True for a destroy plan. */
  destroy?: boolean
}
