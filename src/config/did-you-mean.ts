/** Levenshtein distance, small inputs only (config keys and names). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({length: b.length + 1}, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]
    prev[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1))
      diag = tmp
    }
  }
  return prev[b.length]
}

/** The closest candidate when it is close enough to be a likely typo (case-insensitive). */
export function didYouMean(input: string, candidates: Iterable<string>): string | undefined {
  const lower = input.toLowerCase()
  let best: string | undefined
  let bestScore = Number.POSITIVE_INFINITY
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase())
    if (d < bestScore) {
      best = c
      bestScore = d
    }
  }
  if (best === undefined) return undefined
  const limit = Math.max(1, Math.min(3, Math.floor(Math.max(input.length, best.length) / 3)))
  return bestScore <= limit || best.toLowerCase().startsWith(lower) || lower.startsWith(best.toLowerCase()) ? best : undefined
}
