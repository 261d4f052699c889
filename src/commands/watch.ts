import {setTimeout as delay} from 'node:timers/promises'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {budgetFlags} from '../cli/budget-flags.js'
import {lockFlags, lockOptions} from '../cli/lock-flags.js'
import {interruptController} from '../cli/interaction.js'
import {outcomeOf, planAndApply} from '../engine/run.js'
import {openSession} from '../engine/session.js'
import {LockedError} from '../errors/index.js'
import {PlainReporter} from '../render/reporters.js'
import {summaryLine} from '../render/plan-text.js'

export default class Watch extends BaseCommand<typeof Watch> {
  static override description = `Controller loop: every interval, refresh the deployments that were applied and reconcile them —
tear down finished jobs (unless persist), replace preempted or vanished machines and restart their workloads. Stops cleanly on Ctrl-C.
Profiles never applied are left alone (apply them first).`
  static override strict = false
  static override args = {profile: Args.string({description: 'Profiles to watch (default: all applied ones).'})}
  static override flags = {
    ...budgetFlags,
    ...lockFlags,
    interval: Flags.integer({description: 'Seconds between reconciliations.', default: 30, min: 1}),
    once: Flags.boolean({description: 'Reconcile once and exit.', default: false}),
  }

  public async run(): Promise<void> {
    const {flags, argv} = await this.parse(Watch)
    const reporter = new PlainReporter()
    let stopping = false
    const interrupt = interruptController(() => {
      stopping = true
      this.say('Stopping after the current reconciliation...')
    })
    try {
      while (!stopping) {
        try {
          const session = await openSession({file: flags.file, profiles: argv as string[], lock: 'watch', ...lockOptions(flags, (m) => this.say(m))})
          try {
            session.profiles = session.profiles.filter((p) => session.state?.deployments[p.name])
            if (session.profiles.length > 0) {
              const r = await planAndApply({session, reporter, signal: interrupt.signal})
              const outcome = outcomeOf(r.results)
              this.say(`${new Date().toISOString()} ${summaryLine(r.plan.summary)}${outcome.failed.length > 0 ? ` (${outcome.failed.length} failed)` : ''}`)
            } else this.say(`${new Date().toISOString()} nothing applied to watch`)
          } finally {
            await session.release()
          }
        } catch (error) {
          if (!(error instanceof LockedError)) throw error
          this.say(`${new Date().toISOString()} ${error.message}; trying again next interval`)
        }
        if (flags.once || stopping) break
        await delay(flags.interval * 1000, undefined, {signal: interrupt.signal}).catch(() => undefined)
      }
    } finally {
      interrupt.dispose()
    }
  }
}
