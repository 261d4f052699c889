import {createRequire} from 'node:module'
import type {ErrorObject, ValidateFunction} from 'ajv'

import {type Diagnostic} from './diagnostics.js'
import {didYouMean} from './did-you-mean.js'
import {diagnosticAt, type LoadedDocument, locate, segmentsOf} from './load.js'

const require = createRequire(import.meta.url)

let compiled: ValidateFunction | undefined

/** The file schema, read from schemas/ (the single source of truth). */
export function fileSchema(): Record<string, unknown> {
  return require('../../schemas/anycloud.schema.json')
}

/** Compiles the schema once per process, in ajv strict mode (a bad schema fails loudly here). */
export function schemaValidator(): ValidateFunction {
  if (compiled) return compiled
  // ajv is CommonJS; createRequire keeps its load cheap and synchronous.
  const Ajv = require('ajv').default as typeof import('ajv').default
  const ajv = new Ajv({strict: true, allErrors: true, coerceTypes: false, allowUnionTypes: true, discriminator: true, verbose: true, useDefaults: false})
  ajv.addKeyword({keyword: 'x-secret', schemaType: 'boolean'})
  ajv.addKeyword({keyword: 'x-message', schemaType: 'string'})
  compiled = ajv.compile(fileSchema())
  return compiled
}

const SECRET_HINT = 'secret-bearing fields accept only a `${env:NAME}` reference, never a literal value: put the secret in an environment variable and write e.g. "${env:MY_SECRET}"'

function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a map'
  if (typeof value === 'string') return 'a string'
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number'
  return `a ${typeof value}`
}

/** Explains the usual YAML surprises next to a type error. */
function typeHint(expected: string, data: unknown, source?: string): string {
  if (expected === 'boolean' && typeof data === 'string' && /^(yes|no|on|off|y|n|true|false)$/i.test(data)) {
    return ` (YAML 1.2 reads \`${data}\` as a string: write true or false)`
  }
  if (expected === 'string' && typeof data === 'number' && source && /^[+-]?0[0-9]/.test(source)) {
    return ` (YAML reads ${source} as the number ${data} and drops the leading zero: quote it, "${source}")`
  }
  if (expected === 'string' && typeof data === 'number') return ` (quote it: "${source ?? data}")`
  return ''
}

function expectedTypes(schema: unknown): string[] {
  const s = schema as {type?: string | string[]; const?: unknown; enum?: unknown[]; anyOf?: unknown[]; items?: {type?: string}}
  if (s.const !== undefined) return [JSON.stringify(s.const)]
  if (s.enum) return s.enum.map((v) => JSON.stringify(v))
  if (s.anyOf) return s.anyOf.flatMap((b) => expectedTypes(b))
  if (s.type === 'array') return [`a list${s.items?.type ? ` of ${s.items.type}s` : ''}`]
  if (s.type) return (Array.isArray(s.type) ? s.type : [s.type]).map((t) => (t === 'object' ? 'a map' : t === 'integer' ? 'an integer' : `a ${t}`))
  return []
}

/** Maps ajv errors to diagnostics with positions; collapses anyOf noise; never echoes a secret. */
export function schemaDiagnostics(document: LoadedDocument): Diagnostic[] {
  const validate = schemaValidator()
  if (validate(document.data)) return []
  const errors = (validate.errors ?? []) as ErrorObject[]
  // anyOf/oneOf failures: report one line for the union, not one per branch.
  const unionPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath))
  const out: Diagnostic[] = []
  const seen = new Set<string>()
  const push = (d: Diagnostic) => {
    const key = `${d.line}:${d.column}:${d.path}:${d.message}`
    if (!seen.has(key)) {
      seen.add(key)
      out.push(d)
    }
  }
  for (const e of errors) {
    const segments = segmentsOf(e.instancePath)
    const insideUnion = [...unionPaths].some((p) => e.keyword !== 'anyOf' && (e.instancePath === p || e.instancePath.startsWith(p + '/')) && e.schemaPath.includes('/anyOf/'))
    if (insideUnion) continue
    const parent = e.parentSchema as Record<string, unknown> | undefined
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = (e.params as {additionalProperty: string}).additionalProperty
        const known = Object.keys((parent?.properties as object) ?? {})
        const suggestion = didYouMean(key, known)
        const hint = suggestion ? ` (did you mean '${suggestion}'?)` : known.length > 0 ? `; known keys: ${known.join(', ')}` : ''
        push(diagnosticAt(document, [...segments, key], `unknown key '${key}'${hint}`, {preferKey: true}))
        break
      }
      case 'required': {
        const missing = (e.params as {missingProperty: string}).missingProperty
        push(diagnosticAt(document, segments, `missing required key '${missing}'`))
        break
      }
      case 'type': {
        const expected = (e.params as {type: string}).type
        const src = locate(document, e.instancePath).source
        push(diagnosticAt(document, segments, `must be ${expectedTypes(parent).join(' or ') || expected}, not ${typeName(e.data)}${typeHint(expected, e.data, src)}`))
        break
      }
      case 'anyOf': {
        const src = locate(document, e.instancePath).source
        const expected = expectedTypes(parent)
        const hint = expected.includes('a string') ? typeHint('string', e.data, src) : ''
        push(diagnosticAt(document, segments, `must be ${expected.join(' or ')}${hint}`))
        break
      }
      case 'const':
        push(diagnosticAt(document, segments, `must be ${JSON.stringify((e.params as {allowedValue: unknown}).allowedValue)}`))
        break
      case 'enum':
        push(diagnosticAt(document, segments, `must be one of ${((e.params as {allowedValues: unknown[]}).allowedValues).map((v) => JSON.stringify(v)).join(', ')}`))
        break
      case 'discriminator': {
        const p = e.params as {error: string; tag: string; tagValue: unknown}
        const branches = ((parent?.oneOf as Array<{properties: Record<string, {const: string}>}>) ?? []).map((b) => b.properties[p.tag]?.const)
        const suggestion = typeof p.tagValue === 'string' ? didYouMean(p.tagValue, branches) : undefined
        push(diagnosticAt(document, p.error === 'tag' && p.tagValue === undefined ? segments : [...segments, p.tag],
          `${p.tag} must be one of ${branches.join(', ')}${suggestion ? ` (did you mean '${suggestion}'?)` : ''}`))
        break
      }
      case 'pattern': {
        if (parent?.['x-secret']) push(diagnosticAt(document, segments, `literal secret value refused: ${SECRET_HINT}`))
        else push(diagnosticAt(document, segments, String(parent?.['x-message'] ?? e.message)))
        break
      }
      case 'propertyNames': {
        const name = (e.params as {propertyName: string}).propertyName
        const nameSchema = (parent?.propertyNames as Record<string, unknown>) ?? {}
        push(diagnosticAt(document, [...segments, name], `invalid name '${name}': ${String(nameSchema['x-message'] ?? 'not allowed here')}`, {preferKey: true}))
        break
      }
      case 'minProperties':
        push(diagnosticAt(document, segments, segments.at(-1) === 'profiles' ? 'at least one profile is required' : String(e.message)))
        break
      default: {
        // Keywords whose own messages already read well: minimum, maximum, minLength, minItems, uniqueItems…
        // (never `pattern`: handled above, so a secret's value is never echoed).
        if (e.keyword.startsWith('x-') || e.keyword === 'oneOf' || e.keyword === 'if') break
        push(diagnosticAt(document, segments, String(e.message)))
      }
    }
  }
  return out
}
