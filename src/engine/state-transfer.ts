import {existsSync, readFileSync, rmSync} from 'node:fs'
import {resolve} from 'node:path'

import type {ResolvedConfig} from '../config/types.js'
import {AnycloudError, UsageError} from '../errors/index.js'
import {LocalStateStore} from '../state/local-store.js'
import {openStateStore} from '../state/index.js'
import type {StateDocument, StateStore} from '../state/types.js'
import {writeFileAtomic} from '../util/atomic-write.js'

/** Reads a state file (a pulled copy, an errored state, a backup); refuses anything else. */
export function readStateFile(path: string): StateDocument {
  let doc: StateDocument
  try {
    doc = JSON.parse(readFileSync(path, 'utf8')) as StateDocument
  } catch (error) {
    throw new UsageError(`${path} is not a readable state file: ${(error as Error).message}`, [], 'state.bad-file')
  }
  if (doc?.formatVersion !== 1 || typeof doc.lineage !== 'string' || typeof doc.serial !== 'number' || typeof doc.deployments !== 'object') {
    throw new UsageError(`${path} is not an anycloud state (formatVersion 1 with lineage, serial and deployments)`, [], 'state.bad-file')
  }
  return doc
}

export interface PushResult {
  written: StateDocument
  previous?: {lineage: string; serial: number}
  /** The errored-state file was pushed and removed. */
  clearedErrored: boolean
}

/**
 * `state push FILE`: the file replaces the stored state when its lineage matches and its serial
 * is newer; `force` skips both checks (the serial then moves past the stored one, so saved plans
 * made before are stale). The write itself is still conditional on the version just read.
 */
export async function pushState(store: StateStore, file: string, options: {force?: boolean} = {}): Promise<PushResult> {
  const doc = readStateFile(file)
  const current = await store.read()
  if (current && !options.force) {
    if (current.lineage !== doc.lineage) {
      throw new UsageError(`refusing to push ${file}: it is lineage ${doc.lineage}, ${store.description} is lineage ${current.lineage} (a different state)`, ['Check that you push the right file; --force replaces the stored state anyway.'], 'state.lineage')
    }
    if (doc.serial <= current.serial) {
      throw new UsageError(`refusing to push ${file}: its serial ${doc.serial} is not newer than ${store.description}'s ${current.serial}`, ['Another run saved since; `anycloud state pull` shows it. --force replaces it anyway.'], 'state.serial')
    }
  }
  const written = current && options.force && doc.serial <= current.serial ? {...doc, serial: current.serial + 1} : doc
  await store.write(written, {force: options.force})
  let clearedErrored = false
  if (resolve(file) === resolve(store.erroredPath) && existsSync(store.erroredPath)) {
    rmSync(store.erroredPath)
    clearedErrored = true
  }
  return {written, ...(current ? {previous: {lineage: current.lineage, serial: current.serial}} : {}), clearedErrored}
}

export interface MigrationSource {
  /** For messages. */
  description: string
  read(): Promise<StateDocument | undefined>
}

/**
 * Where `state migrate` finds the old copy: `--from-file`, else the backend recorded as the last
 * one used (`.anycloud/last-backend.json`, written whenever a remote backend is used), else the
 * local `.anycloud/` of the file's directory.
 */
export function migrationSource(config: ResolvedConfig, target: StateStore, fromFile?: string, env: NodeJS.ProcessEnv = process.env): MigrationSource {
  if (fromFile) return {description: fromFile, read: async () => readStateFile(fromFile)}
  const recorded = readLastBackend(config)
  if (recorded && JSON.stringify(recorded) !== JSON.stringify(config.state)) {
    const store = openStateStore({...config, state: recorded}, env)
    if (store.description !== target.description) return store
  }
  const local = new LocalStateStore(resolve(config.dir, '.anycloud'), process.cwd())
  if (!(target instanceof LocalStateStore) || resolve(target.path) !== resolve(local.path)) return local
  throw new UsageError(`state migrate: no previous copy of the state was found for ${config.file} (${target.description} is where it goes)`, ['Give the old copy with --from-file FILE (e.g. one saved with `anycloud state pull > FILE` before the `state:` block changed).'], 'state.migrate-no-source')
}

const LAST_BACKEND = 'last-backend.json'

/** Records which backend a run used (non-secret: the `state:` block), for a later `state migrate`. */
export function recordLastBackend(config: ResolvedConfig): void {
  const dir = resolve(config.dir, '.anycloud')
  try {
    const path = resolve(dir, LAST_BACKEND)
    const text = JSON.stringify(config.state) + '\n'
    // A local-only project never gets the file; once a remote backend was used, every backend is recorded.
    if (config.state.backend === 'local' && !existsSync(path)) return
    if (existsSync(path) && readFileSync(path, 'utf8') === text) return
    writeFileAtomic(path, text, {mode: 0o600, dirMode: 0o700})
  } catch {
    // Best effort: a read-only checkout only loses the hint.
  }
}

function readLastBackend(config: ResolvedConfig): ResolvedConfig['state'] | undefined {
  try {
    return JSON.parse(readFileSync(resolve(config.dir, '.anycloud', LAST_BACKEND), 'utf8')) as ResolvedConfig['state']
  } catch {
    return undefined
  }
}

export interface MigrateResult {
  source: string
  target: string
  document?: StateDocument
  /** The target already held this state (same lineage, same or newer serial). */
  already: boolean
}

/**
 * Copies the state from `source` to `target`, keeping its lineage and serial. The old copy is left
 * where it was, as a backup. A target holding another lineage is never overwritten.
 */
export async function migrateState(source: MigrationSource, target: StateStore): Promise<MigrateResult> {
  const doc = await source.read()
  if (!doc) throw new UsageError(`state migrate: ${source.description} holds no state to move`, [], 'state.migrate-empty')
  const existing = await target.read()
  if (existing) {
    if (existing.lineage !== doc.lineage) {
      throw new AnycloudError(`state migrate: ${target.description} already holds another state (lineage ${existing.lineage}; moving lineage ${doc.lineage}); nothing was changed`, {code: 'state.lineage', source: 'user', suggestions: ['Point the `state:` block at an empty location, or remove that state first if it is obsolete.']})
    }
    if (existing.serial >= doc.serial) return {source: source.description, target: target.description, document: existing, already: true}
  }
  await target.write(doc)
  return {source: source.description, target: target.description, document: doc, already: false}
}
