/**
 * Durations as users type them on the command line (`--timeout 5m`, `--lock-timeout 30s`):
 * a sequence of `<number><unit>` with units `ms`, `s`, `m`, `h` (`1h30m`, `90s`, `500ms`), or a
 * bare number of seconds. Returns milliseconds, or undefined when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const t = text.trim().toLowerCase()
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000)
  const unit: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000}
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy
  let total = 0
  let matched = 0
  let m: RegExpExecArray | null
  while ((m = re.exec(t))) {
    total += Number(m[1]) * unit[m[2]]
    matched = re.lastIndex
  }
  if (matched === 0 || matched !== t.length) return undefined
  return Math.round(total)
}

/** `90000` → `1m30s`, `2500` → `2.5s`, `400` → `400ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))}s`
  const h = Math.floor(ms / 3_600_000)
  const m = Math.floor((ms % 3_600_000) / 60_000)
  const s = Math.round((ms % 60_000) / 1000)
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}` || '0s'
}
