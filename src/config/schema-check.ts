import {createRequire} from 'node:module'
import type {ErrorObject, ValidateFunction} from 'ajv'

import {type Diagnostic} from './diagnostics.js'
import validateFile from './schema-validator.generated.js'
import {didYouMean} from '../model/did-you-mean.js'
import {diagnosticAt, type LoadedDocument, locate, segmentsOf} from './load.js'

const require = createRequire(import.meta.url)

/** The file schema, read from schemas/ (the single source of truth). */
export function fileSchema(): Record<string, unknown> {
  return require('../../schemas/anycloud.schema.json')
}

/**
 * The schema's validator, pre-compiled at build time by scripts/gen-validator.js (ajv standalone,
 * strict mode, all errors, no coercion): start-up neither imports nor compiles ajv.
 */
export function schemaValidator(): ValidateFunction {
  return validateFile as unknown as ValidateFunction
}

const SECRET_HINT = 'secret-bearing fields accept only a `${env:NAME}` reference, never a literal value: put the secret in an environment variable and write e.g. "${env:MY_SECRET}"'

function typeName(value: unknown): string {
  if (value === null) return 'empty'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a map'
  if (typeof value === 'string') return 'a string'
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : `a fractional number (${value})`
  return `a ${typeof value}`
}

/** `, not a string` / `, but the value is empty`: what was found instead. */
function found(value: unknown): string {
  return value === null ? ', but the value is empty' : `, not ${typeName(value)}`
}

/** Does a schema (an anyOf branch) accept values of this JSON type at all? */
function acceptsTypeOf(schema: unknown, value: unknown): boolean {
  const s = schema as {type?: string | string[]; const?: unknown; enum?: unknown[]}
  const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v)
  if (s.const !== undefined) return kind(s.const) === kind(value)
  if (s.enum) return s.enum.some((v) => kind(v) === kind(value))
  if (s.type === undefined) return true
  const types = Array.isArray(s.type) ? s.type : [s.type]
  return types.some((t) => (t === 'integer' ? Number.isInteger(value) : t === kind(value)))
}

