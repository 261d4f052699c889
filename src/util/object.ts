/** A copy without the keys whose value is undefined (stable attributes, JSON, tags). */
export function compact<T extends Record<string, unknown>>(value: T): Partial<T> {
  const out: Record<string, unknown> = {}
  for (const k in value) if (Object.hasOwn(value, k) && value[k] !== undefined) out[k] = value[k]
  return out as Partial<T>
}

/** `value` itself when none of its keys holds undefined, else {@link compact}'s copy (most attributes need no copy). */
export function compacted<T extends Record<string, unknown>>(value: T): Partial<T> {
  for (const k in value) if (value[k] === undefined) return compact(value)
  return value
}

/** Whether an object has an own enumerable key (without listing them all, as Object.keys would). */
export function hasKeys(value: object): boolean {
  for (const k in value) if (Object.hasOwn(value, k)) return true
  return false
}
