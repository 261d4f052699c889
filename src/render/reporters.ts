import type {EngineEvent, Reporter} from '../model/events.js'
import {ACTION_STYLE} from './actions.js'
import {redactSecrets} from '../util/redact.js'

/** Plain progress lines on stderr: CI, pipes, TERM=dumb. No spinners, no colour codes. */
export class PlainReporter implements Reporter {
  /** `shows` picks the events printed (default: all); each is formatted and masked the same way. */
  constructor(
    private readonly write: (line: string) => void = (l) => process.stderr.write(l + '\n'),
    private readonly shows: (event: EngineEvent) => boolean = () => true,
  ) {}

  emit(event: EngineEvent): void {
    if (!this.shows(event)) return
    const line = plainLine(event)
    if (line) this.write(redactSecrets(line))
  }
}

export function plainLine(event: EngineEvent): string | undefined {
  switch (event.type) {
    case 'refresh-start':
      return `Refreshing state for ${event.profiles} profile${event.profiles === 1 ? '' : 's'}...`
    case 'refresh-done':
      return undefined
    case 'attempt': {
      const where = [event.provider, event.region, event.zone].filter(Boolean).join(', ')
      const outcome = event.outcome === 'ok' ? 'ok' : `${event.outcome}${event.message ? `: ${event.message}` : ''}`
      return `${event.profile}: ${event.credential} (${where}): ${outcome}`
    }
    case 'diagnostic':
      return `${event.severity}: ${event.profile ? event.profile + ': ' : ''}${event.message}`
    case 'change-start':
      return `${event.address}: ${ACTION_STYLE[event.action].doing}...`
    case 'change-progress':
      return `${event.address}: ${event.message}`
    case 'change-done':
      return `${event.address}: ${event.note ?? ACTION_STYLE[event.action].done} (${(event.elapsedMs / 1000).toFixed(1)}s)`
    case 'change-failed':
      return `${event.address}: ${event.action} failed: ${event.message}`
    case 'change-skipped':
      return `${event.address}: ${event.reason}`
    case 'interrupt':
      return event.message
    default:
      return undefined
  }
}

/** Forwards to several reporters. */
export class FanoutReporter implements Reporter {
  constructor(private readonly reporters: Reporter[]) {}
  emit(event: EngineEvent): void {
    for (const r of this.reporters) r.emit(event)
  }
}
