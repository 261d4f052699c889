import {existsSync, statSync} from 'node:fs'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {budgetFlags} from '../cli/budget-flags.js'
import {lockFlags, lockOptions} from '../cli/lock-flags.js'
import {appendStepSummary} from '../cli/step-summary.js'
import {ExitCode} from '../errors/exit-codes.js'
import {chooseReporter, confirmOrRefuse, interruptController, isInteractive} from '../cli/interaction.js'
import {formatDiagnostic} from '../config/diagnostics.js'
import {applySavedPlan, waitForWorkloads} from '../engine/saved-plan.js'
import {outcomeOf, planAndApply} from '../engine/run.js'
import {openSession} from '../engine/session.js'
import {UsageError} from '../errors/index.js'
import {useColor} from '../render/actions.js'
import {renderPlanMarkdown} from '../render/markdown.js'
import {renderPlanText, visibleChanges} from '../render/plan-text.js'

export default class Apply extends BaseCommand<typeof Apply> {
  static override description = `Apply the changes a plan shows: create buckets, identity, VM, bootstrap and workload, in dependency order.
Without PLANFILE a fresh plan is made and shown first. A saved plan is applied exactly, or refused (exit 5) when the state changed since it was made.`
  static override examples = ['<%= config.bin %> apply -y', '<%= config.bin %> apply plan.json', '<%= config.bin %> apply -y --wait train']
  static override strict = false
  static override args = {planfile: Args.string({description: 'A plan saved with `anycloud plan --out FILE`, or a profile name.'})}
  static override flags = {
    ...budgetFlags,
    ...lockFlags,
    'auto-approve': Flags.boolean({char: 'y', description: 'Apply without asking (required when not interactive).', default: false}),
    json: Flags.boolean({description: 'Print the plan and the outcome as one JSON document on stdout.', default: false}),
    wait: Flags.boolean({description: 'Wait for the workloads to finish, then tear down what they no longer need; exit 1 if one failed.', default: false}),
    replace: Flags.string({description: 'Force the resource at ADDRESS to be replaced (repeatable).', multiple: true}),
  }

  public async run(): Promise<void> {
    const {flags, argv} = await this.parse(Apply)
    const args = argv as string[]
    const planFile = args.length === 1 && existsSync(args[0]) && statSync(args[0]).isFile() ? args[0] : undefined
    const profiles = planFile ? [] : args
    const noSuchPlanFile = (arg: string) => new UsageError(`no such plan file: ${arg}`, ['Save a plan with `anycloud plan --out FILE`, or name a profile to apply.'], 'usage.no-plan-file')
    // `apply plan.json` with a file that is not there: say so, not "unknown profile" or "needs -y".
    if (!planFile && args.length === 1 && /[\\/]|\.json$/i.test(args[0])) throw noSuchPlanFile(args[0])
    if (!planFile && !flags['auto-approve'] && !isInteractive()) {
      throw new UsageError('refusing to apply without -y/--auto-approve in a non-interactive session', ['Review `anycloud plan`, then run `anycloud apply -y`, or save a plan with `anycloud plan --out plan.json` and run `anycloud apply plan.json`.'], 'usage.needs-approval')
    }
    const session = await openSession({file: flags.file, profiles, lock: 'apply', ...lockOptions(flags, (m) => this.say(m))}).catch((error: unknown) => {
      // `apply plan.json` with a file that is not there: say so, not "unknown profile".
      const arg = args.length === 1 ? args[0] : undefined
      if (arg && error instanceof UsageError && error.code === 'usage.unknown-profile' && arg.includes('.')) throw noSuchPlanFile(arg)
      throw error
    })
    const {reporter, listr} = chooseReporter(flags.json)
    const interrupt = interruptController(() => reporter.emit({type: 'interrupt', message: 'Interrupt received: finishing operations in flight, then stopping (press Ctrl-C again to exit now).'}))
    try {
      for (const w of session.warnings) this.say(formatDiagnostic(w))
      let outcome
      let plan
      if (planFile) {
        const r = await applySavedPlan({session, planFile, reporter, signal: interrupt.signal, onPlan: async (p) => listr?.start(visibleChanges(p))})
        plan = r.plan
        outcome = outcomeOf(r.results)
      } else {
        const r = await planAndApply({
          session, reporter, signal: interrupt.signal, replace: flags.replace,
          onPlan: async (p, attempt) => {
            if (!flags.json && attempt === 1) process.stderr.write('\n' + renderPlanText(p, {color: useColor()}) + '\n')
            if (listr && (p.summary.create + p.summary.update + p.summary.replace + p.summary.delete) > 0) await listr.start(visibleChanges(p))
          },
          confirm: flags['auto-approve'] ? undefined : (p) => confirmOrRefuse('Do you want to perform these actions?', false, 'apply'),
        })
        plan = r.plan
        if (!r.applied) {
          this.say('Apply cancelled: nothing was changed.')
          return
        }
        outcome = outcomeOf(r.results)
      }
      await listr?.stop()
      let waited
      if (flags.wait && outcome.failed.length === 0 && !outcome.interrupted) {
        // Not held while the workloads merely run: other runs may apply other profiles meanwhile.
        await session.unlock()
        waited = await waitForWorkloads({session, reporter, signal: interrupt.signal})
      }
      const summary = `Apply ${outcome.failed.length > 0 ? 'failed' : outcome.interrupted ? 'interrupted' : 'complete'}: ${outcome.done.length} done, ${outcome.failed.length} failed, ${outcome.skipped.length} skipped.`
      // After apply the new deployments' ids are known: the summary shows them.
      const applied = {...plan, profiles: Object.fromEntries(Object.entries(plan.profiles).map(([name, p]) => [name, {...p, newDeployment: false}]))}
      appendStepSummary(renderPlanMarkdown(applied, {project: session.config.project, title: 'apply', footer: `**${summary}**`}))
      if (flags.json) this.writeJson({plan, outcome: {done: outcome.done, failed: outcome.failed.map((f) => ({address: f.address, message: f.message})), skipped: outcome.skipped, interrupted: outcome.interrupted}, ...(waited ? {workloads: waited} : {})})
      else {
        for (const f of outcome.failed) this.say(`Error: ${f.address}: ${f.message}`)
        this.say(summary)
        if (waited) for (const [p, w] of Object.entries(waited)) this.say(`${p}: workload ${w.phase}${w.exitCode !== undefined ? ` (exit ${w.exitCode})` : ''}`)
      }
      if (outcome.interrupted) this.exit(ExitCode.Interrupted)
      if (outcome.failed.length > 0) this.exit(ExitCode.Failed)
      if (waited && Object.values(waited).some((w) => w.phase !== 'completed')) this.exit(ExitCode.Failed)
    } finally {
      interrupt.dispose()
      await session.release()
    }
  }
}
