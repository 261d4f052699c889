import {randomUUID} from 'node:crypto'
import {resolve} from 'node:path'

import type {ResolvedConfig} from '../config/types.js'
import {UsageError} from '../errors/index.js'
import {LocalStateStore} from './local-store.js'
import type {StateDocument, StateStore} from './types.js'

/** The state store the config names. Remote backends (s3, gcs, azure) are not built yet. */
export function openStateStore(config: ResolvedConfig): StateStore {
  const state = config.state
  if (state.backend === 'local') return new LocalStateStore(resolve(config.dir, state.path ?? '.anycloud'))
  throw new UsageError(`${config.file}: state backend '${state.backend}' is not available in this version of anycloud`, ['Use `state: {backend: local}` (the default) for now.'], 'state.backend-unavailable')
}

export function emptyState(project: string): StateDocument {
  return {formatVersion: 1, lineage: randomUUID(), serial: 0, project, deployments: {}}
}

export type {DeploymentRecord, LockInfo, StateDocument, StateStore} from './types.js'
