import {setTimeout as delay} from 'node:timers/promises'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {budgetFlags} from '../cli/budget-flags.js'
import {lockFlags, lockOptions} from '../cli/lock-flags.js'
import {interruptController} from '../cli/interaction.js'
import {decisionLine, decisionsOf, TimingReporter, type Decision} from '../engine/decisions.js'
import {planAndApply} from '../engine/run.js'
import {openSession} from '../engine/session.js'
import {InterruptedError, LockedError} from '../errors/index.js'
import {PlainReporter} from '../render/reporters.js'
import {redactSecrets} from '../util/redact.js'

export default class Watch extends BaseCommand<typeof Watch> {
  static override summary = 'Controller loop: reconcile applied deployments every interval (preempted machines, finished jobs).'
  static override description = `Every interval, refresh the deployments that were applied and reconcile them: tear down finished jobs
(unless persist), replace preempted or vanished machines and restart their workloads (the checkpoint is restored), re-mint
storage credentials before they expire. The state lock is taken for each reconcile only. One log line per decision
(--json: one JSON object per line on stdout). Stops cleanly on Ctrl-C.
Profiles never applied are left alone (apply them first).`
  static override examples = ['<%= config.bin %> watch', '<%= config.bin %> watch --interval 60 train', '<%= config.bin %> watch --once']
  static override strict = false
  static override args = {profile: Args.string({description: 'Profiles to watch (default: all applied ones).'})}
  static override flags = {
    ...budgetFlags,
    ...lockFlags,
    interval: Flags.integer({description: 'Seconds between reconciliations.', default: 30, min: 1}),
    once: Flags.boolean({description: 'Reconcile once and exit.', default: false}),
    json: Flags.boolean({description: 'One JSON object per decision on stdout (progress stays off stdout).', default: false}),
    progress: Flags.boolean({description: 'Also show the progress of each change on stderr.', default: false}),
  }

  public async run(): Promise<void> {
    const {flags, argv} = await this.parse(Watch)
    const emit = (d: Decision) => {
      if (flags.json) process.stdout.write(redactSecrets(JSON.stringify(d)) + '\n')
      else this.say(redactSecrets(decisionLine(d)))
    }
    let stopping = false
    const interrupt = interruptController(() => {
      stopping = true
      this.say('Stopping after the current reconciliation...')
    })
    try {
      while (!stopping) {
        try {
          // The lock is held for this reconcile only, never while waiting for the next one.
          const session = await openSession({file: flags.file, profiles: argv as string[], lock: 'watch', ...lockOptions(flags, (m) => this.say(m))})
          try {
            session.profiles = session.profiles.filter((p) => session.state?.deployments[p.name])
            if (session.profiles.length > 0) {
              const timing = new TimingReporter(flags.progress ? new PlainReporter() : {emit: (e) => e.type === 'diagnostic' && e.severity !== 'info' && this.say(`${e.severity}: ${e.profile ? e.profile + ': ' : ''}${e.message}`)})
              const r = await planAndApply({session, reporter: timing, signal: interrupt.signal})
              for (const d of decisionsOf(r, timing)) emit(d)
            } else emit({time: new Date().toISOString(), action: 'none', reason: 'nothing applied to watch', outcome: 'done'})
          } finally {
            await session.release()
          }
        } catch (error) {
          if (error instanceof InterruptedError || stopping) break
          if (error instanceof LockedError) {
            emit({time: new Date().toISOString(), action: 'wait', reason: `${error.message}; trying again next interval`, outcome: 'skipped'})
          } else {
            // A reconcile that failed (a cloud unreachable, a plan error) is logged; the loop goes on.
            if (flags.once) throw error
            emit({time: new Date().toISOString(), action: 'none', reason: 'reconcile failed; trying again next interval', outcome: 'failed', error: (error as Error).message})
          }
        }
        if (flags.once || stopping) break
        await delay(flags.interval * 1000, undefined, {signal: interrupt.signal}).catch(() => undefined)
      }
    } finally {
      interrupt.dispose()
    }
  }
}
