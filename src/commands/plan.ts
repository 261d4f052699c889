import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {budgetFlags} from '../cli/budget-flags.js'
import {anycloud, stdio} from '../cli/engine.js'
import {lockFlags} from '../cli/lock-flags.js'
import {appendStepSummary} from '../cli/step-summary.js'
import {renderPlanMarkdown} from '../render/markdown.js'
import {showPlan} from '../render/plan-view.js'

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
    const r = await anycloud({progress: 'plain'}).plan({file: flags.file, profiles: argv as string[], replace: flags.replace, destroy: flags.destroy, out: flags.out})
    appendStepSummary(renderPlanMarkdown(r.plan, {project: r.project}))
    this.finish(showPlan(r, {json: flags.json, markdown: flags.markdown, detailedExitcode: flags['detailed-exitcode']}, stdio))
  }
}
