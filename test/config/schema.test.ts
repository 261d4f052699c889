import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'

import {fileSchema, schemaValidator} from '../../src/config/schema-check.js'
import {REPO} from './cli-helpers.js'

const require = createRequire(import.meta.url)
type Schema = Record<string, unknown>

/** ajv in strict mode with anycloud's two annotation keywords, as the validator is built. */
function strictAjv() {
  const Ajv = require('ajv').default as typeof import('ajv').default
  const ajv = new Ajv({strict: true, allErrors: true, allowUnionTypes: true, discriminator: true})
  ajv.addKeyword({keyword: 'x-secret', schemaType: 'boolean'})
  ajv.addKeyword({keyword: 'x-message', schemaType: 'string'})
  return ajv
}

const committed = (): Schema => JSON.parse(readFileSync(join(REPO, 'schemas', 'anycloud.schema.json'), 'utf8')) as Schema

/** Every subschema with its JSON pointer. */
function walk(schema: unknown, at: string, visit: (s: Schema, at: string) => void): void {
  if (Array.isArray(schema)) {
    schema.forEach((s, i) => walk(s, `${at}/${i}`, visit))
    return
  }
  if (!schema || typeof schema !== 'object') return
  const s = schema as Schema
  visit(s, at)
  for (const key of ['properties', 'definitions', 'patternProperties']) {
    if (s[key] && typeof s[key] === 'object') for (const [k, v] of Object.entries(s[key] as Schema)) walk(v, `${at}/${key}/${k}`, visit)
  }
  for (const key of ['items', 'additionalProperties', 'propertyNames', 'not', 'if', 'then', 'else']) {
    if (s[key] && typeof s[key] === 'object') walk(s[key], `${at}/${key}`, visit)
  }
  for (const key of ['anyOf', 'oneOf', 'allOf']) if (Array.isArray(s[key])) walk(s[key], `${at}/${key}`, visit)
}

function resolveRef(root: Schema, s: Schema): Schema {
  if (typeof s.$ref !== 'string') return s
  const target = s.$ref.replace(/^#\//, '').split('/').reduce<unknown>((v, k) => (v as Schema)[k], root)
  return target as Schema
}

describe('the anycloud.yaml JSON Schema', () => {
  it('is the file the validator uses', () => {
    assert.deepEqual(fileSchema(), committed())
  })

  it('compiles in ajv strict mode', () => {
    assert.doesNotThrow(() => strictAjv().compile(committed()))
  })

  it('strict mode does reject a developer typo in a keyword (the check can fail)', () => {
    const broken = structuredClone(committed())
    ;((broken.definitions as Schema).profile as {properties: Schema}).properties.region = {type: 'string', descripton: 'typo'}
    assert.throws(() => strictAjv().compile(broken), /strict mode: unknown keyword: "descripton"/)
  })

  it('documents every property', () => {
    const root = committed()
    const missing: string[] = []
    walk(root, '#', (s, at) => {
      for (const [name, prop] of Object.entries((s.properties as Record<string, Schema>) ?? {})) {
        // A $ref property is documented by the definition it points to.
        const description = prop.description ?? resolveRef(root, prop).description
        if (typeof description !== 'string' || description.trim().length < 5) missing.push(`${at}/properties/${name}`)
      }
    })
    assert.deepEqual(missing, [])
  })

  it('closes every object schema: additionalProperties false, or a schema for map values', () => {
    const open: string[] = []
    let objects = 0
    walk(committed(), '#', (s, at) => {
      if (s.type !== 'object') return
      objects++
      if (s.properties) {
        if (s.additionalProperties !== false) open.push(`${at}: has properties but additionalProperties is ${JSON.stringify(s.additionalProperties)}`)
      } else if (Array.isArray(s.oneOf)) {
        // A discriminated union: each branch is checked as an object schema of its own.
        for (const branch of s.oneOf as Schema[]) if (branch.type !== 'object') open.push(`${at}: a oneOf branch is not an object schema`)
      } else if (!s.additionalProperties || typeof s.additionalProperties !== 'object') {
        open.push(`${at}: a map without a schema for its values`)
      }
    })
    assert.ok(objects >= 15, `only ${objects} object schemas found: the walk is broken`)
    assert.deepEqual(open, [])
  })

  it('the committed src/config/schema-types.ts matches a fresh generation', () => {
    const r = spawnSync(process.execPath, [join(REPO, 'scripts', 'gen-schema-types.js'), '--check'], {cwd: REPO, encoding: 'utf8'})
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`)
  })

  it('the validator in use accepts a valid document and rejects an invalid one', () => {
    const validate = schemaValidator()
    assert.equal(validate({version: 1, profiles: {p: {command: 'x'}}}), true)
    assert.equal(validate({version: 1, profiles: {p: {command: 'x', regoin: 'x'}}}), false)
    assert.equal(validate({version: 1, profiles: {p: {command: 'x', spot: 'yes'}}}), false)
  })
})
