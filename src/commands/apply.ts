import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {budgetFlags} from '../cli/budget-flags.js'
import {anycloud, interruptible, lockOf, stdio} from '../cli/engine.js'
import {lockFlags} from '../cli/lock-flags.js'
import {appendStepSummary} from '../cli/step-summary.js'
import {applySummaryMarkdown, showApply} from '../render/outcome.js'

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
    const r = await interruptible((signal) => anycloud({json: flags.json}).apply({
      file: flags.file, targets: argv as string[], autoApprove: flags['auto-approve'], wait: flags.wait, replace: flags.replace, signal, ...lockOf(flags),
    }))
    if (r.applied) appendStepSummary(applySummaryMarkdown(r))
    this.finish(showApply(r, {json: flags.json}, stdio))
  }
}
