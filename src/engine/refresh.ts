import {isAnycloudError} from '../errors/index.js'
import type {ActualResource} from '../model/resources.js'
import {kindOf, type Provider, type ProviderCallContext, type ReadResult, type ResourceLookup} from '../providers/provider.js'
import type {ProviderSet} from '../providers/registry.js'
import {createLimiter} from '../util/limit.js'

/** One resource refresh should look at, on the credential that manages it. */
export interface ResourceRead {
  credential: string
  lookup: ResourceLookup
  ctx: ProviderCallContext
}

/** Everything a plan wants to know about the clouds, asked at once. */
export interface RefreshRequest {
  resources: ResourceRead[]
  buckets: Array<{credential: string; name: string}>
}

/** What refresh saw: per resource address, and per (credential, bucket name). Reading an entry that failed throws its error. */
export interface Snapshot {
  resource(address: string): ActualResource | null
  bucket(credential: string, name: string): ActualResource | null
  /** Whether refresh looked at this address (a plan only asks for what it requested). */
  has(address: string): boolean
  /** Whether refresh looked at this bucket on this credential. */
  hasBucket(credential: string, name: string): boolean
}

/** Two refresh rounds as one snapshot: what the later round (`over`) read, else the earlier one's. */
export function layered(over: Snapshot, under: Snapshot): Snapshot {
  return {
    resource: (address) => (over.has(address) ? over : under).resource(address),
    bucket: (credential, name) => (over.hasBucket(credential, name) ? over : under).bucket(credential, name),
    has: (address) => over.has(address) || under.has(address),
    hasBucket: (credential, name) => over.hasBucket(credential, name) || under.hasBucket(credential, name),
  }
}

/** Per-credential bound on reads in flight: each cloud account has its own API rate limits. */
export class CredentialLimits {
  private readonly limiters = new Map<string, ReturnType<typeof createLimiter>>()

  constructor(
    private readonly providers: ProviderSet,
    private readonly override?: number,
  ) {}

  async run<T>(credential: string, fn: () => Promise<T>): Promise<T> {
    let l = this.limiters.get(credential)
    if (!l) {
      const provider = await this.providers.get(credential)
      l = this.limiters.get(credential) ?? createLimiter(this.override ?? provider.readConcurrency ?? 64)
      this.limiters.set(credential, l)
    }
    return l(fn)
  }
}


/** "Not found" raised by a read means absent (the contract lets providers say it either way). */
function settle(result: ReadResult): ReadResult {
  if ('error' in result && isAnycloudError(result.error) && result.error.code === 'cloud.not-found') return {value: null}
  return result
}

async function attempt(fn: () => Promise<ActualResource | null>): Promise<ReadResult> {
  try {
    return settle({value: await fn()})
  } catch (error) {
    return settle({error})
  }
}

/** A batch on one credential: the provider's own batch read when it has one, else one read at a time. */
async function readBatch<T>(provider: Provider, items: T[], batch: ((items: T[]) => Promise<ReadResult[]>) | undefined, one: (item: T) => Promise<ActualResource | null>, limit: (fn: () => Promise<ReadResult>) => Promise<ReadResult>): Promise<ReadResult[]> {
  if (batch) {
    try {
      const results = await batch(items)
      if (results.length !== items.length) throw new Error(`provider ${provider.kind} answered ${results.length} reads for ${items.length}`)
      return results.map(settle)
    } catch (error) {
      return items.map(() => ({error}))
    }
  }
  return Promise.all(items.map((item) => limit(() => attempt(() => one(item)))))
}

/** A read's value, or its error thrown; what it read (an address, or a bucket's name and credential) names one refresh did not read. */
function valueOf(result: ReadResult | undefined, what: string, bucketCredential?: string): ActualResource | null {
  if (!result) throw new Error(`refresh did not read ${bucketCredential === undefined ? what : `bucket ${what} on ${bucketCredential}`}`)
  if ('error' in result) throw result.error
  return result.value
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>()
  for (let i = 0; i < items.length; i++) {
    const item = items[i]
    const k = key(item)
    const list = out.get(k)
    if (list) list.push(item)
    else out.set(k, [item])
  }
  return out
}

/**
 * The refresh stage: reads what the plan needs, in batches per credential (providers batch further
 * per region, by ownership tag). Reads only; never throws for a failed read, it records it.
 */
export async function refresh(request: RefreshRequest, providers: ProviderSet, limits: CredentialLimits): Promise<Snapshot> {
  const resources = new Map<string, ReadResult>()
  // Per credential, per bucket name.
  const buckets = new Map<string, Map<string, ReadResult>>()
  const resourceJobs = [...groupBy(request.resources, (r) => r.credential)].map(async ([credential, reads]) => {
    const provider = await providers.get(credential).catch((error: unknown) => {
      for (const r of reads) resources.set(r.lookup.address, {error})
    })
    if (!provider) return
    // A ResourceRead is a ReadRequest (with its credential besides): handed over as it is, not copied.
    const batch = provider.readMany ? (items: ResourceRead[]) => provider.readMany!(items) : undefined
    const results = await readBatch(provider, reads, batch, (r) => kindOf(provider, r.lookup.kind).read(r.lookup, r.ctx), (fn) => limits.run(credential, fn))
    reads.forEach((r, i) => resources.set(r.lookup.address, results[i]))
  })
  const bucketJobs = [...groupBy(request.buckets, (b) => b.credential)].map(async ([credential, list]) => {
    const names = [...new Set(list.map((b) => b.name))]
    const seen = new Map<string, ReadResult>()
    buckets.set(credential, seen)
    const provider = await providers.get(credential).catch((error: unknown) => {
      for (const name of names) seen.set(name, {error})
    })
    if (!provider) return
    const batch = provider.readBuckets ? (items: string[]) => provider.readBuckets!(items) : undefined
    const results = await readBatch(provider, names, batch, (name) => provider.readBucket(name), (fn) => limits.run(credential, fn))
    names.forEach((name, i) => seen.set(name, results[i]))
  })
  await Promise.all([...resourceJobs, ...bucketJobs])
  return {
    resource: (address) => valueOf(resources.get(address), address),
    bucket: (credential, name) => valueOf(buckets.get(credential)?.get(name), name, credential),
    has: (address) => resources.has(address),
    hasBucket: (credential, name) => buckets.get(credential)?.has(name) ?? false,
  }
}
