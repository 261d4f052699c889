import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {confirmOrRefuse} from '../../cli/interaction.js'
import {budgetFlags} from '../../cli/budget-flags.js'
import {lockFlags, lockOptions} from '../../cli/lock-flags.js'
import {openSession} from '../../engine/session.js'
import {migrateState, migrationSource, recordLastBackend} from '../../engine/state-transfer.js'

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
    const session = await openSession({file: flags.file, lock: 'state migrate', recordBackend: false, ...lockOptions(flags, (m) => this.say(m))})
    try {
      const source = migrationSource(session.config, session.store, flags['from-file'])
      this.say(`Moving the state from ${source.description} to ${session.store.description}.`)
      if (!(await confirmOrRefuse('Do you want to migrate the state?', flags['auto-approve'], 'state migrate'))) {
        this.say('Migration cancelled: nothing was changed.')
        return
      }
      const r = await migrateState(source, session.store).finally(() => (source as {close?: () => Promise<void>}).close?.())
      recordLastBackend(session.config)
      if (r.already) this.say(`${r.target} already holds this state (lineage ${r.document!.lineage}, serial ${r.document!.serial}); nothing to do.`)
      else this.say(`Migrated: ${r.target} now holds lineage ${r.document!.lineage}, serial ${r.document!.serial}. The old copy stays in ${r.source} as a backup.`)
    } finally {
      await session.release()
    }
  }
}
