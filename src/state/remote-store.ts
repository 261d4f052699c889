import {randomUUID} from 'node:crypto'

import {AnycloudError, UsageError} from '../errors/index.js'
import {lockedError, newLockInfo} from './lock-info.js'
import type {ObjectStore, StoredObject} from './object-store.js'
import type {LockInfo, StateDocument, StateStore} from './types.js'

/** How a remote store locks: a conditional lock object (S3, GCS) or a blob lease (Azure). */
export interface Locker {
  lock(operation: string): Promise<LockInfo>
  unlock(lockId: string, options?: {force?: boolean}): Promise<void>
  readLock(): Promise<LockInfo | undefined>
  close(): Promise<void>
}

export interface RemoteStoreOptions {
  objects: ObjectStore
  key: string
  /** `s3://bucket/key`: for messages. */
  description: string
  localDir: string
  erroredPath: string
  /** The lock; default: a lock object `<key>.lock` created conditionally. */
  locker?: Locker
}

/** Why a state write was refused: someone else wrote the state since this run read it. */
export class StaleStateError extends AnycloudError {
  constructor(message: string) {
    super(message, {code: 'state.stale-write', source: 'user', exitCode: 1, suggestions: [
      'Another run changed the state since this one read it (its lock was released or broken meanwhile). Nothing was overwritten.',
      'Run `anycloud plan` to see where things stand now; this run\'s own changes are in the errored state file it names, if any.',
    ]})
  }
}

/**
 * State in an object store. Every write is fenced: conditional on the version this run read or
 * wrote last (ETag, generation), after checking lineage and serial, so a run that lost its lock
 * can never overwrite newer state. A write whose response was lost is recognised by reading the
 * object back and comparing it with what was sent.
 */
export class RemoteStateStore implements StateStore {
  readonly description: string
  readonly localDir: string
  readonly erroredPath: string
  private readonly objects: ObjectStore
  private readonly key: string
  private readonly locker: Locker
  /** The version of the state object last read or written: undefined = never read, null = absent. */
  private version: string | null | undefined
  private last: {lineage: string; serial: number} | undefined
  private probed = false

  constructor(options: RemoteStoreOptions) {
    this.objects = options.objects
    this.key = options.key
    this.description = options.description
    this.localDir = options.localDir
    this.erroredPath = options.erroredPath
    this.locker = options.locker ?? new ObjectLocker(options.objects, `${options.key}.lock`, options.description)
  }

  async read(): Promise<StateDocument | undefined> {
    const object = await this.objects.get(this.key)
    if (!object) {
      this.version = null
      this.last = undefined
      return undefined
    }
    const doc = this.parse(object)
    this.version = object.version
    this.last = {lineage: doc.lineage, serial: doc.serial}
    return doc
  }

  private parse(object: StoredObject): StateDocument {
    try {
      const doc = JSON.parse(object.body.toString('utf8')) as StateDocument
      if (doc.formatVersion !== 1 || typeof doc.lineage !== 'string' || typeof doc.serial !== 'number') throw new Error('not an anycloud state (formatVersion 1)')
      return doc
    } catch (error) {
      throw new AnycloudError(`${this.description} is unreadable: ${(error as Error).message}`, {code: 'state.corrupt', source: 'user', suggestions: ['Inspect the object; `anycloud state push FILE --force` replaces it with a good copy.']})
    }
  }

  async write(document: StateDocument, options: {force?: boolean} = {}): Promise<void> {
    if (this.version === undefined) await this.read()
    if (this.last && !options.force) {
      if (this.last.lineage !== document.lineage) {
        throw new AnycloudError(`refusing to overwrite ${this.description}: it belongs to lineage ${this.last.lineage}, this run has ${document.lineage}`, {code: 'state.lineage', source: 'user'})
      }
      if (document.serial <= this.last.serial) {
        throw new AnycloudError(`refusing to overwrite ${this.description}: it is at serial ${this.last.serial}, this run would write ${document.serial}`, {code: 'state.serial', source: 'user'})
      }
    }
    const body = Buffer.from(JSON.stringify(document, null, 2) + '\n')
    let answer: {version: string} | 'exists' | 'changed'
    try {
      answer = this.version ? await this.objects.replace(this.key, body, this.version) : await this.objects.create(this.key, body)
    } catch (error) {
      // The write may have committed with its response lost: it did if the object is now exactly ours.
      const now = await this.objects.get(this.key).catch(() => undefined)
      if (now && now.body.equals(body)) return this.wrote(document, now.version)
      throw error
    }
    if (answer === 'exists' || answer === 'changed') {
      const now = await this.objects.get(this.key)
      // A retry of our own committed write (the first response lost) meets our own bytes.
      if (now && now.body.equals(body)) return this.wrote(document, now.version)
      let found = 'it no longer exists'
      if (now) {
        try {
          const doc = JSON.parse(now.body.toString('utf8')) as StateDocument
          found = `it is now at lineage ${doc.lineage}, serial ${doc.serial}`
        } catch {
          found = 'it now holds something unreadable'
        }
      }
      throw new StaleStateError(`refusing to save state to ${this.description}: it changed since this run read it (${found}; this run read ${this.last ? `serial ${this.last.serial}` : 'no state'} and would write serial ${document.serial})`)
    }
    this.wrote(document, answer.version)
  }

  private wrote(document: StateDocument, version: string): void {
    this.version = version
    this.last = {lineage: document.lineage, serial: document.serial}
  }

