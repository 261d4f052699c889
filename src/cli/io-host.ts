import {formatDiagnostic} from '../config/diagnostics.js'
import type {ConfirmRequest, IoHost, IoMessage} from '../engine/io-host.js'
import type {EngineEvent, Reporter} from '../model/events.js'
import {useColor} from '../render/actions.js'
import {decisionLine} from '../render/decision.js'
import type {ListrReporter} from '../render/listr-reporter.js'
import {renderPlanText, visibleChanges} from '../render/plan-text.js'
import {PlainReporter} from '../render/reporters.js'
import {redactSecrets} from '../util/redact.js'
import {chooseReporter, confirmOrRefuse, isInteractive} from './interaction.js'

/**
 * How progress is shown: `auto` (listr2 on a terminal, plain lines otherwise, as apply and
 * destroy), `plain` (always lines on stderr), `problems` (only warnings and errors: `watch`
 * without --progress), `none`.
 */
export type ProgressMode = 'auto' | 'plain' | 'problems' | 'none'

export interface CliIoHostOptions {
  /** `--json`: stdout carries only the result document (or `watch`'s decision lines). */
  json?: boolean
  progress?: ProgressMode
}

/**
 * The terminal as the engine's host: progress and notes on stderr, plans and workload output on
 * stdout, confirmations asked on the terminal (refused, exit 3, when there is none).
 */
export class CliIoHost implements IoHost {
  readonly interactive = isInteractive()
  private readonly reporter: Reporter
  private readonly listr?: ListrReporter
  private readonly json: boolean

  constructor(options: CliIoHostOptions = {}) {
    this.json = Boolean(options.json)
    const mode = options.progress ?? 'auto'
    if (mode === 'auto') ({reporter: this.reporter, listr: this.listr} = chooseReporter(this.json))
    else if (mode === 'plain') this.reporter = new PlainReporter()
    else if (mode === 'problems') this.reporter = new PlainReporter(undefined, isProblem)
    else this.reporter = {emit() {}}
  }

  emit(event: EngineEvent): void {
    this.reporter.emit(event)
  }

  async notify(message: IoMessage): Promise<void> {
    switch (message.type) {
      case 'config-warning':
        return say(formatDiagnostic(message.diagnostic))
      case 'warning':
        return say(`Warning: ${message.message}`)
      case 'info':
        return say(message.message)
      case 'plan':
        // The plan is a result (stdout); a re-plan under the next credential is approved already and not shown again.
        if (!this.json && message.attempt === 1) process.stdout.write(renderPlanText(message.plan, {color: useColor(process.stdout)}) + '\n')
        return
      case 'approved':
        if (this.listr && visibleChanges(message.plan).length > 0) await this.listr.start(visibleChanges(message.plan))
        return
      case 'changes-settled':
        return this.listr?.stop()
      case 'output':
        process.stdout.write(message.chunk)
        return
      case 'decision':
        if (this.json) process.stdout.write(redactSecrets(JSON.stringify(message.decision)) + '\n')
        else say(redactSecrets(decisionLine(message.decision)))
        return
    }
  }

  confirm(request: ConfirmRequest): Promise<boolean> {
    return confirmOrRefuse(request.question, request.command)
  }
}

/** A warning or an error: what `problems` mode shows. */
function isProblem(event: EngineEvent): boolean {
  return event.type === 'diagnostic' && event.severity !== 'info'
}

function say(line: string): void {
  process.stderr.write(line + '\n')
}
