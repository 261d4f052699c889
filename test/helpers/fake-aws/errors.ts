/** A service error the fake answers with, rendered in the service's own error envelope. */
export class AwsApiError extends Error {
  /** The wire error code, e.g. `InvalidParameterValue`, `NoSuchEntity`. */
  readonly code: string
  /** HTTP status the real service uses for this code. */
  readonly status: number
  /** IAM/STS `<Type>`: Sender for 4xx, Receiver for 5xx. */
  readonly type: 'Sender' | 'Receiver'
  /** Extra response headers (e.g. `Retry-After`). */
  readonly headers: Record<string, string>

  constructor(code: string, message: string, status = 400, headers: Record<string, string> = {}) {
    super(message)
    this.name = 'AwsApiError'
    this.code = code
    this.status = status
    this.type = status >= 500 ? 'Receiver' : 'Sender'
    this.headers = headers
  }
}

/** Shorthand for the many 400s. */
export function badRequest(code: string, message: string): AwsApiError {
  return new AwsApiError(code, message, 400)
}
