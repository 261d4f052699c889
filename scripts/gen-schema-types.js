#!/usr/bin/env node
// Generates src/config/schema-types.ts from schemas/anycloud.schema.json: the schema is the
// source of truth and the types derive from it. `--check` exits 1 when the committed file is stale
// (a test runs it, so the two can never drift apart).
import {readFileSync, writeFileSync} from 'node:fs'
import {compile} from 'json-schema-to-typescript'

const schemaPath = new URL('../schemas/anycloud.schema.json', import.meta.url)
const outPath = new URL('../src/config/schema-types.ts', import.meta.url)

export async function render() {
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8'))
  return compile(schema, 'AnycloudFile', {
    bannerComment: '/* eslint-disable */\n/** Generated from schemas/anycloud.schema.json by `npm run gen:types`. Do not edit. */',
    additionalProperties: false,
    unreachableDefinitions: true,
    style: {singleQuote: true, semi: false, printWidth: 120},
    format: true,
  })
}

const out = await render()
if (process.argv.includes('--check')) {
  const current = readFileSync(outPath, 'utf8')
  if (current !== out) {
    console.error('src/config/schema-types.ts is stale: run `npm run gen:types`')
    process.exit(1)
  }
} else {
  writeFileSync(outPath, out)
}
