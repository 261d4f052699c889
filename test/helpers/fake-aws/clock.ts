/**
 * The fake's notion of "now": real time plus an adjustable offset, so tests can jump ahead
 * (credential expiry, IAM propagation, time-driven instance transitions) without sleeping,
 * while a standalone fake still sees time pass.
 */
export class FakeClock {
  private offsetMs = 0
  private frozenAtMs: number | undefined

  /** The current fake time. */
  now(): Date {
    return new Date(this.nowMs())
  }

  /** The current fake time in epoch milliseconds. */
  nowMs(): number {
    return this.frozenAtMs ?? Date.now() + this.offsetMs
  }

  /** Stops time where it is (rate limits, expiries then change only with `advance`); `reset` lets it flow again. */
  freeze(): void {
    this.frozenAtMs = this.nowMs()
  }

  /** Moves the clock forward by `ms` (negative moves it back). */
  advance(ms: number): void {
    if (this.frozenAtMs !== undefined) this.frozenAtMs += ms
    else this.offsetMs += ms
  }

  /** Sets the clock so that `now()` is `date` at this instant (time keeps flowing afterwards). */
  set(date: Date): void {
    this.offsetMs = date.getTime() - Date.now()
  }

  /** Back to real time. */
  reset(): void {
    this.frozenAtMs = undefined
    this.offsetMs = 0
  }
}
