import {existsSync} from 'node:fs'

import {registerCredentialSecrets, requireConfigWithSecrets} from './session.js'
import {knownCredentials} from '../config/resolve.js'
import type {NamedCredential} from '../config/types.js'
import {CredentialStore} from '../credentials/store.js'
import {UsageError} from '../errors/index.js'
import type {CredentialCheck, CredentialsTestResult} from '../model/results.js'
import {ProviderSet} from '../providers/registry.js'
import type {CommonOptions, EngineContext} from './context.js'

export interface CredentialsTestOptions extends CommonOptions {
  /** Credentials to test (default: all known: the file's, else the local store's). */
  names?: string[]
  /** Where relative paths resolve when there is no anycloud.yaml (default: the working directory). */
  cwd?: string
}

/** One cheap read-only call per credential; a failure is a result, not an error. */
export async function testCredentials(ctx: EngineContext, options: CredentialsTestOptions): Promise<CredentialsTestResult> {
  let credentials: Record<string, NamedCredential>
  let dir = options.cwd ?? process.cwd()
  if (existsSync(options.file)) {
    const {config} = requireConfigWithSecrets({file: options.file, env: ctx.env})
    credentials = config.credentials
    dir = config.dir
  } else {
    credentials = knownCredentials({}, new CredentialStore().list())
    registerCredentialSecrets(credentials)
  }
  const names = options.names && options.names.length > 0 ? options.names : Object.keys(credentials)
  for (const n of names) if (!credentials[n]) throw new UsageError(`unknown credential '${n}'; known: ${Object.keys(credentials).join(', ') || '(none)'}`)
  const providers = new ProviderSet({credentials, configDir: dir, env: ctx.env})
  try {
    const results = await Promise.all(names.map(async (name): Promise<CredentialCheck> => {
      try {
        const r = await (await providers.get(name)).checkAuth()
        return {name, provider: credentials[name].spec.provider, ok: true, ...(r.account ? {account: r.account} : {})}
      } catch (error) {
        return {name, provider: credentials[name].spec.provider, ok: false, message: (error as Error).message}
      }
    }))
    return {credentials: results}
  } finally {
    // Closes provider connections (an ssh host's SSH session would keep the process alive).
    await providers.closeAll()
  }
}
