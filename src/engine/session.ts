import {requireConfig, selectProfiles} from '../config/index.js'
import type {Diagnostic} from '../config/diagnostics.js'
import type {ResolvedConfig, ResolvedProfile} from '../config/types.js'
import {ProviderSet} from '../providers/registry.js'
import {openStateStore} from '../state/index.js'
import type {LockInfo, StateDocument, StateStore} from '../state/types.js'
import {registerSecret} from '../util/redact.js'

export interface SessionOptions {
  file: string
  profiles?: string[]
  env?: NodeJS.ProcessEnv
  /** Take the state lock for this operation (apply, destroy, state rm, watch). */
  lock?: string
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
  /** Releases the lock (idempotent). */
  release(): Promise<void>
  /** Re-reads state (after an apply, or between watch iterations). */
  reload(): Promise<StateDocument | undefined>
}

export async function openSession(options: SessionOptions): Promise<Session> {
  const env = options.env ?? process.env
  const {config, warnings} = requireConfig({file: options.file, env})
  // Every value interpolated from the environment, and every secret field, is a secret from now on.
  for (const p of Object.values(config.profiles)) for (const k of p.sensitiveEnv) registerSecret(p.env[k])
  for (const c of Object.values(config.credentials)) {
    const spec = c.spec as unknown as Record<string, unknown>
    for (const k of ['accessKeyId', 'secretAccessKey', 'sessionToken', 'clientSecret']) if (typeof spec[k] === 'string') registerSecret(spec[k] as string)
  }
  const profiles = selectProfiles(config, options.profiles ?? [])
  const store = openStateStore(config)
  let lock: LockInfo | undefined
  if (options.lock) lock = await store.lock(options.lock)
  let released = false
  const session: Session = {
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
      if (lock) await store.unlock(lock.id).catch(() => undefined)
    },
    reload: async () => {
      session.state = await store.read()
      return session.state
    },
  }
  try {
    await session.reload()
  } catch (error) {
    await session.release()
    throw error
  }
  return session
}
