import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {budgetFlags} from '../cli/budget-flags.js'
import {lockFlags} from '../cli/lock-flags.js'
import {appendStepSummary} from '../cli/step-summary.js'
import {ExitCode} from '../errors/exit-codes.js'
import {formatDiagnostic} from '../config/diagnostics.js'
import {hasChanges} from '../engine/plan.js'
import {savePlan} from '../engine/plan-file.js'
import {planChanges} from '../engine/planner.js'
import {openSession} from '../engine/session.js'
import {useColor} from '../render/actions.js'
import {renderPlanMarkdown} from '../render/markdown.js'
import {renderPlanText} from '../render/plan-text.js'
import {PlainReporter} from '../render/reporters.js'

export default class Plan extends BaseCommand<typeof Plan> {
  static override description = 'Refresh the actual state of the profiles\' resources, diff it against anycloud.yaml, and show the plan. Changes nothing.'
  static override examples = ['<%= config.bin %> plan', '<%= config.bin %> plan --out plan.json --detailed-exitcode', '<%= config.bin %> plan --markdown > comment.md', '<%= config.bin %> plan train --replace train.vm']
  static override strict = false
  static override args = {profile: Args.string({description: 'Profiles to plan (default: all).'})}
  static override flags = {
    ...budgetFlags,
    ...lockFlags,
    out: Flags.string({description: 'Save the plan to FILE for `anycloud apply FILE`.'}),
    'detailed-exitcode': Flags.boolean({description: 'Exit 0 when there are no changes, 2 when changes are pending.', default: false}),
    json: Flags.boolean({description: 'Print the plan as one JSON document on stdout.', default: false, exclusive: ['markdown']}),
    markdown: Flags.boolean({description: 'Print the plan as Markdown for a pull-request comment on stdout.', default: false}),
    replace: Flags.string({description: 'Force the resource at ADDRESS to be replaced (repeatable).', multiple: true}),
    destroy: Flags.boolean({description: 'Plan the destruction of what the profiles own.', default: false}),
  }

  public async run(): Promise<void> {
    const {flags, argv} = await this.parse(Plan)
    const session = await openSession({file: flags.file, profiles: argv as string[]})
    let plan
    const project = session.config.project
    try {
      for (const w of session.warnings) this.say(formatDiagnostic(w))
      const reporter = new PlainReporter()
      plan = await planChanges({
        config: session.config, profiles: session.profiles, state: session.state, providers: session.providers, reporter, stateDir: session.store.localDir,
        replace: flags.replace, destroy: flags.destroy,
      })
    } finally {
      // Closes provider connections (an ssh host's SSH session would keep the process alive).
      await session.release()
    }
    if (flags.out) savePlan(flags.out, plan)
    appendStepSummary(renderPlanMarkdown(plan, {project}))
    if (flags.json) this.writeJson(plan)
    else if (flags.markdown) process.stdout.write(renderPlanMarkdown(plan, {project}))
    else process.stdout.write(renderPlanText(plan, {color: useColor(process.stdout)}))
    if (flags.out && !flags.json) this.say(`Saved the plan to ${flags.out}. Apply exactly this plan with: anycloud apply ${flags.out}`)
    if (flags['detailed-exitcode'] && hasChanges(plan)) this.exit(ExitCode.ChangesPending)
  }
}
