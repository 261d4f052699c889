import type {EngineEvent, Reporter} from '../model/events.js'
import type {Change} from '../model/plan.js'
import {redactSecrets} from '../util/redact.js'
import {ACTION_STYLE} from './actions.js'
import {plainLine} from './reporters.js'

type Deferred = {resolve(): void; reject(e: Error): void; output(message: string): void; skip(reason: string): void}

/**
 * Progress on a terminal with listr2: one task per planned change, driven by engine events.
 * Only used on a TTY outside CI (see isPlainSession); listr2 is imported lazily.
 */
export class ListrReporter implements Reporter {
  private readonly tasks = new Map<string, Deferred>()
  private readonly early = new Map<string, EngineEvent[]>()
  private done: Promise<unknown> = Promise.resolve()

  async start(changes: Change[]): Promise<void> {
    const {Listr, ListrLogger, ProcessOutput} = await import('listr2')
    const list = new Listr(
      changes.map((c) => ({
        title: `${c.address}: ${ACTION_STYLE[c.action].doing}`,
        task: (_ctx: unknown, task: {output: string; title: string; skip(m: string): void}) =>
          new Promise<void>((resolve, reject) => {
            let settled = false
            const once = (fn: () => void) => {
              if (settled) return
              settled = true
              fn()
            }
            const d: Deferred = {
              resolve: () => once(() => {
                task.title = `${c.address}: ${ACTION_STYLE[c.action].done}`
                resolve()
              }),
              reject: (e) => once(() => reject(e)),
              output: (m) => {
                if (!settled) task.output = redactSecrets(m)
              },
              skip: (r) => once(() => {
                task.skip(`${c.address}: ${r}`)
                resolve()
              }),
            }
            this.tasks.set(c.address, d)
            for (const e of this.early.get(c.address) ?? []) this.emit(e)
          }),
      })),
      {
        concurrent: true,
        exitOnError: false,
        // Progress is drawn on stderr; stdout (results) written meanwhile is held and flushed after.
        rendererOptions: {collapseErrors: false, logger: new ListrLogger({useIcons: true, toStderr: [], processOutput: new ProcessOutput(process.stderr, process.stdout)})},
        fallbackRendererCondition: () => Boolean(process.env.CI) || process.env.TERM === 'dumb',
      },
    )
    this.done = list.run().catch(() => undefined)
  }

  emit(event: EngineEvent): void {
    if (!('address' in event)) {
      const line = plainLine(event)
      if (line && event.type !== 'refresh-start') process.stderr.write(redactSecrets(line) + '\n')
      return
    }
    const d = this.tasks.get(event.address)
    if (!d) {
      const list = this.early.get(event.address) ?? []
      list.push(event)
      this.early.set(event.address, list)
      return
    }
    if (event.type === 'change-progress') d.output(event.message)
    else if (event.type === 'change-done') d.resolve()
    else if (event.type === 'change-failed') d.reject(new Error(event.message))
    else if (event.type === 'change-skipped') d.skip(event.reason)
  }

  /** Settles every unfinished task (e.g. after an interrupt) and waits for the renderer. */
  async stop(): Promise<void> {
    for (const d of this.tasks.values()) d.skip('not run')
    await this.done
  }
}
