/** One problem found in an anycloud.yaml, with where it is. */
export interface Diagnostic {
  severity: 'error' | 'warning'
  /** Path of the file as the user gave it (relative paths stay relative). */
  file: string
  line: number
  column: number
  /** Dotted JSON path, e.g. `profiles.train.gpuType`; empty for the document root. */
  path: string
  /** The profile the problem belongs to, when it belongs to one. */
  profile?: string
  message: string
}

/** `anycloud.yaml:12:5 profiles.train.gpuType: message` — the one line format of every diagnostic. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = `${d.file}:${d.line}:${d.column}`
  const prefix = d.severity === 'warning' ? 'warning: ' : ''
  return d.path ? `${where} ${prefix}${d.path}: ${d.message}` : `${where} ${prefix}${d.message}`
}

/** JSON path segments → `profiles.train.env.MY_VAR` (array indexes as `[0]`). */
export function dottedPath(segments: ReadonlyArray<string | number>): string {
  let out = ''
  for (const seg of segments) {
    if (typeof seg === 'number') out += `[${seg}]`
    else out += out ? `.${seg}` : seg
  }
  return out
}

/** The profile a path belongs to: `profiles.NAME…`. */
export function profileOf(segments: ReadonlyArray<string | number>): string | undefined {
  return segments[0] === 'profiles' && typeof segments[1] === 'string' ? segments[1] : undefined
}

export function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  return [...list].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column || a.path.localeCompare(b.path) || a.message.localeCompare(b.message))
}
