import {requireConfig, selectProfiles, type LoadConfigOptions} from '../config/index.js'
import type {Diagnostic} from '../config/diagnostics.js'
import type {NamedCredential, ResolvedConfig, ResolvedProfile} from '../config/types.js'
import {ProviderSet} from '../providers/registry.js'
import {acquireLock, refuseWhileErrored} from '../state/acquire.js'
import {openStateStore} from '../state/index.js'
import {recordLastBackend} from './state-transfer.js'
import type {DeploymentRecord, LockInfo, StateDocument, StateStore} from '../state/types.js'
import {deploymentContext, type DeploymentContext, type Placement} from '../model/resources.js'
import {registerSecret} from '../util/redact.js'

export interface SessionOptions {
  file: string
  profiles?: string[]
  env?: NodeJS.ProcessEnv
  /** Take the state lock for this operation (apply, destroy, state rm, watch). */
  lock?: string
  /** `--lock=false`: run without the lock (and without the store's honesty probe). */
  noLock?: boolean
  /** `--lock-timeout`: wait this long for a held lock, with backoff; default: fail at once (exit 4). */
  lockTimeoutMs?: number
  /** Problems worth telling the user that do not fail the command (a lock that could not be released). */
  onWarning?: (message: string) => void
  /** Told once when a held lock is waited for (`--lock-timeout`). */
  onLockWait?: (message: string) => void
  signal?: AbortSignal
  /** `state push`: may run while an errored state waits to be pushed (it is how it gets pushed). */
  allowErrored?: boolean
  /** Record the backend in `.anycloud/last-backend.json` (for `state migrate`); default true. */
  recordBackend?: boolean
  /** Test-only crash point for apply (`after-intent:ADDRESS`): given by the façade's options (the CLI reads it from `ANYCLOUD_TEST_CRASH_AT`). */
  crashAt?: string
}

/** Everything a command needs: the resolved config, state, providers, and the lock when taken. */
export interface Session {
  config: ResolvedConfig
  warnings: Diagnostic[]
  profiles: ResolvedProfile[]
  store: StateStore
  state: StateDocument | undefined
  providers: ProviderSet
  lock?: LockInfo
  /** Test-only: apply kills the process at this step (`after-intent:train.vm`, `after-create:…`). */
  crashAt?: string
  /** Releases the lock and closes providers and the store (idempotent). */
  release(): Promise<void>
  /**
   * Locks are held per operation: `unlock()` lets go of the lock while the command only waits
   * (`apply --wait`), `relock()` takes it again and re-reads the state before the next change.
   */
  unlock(): Promise<void>
  relock(): Promise<void>
  /** Re-reads state (after an apply, or between watch iterations). */
  reload(): Promise<StateDocument | undefined>
}

/** Every value interpolated from the environment is a secret from now on (redacted wherever it would be printed), and so is every credential's secret field. */
function registerConfigSecrets(config: ResolvedConfig): void {
  for (const p of Object.values(config.profiles)) for (const k of p.sensitiveEnv) registerSecret(p.env[k])
  registerCredentialSecrets(config.credentials)
}

/** Every secret field of these credentials is a secret from now on (redacted wherever it would be printed). */
export function registerCredentialSecrets(credentials: Readonly<Record<string, NamedCredential>>): void {
  for (const c of Object.values(credentials)) {
    const spec = c.spec as unknown as Record<string, unknown>
    for (const k of ['accessKeyId', 'secretAccessKey', 'sessionToken', 'clientSecret']) if (typeof spec[k] === 'string') registerSecret(spec[k] as string)
  }
}

/**
 * Loads and resolves the config (throwing its diagnostics) and registers its secrets: every
 * engine entry point that reads anycloud.yaml goes through here, so what it prints is masked.
 */
export function requireConfigWithSecrets(options: LoadConfigOptions): {config: ResolvedConfig; warnings: Diagnostic[]} {
  const resolved = requireConfig(options)
  registerConfigSecrets(resolved.config)
  return resolved
}

/** The session's lock on state, for the operation it was opened for (none without one, or with --lock=false). */
async function takeLock(store: StateStore, options: SessionOptions): Promise<LockInfo | undefined> {
  if (!options.lock) return undefined
  if (options.noLock) {
    options.onWarning?.(`running ${options.lock} without the state lock (--lock=false): nothing stops another run from changing ${store.description} at the same time`)
    return undefined
  }
  let told = false
  return acquireLock(store, options.lock, {
    timeoutMs: options.lockTimeoutMs,
    signal: options.signal,
    onWait: (error) => {
      if (!told) options.onLockWait?.(`Waiting for the state lock (up to the --lock-timeout): ${error.message}`)
      told = true
    },
  })
}

export async function openSession(options: SessionOptions): Promise<Session> {
  const env = options.env ?? process.env
  const {config, warnings} = requireConfigWithSecrets({file: options.file, env})
  const profiles = selectProfiles(config, options.profiles ?? [])
  const store = openStateStore(config, env)
  const lockWith = () => takeLock(store, options)
  let lock: LockInfo | undefined
  try {
    if (options.lock && !options.allowErrored) refuseWhileErrored(store)
    lock = await lockWith()
  } catch (error) {
    await store.close?.()
    throw error
  }
  let released = false
  const unlock = async () => {
    const held = lock
    lock = undefined
    session.lock = undefined
    if (!held) return
    try {
      await store.unlock(held.id)
    } catch (error) {
      options.onWarning?.(`could not release the state lock ${held.id} on ${store.description}: ${(error as Error).message}. If no run holds it, release it with \`anycloud state unlock ${held.id}\`.`)
    }
  }
  const session: Session = {
    crashAt: options.crashAt,
    config,
    warnings,
    profiles,
    store,
    state: undefined,
    providers: new ProviderSet({credentials: config.credentials, configDir: config.dir, env}),
    lock,
    release: async () => {
      if (released) return
      released = true
      await session.providers.closeAll()
      await unlock()
      await store.close?.()
    },
    unlock,
    relock: async () => {
      if (!lock) {
        lock = await lockWith()
        session.lock = lock
      }
      await session.reload()
    },
    reload: async () => {
      session.state = await store.read()
      return session.state
    },
  }
  if (options.recordBackend !== false) recordLastBackend(config)
  try {
    await session.reload()
  } catch (error) {
    await session.release()
    throw error
  }
  return session
}

/**
 * The context of a deployment state recorded (its id, placement and records), with the session's
 * config and lineage: what reads of a running deployment (status, logs, `apply --wait`) hand a provider.
 */
export function recordedDeploymentContext(session: Session, profile: ResolvedProfile, dep: DeploymentRecord, placement: Placement): DeploymentContext {
  return deploymentContext({
    project: session.config.project, deploymentId: dep.id, lineage: session.state!.lineage, profile, placement,
    configDir: session.config.dir, stateDir: session.store.localDir, credentials: session.config.credentials,
  })
}
