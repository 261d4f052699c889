import {UsageError} from '../errors/index.js'
import type {StateListResult, StateMigrateResult, StatePullResult, StatePushResult, StateRmResult, StateShowResult, StateUnlockResult} from '../model/results.js'
import {openStateStore} from '../state/index.js'
import type {StateDocument, StateStore} from '../state/types.js'
import {redactSecrets} from '../util/redact.js'
import type {CommonOptions, EngineContext, LockOptions} from './context.js'
import {requireConfigWithSecrets} from './session.js'
import {migrateState, migrationSource, pushState, recordLastBackend} from './state-transfer.js'

export type StateListOptions = CommonOptions
export interface StateShowOptions extends CommonOptions {
  address: string
}
export interface StateRmOptions extends CommonOptions, LockOptions {
  address: string
}
export interface StateUnlockOptions extends CommonOptions {
  lockId: string
}
export type StatePullOptions = CommonOptions
export interface StatePushOptions extends CommonOptions, LockOptions {
  /** The state file to upload. */
  stateFile: string
  /** Replace the stored state even when the lineage differs or the serial is not newer. */
  force?: boolean
}
export interface StateMigrateOptions extends CommonOptions, LockOptions {
  /** Take the old copy from this state file. */
  fromFile?: string
  autoApprove?: boolean
}

/** An address state does not hold, with the ones it does. */
function unknownAddress(address: string, state: StateDocument | undefined): UsageError {
  const all = Object.values(state?.deployments ?? {}).flatMap((d) => Object.keys(d.resources))
  return new UsageError(`no resource ${address} in state; addresses: ${all.sort().join(', ') || '(none)'}`)
}

/** Reads with the store of the file's `state:` block, without a lock (read-only, or a lock repair). */
async function withStore<T>(ctx: EngineContext, file: string, fn: (store: StateStore) => Promise<T>): Promise<T> {
  const {config} = requireConfigWithSecrets({file, env: ctx.env})
  const store = openStateStore(config, ctx.env)
  try {
    return await fn(store)
  } finally {
    await store.close?.()
  }
}

export function listState(ctx: EngineContext, options: StateListOptions): Promise<StateListResult> {
  return withStore(ctx, options.file, async (store) => {
    const state = await store.read()
    const rows = Object.values(state?.deployments ?? {}).flatMap((d) => Object.values(d.resources).map((r) => ({address: r.address, deploymentId: d.id, status: r.status, id: r.id})))
    rows.sort((a, b) => a.address.localeCompare(b.address))
    return {lineage: state?.lineage ?? null, serial: state?.serial ?? 0, resources: rows}
  })
}

export function showState(ctx: EngineContext, options: StateShowOptions): Promise<StateShowResult> {
  return withStore(ctx, options.file, async (store) => {
    const state = await store.read()
    for (const d of Object.values(state?.deployments ?? {})) {
      const r = d.resources[options.address]
      if (r) return {resource: JSON.parse(redactSecrets(JSON.stringify({deploymentId: d.id, placement: d.placement, ...r}))) as Record<string, unknown>}
    }
    throw unknownAddress(options.address, state)
  })
}

/** Releases a lock left by a run that died; a wrong id changes nothing. */
export function unlockState(ctx: EngineContext, options: StateUnlockOptions): Promise<StateUnlockResult> {
  return withStore(ctx, options.file, async (store) => {
    // Nothing to release: say so rather than claim a release that did not happen.
    if (!(await store.readLock())) return {released: false, store: store.description}
    await store.unlock(options.lockId, {force: true})
    return {released: true, lockId: options.lockId}
  })
}

export function pullState(ctx: EngineContext, options: StatePullOptions): Promise<StatePullResult> {
  return withStore(ctx, options.file, async (store) => {
    const state = await store.read()
    return {store: store.description, ...(state ? {document: state} : {})}
  })
}

/** Forgets a resource: removes it from state without touching the cloud. */
export async function removeFromState(ctx: EngineContext, options: StateRmOptions): Promise<StateRmResult> {
  const session = await ctx.open({file: options.file, lock: 'state rm', signal: options.signal, lockTimeoutMs: options.lockTimeoutMs, noLock: options.noLock})
  try {
    const state = session.state
    const dep = Object.values(state?.deployments ?? {}).find((d) => d.resources[options.address])
    if (!state || !dep) throw unknownAddress(options.address, state)
    delete dep.resources[options.address]
    if (Object.keys(dep.resources).length === 0 && !dep.workload) delete state.deployments[dep.profile]
    state.serial += 1
    await session.store.write(state)
    return {address: options.address}
  } finally {
    await session.release()
  }
}

export async function pushStateFile(ctx: EngineContext, options: StatePushOptions): Promise<StatePushResult> {
  const session = await ctx.open({file: options.file, lock: 'state push', allowErrored: true, signal: options.signal, lockTimeoutMs: options.lockTimeoutMs, noLock: options.noLock})
  try {
    const r = await pushState(session.store, options.stateFile, {force: options.force})
    return {file: options.stateFile, store: session.store.description, written: {lineage: r.written.lineage, serial: r.written.serial}, ...(r.previous ? {previous: r.previous} : {}), clearedErrored: r.clearedErrored}
  } finally {
    await session.release()
  }
}

/** Moves the state to the backend the `state:` block names now, after a confirmation through the host. */
export async function migrateStateBackend(ctx: EngineContext, options: StateMigrateOptions): Promise<StateMigrateResult> {
  const session = await ctx.open({file: options.file, lock: 'state migrate', recordBackend: false, signal: options.signal, lockTimeoutMs: options.lockTimeoutMs, noLock: options.noLock})
  try {
    const source = migrationSource(session.config, session.store, options.fromFile, ctx.env)
    await ctx.io.notify({type: 'info', message: `Moving the state from ${source.description} to ${session.store.description}.`})
    if (!options.autoApprove && !(await ctx.io.confirm({command: 'state migrate', question: 'Do you want to migrate the state?'}))) return {migrated: false}
    const r = await migrateState(source, session.store).finally(() => (source as {close?: () => Promise<void>}).close?.())
    recordLastBackend(session.config)
    return {migrated: true, already: r.already, source: r.source, target: r.target, lineage: r.document!.lineage, serial: r.document!.serial}
  } finally {
    await session.release()
  }
}
