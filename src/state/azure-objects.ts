import type {BlockBlobClient, ContainerClient} from '@azure/storage-blob'

import {AnycloudError, UsageError} from '../errors/index.js'
import {lockedError, newLockInfo} from './lock-info.js'
import {conditional, type ObjectStore, type StoredObject} from './object-store.js'
import type {Locker} from './remote-store.js'
import type {LockInfo} from './types.js'

interface RestErrorLike {
  statusCode?: number
  code?: string
  details?: {errorCode?: string}
}

function status(error: unknown): number | undefined {
  return (error as RestErrorLike)?.statusCode
}

function errorCode(error: unknown): string | undefined {
  const e = error as RestErrorLike
  return e?.code ?? e?.details?.errorCode
}

async function readAll(stream: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  const chunks: Buffer[] = []
  if (stream) for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string))
  return Buffer.concat(chunks)
}

/** Azure Blob: ifNoneMatch '*' creates, ifMatch ETag replaces and deletes. */
export class AzureObjects implements ObjectStore {
  constructor(readonly container: () => Promise<ContainerClient>, private readonly baseUrl: string) {}

  url(key: string): string {
    return `${this.baseUrl}/${key}`
  }

  async blob(key: string): Promise<BlockBlobClient> {
    return (await this.container()).getBlockBlobClient(key)
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const blob = await this.blob(key)
    try {
      const out = await blob.download()
      return {body: await readAll(out.readableStreamBody), version: out.etag!}
    } catch (error) {
      if (status(error) === 404) return undefined
      throw error
    }
  }

  private async upload(key: string, body: Buffer, conditions: {ifNoneMatch?: string; ifMatch?: string}): Promise<{version: string}> {
    const out = await (await this.blob(key)).upload(body, body.length, {conditions, blobHTTPHeaders: {blobContentType: 'application/json'}})
    return {version: out.etag!}
  }

  async create(key: string, body: Buffer): Promise<{version: string} | 'exists'> {
    return conditional(() => this.upload(key, body, {ifNoneMatch: '*'}), status, {409: 'exists', 412: 'exists'})
  }

  async replace(key: string, body: Buffer, version: string): Promise<{version: string} | 'changed'> {
    return conditional(() => this.upload(key, body, {ifMatch: version}), status, {412: 'changed', 404: 'changed'})
  }

  async remove(key: string, version: string): Promise<'removed' | 'changed' | 'absent'> {
    const blob = await this.blob(key)
    return conditional(async () => (await blob.delete({conditions: {ifMatch: version}}), 'removed' as const), status, {404: 'absent', 412: 'changed'})
  }

  async close(): Promise<void> {}
}

/** Seconds of one lease (Azure allows 15–60 or infinite); a dead holder's lock frees itself after this. */
export const LEASE_SECONDS = 60

/**
 * A blob lease on `<key>.lock`: the lease id is the lock id (proposed by us, so a retried acquire
 * whose first answer was lost simply succeeds again), and the blob's body, written under the
 * lease, is the lock record. The lease is renewed while the run holds it; a run that dies loses
 * it within {@link LEASE_SECONDS}. Release and force-unlock both need the lease id.
 */
export class LeaseLocker implements Locker {
  private renewal: NodeJS.Timeout | undefined
  private heldId: string | undefined
  /** Set when a renewal failed: the lock may be gone (writes stay fenced by ETag regardless). */
  lost: Error | undefined

  constructor(private readonly objects: AzureObjects, private readonly key: string, private readonly description: string, private readonly renewEveryMs = 20_000) {}

  async readLock(): Promise<LockInfo | undefined> {
    const blob = await this.objects.blob(this.key)
    let properties
    try {
      properties = await blob.getProperties()
    } catch (error) {
      if (status(error) === 404) return undefined
      throw error
    }
    if (properties.leaseState !== 'leased') return undefined
    const object = await this.objects.get(this.key)
    try {
      const info = JSON.parse(object?.body.toString('utf8') ?? '') as LockInfo
      return typeof info.id === 'string' ? info : undefined
    } catch {
      return undefined
    }
  }

  async lock(operation: string): Promise<LockInfo> {
    const info = newLockInfo(operation)
    await this.objects.create(this.key, Buffer.from('{}\n'))
    const blob = await this.objects.blob(this.key)
    try {
      await blob.getBlobLeaseClient(info.id).acquireLease(LEASE_SECONDS)
    } catch (error) {
      if (status(error) === 409 && errorCode(error) !== 'LeaseIdMismatchWithLeaseOperation') throw lockedError(this.description, await this.readLock())
      throw error
    }
    const body = Buffer.from(JSON.stringify(info, null, 2) + '\n')
    await blob.upload(body, body.length, {conditions: {leaseId: info.id}, blobHTTPHeaders: {blobContentType: 'application/json'}})
    this.heldId = info.id
    this.lost = undefined
    this.renewal = setInterval(() => {
      blob.getBlobLeaseClient(info.id).renewLease().catch((error: unknown) => {
        this.lost = error as Error
      })
    }, this.renewEveryMs)
    this.renewal.unref()
    return info
  }

  async unlock(lockId: string, options: {force?: boolean} = {}): Promise<void> {
    const blob = await this.objects.blob(this.key)
    if (lockId === this.heldId) this.stopRenewal()
    try {
      await blob.getBlobLeaseClient(lockId).releaseLease()
    } catch (error) {
      const code = errorCode(error)
      if (status(error) === 404 || code === 'LeaseNotPresentWithLeaseOperation') {
        if (options.force || lockId === this.heldId) return
        throw new UsageError(`${this.description} is not locked`)
      }
      if (code === 'LeaseIdMismatchWithLeaseOperation') {
        const holder = await this.readLock().catch(() => undefined)
        if (lockId === this.heldId) {
          throw new AnycloudError(`did not release lock ${lockId} on ${this.description}: its lease was broken and another run holds it now${holder ? ` (${holder.id})` : ''}; it was left alone`, {code: 'state.lock-changed', source: 'cloud'})
        }
        throw new UsageError(`lock id ${lockId} does not match the lock on ${this.description}${holder ? ` (held as ${holder.id} by ${holder.who}@${holder.host})` : ''}; nothing was changed`, [], 'state.lock-mismatch')
      }
      throw error
    } finally {
      if (lockId === this.heldId) this.heldId = undefined
    }
  }

  private stopRenewal(): void {
    if (this.renewal) clearInterval(this.renewal)
    this.renewal = undefined
  }

  async close(): Promise<void> {
    this.stopRenewal()
  }
}
