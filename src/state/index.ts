import {randomUUID} from 'node:crypto'
import {join, resolve} from 'node:path'

import type {ResolvedConfig} from '../config/types.js'
import {openRemoteStore} from './backends.js'
import {ERRORED_STATE_FILE, LocalStateStore} from './local-store.js'
import type {StateDocument, StateStore} from './types.js'

/** The state store the config names: a local file, or an object in S3, GCS or Azure Blob. */
export function openStateStore(config: ResolvedConfig, env: NodeJS.ProcessEnv = process.env): StateStore {
  const state = config.state
  if (state.backend === 'local') return new LocalStateStore(resolve(config.dir, state.path ?? '.anycloud'), process.cwd(), join(config.dir, ERRORED_STATE_FILE))
  return openRemoteStore(config, env)
}

export function emptyState(project: string, lineage: string = randomUUID()): StateDocument {
  return {formatVersion: 1, lineage, serial: 0, project, deployments: {}}
}

export type {DeploymentRecord, LockInfo, StateDocument, StateStore} from './types.js'
