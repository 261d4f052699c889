import type {StateListResult, StateMigrateResult, StatePullResult, StatePushResult, StateRmResult, StateUnlockResult} from '../model/results.js'
import {writeJson, type Sink} from './sink.js'

/** `state list`: one address a line (pending ones marked), or JSON. */
export function showStateList(r: StateListResult, options: {json: boolean}, sink: Sink): void {
  if (options.json) return writeJson(sink, {lineage: r.lineage, serial: r.serial, resources: r.resources})
  for (const row of r.resources) sink.stdout(`${row.address}${row.status === 'pending' ? ' (pending)' : ''}\n`)
}

export function showStateRm(r: StateRmResult, sink: Sink): void {
  sink.stdout(`Removed ${r.address} from state (the resource itself was not touched).\n`)
}

export function showStateUnlock(r: StateUnlockResult, sink: Sink): void {
  if (r.released) sink.stdout(`Released lock ${r.lockId}.\n`)
  else sink.stderr(`${r.store} is not locked; nothing to release.`)
}

/** `state pull`: the stored state as JSON on stdout (save it with `> state.json`). */
export function showStatePull(r: StatePullResult, sink: Sink): void {
  if (r.document === undefined) sink.stderr(`${r.store} holds no state yet.`)
  else sink.stdout(JSON.stringify(r.document, null, 2) + '\n')
}

/** `state push`: the result on stdout (SPEC §3); lock waits and errors are on stderr. */
export function showStatePush(r: StatePushResult, sink: Sink): void {
  sink.stdout(`Pushed ${r.file} to ${r.store}: lineage ${r.written.lineage}, serial ${r.written.serial}${r.previous ? ` (was serial ${r.previous.serial})` : ''}.\n`)
  if (r.clearedErrored) sink.stdout(`Removed ${r.file}: the state is whole again.\n`)
}

/** `state migrate`: the result on stdout (SPEC §3); what is about to happen, the prompt and a cancel on stderr. */
export function showStateMigrate(r: StateMigrateResult, sink: Sink): void {
  if (!r.migrated) sink.stderr('Migration cancelled: nothing was changed.')
  else if (r.already) sink.stdout(`${r.target} already holds this state (lineage ${r.lineage}, serial ${r.serial}); nothing to do.\n`)
  else sink.stdout(`Migrated: ${r.target} now holds lineage ${r.lineage}, serial ${r.serial}. The old copy stays in ${r.source} as a backup.\n`)
}

/** `state show`: the resource as JSON (secrets masked by the engine). */
export function showStateShow(r: {resource: Record<string, unknown>}, sink: Sink): void {
  writeJson(sink, r.resource)
}
