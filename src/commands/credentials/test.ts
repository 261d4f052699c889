import {existsSync} from 'node:fs'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {budgetFlags} from '../../cli/budget-flags.js'
import {ExitCode} from '../../errors/exit-codes.js'
import {requireConfig} from '../../config/index.js'
import {knownCredentials} from '../../config/resolve.js'
import type {NamedCredential} from '../../config/types.js'
import {CredentialStore} from '../../credentials/store.js'
import {UsageError} from '../../errors/index.js'
import {ProviderSet} from '../../providers/registry.js'

export default class CredentialsTest extends BaseCommand<typeof CredentialsTest> {
  static override description = 'Check that credentials authenticate (one cheap read-only call per credential).'
  static override strict = false
  static override args = {name: Args.string({description: 'Credentials to test (default: all known).'})}
  static override flags = {...budgetFlags, json: Flags.boolean({description: 'Print results as JSON on stdout.', default: false})}

  public async run(): Promise<void> {
    const {flags, argv} = await this.parse(CredentialsTest)
    let credentials: Record<string, NamedCredential>
    let dir = process.cwd()
    if (existsSync(flags.file)) {
      const {config} = requireConfig({file: flags.file})
      credentials = config.credentials
      dir = config.dir
    } else credentials = knownCredentials({}, new CredentialStore().list())
    const names = (argv as string[]).length > 0 ? (argv as string[]) : Object.keys(credentials)
    for (const n of names) if (!credentials[n]) throw new UsageError(`unknown credential '${n}'; known: ${Object.keys(credentials).join(', ') || '(none)'}`)
    const providers = new ProviderSet({credentials, configDir: dir, env: process.env})
    const results = await Promise.all(names.map(async (name) => {
      try {
        const r = await (await providers.get(name)).checkAuth()
        return {name, provider: credentials[name].spec.provider, ok: true, ...(r.account ? {account: r.account} : {})}
      } catch (error) {
        return {name, provider: credentials[name].spec.provider, ok: false, message: (error as Error).message}
      }
    }))
    if (flags.json) this.writeJson({credentials: results})
    else for (const r of results) this.out(`${r.name} (${r.provider}): ${r.ok ? `ok${'account' in r ? ` (account ${r.account})` : ''}` : `FAILED: ${'message' in r ? r.message : ''}`}`)
    if (results.some((r) => !r.ok)) this.exit(ExitCode.Failed)
  }
}
