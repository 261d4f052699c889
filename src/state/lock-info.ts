import {randomUUID} from 'node:crypto'
import {hostname, userInfo} from 'node:os'

import {LockedError} from '../errors/index.js'
import type {LockInfo} from './types.js'

/**
 * The URL of the CI run this process belongs to, when the CI system says so: GitHub Actions
 * (`GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID`) or GitLab CI (`CI_JOB_URL`,
 * else `CI_PIPELINE_URL`). Undefined elsewhere.
 */
export function ciRunUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.GITHUB_ACTIONS === 'true' && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID) {
    const server = (env.GITHUB_SERVER_URL ?? 'https://github.com').replace(/\/+$/, '')
    return `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}${env.GITHUB_RUN_ATTEMPT ? `/attempts/${env.GITHUB_RUN_ATTEMPT}` : ''}`
  }
  if (env.GITLAB_CI === 'true') return env.CI_JOB_URL ?? env.CI_PIPELINE_URL
  return undefined
}

export function currentUser(): string {
  try {
    return userInfo().username
  } catch {
    return process.env.USER ?? 'unknown'
  }
}

/** A fresh lock record for `operation`, owned by this process: its id is the owner token. */
export function newLockInfo(operation: string, env: NodeJS.ProcessEnv = process.env): LockInfo {
  const ci = ciRunUrl(env)
  return {id: randomUUID(), operation, who: currentUser(), host: hostname(), pid: process.pid, created: new Date().toISOString(), ...(ci ? {ciUrl: ci} : {})}
}

/** `apply by ana@build-7 (pid 42) since 2026-…; CI run https://…` */
export function describeHolder(holder: LockInfo): string {
  return `${holder.operation} by ${holder.who}@${holder.host}${holder.pid ? ` (pid ${holder.pid})` : ''} since ${holder.created}${holder.ciUrl ? `, CI run ${holder.ciUrl}` : ''}`
}

/** Exit 4: names the holder, when and why it locked, and the lock id to release it with. */
export function lockedError(description: string, holder: LockInfo | undefined): LockedError {
  if (!holder) return new LockedError(`${description} is locked by another run (its lock record could not be read)`, 'unknown', ['Wait for that run to finish, or use --lock-timeout DURATION to wait for it.'])
  return new LockedError(`${description} is locked by another run: ${describeHolder(holder)}; lock id ${holder.id}`, holder.id, [
    'Wait for that run to finish, or pass --lock-timeout DURATION (e.g. 5m) to wait for it.',
    `If that run died, release its lock with \`anycloud state unlock ${holder.id}\`.`,
  ])
}
