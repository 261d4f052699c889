/** An interruption notice marker as a workload read recorded it (`outputs.notice`, JSON written by the notice program). */
export type ParsedNotice =
  | {fields: Record<string, unknown>}
  /** Not a JSON object (a status read keeps the marker's first 200 characters): the text, and the time it still names. */
  | {cut: string; noticedAt?: string}

/** Parses a recorded notice marker; undefined when there is none (not a string, or blank). Pure. */
export function parseNotice(raw: unknown): ParsedNotice | undefined {
  if (typeof raw !== 'string' || raw.trim() === '') return undefined
  try {
    const parsed = JSON.parse(raw) as unknown
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return {fields: parsed as Record<string, unknown>}
  } catch {
    // A record cut short: what it says is still worth reading.
  }
  const noticedAt = /"noticedAt":\s*"([^"]+)"/.exec(raw)?.[1]
  return {cut: raw, ...(noticedAt !== undefined ? {noticedAt} : {})}
}
