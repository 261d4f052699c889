export type {EngineEvent, Reporter} from '../model/events.js'
import type {EngineEvent, Reporter} from '../model/events.js'

export const silentReporter: Reporter = {emit() {}}

/** Collects events (tests, --json). */
export class RecordingReporter implements Reporter {
  readonly events: EngineEvent[] = []
  emit(event: EngineEvent): void {
    this.events.push(event)
  }
}
