import type {Diagnostic} from '../config/diagnostics.js'
import type {Decision} from '../model/decision.js'
import type {EngineEvent, Reporter} from '../model/events.js'
import type {Plan} from '../model/plan.js'

/**
 * What the engine tells its host besides progress events. The host decides how (and whether) each
 * is shown; the engine never prints.
 */
export type IoMessage =
  /** A problem in anycloud.yaml that does not stop the command. */
  | {type: 'config-warning'; diagnostic: Diagnostic}
  /** Something the user should know that does not fail the command (a lock that could not be released). */
  | {type: 'warning'; message: string}
  /** A progress line outside any change (waiting for the lock, moving the state, stopping). */
  | {type: 'info'; message: string}
  /** A fresh plan before it is applied (`attempt` > 1: re-planned under the next credential). */
  | {type: 'plan'; plan: Plan; attempt: number}
  /** The plan's changes are approved and about to run. */
  | {type: 'approved'; plan: Plan}
  /** Every change of the run settled (progress can be closed). */
  | {type: 'changes-settled'}
  /** Workload output (`logs`), secrets already masked. */
  | {type: 'output'; chunk: string}
  /** One decision of a `watch` reconcile. */
  | {type: 'decision'; decision: Decision}

/** A confirmation: a request with a default answer (no). */
export interface ConfirmRequest {
  /** The command asking, for the refusal message (`apply`, `destroy`, `state migrate`). */
  command: string
  question: string
}

/**
 * The engine's only way out and in: events and messages out, confirmations in. The CLI is one
 * host (src/cli/io-host.ts); a library user or a test supplies another.
 */
export interface IoHost extends Reporter {
  /** Whether `confirm` can reach a person; without one, a change needing approval is refused up front. */
  readonly interactive: boolean
  /** Progress of the engine's work: refresh, changes, diagnostics. */
  emit(event: EngineEvent): void
  notify(message: IoMessage): void | Promise<void>
  /** Asked only when no `autoApprove` option answered already. Resolves true to go ahead. */
  confirm(request: ConfirmRequest): Promise<boolean>
}
