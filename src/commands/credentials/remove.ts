import {Args} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {CredentialStore} from '../../credentials/store.js'
import {UsageError} from '../../errors/index.js'

export default class CredentialsRemove extends BaseCommand<typeof CredentialsRemove> {
  static override description = 'Remove a saved credential.'
  static override args = {name: Args.string({description: 'Name of the credential.', required: true})}

  public async run(): Promise<void> {
    const {args} = await this.parse(CredentialsRemove)
    const store = new CredentialStore()
    if (!store.remove(args.name)) {
      throw new UsageError(`no credential named '${args.name}' in ${store.path}; saved: ${Object.keys(store.list()).join(', ') || '(none)'}`)
    }
    this.out(`Removed credential '${args.name}'.`)
  }
}
