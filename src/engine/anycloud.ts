import type {ApplyResult, CredentialsTestResult, DestroyResult, LogsResult, PlanResult, StateListResult, StateMigrateResult, StatePullResult, StatePushResult, StateRmResult, StateShowResult, StateUnlockResult, StatusResult, WatchResult} from '../model/results.js'
import {engineContext, type CommonOptions, type EngineContext} from './context.js'
import {applyChanges, destroyAll, planOnly, type ApplyOptions, type DestroyOptions, type PlanOptions} from './converge.js'
import {testCredentials, type CredentialsTestOptions} from './credential-check.js'
import type {IoHost} from './io-host.js'
import {listState, migrateStateBackend, pullState, pushStateFile, removeFromState, showState, unlockState, type StateListOptions, type StateMigrateOptions, type StatePullOptions, type StatePushOptions, type StateRmOptions, type StateShowOptions, type StateUnlockOptions} from './state-ops.js'
import {collectStatus} from './status.js'
import {watchDeployments, type WatchOptions} from './watch.js'
import {workloadLogs, type LogsOptions} from './workload-logs.js'

export type {ApplyOptions, DestroyOptions, PlanOptions} from './converge.js'
export type {CredentialsTestOptions} from './credential-check.js'
export type {CommonOptions, LockOptions} from './context.js'
export type {ConfirmRequest, IoHost, IoMessage} from './io-host.js'
export type {StateListOptions, StateMigrateOptions, StatePullOptions, StatePushOptions, StateRmOptions, StateShowOptions, StateUnlockOptions} from './state-ops.js'
export type {WatchOptions} from './watch.js'
export type {LogsOptions} from './workload-logs.js'

export interface StatusOptions extends CommonOptions {
  /** Profiles to show (default: all, and whatever state still holds). */
  profiles?: string[]
}

export interface AnycloudOptions {
  /** The environment `${env:…}` references and credentials resolve against (default: `process.env`). */
  env?: NodeJS.ProcessEnv
  /** Test-only: apply kills the process at this step (`after-intent:train.vm`, `after-create:…`). */
  crashAt?: string
}

/**
 * The engine as one object: every command is one call, `XOptions → Promise<XResult>`. It never
 * prints: progress, warnings and workload output go out through the {@link IoHost}, and the
 * confirmations it needs come back through it. Results are plain data (model/results.ts) for a view.
 */
export class Anycloud {
  private readonly ctx: EngineContext

  constructor(io: IoHost, options: AnycloudOptions = {}) {
    this.ctx = engineContext(io, options.env ?? process.env, options.crashAt)
  }

  /** Refreshes and diffs; changes nothing (the plan is saved with `out`). */
  plan(options: PlanOptions): Promise<PlanResult> {
    return planOnly(this.ctx, options)
  }

  /** Applies a fresh plan once confirmed (or `autoApprove`), or a saved plan exactly. */
  apply(options: ApplyOptions): Promise<ApplyResult> {
    return applyChanges(this.ctx, options)
  }

  /** Tears down what the profiles own, once confirmed (or `autoApprove`). */
  destroy(options: DestroyOptions): Promise<DestroyResult> {
    return destroyAll(this.ctx, options)
  }

  /** What runs where, read live (read-only); state's view where a cloud is unreachable. */
  async status(options: StatusOptions): Promise<StatusResult> {
    const session = await this.ctx.open({file: options.file, profiles: options.profiles})
    try {
      const deployments = await collectStatus(session)
      return {project: session.config.project, state: {lineage: session.state?.lineage ?? null, serial: session.state?.serial ?? 0}, deployments}
    } finally {
      // Closes provider connections (an ssh host's SSH session would keep the process alive).
      await session.release()
    }
  }

  /** The workload's output, streamed to the host; or the output saved when its machine was torn down. */
  logs(options: LogsOptions): Promise<LogsResult> {
    return workloadLogs(this.ctx, options)
  }

  /** Reconciles the applied deployments every interval until `signal` aborts (or once). */
  watch(options: WatchOptions): Promise<WatchResult> {
    return watchDeployments(this.ctx, options)
  }

  readonly state = {
    list: (options: StateListOptions): Promise<StateListResult> => listState(this.ctx, options),
    show: (options: StateShowOptions): Promise<StateShowResult> => showState(this.ctx, options),
    rm: (options: StateRmOptions): Promise<StateRmResult> => removeFromState(this.ctx, options),
    unlock: (options: StateUnlockOptions): Promise<StateUnlockResult> => unlockState(this.ctx, options),
    pull: (options: StatePullOptions): Promise<StatePullResult> => pullState(this.ctx, options),
    push: (options: StatePushOptions): Promise<StatePushResult> => pushStateFile(this.ctx, options),
    migrate: (options: StateMigrateOptions): Promise<StateMigrateResult> => migrateStateBackend(this.ctx, options),
  }

  readonly credentials = {
    test: (options: CredentialsTestOptions): Promise<CredentialsTestResult> => testCredentials(this.ctx, options),
  }
}
