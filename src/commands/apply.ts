import {existsSync, statSync} from 'node:fs'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {budgetFlags} from '../cli/budget-flags.js'
import {lockFlags, lockOptions} from '../cli/lock-flags.js'
import {appendStepSummary} from '../cli/step-summary.js'
import {ExitCode} from '../errors/exit-codes.js'
import {chooseReporter, confirmOrRefuse, interruptController, isInteractive} from '../cli/interaction.js'
import {formatDiagnostic} from '../config/diagnostics.js'
import {applySavedPlan, waitForWorkloads, type WorkloadOutcome} from '../engine/saved-plan.js'
import {outcomeOf, planAndApply} from '../engine/run.js'
import {openSession, type Session} from '../engine/session.js'
import type {Plan} from '../engine/plan.js'
import {OutcomeTally, outcomeLine, outcomeStatus} from '../cli/outcome.js'
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
    const {reporter: shown, listr} = chooseReporter(flags.json)
    const tally = new OutcomeTally(shown)
    const reporter = tally
    const interrupt = interruptController(() => shown.emit({type: 'interrupt', message: 'Interrupt received: finishing operations in flight, then stopping (press Ctrl-C again to exit now).'}))
    const changing = (p: Plan) => p.summary.create + p.summary.update + p.summary.replace + p.summary.delete > 0
    try {
      for (const w of session.warnings) this.say(formatDiagnostic(w))
      let interrupted: boolean
      let plan
      if (planFile) {
        const r = await applySavedPlan({session, planFile, reporter, signal: interrupt.signal, onPlan: async (p) => listr?.start(visibleChanges(p))})
        plan = r.plan
        interrupted = outcomeOf(r.results).interrupted
      } else {
        const r = await planAndApply({
          session, reporter, signal: interrupt.signal, replace: flags.replace,
          onPlan: async (p, attempt) => {
            // The plan is a result (stdout). Progress starts only once the changes are approved,
            // so nothing draws over the question (rotation re-plans are approved already).
            if (!flags.json && attempt === 1) process.stdout.write(renderPlanText(p, {color: useColor(process.stdout)}) + '\n')
            if (listr && changing(p) && (attempt > 1 || flags['auto-approve'])) await listr.start(visibleChanges(p))
          },
          confirm: flags['auto-approve'] ? undefined : async (p) => {
            const yes = await confirmOrRefuse('Do you want to perform these actions?', false, 'apply')
            if (yes && listr) await listr.start(visibleChanges(p))
            return yes
          },
        })
        plan = r.plan
        if (!r.applied) {
          // As Terraform: declining is not success (a script must not read it as "applied").
          this.say('Apply cancelled: nothing was changed.')
          this.exit(ExitCode.Failed)
        }
        interrupted = outcomeOf(r.results).interrupted
      }
      await listr?.stop()
      let waited: Record<string, WorkloadOutcome> | undefined
      let stillRunning: string[] = []
      if (flags.wait && tally.counts().failed.length === 0 && !interrupted) {
        // Not held while the workloads merely run: other runs may apply other profiles meanwhile.
        await session.unlock()
        waited = await waitForWorkloads({session, reporter, signal: interrupt.signal})
        for (const [p, w] of Object.entries(waited)) {
          if (w.phase !== 'completed') tally.workloadFailed(`${p}.workload`, `workload ${w.phase}${w.exitCode !== undefined ? ` (exit ${w.exitCode})` : ''}`)
        }
        if (interrupt.signal.aborted) {
          interrupted = true
          stillRunning = session.profiles.map((p) => p.name).filter((n) => !waited![n] && session.state?.deployments[n]?.resources[`${n}.workload`])
        }
      }
      const counts = tally.counts()
      const summary = outcomeLine('apply', counts, interrupted)
      // After apply the new deployments' ids are known: the summary shows them.
      const applied = {...plan, profiles: Object.fromEntries(Object.entries(plan.profiles).map(([name, p]) => [name, {...p, newDeployment: false}]))}
      appendStepSummary(renderPlanMarkdown(applied, {project: session.config.project, title: 'apply', footer: `**${summary}**`}))
      if (flags.json) {
        this.writeJson({
          plan,
          outcome: {status: outcomeStatus(counts, interrupted), ...counts, interrupted, summary: {done: counts.done.length, kept: counts.kept.length, failed: counts.failed.length, skipped: counts.skipped.length}, ...(interrupted && flags.wait ? {stillRunning} : {})},
          ...(waited ? {workloads: waited} : {}),
        })
      } else {
        for (const f of counts.failed) this.say(`Error: ${f.address}: ${f.message}`)
        for (const k of counts.kept) this.say(`Kept: ${k.address}: ${k.reason}`)
        if (waited) for (const [p, w] of Object.entries(waited)) this.out(`${p}: workload ${w.phase}${w.exitCode !== undefined ? ` (exit ${w.exitCode})` : ''}`)
        this.out(summary)
      }
      if (interrupted && flags.wait && stillRunning.length > 0) this.sayStillRunning(session, stillRunning)
      if (interrupted) this.exit(ExitCode.Interrupted)
      if (counts.failed.length > 0) this.exit(ExitCode.Failed)
    } finally {
      interrupt.dispose()
      await session.release()
    }
  }

  /** SPEC §3: an interrupted `apply --wait` says what still runs, and how to watch or tear it down. */
  private sayStillRunning(session: Session, profiles: string[]): void {
    const file = session.config.file === 'anycloud.yaml' ? '' : ` -f ${session.config.file}`
    const names = profiles.join(' ')
    this.say(`Interrupted while waiting: still running (and billed) on their machines: ${profiles.map((p) => {
      const d = session.state?.deployments[p]
      return `${p} (${d?.id ?? '?'} on ${d?.placement?.credential ?? '?'})`
    }).join(', ')}.`)
    this.say(`  Watch:         anycloud status${file} ${names}   /   anycloud logs${file} ${profiles[0]} --follow`)
    this.say(`  Wait again:    anycloud apply${file} -y --wait ${names}`)
    this.say(`  Tear it down:  anycloud destroy${file} -y ${names}`)
  }
}
