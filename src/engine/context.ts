import {InterruptedError} from '../errors/index.js'
import type {IoHost} from './io-host.js'
import {openSession, type Session, type SessionOptions} from './session.js'

/** `--lock-timeout` and `--lock=false`, for the façade methods that take the state lock. */
export interface LockOptions {
  /** Wait this long for a lock held by another run, with backoff; default: fail at once (exit 4). */
  lockTimeoutMs?: number
  /** Run without the lock (and without the store's conditional-write probe). */
  noLock?: boolean
}

/** What every façade method is given: the anycloud.yaml and a way to stop. */
export interface CommonOptions {
  /** Path of the anycloud.yaml, as the user gave it. */
  file: string
  /** Aborted on SIGINT/SIGTERM: in-flight operations finish, state is saved, the lock released. */
  signal?: AbortSignal
}

/** What the façade's parts share: the host, the environment, and how a session is opened. */
export interface EngineContext {
  io: IoHost
  env: NodeJS.ProcessEnv
  open(options: Omit<SessionOptions, 'env' | 'onWarning' | 'onLockWait' | 'crashAt'>): Promise<Session>
}

export function engineContext(io: IoHost, env: NodeJS.ProcessEnv, crashAt?: string): EngineContext {
  return {
    io,
    env,
    open: (options) => openSession({
      ...options,
      env,
      ...(crashAt !== undefined ? {crashAt} : {}),
      onWarning: (message) => void io.notify({type: 'warning', message}),
      onLockWait: (message) => void io.notify({type: 'info', message}),
    }).catch((error: unknown) => {
      // Interrupted while waiting for the lock (`--lock-timeout`): nothing was started.
      if (options.signal?.aborted && !(error instanceof InterruptedError)) throw new InterruptedError('Interrupted while waiting for the state lock: nothing was changed.')
      throw error
    }),
  }
}

/** Calls `fn` once when `signal` aborts; returns the undo. */
export function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (!signal) return () => {}
  signal.addEventListener('abort', fn, {once: true})
  return () => signal.removeEventListener('abort', fn)
}
