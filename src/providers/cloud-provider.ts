/**
 * What the aws, gcp and azure providers share as providers, beside the machine (cloud-machine.ts)
 * and the kinds (cloud-kinds.ts): their buckets, through the one owned-bucket lifecycle
 * (owned-buckets.ts) over the store each cloud supplies; the storage credentials a machine syncs
 * with (an ssh host's `storage`, other credentials' providers); reads of the machine (connect,
 * logs); and a prepare that runs once per deployment, placement credential and region in a run
 * (a failure is not kept).
 */
import type {NamedCredential} from '../config/types.js'
import {ProviderError} from '../errors/index.js'
import type {ActualResource, DeploymentContext, DesiredResource, ResourceRecord} from '../model/resources.js'
import {OwnedBuckets, type BucketHead, type BucketPlacement, type BucketStore, type DeleteOutcome} from './owned-buckets.js'
import type {CommandRunner} from '../remote/command-runner.js'
import type {CloudMachine} from './cloud-machine.js'
import type {Provider, ProviderCallContext, ProviderFactoryOptions, ReadResult} from './provider.js'

/** `Listed`, `Head`: what the cloud's bucket store lists and finds (see {@link BucketStore}). */
export abstract class CloudProvider<Listed = unknown, Head extends BucketHead = BucketHead> {
  abstract readonly kind: 'aws' | 'gcp' | 'azure'
  abstract readonly credential: NamedCredential
  readonly readConcurrency = 16

  private ownedBuckets?: OwnedBuckets<Listed, Head>
  private readonly storageProviders = new Map<string, Provider>()
  private readonly prepared = new Map<string, Promise<void>>()

  /** @param factory the factory's options: the other credentials and their providers (absent in some tests). */
  protected constructor(private readonly factory: Pick<ProviderFactoryOptions, 'credentials' | 'providerFor'> | undefined) {}

  /** This cloud's side of the owned-bucket lifecycle (asked once, on the first bucket call). */
  protected abstract bucketStore(): BucketStore<Listed, Head>

  /** What a deployment's pure hooks need loaded (bucket regions, zones, storage providers); see {@link prepare}. */
  protected abstract prepareOnce(ctx: DeploymentContext): Promise<void>

  private get buckets(): OwnedBuckets<Listed, Head> {
    return (this.ownedBuckets ??= new OwnedBuckets(this.bucketStore(), this.readConcurrency))
  }

  /** A bucket by name: null when it does not exist. */
  async readBucket(name: string): Promise<ActualResource | null> {
    return this.buckets.read(name)
  }

  /** Refresh's batch: one listing (per credential, per storage account), then by name only what no listing shows. Same order. */
  async readBuckets(names: readonly string[]): Promise<ReadResult[]> {
    return this.buckets.readMany(names)
  }

  /** Creates the bucket with the ownership tags; adopts one of that name only when it carries them. */
  async createBucket(resource: DesiredResource, placement: BucketPlacement): Promise<ActualResource> {
    return this.buckets.create(resource, placement)
  }

  /** Deletes a bucket that carries anycloud's tags for the record's deployment; `force` empties it first, otherwise data keeps it. */
  async deleteBucket(record: ResourceRecord, options: {force: boolean}): Promise<DeleteOutcome> {
    return this.buckets.delete(record, options)
  }

  /** The machine logic over SSH (cloud-machine.ts) of this credential's VMs; undefined when it runs none. */
  protected abstract vmMachine(): Pick<CloudMachine<unknown>, 'connect' | 'logs' | 'render' | 'warnings'> | undefined

  /** The attributes of this cloud's own kinds that a change of would update or replace them (vm size, region…). */
  protected abstract kindAttributes(resource: DesiredResource, ctx: DeploymentContext): Record<string, unknown>

  /** What the plan compares: the bootstrap's hash (the machine renders it), else the cloud's kinds' own. */
  desiredAttributes(resource: DesiredResource, ctx: DeploymentContext): Record<string, unknown> {
    if (resource.kind !== 'bootstrap') return this.kindAttributes(resource, ctx)
    const machine = this.vmMachine()
    return machine ? {hash: machine.render(ctx, {}).hash} : {}
  }

  /** Warnings the plan should carry (the credential's own keys written to a machine). */
  warnings(ctx: DeploymentContext): string[] {
    return this.vmMachine()?.warnings(ctx) ?? []
  }

  /** Why `what` cannot run on this credential (it runs no machines). */
  protected machineUnavailable(what: string): Error {
    return new ProviderError(`${this.kind} credential '${this.credential.name}' runs no machines: it cannot ${what}`, 'provider.compute-unavailable', this.kind, this.credential.name)
  }

  /** An SSH runner to the deployment's machine (reads: `status`, cleanups); undefined without machines. */
  async connect(ctx: ProviderCallContext): Promise<CommandRunner | undefined> {
    return this.vmMachine()?.connect(ctx, 'read')
  }

  async logs(ctx: ProviderCallContext, options: {follow: boolean; write: (chunk: string) => void; signal?: AbortSignal}): Promise<void> {
    const machine = this.vmMachine()
    if (!machine) throw this.machineUnavailable('logs')
    return machine.logs(ctx, options)
  }

  /** The credential whose storage holds a credential's buckets (an ssh host's `storage`). */
  protected storageOf(name: string): string {
    const c = this.factory?.credentials[name]
    if (c?.spec.provider === 'ssh' && c.spec.storage) return c.spec.storage
    return name
  }

  /** The provider of a storage credential (this one for its own name), made once. */
  protected async storageProvider(name: string): Promise<Provider> {
    if (name === this.credential.name) return this as unknown as Provider
    let p = this.storageProviders.get(name)
    if (!p) {
      if (!this.factory) throw new ProviderError(`${this.kind} credential '${this.credential.name}' cannot reach credential '${name}' (no provider factory here)`, `${this.kind}.no-factory`, this.kind, this.credential.name)
      p = await this.factory.providerFor(name)
      this.storageProviders.set(name, p)
    }
    return p
  }

  /** Once per deployment, placement credential and region in a run; a failed one runs again next time. */
  async prepare(ctx: DeploymentContext): Promise<void> {
    const key = `${ctx.deploymentId}|${ctx.placement.credential}|${ctx.placement.region}`
    let p = this.prepared.get(key)
    if (!p) {
      p = this.prepareOnce(ctx)
      p.catch(() => this.prepared.delete(key))
      this.prepared.set(key, p)
    }
    return p
  }
}
