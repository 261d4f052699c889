import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {budgetFlags} from '../cli/budget-flags.js'
import {anycloud, interruptible, lockOf} from '../cli/engine.js'
import {lockFlags} from '../cli/lock-flags.js'

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
    const engine = anycloud({json: flags.json, progress: flags.progress ? 'plain' : 'problems'})
    await interruptible((signal) => engine.watch({file: flags.file, profiles: argv as string[], intervalMs: flags.interval * 1000, once: flags.once, signal, ...lockOf(flags)}))
  }
}
