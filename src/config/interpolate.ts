import {type Diagnostic} from './diagnostics.js'
import {diagnosticAt, type LoadedDocument, pointer} from './load.js'

const ENV_REF = /^env:([A-Za-z_][A-Za-z0-9_]*)$/

export interface InterpolationResult {
  data: unknown
  diagnostics: Diagnostic[]
  /** JSON pointers whose value contains an interpolated (hence sensitive) part. */
  sensitive: Set<string>
  /** JSON pointers whose value could not be interpolated (unset variable, unsupported form). */
  failed: Set<string>
}

/**
 * Replaces `${env:NAME}` in every string of the document. An unset variable and any other `${…}`
 * form are errors at the string's position. `$${` writes a literal `${`.
 */
export function interpolate(document: LoadedDocument, env: NodeJS.ProcessEnv, options: {unset?: 'error' | 'warning'} = {}): InterpolationResult {
  const diagnostics: Diagnostic[] = []
  const sensitive = new Set<string>()
  const failed = new Set<string>()
  const visit = (value: unknown, segments: Array<string | number>): unknown => {
    if (typeof value === 'string') {
      if (!value.includes('${')) return value
      let used = false
      const out = value.replace(/\$?\$\{([^}]*)\}/g, (match, inner: string) => {
        if (match.startsWith('$$')) return match.slice(1)
        const m = ENV_REF.exec(inner)
        if (!m) {
          diagnostics.push(diagnosticAt(document, segments, `unsupported interpolation '${match}': only \${env:NAME} is supported (write $\${ for a literal \${)`))
          failed.add(pointer(segments))
          return match
        }
        const v = env[m[1]]
        if (v === undefined) {
          diagnostics.push(options.unset === 'warning'
            ? diagnosticAt(document, segments, `environment variable ${m[1]} is not set (referenced as \${env:${m[1]}}): plan and apply will need it`, {severity: 'warning'})
            : diagnosticAt(document, segments, `environment variable ${m[1]} is not set (referenced as \${env:${m[1]}}): set it, or remove the reference`))
          failed.add(pointer(segments))
          return ''
        }
        used = true
        return v
      })
      if (used) sensitive.add(pointer(segments))
      return out
    }
    if (Array.isArray(value)) return value.map((v, i) => visit(v, [...segments, i]))
    if (value && typeof value === 'object') {
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(value)) out[k] = visit(v, [...segments, k])
      return out
    }
    return value
  }
  return {data: visit(document.data, []), diagnostics, sensitive, failed}
}
