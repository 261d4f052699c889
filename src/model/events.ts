import type {Action} from './resources.js'

/** What the engine reports while it works. The engine never prints; reporters render these. */
export type EngineEvent =
  | {type: 'refresh-start'; profiles: number}
  | {type: 'refresh-done'; resources: number; elapsedMs: number}
  | {type: 'diagnostic'; severity: 'error' | 'warning' | 'info'; message: string; profile?: string}
  | {type: 'attempt'; profile: string; credential: string; provider: string; region?: string; zone?: string; outcome: 'ok' | 'auth-failed' | 'no-capacity' | 'error'; message?: string}
  | {type: 'change-start'; address: string; action: Action}
  | {type: 'change-progress'; address: string; message: string}
  | {type: 'change-done'; address: string; action: Action; elapsedMs: number; /** Set when the outcome differs from the action's usual one (e.g. `kept: holds data`). */ note?: string}
  | {type: 'change-failed'; address: string; action: Action; message: string}
  | {type: 'change-skipped'; address: string; action: Action; reason: string}
  | {type: 'interrupt'; message: string}

export interface Reporter {
  emit(event: EngineEvent): void
}
