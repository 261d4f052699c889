/** A copy without the keys whose value is undefined (stable attributes, JSON, tags). */
export function compact<T extends Record<string, unknown>>(value: T): Partial<T> {
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(value)) if (value[k] !== undefined) out[k] = value[k]
  return out as Partial<T>
}
