import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {credentialFieldText, CredentialStore, redactCredential} from '../../credentials/store.js'

export default class CredentialsList extends BaseCommand<typeof CredentialsList> {
  static override description = 'List saved credentials; secret values are never shown.'
  static override flags = {json: Flags.boolean({description: 'Print the list as JSON on stdout.', default: false})}

  public async run(): Promise<void> {
    const {flags} = await this.parse(CredentialsList)
    const store = new CredentialStore()
    const list: Array<Record<string, unknown>> = Object.entries(store.list()).map(([name, c]) => ({name, ...redactCredential(c)}))
    if (flags.json) return this.writeJson({store: store.path, credentials: list})
    if (list.length === 0) return this.say(`No credentials saved in ${store.path}.`)
    for (const c of list) {
      const {name, provider, ...rest} = c
      const details = Object.entries(rest).map(([k, v]) => `${k}=${credentialFieldText(v)}`).join(' ')
      this.out(`${name}\t${String(provider)}\t${details}`)
    }
  }
}
