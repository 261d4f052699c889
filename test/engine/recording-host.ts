import type {ConfirmRequest, IoHost, IoMessage} from '../../src/engine/anycloud.js'
import type {EngineEvent} from '../../src/engine/events.js'

/** A host that records what the engine tells it and answers confirmations as told. */
export class RecordingHost implements IoHost {
  readonly events: EngineEvent[] = []
  readonly messages: IoMessage[] = []
  readonly asked: ConfirmRequest[] = []
  constructor(readonly interactive: boolean, private readonly answer = false, private readonly onMessage?: (m: IoMessage) => void) {}
  emit(event: EngineEvent): void {
    this.events.push(event)
  }
  notify(message: IoMessage): void {
    this.messages.push(message)
    this.onMessage?.(message)
  }
  async confirm(request: ConfirmRequest): Promise<boolean> {
    this.asked.push(request)
    return this.answer
  }
  of<T extends IoMessage['type']>(type: T): Array<Extract<IoMessage, {type: T}>> {
    return this.messages.filter((m): m is Extract<IoMessage, {type: T}> => m.type === type)
  }
}
