import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {budgetFlags} from '../../cli/budget-flags.js'
import {anycloud, lockOf, stdio} from '../../cli/engine.js'
import {lockFlags} from '../../cli/lock-flags.js'
import {showStateMigrate} from '../../render/state-view.js'

export default class StateMigrate extends BaseCommand<typeof StateMigrate> {
  static override description = `Move the state to the backend the \`state:\` block names now (local → s3/gcs/azure and back), keeping its lineage.
The old copy is found where the previous backend kept it (the local .anycloud/ by default), or given with --from-file; it is left in place as a backup.`
  static override examples = ['<%= config.bin %> state migrate -y', '<%= config.bin %> state migrate --from-file old-state.json']
  static override flags = {
    ...budgetFlags,
    ...lockFlags,
    'auto-approve': Flags.boolean({char: 'y', description: 'Migrate without asking (required when not interactive).', default: false}),
    'from-file': Flags.string({description: 'Take the old copy from this state file.'}),
  }

  public async run(): Promise<void> {
    const {flags} = await this.parse(StateMigrate)
    const r = await anycloud({progress: 'none'}).state.migrate({file: flags.file, fromFile: flags['from-file'], autoApprove: flags['auto-approve'], ...lockOf(flags)})
    showStateMigrate(r, stdio)
  }
}
