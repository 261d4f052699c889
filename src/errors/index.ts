import {ExitCode} from './exit-codes.js'

/** Where an error comes from: the user's input, a cloud's answer, or a bug in anycloud. */
export type ErrorSource = 'user' | 'cloud' | 'internal'

export interface AnycloudErrorOptions {
  /** A stable machine-readable code, e.g. `config.invalid`, `state.locked`. */
  code: string
  source: ErrorSource
  exitCode?: ExitCode
  /** What the user can do about it; rendered after the message. */
  suggestions?: string[]
  cause?: unknown
}

/**
 * The one error type the CLI knows how to render. Anything else reaching the top is a bug
 * (shown with its stack only under --debug).
 */
export class AnycloudError extends Error {
  readonly code: string
  readonly source: ErrorSource
  readonly exitCode: ExitCode
  readonly suggestions: string[]

  constructor(message: string, options: AnycloudErrorOptions) {
    super(message, {cause: options.cause})
    this.name = new.target.name
    this.code = options.code
    this.source = options.source
    this.exitCode = options.exitCode ?? (options.source === 'user' ? ExitCode.Invalid : ExitCode.Failed)
    this.suggestions = options.suggestions ?? []
  }
}

/** Bad configuration or bad usage (exit 3). */
export class UsageError extends AnycloudError {
  constructor(message: string, suggestions: string[] = [], code = 'usage.invalid') {
    super(message, {code, source: 'user', exitCode: ExitCode.Invalid, suggestions})
  }
}

/** The state is locked by another run (exit 4). */
export class LockedError extends AnycloudError {
  constructor(message: string, readonly lockId: string, suggestions: string[] = []) {
    super(message, {code: 'state.locked', source: 'user', exitCode: ExitCode.Locked, suggestions})
  }
}

/** A saved plan no longer matches the state (exit 5). */
export class StalePlanError extends AnycloudError {
  constructor(message: string, suggestions: string[] = ['Run `anycloud plan --out FILE` again and apply the new plan.']) {
    super(message, {code: 'plan.stale', source: 'user', exitCode: ExitCode.StalePlan, suggestions})
  }
}

/** The run was interrupted by SIGINT/SIGTERM (exit 130). */
export class InterruptedError extends AnycloudError {
  constructor(message = 'Interrupted: no new work was started; state was saved and the lock released.') {
    super(message, {code: 'interrupted', source: 'user', exitCode: ExitCode.Interrupted})
  }
}

/** Base of the errors a provider raises that the engine acts on. */
export class ProviderError extends AnycloudError {
  constructor(
    message: string,
    code: string,
    readonly provider: string,
    readonly credential?: string,
    cause?: unknown,
    suggestions: string[] = [],
  ) {
    super(message, {code, source: 'cloud', exitCode: ExitCode.Failed, cause, suggestions})
  }
}

/** Credentials are missing, invalid or expired: the engine rotates to the next listed credential. */
export class AuthError extends ProviderError {
  constructor(message: string, provider: string, credential?: string, cause?: unknown) {
    super(message, 'cloud.auth', provider, credential, cause, [
      'Check the credential with `anycloud credentials test`.',
    ])
  }
}

/** No capacity or quota for this machine here: the engine moves to the next zone/region allowed. */
export class CapacityError extends ProviderError {
  constructor(message: string, provider: string, readonly where?: string, cause?: unknown) {
    super(message, 'cloud.capacity', provider, undefined, cause)
  }
}

/** The resource does not exist (a delete treats this as success). */
export class NotFoundError extends ProviderError {
  constructor(message: string, provider: string, cause?: unknown) {
    super(message, 'cloud.not-found', provider, undefined, cause)
  }
}

/** The cloud asked us to slow down and the retry budget ran out. */
export class ThrottledError extends ProviderError {
  constructor(message: string, provider: string, cause?: unknown) {
    super(message, 'cloud.throttled', provider, undefined, cause)
  }
}

export function isAnycloudError(error: unknown): error is AnycloudError {
  return error instanceof AnycloudError
}

/** For exhaustive switches over tagged unions. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`)
}