/** Explains the usual YAML surprises next to a type error. */
function typeHint(expected: string, data: unknown, source?: string): string {
  const quoted = source !== undefined && /^["']/.test(source)
  if (quoted && (expected === 'boolean' || expected === 'integer' || expected === 'number') && typeof data === 'string' && /^\s*(true|false|[+-]?[0-9]+(\.[0-9]+)?)\s*$/.test(data)) {
    return ` (the quotes make it a string: write ${data.trim()} without quotes)`
  }
  if (expected === 'boolean' && typeof data === 'string' && /^(yes|no|on|off|y|n|true|false)$/i.test(data)) {
    return ` (YAML 1.2 reads \`${data}\` as a string: write true or false)`
  }
  if (expected === 'string' && typeof data === 'number' && source && /^[+-]?0[0-9]/.test(source)) {
    return ` (YAML reads ${source} as the number ${data} and drops the leading zero: quote it, "${source}")`
  }
  if (expected === 'string' && typeof data === 'number') return ` (quote it: "${source ?? data}")`
  if ((expected === 'integer' || expected === 'number') && typeof data === 'string' && /^\s*[+-]?[0-9]+(\.[0-9]+)?\s*$/.test(data)) {
    return ` (write ${data.trim()} without quotes)`
  }
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

/** JSON pointer → path segments, with array indexes as numbers (so paths read `command[1]`). */
function typedSegments(data: unknown, jsonPointer: string): Array<string | number> {
  const out: Array<string | number> = []
  let v: unknown = data
  for (const seg of segmentsOf(jsonPointer)) {
    if (Array.isArray(v) && /^(0|[1-9][0-9]*)$/.test(seg)) {
      out.push(Number(seg))
      v = v[Number(seg)]
    } else {
      out.push(seg)
      v = v && typeof v === 'object' ? (v as Record<string, unknown>)[seg] : undefined
    }
  }
  return out
}

/** Maps ajv errors to diagnostics with positions; collapses anyOf noise; never echoes a secret. */
export function schemaDiagnostics(document: LoadedDocument): Diagnostic[] {
  const validate = schemaValidator()
  if (validate(document.data)) return []
  const errors = (validate.errors ?? []) as ErrorObject[]
  // anyOf failures: one report per union, made from the branch the value was evidently meant for.
  const unions = errors.filter((e) => e.keyword === 'anyOf')
  // The same schema location serves every profile: an error is inside a union only at its instance too.
  const within = (e: ErrorObject, u: ErrorObject) =>
    e !== u && e.schemaPath.startsWith(u.schemaPath + '/') && (e.instancePath === u.instancePath || e.instancePath.startsWith(u.instancePath + '/'))
  const out: Diagnostic[] = []
  const seen = new Set<string>()
  const push = (d: Diagnostic) => {
    const key = `${d.line}:${d.column}:${d.path}:${d.message}`
    if (!seen.has(key)) {
      seen.add(key)
      out.push(d)
    }
  }
  const report = (e: ErrorObject): void => {
    const segments = typedSegments(document.data, e.instancePath)
    const parent = e.parentSchema as Record<string, unknown> | undefined
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = (e.params as {additionalProperty: string}).additionalProperty
        const known = Object.keys((parent?.properties as object) ?? {})
        const suggestion = didYouMean(key, known)
        const hint = key === '<<'
          ? ': YAML merge keys are not part of YAML 1.2; share settings with defaults: or extends: instead'
          : suggestion ? ` (did you mean '${suggestion}'?)` : known.length > 0 ? `; known keys: ${known.join(', ')}` : ''
        push(diagnosticAt(document, [...segments, key], `unknown key '${key}'${hint}`, {preferKey: true}))
        break
      }
      case 'required': {
        const missing = (e.params as {missingProperty: string}).missingProperty
        const what = segments.length === 0 ? 'the file' : segments[0] === 'credentials' && segments.length === 2 ? `credential '${segments[1]}'` : segments.length === 1 && segments[0] === 'state' ? 'state' : ''
        push(diagnosticAt(document, segments, `missing required key '${missing}'${what ? ` in ${what}` : ''}${missing === 'version' && segments.length === 0 ? ': add `version: 1` at the top' : ''}`))
        break
      }
      case 'type': {
        const expected = (e.params as {type: string}).type
        if (segments.length === 0) {
          push(diagnosticAt(document, segments, e.data === null
            ? 'the file is empty: an anycloud.yaml needs at least `version: 1` and a `profiles:` map'
            : `the file must be a map of keys (version, project, state, credentials, defaults, profiles), not ${typeName(e.data)}`))
          break
        }
        const src = locate(document, e.instancePath).source
        push(diagnosticAt(document, segments, `must be ${expectedTypes(parent).join(' or ') || expected}${found(e.data)}${typeHint(expected, e.data, src)}`))
        break
      }
      case 'anyOf': {
        const branches = ((parent?.anyOf as unknown[]) ?? [])
        const fitting = branches.map((b, i) => ({b, i})).filter(({b}) => acceptsTypeOf(b, e.data))
        if (fitting.length === 1) {
          const inner = errors.filter((x) => within(x, e) && x.schemaPath.startsWith(`${e.schemaPath}/${fitting[0].i}/`) && !unions.some((u) => u !== e && within(u, e) && within(x, u)))
          if (inner.length > 0) {
            for (const x of inner) report(x)
            break
          }
        }
        const src = locate(document, e.instancePath).source
        const expected = expectedTypes(parent)
        const hint = expected.includes('a string') ? typeHint('string', e.data, src) : ''
        push(diagnosticAt(document, segments, `must be ${expected.join(' or ')}${found(e.data)}${hint}`))
        break
      }
      case 'const': {
        const allowed = (e.params as {allowedValue: unknown}).allowedValue
        const extra = segments.length === 1 && segments[0] === 'version' ? ': the only format version this anycloud reads' : ''
        push(diagnosticAt(document, segments, `must be ${JSON.stringify(allowed)}${e.data === null ? ', but the value is empty' : `, not ${JSON.stringify(e.data)}`}${extra}`))
        break
      }
      case 'enum': {
        const allowed = (e.params as {allowedValues: unknown[]}).allowedValues
        const suggestion = typeof e.data === 'string' ? didYouMean(e.data, allowed.map(String)) : undefined
        push(diagnosticAt(document, segments, `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}${suggestion ? ` (did you mean '${suggestion}'?)` : ''}`))
        break
      }
      case 'discriminator': {
        const p = e.params as {error: string; tag: string; tagValue: unknown}
        const branches = ((parent?.oneOf as Array<{properties: Record<string, {const: string}>}>) ?? []).map((b) => b.properties[p.tag]?.const)
        if (p.error === 'tag' && p.tagValue === undefined) {
          push(diagnosticAt(document, segments, `missing required key '${p.tag}': one of ${branches.join(', ')}`))
          break
        }
        const suggestion = typeof p.tagValue === 'string' ? didYouMean(p.tagValue, branches) : undefined
        const what = typeof p.tagValue === 'string' ? ` '${p.tagValue}'` : ''
        push(diagnosticAt(document, [...segments, p.tag], `unknown ${p.tag}${what}: must be one of ${branches.join(', ')}${suggestion ? ` (did you mean '${suggestion}'?)` : ''}`))
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
        push(diagnosticAt(document, segments, segments.at(-1) === 'profiles' && segments.length === 1 ? 'at least one profile is required: add a named profile under profiles:' : String(e.message)))
        break
      case 'minLength':
        push(diagnosticAt(document, segments, (e.params as {limit: number}).limit === 1 ? 'must not be empty' : `must be at least ${(e.params as {limit: number}).limit} characters long`))
        break
      case 'minItems':
        push(diagnosticAt(document, segments, (e.params as {limit: number}).limit === 1 ? 'must not be an empty list' : String(e.message)))
        break
      case 'uniqueItems': {
        const {i, j} = e.params as {i: number; j: number}
        push(diagnosticAt(document, segments, `must not list the same entry twice (items ${j} and ${i} are equal)`))
        break
      }
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum': {
        const {comparison, limit} = e.params as {comparison: string; limit: number}
        const words: Record<string, string> = {'>=': 'at least', '<=': 'at most', '>': 'more than', '<': 'less than'}
        push(diagnosticAt(document, segments, `must be ${words[comparison] ?? comparison} ${limit} (found ${String(e.data)})`))
        break
      }
      default: {
        // Keywords whose own messages already read well (never `pattern`: handled above, so a
        // secret's value is never echoed).
        if (e.keyword.startsWith('x-') || e.keyword === 'oneOf' || e.keyword === 'if') break
        push(diagnosticAt(document, segments, String(e.message)))
      }
    }
  }
  for (const e of errors) {
    // Errors inside a union are reported through the union; errors inside propertyNames through it.
    if (unions.some((u) => within(e, u))) continue
    if ((e as ErrorObject & {propertyName?: string}).propertyName !== undefined && e.keyword !== 'propertyNames') continue
    report(e)
  }
  return out
}
