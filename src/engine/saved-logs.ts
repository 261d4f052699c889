import {mkdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import type {Provider, ProviderCallContext} from '../providers/provider.js'
import {withinBudget} from '../remote/deadline.js'
import type {SavedLog} from '../state/types.js'
import {writeFileAtomic} from '../util/atomic-write.js'
import {redactSecrets} from '../util/redact.js'

/**
 * A workload's output outlives its machine (issue 13, item 5): before a workload is deleted (the
 * job finished and `apply --wait` or `watch` tears the machine down, or `destroy`), its
 * stdout+stderr tail is read through the provider's `logs`, masked (every registered secret), and
 * saved as `<stateDir>/logs/<deploymentId>.log` (0600); state points at it (`logs.PROFILE`).
 */

/** How much of the output is kept: the last MiB. */
export const SAVED_LOG_BYTES = 1024 * 1024
/** Lines shown when the output is saved. */
export const SHOWN_LOG_LINES = 20
/** Reading the output is best effort and never holds up a teardown for long. */
export const CAPTURE_BUDGET_MS = 60_000

export function savedLogFile(deploymentId: string): string {
  return join('logs', `${deploymentId}.log`)
}

/** Reads the workload's output and saves its tail. Resolves undefined when the provider shows no logs. */
export async function saveWorkloadLog(provider: Provider, call: ProviderCallContext, stateDir: string, outcome: {phase?: SavedLog['phase']; exitCode?: number}): Promise<{log: SavedLog; tail: string[]} | undefined> {
  if (!provider.logs) return undefined
  const chunks: string[] = []
  let size = 0
  let truncated = false
  await withinBudget(`the ${CAPTURE_BUDGET_MS / 1000}s budget for reading the workload's output`, CAPTURE_BUDGET_MS, () =>
    provider.logs!(call, {
      follow: false,
      write: (chunk) => {
        chunks.push(chunk)
        size += chunk.length
        // Keep memory bounded on a chatty job: drop whole chunks from the front beyond twice the tail.
        while (size > 2 * SAVED_LOG_BYTES && chunks.length > 1) {
          size -= chunks.shift()!.length
          truncated = true
        }
      },
    }),
  )
  let text = redactSecrets(chunks.join(''))
  const bytes = Buffer.byteLength(text)
  if (bytes > SAVED_LOG_BYTES) {
    const buf = Buffer.from(text)
    text = buf.subarray(buf.length - SAVED_LOG_BYTES).toString('utf8').replace(/^[^\n]*\n/, '')
    truncated = true
  }
  const deploymentId = call.deployment.deploymentId
  const file = savedLogFile(deploymentId)
  mkdirSync(join(stateDir, 'logs'), {recursive: true, mode: 0o700})
  writeFileAtomic(join(stateDir, file), text, {mode: 0o600})
  const log: SavedLog = {deploymentId, file, savedAt: new Date().toISOString(), bytes: Buffer.byteLength(text), truncated, ...(outcome.phase ? {phase: outcome.phase} : {}), ...(outcome.exitCode !== undefined ? {exitCode: outcome.exitCode} : {})}
  const lines = text.replace(/\n$/, '').split('\n')
  return {log, tail: text.length === 0 ? [] : lines.slice(-SHOWN_LOG_LINES)}
}

/** The saved output a state points at, or undefined when the file is gone. */
export function readSavedLog(stateDir: string, log: SavedLog): string | undefined {
  try {
    return readFileSync(join(stateDir, log.file), 'utf8')
  } catch {
    return undefined
  }
}
