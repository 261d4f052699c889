/**
 * The fake's notion of "now": real time plus an adjustable offset, so tests can jump ahead
 * (credential expiry, IAM propagation, time-driven instance transitions) without sleeping,
 * while a standalone fake still sees time pass.
 */
export class FakeClock {
  private offsetMs = 0

  /** The current fake time. */
  now(): Date {
    return new Date(this.nowMs())
  }

  /** The current fake time in epoch milliseconds. */
  nowMs(): number {
    return Date.now() + this.offsetMs
  }

  /** Moves the clock forward by `ms` (negative moves it back). */
  advance(ms: number): void {
    this.offsetMs += ms
  }

  /** Sets the clock so that `now()` is `date` at this instant (time keeps flowing afterwards). */
  set(date: Date): void {
    this.offsetMs = date.getTime() - Date.now()
  }

  /** Back to real time. */
  reset(): void {
    this.offsetMs = 0
  }
}