  /**
   * Creates a probe object, then tries to create it again: a store that accepts the second create
   * ignores conditional writes, and a lock on it could never fail. The probe is removed after.
   */
  async probe(): Promise<void> {
    if (this.probed) return
    const key = `${this.key}.probe-${randomUUID()}`
    const body = Buffer.from('anycloud probe: conditional create must be refused on an existing key\n')
    const first = await this.objects.create(key, body)
    if (first === 'exists') throw new AnycloudError(`the probe object ${this.objects.url(key)} already existed (it has a random name): the store's answers cannot be trusted`, {code: 'state.store-dishonest', source: 'cloud'})
    const second = await this.objects.create(key, body).catch((error: unknown) => error as Error)
    let version = first.version
    if (second !== 'exists' && !(second instanceof Error)) version = second.version
    await this.objects.remove(key, version).catch(() => undefined)
    if (second instanceof Error) throw second
    if (second !== 'exists') {
      throw new UsageError(
        `${this.description}: the store accepted a conditional create (If-None-Match: * / ifGenerationMatch=0) of an object that already existed, so it ignores write conditions; a state lock on it could never fail, and anycloud refuses to use it for team state`,
        ['Use a store that honours conditional writes (AWS S3, GCS, Azure Blob, or an S3-compatible server that implements If-None-Match).', 'If only one run can ever touch this state, pass --lock=false to run without a lock (at your own risk).'],
        'state.store-ignores-conditions',
      )
    }
    this.probed = true
  }

  async lock(operation: string): Promise<LockInfo> {
    await this.probe()
    return this.locker.lock(operation)
  }

  unlock(lockId: string, options?: {force?: boolean}): Promise<void> {
    return this.locker.unlock(lockId, options)
  }

  readLock(): Promise<LockInfo | undefined> {
    return this.locker.readLock()
  }

  async close(): Promise<void> {
    await this.locker.close()
    await this.objects.close()
  }
}

/**
 * A lock object created only when absent (If-None-Match: *, ifGenerationMatch=0) whose body is
 * the lock record; its id is the owner token. Released by a delete conditional on the version
 * that was created, so a release can never remove a lock someone else took meanwhile.
 */
export class ObjectLocker implements Locker {
  private held: {id: string; version: string} | undefined

  constructor(private readonly objects: ObjectStore, private readonly key: string, private readonly description: string) {}

  private async readRaw(): Promise<{info: LockInfo; version: string} | undefined> {
    const object = await this.objects.get(this.key)
    if (!object) return undefined
    let info: LockInfo
    try {
      info = JSON.parse(object.body.toString('utf8')) as LockInfo
      if (typeof info.id !== 'string') throw new Error('no lock id')
    } catch (error) {
      throw new AnycloudError(`the lock object ${this.objects.url(this.key)} is unreadable (${(error as Error).message}): cannot tell who holds ${this.description}`, {
        code: 'state.lock-unreadable',
        source: 'cloud',
        suggestions: [`Inspect ${this.objects.url(this.key)}; if no run holds it, delete that object.`],
      })
    }
    return {info, version: object.version}
  }

  async readLock(): Promise<LockInfo | undefined> {
    return (await this.readRaw())?.info
  }

  async lock(operation: string): Promise<LockInfo> {
    const info = newLockInfo(operation)
    const body = Buffer.from(JSON.stringify(info, null, 2) + '\n')
    for (let attempt = 0; attempt < 3; attempt++) {
      let answer: {version: string} | 'exists'
      try {
        answer = await this.objects.create(this.key, body)
      } catch (error) {
        // The create may have committed with its response lost: then the lock object is ours.
        const now = await this.readRaw().catch(() => undefined)
        if (now?.info.id === info.id) return this.hold(info, now.version)
        throw error
      }
      if (answer !== 'exists') return this.hold(info, answer.version)
      const holder = await this.readRaw()
      // Our own create committed and an SDK retry met it (lost response): the lock is ours.
      if (holder?.info.id === info.id) return this.hold(info, holder.version)
      if (holder) throw lockedError(this.description, holder.info)
      // Released between our create and our read: try again.
    }
    throw lockedError(this.description, (await this.readRaw())?.info)
  }

  private hold(info: LockInfo, version: string): LockInfo {
    this.held = {id: info.id, version}
    return info
  }

  async unlock(lockId: string, options: {force?: boolean} = {}): Promise<void> {
    let version: string
    if (this.held?.id === lockId) {
      version = this.held.version
    } else {
      const current = await this.readRaw()
      if (!current) {
        if (options.force) return
        throw new UsageError(`${this.description} is not locked`)
      }
      if (current.info.id !== lockId) {
        throw new UsageError(`lock id ${lockId} does not match the lock on ${this.description} (held as ${current.info.id} by ${current.info.who}@${current.info.host}); nothing was changed`, [], 'state.lock-mismatch')
      }
      version = current.version
    }
    const answer = await this.objects.remove(this.key, version)
    if (this.held?.id === lockId) this.held = undefined
    if (answer === 'changed') {
      const now = await this.readRaw().catch(() => undefined)
      throw new AnycloudError(`did not release lock ${lockId} on ${this.description}: the lock object changed since it was read${now ? ` (it is now ${now.info.id}, ${now.info.operation} by ${now.info.who}@${now.info.host})` : ''}, so it belongs to another run and was left alone`, {code: 'state.lock-changed', source: 'cloud'})
    }
    if (answer === 'absent' && !options.force && this.held === undefined) return
  }

  async close(): Promise<void> {}
}
