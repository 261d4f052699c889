/**
 * Process-wide registry of secret values seen at run time (interpolated `${env:…}` values,
 * credential keys, minted tokens). Everything that prints or stores text passes it through
 * `redactSecrets` as a last line of defence: values are replaced by `(sensitive)`.
 */
const secrets = new Set<string>()

/** Registers a value that must never be printed. Short values are ignored (too many false hits). */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 6) secrets.add(value)
}

export function redactSecrets(text: string): string {
  let out = text
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('(sensitive)')
  return out
}

/** For tests. */
export function clearSecrets(): void {
  secrets.clear()
}
