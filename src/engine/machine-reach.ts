import {isAnycloudError} from '../errors/index.js'
import type {ActualResource, ResourceRecord} from '../model/resources.js'
import {currentBudget} from '../remote/deadline.js'

/**
 * What the engine does when a machine cannot be reached (issue 13: destroy is never held hostage
 * by the machine). The resources that live ON a machine (`bootstrap`, `workload`) are read and
 * removed over SSH; the machine itself (`vm`) and everything else through the cloud's API.
 */

/** Kinds whose reads and deletes go to the machine itself. */
export function livesOnMachine(kind: string): boolean {
  return kind === 'bootstrap' || kind === 'workload'
}

/**
 * Error codes meaning "the machine did not answer or failed" (unreachable, dropped, refused our
 * key, timed out, its status command failed, its login key file is not here). Not among them: a
 * host key mismatch (possibly someone else's machine: always a hard stop), cloud API errors
 * (auth, throttling: they concern the account), and a spent `--timeout` budget.
 */
const MACHINE_CODES = new Set(['ssh.unreachable', 'ssh.connection-lost', 'ssh.auth-failed', 'ssh.channel-failed', 'ssh.closed', 'remote.timeout', 'timeout', 'machine.status', 'aws.sshkey-missing'])

export function isMachineUnreachable(error: unknown): boolean {
  if (currentBudget()?.expired) return false
  return isAnycloudError(error) && MACHINE_CODES.has(error.code)
}

/** A refresh that could not read an on-machine resource: it is shown as recorded (unknown), with a warning. */
export function recordedAsActual(record: ResourceRecord): ActualResource {
  const phase = record.outputs?.phase
  return {
    id: record.id,
    attributes: record.attributes,
    outputs: record.outputs,
    ...(record.kind === 'workload' ? {phase: typeof phase === 'string' ? (phase as ActualResource['phase']) : 'running'} : {}),
    ...(record.kind === 'workload' && typeof record.outputs?.exitCode === 'number' ? {exitCode: record.outputs.exitCode} : {}),
  }
}

export function unknownWarning(address: string, error: unknown): string {
  return `${address}: could not read it on the machine, so it is shown as state recorded it (actual state unknown): ${(error as Error).message}`
}
