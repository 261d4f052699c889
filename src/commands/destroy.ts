import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {budgetFlags} from '../cli/budget-flags.js'
import {lockFlags, lockOptions} from '../cli/lock-flags.js'
import {ExitCode} from '../errors/exit-codes.js'
import {chooseReporter, confirmOrRefuse, interruptController, isInteractive} from '../cli/interaction.js'
import {outcomeOf, planAndApply} from '../engine/run.js'
import {openSession} from '../engine/session.js'
import {OutcomeTally, outcomeLine, outcomeStatus} from '../cli/outcome.js'
import {UsageError} from '../errors/index.js'
import {useColor} from '../render/actions.js'
import {renderPlanText, visibleChanges} from '../render/plan-text.js'

export default class Destroy extends BaseCommand<typeof Destroy> {
  static override description = `Tear down what the profiles own, in reverse dependency order.
Input buckets are never touched; an output bucket is deleted only when anycloud created it and it is empty; only resources carrying anycloud's ownership tags are deleted.`
  static override examples = ['<%= config.bin %> destroy -y', '<%= config.bin %> destroy -y train']
  static override strict = false
  static override args = {profile: Args.string({description: 'Profiles to destroy (default: all).'})}
  static override flags = {
    ...budgetFlags,
    ...lockFlags,
    'auto-approve': Flags.boolean({char: 'y', description: 'Destroy without asking (required when not interactive).', default: false}),
    json: Flags.boolean({description: 'Print the plan and the outcome as one JSON document on stdout.', default: false}),
  }

  public async run(): Promise<void> {
    const {flags, argv} = await this.parse(Destroy)
    if (!flags['auto-approve'] && !isInteractive()) throw new UsageError('refusing to destroy without -y/--auto-approve in a non-interactive session', ['Run `anycloud plan --destroy` to review, then `anycloud destroy -y`.'], 'usage.needs-approval')
    const session = await openSession({file: flags.file, profiles: argv as string[], lock: 'destroy', ...lockOptions(flags, (m) => this.say(m))})
    const {reporter: shown, listr} = chooseReporter(flags.json)
    const tally = new OutcomeTally(shown)
    const interrupt = interruptController(() => shown.emit({type: 'interrupt', message: 'Interrupt received: finishing operations in flight, then stopping.'}))
    try {
      const r = await planAndApply({
        session, reporter: tally, signal: interrupt.signal, destroy: true,
        onPlan: async (p, attempt) => {
          // The plan is a result (stdout); progress starts only once the destruction is approved.
          if (!flags.json && attempt === 1) process.stdout.write(renderPlanText(p, {color: useColor(process.stdout)}) + '\n')
          if (listr && visibleChanges(p).length > 0 && (attempt > 1 || flags['auto-approve'])) await listr.start(visibleChanges(p))
        },
        confirm: flags['auto-approve'] ? undefined : async (p) => {
          const yes = await confirmOrRefuse('Do you really want to destroy these resources?', false, 'destroy')
          if (yes && listr) await listr.start(visibleChanges(p))
          return yes
        },
      })
      await listr?.stop()
      if (!r.applied) {
        this.say('Destroy cancelled: nothing was changed.')
        this.exit(ExitCode.Failed)
      }
      const interrupted = outcomeOf(r.results).interrupted
      const counts = tally.counts()
      if (flags.json) {
        this.writeJson({plan: r.plan, outcome: {status: outcomeStatus(counts, interrupted), ...counts, interrupted, summary: {done: counts.done.length, kept: counts.kept.length, failed: counts.failed.length, skipped: counts.skipped.length}}})
      } else {
        for (const f of counts.failed) this.say(`Error: ${f.address}: ${f.message}`)
        for (const k of counts.kept) this.say(`Kept: ${k.address}: ${k.reason}`)
        this.out(outcomeLine('destroy', counts, interrupted))
      }
      if (interrupted) this.exit(ExitCode.Interrupted)
      if (counts.failed.length > 0) this.exit(ExitCode.Failed)
    } finally {
      interrupt.dispose()
      await session.release()
    }
  }
}
