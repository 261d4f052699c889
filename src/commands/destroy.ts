import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {budgetFlags} from '../cli/budget-flags.js'
import {lockFlags, lockOptions} from '../cli/lock-flags.js'
import {ExitCode} from '../errors/exit-codes.js'
import {chooseReporter, confirmOrRefuse, interruptController, isInteractive} from '../cli/interaction.js'
import {outcomeOf, planAndApply} from '../engine/run.js'
import {openSession} from '../engine/session.js'
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
    const {reporter, listr} = chooseReporter(flags.json)
    const interrupt = interruptController(() => reporter.emit({type: 'interrupt', message: 'Interrupt received: finishing operations in flight, then stopping.'}))
    try {
      const r = await planAndApply({
        session, reporter, signal: interrupt.signal, destroy: true,
        onPlan: async (p) => {
          if (!flags.json) process.stderr.write('\n' + renderPlanText(p, {color: useColor()}) + '\n')
          if (listr && visibleChanges(p).length > 0) await listr.start(visibleChanges(p))
        },
        confirm: flags['auto-approve'] ? undefined : () => confirmOrRefuse('Do you really want to destroy these resources?', false, 'destroy'),
      })
      await listr?.stop()
      if (!r.applied) return this.say('Destroy cancelled: nothing was changed.')
      const outcome = outcomeOf(r.results)
      if (flags.json) this.writeJson({plan: r.plan, outcome: {done: outcome.done, failed: outcome.failed.map((f) => ({address: f.address, message: f.message})), skipped: outcome.skipped, interrupted: outcome.interrupted}})
      else {
        for (const f of outcome.failed) this.say(`Error: ${f.address}: ${f.message}`)
        this.say(`Destroy ${outcome.failed.length > 0 ? 'failed' : 'complete'}: ${outcome.done.length} destroyed, ${outcome.failed.length} failed.`)
      }
      if (outcome.interrupted) this.exit(ExitCode.Interrupted)
      if (outcome.failed.length > 0) this.exit(ExitCode.Failed)
    } finally {
      interrupt.dispose()
      await session.release()
    }
  }
}
