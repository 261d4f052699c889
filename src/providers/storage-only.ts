import type {NamedCredential, ProviderKind} from '../config/types.js'
import {ProviderError} from '../errors/index.js'
import type {ActualResource, DesiredResource, ResourceKind, ResourceRecord} from '../model/resources.js'
import type {ProviderCallContext, ResourceLookup} from './provider.js'

/**
 * Base of providers that so far serve only storage (Azure, GCP): no resource kinds of their own,
 * and a clear error, naming the credential, if the engine ever asks them for compute.
 */
export abstract class StorageOnlyProvider {
  abstract readonly kind: ProviderKind
  abstract readonly credential: NamedCredential
  /** No compute yet: only buckets (which every storage provider has). */
  readonly kinds: ReadonlySet<ResourceKind> = new Set<ResourceKind>()

  async read(resource: ResourceLookup, _ctx: ProviderCallContext): Promise<ActualResource | null> {
    throw this.noCompute(resource.kind)
  }

  async create(resource: DesiredResource, _ctx: ProviderCallContext): Promise<ActualResource> {
    throw this.noCompute(resource.kind)
  }

  async update(resource: DesiredResource, _record: ResourceRecord, _ctx: ProviderCallContext): Promise<ActualResource> {
    throw this.noCompute(resource.kind)
  }

  async delete(record: ResourceRecord, _ctx: ProviderCallContext): Promise<void> {
    throw this.noCompute(record.kind)
  }

  protected noCompute(kind: ResourceKind): ProviderError {
    return new ProviderError(
      `compute on ${this.kind} is not available yet: use this credential as storage for an ssh host or another cloud (credential '${this.credential.name}', resource kind '${kind}')`,
      'provider.compute-unavailable', this.kind, this.credential.name,
    )
  }
}
