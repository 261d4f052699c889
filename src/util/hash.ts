import * as crypto from 'node:crypto'
import {createHash, scryptSync} from 'node:crypto'

/** Node's one-shot digest (20.12+): the same digest, without a Hash object per call. */
const oneShot = (crypto as {hash?: (algorithm: string, data: string | Buffer, encoding: 'hex') => string}).hash

/** JSON with sorted keys: the same value always gives the same text (plans, hashes, golden files). */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeys(value))
}

/**
 * An object's own keys in `Array.prototype.sort`'s default order (UTF-16 code units), sorted in
 * place by insertion: objects have a handful of keys, and this allocates nothing besides the list
 * (the built-in sort allocates a work array per call; plans hash thousands of small objects).
 */
function sortedKeys(value: object): string[] {
  const keys = Object.keys(value)
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]
    let j = i - 1
    for (; j >= 0 && keys[j] > k; j--) keys[j + 1] = keys[j]
    keys[j + 1] = k
  }
  return keys
}

export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const k of sortedKeys(value)) {
      const v = (value as Record<string, unknown>)[k]
      if (v !== undefined) out[k] = sortKeys(v)
    }
    return out
  }
  return value
}

export function sha256(text: string | Buffer): string {
  return oneShot ? oneShot('sha256', text, 'hex') : createHash('sha256').update(text).digest('hex')
}

/** Short stable hash of any JSON value. */
export function hashOf(value: unknown, length = 16): string {
  return sha256(stableStringify(value)).slice(0, length)
}

/**
 * scrypt cost of a sensitive-value marker: 2^14 rounds, 8-byte blocks (16 MiB, tens of
 * milliseconds a value), so trying a dictionary of weak secrets against a plan or a state is slow.
 */
const MARKER_KDF = {N: 1 << 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024}
/** Results per (salt, value): one KDF per distinct secret per lineage, however many profiles use it. */
const markerCache = new Map<string, string>()

/**
 * How a sensitive value is shown and stored: never the value, only enough to detect a change.
 * A keyed, slow hash: scrypt of the value under `salt`, the state's lineage (a random id fixed when
 * the state is created, never derived from a value), so the same secret gives a different marker
 * in another state and a weak secret cannot be looked up in a precomputed table.
 * Deterministic per (salt, value): a changed value still shows as a change.
 */
export function sensitiveMarker(value: string, salt: string): string {
  if (!salt) throw new Error('sensitiveMarker needs the state lineage as its salt')
  // The cache is keyed by a hash of the value, so it never holds a secret as a key.
  const key = `${salt}\0${sha256(value)}`
  let marker = markerCache.get(key)
  if (marker === undefined) {
    marker = `(sensitive):${scryptSync(value, `anycloud-sensitive:${salt}`, 32, MARKER_KDF).toString('hex').slice(0, 12)}`
    markerCache.set(key, marker)
  }
  return marker
}
