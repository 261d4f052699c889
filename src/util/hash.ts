import {createHash} from 'node:crypto'

/** JSON with sorted keys: the same value always gives the same text (plans, hashes, golden files). */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeys(value))
}

export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k]
      if (v !== undefined) out[k] = sortKeys(v)
    }
    return out
  }
  return value
}

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex')
}

/** Short stable hash of any JSON value. */
export function hashOf(value: unknown, length = 16): string {
  return sha256(stableStringify(value)).slice(0, length)
}

/** How a sensitive value is shown and stored: never the value, only enough to detect a change. */
export function sensitiveMarker(value: string): string {
  return `(sensitive):${sha256(value).slice(0, 12)}`
}
