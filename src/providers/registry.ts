import type {NamedCredential, ProviderKind} from '../config/types.js'
import {UsageError} from '../errors/index.js'
import type {Provider, ProviderFactory} from './provider.js'

export type {ProviderFactory, ProviderFactoryOptions} from './provider.js'

/**
 * Each provider's code is imported only when a profile uses it, so `validate` and an AWS-only
 * user never load the Azure or GCP SDKs. Tests may register fakes.
 */
const loaders: Record<string, () => Promise<ProviderFactory>> = {
  local: async () => (await import('./local/index.js')).createLocalProvider,
  aws: async () => (await import('./aws/index.js')).createAwsProvider,
  azure: async () => (await import('./azure/index.js')).createAzureProvider,
  gcp: async () => (await import('./gcp/index.js')).createGcpProvider,
  ssh: async () => (await import('./ssh/index.js')).createSshProvider,
}

/** Registers (or replaces) the loader of a provider kind; returns the undo (tests put the previous one back). */
export function registerProvider(kind: string, loader: () => Promise<ProviderFactory>): () => void {
  const previous = loaders[kind]
  loaders[kind] = loader
  return () => {
    if (previous) loaders[kind] = previous
    else delete loaders[kind]
  }
}

export async function loadProviderFactory(kind: ProviderKind): Promise<ProviderFactory> {
  const loader = loaders[kind]
  if (!loader) {
    throw new UsageError(`the ${kind} provider is not available in this version of anycloud`, [`Use one of: ${Object.keys(loaders).join(', ')}.`], 'provider.unavailable')
  }
  return loader()
}

/** Per-run cache of providers by credential name. */
export class ProviderSet {
  private readonly cache = new Map<string, Promise<Provider>>()

  constructor(private readonly options: {credentials: Record<string, NamedCredential>; configDir: string; env: NodeJS.ProcessEnv}) {}

  /** Closes every provider's connections (end of a run). */
  async closeAll(): Promise<void> {
    const all = [...this.cache.values()]
    this.cache.clear()
    await Promise.all(all.map((p) => p.then((x) => x.close?.()).catch(() => undefined)))
  }

  get(name: string): Promise<Provider> {
    let p = this.cache.get(name)
    if (!p) {
      const credential = this.options.credentials[name]
      if (!credential) return Promise.reject(new UsageError(`unknown credential '${name}'; known: ${Object.keys(this.options.credentials).join(', ') || '(none)'}`))
      p = loadProviderFactory(credential.spec.provider).then((factory) =>
        factory({credential, configDir: this.options.configDir, credentials: this.options.credentials, providerFor: (n) => this.get(n), env: this.options.env}),
      )
      this.cache.set(name, p)
    }
    return p
  }
}
