#!/usr/bin/env node
// Pre-compiles schemas/anycloud.schema.json into src/config/schema-validator.generated.ts with ajv's
// standalone code generation: the CLI then neither imports nor compiles ajv at start-up (that was
// about half of `anycloud validate`'s cold start). `--check` exits 1 when the committed file is stale;
// a test runs it. The ajv options here are the single source of the validator's behaviour.
import {readFileSync, writeFileSync} from 'node:fs'
import Ajv from 'ajv'
import standaloneCode from 'ajv/dist/standalone/index.js'

const schema = JSON.parse(readFileSync(new URL('../schemas/anycloud.schema.json', import.meta.url), 'utf8'))
const outPath = new URL('../src/config/schema-validator.generated.ts', import.meta.url)

export const AJV_OPTIONS = {strict: true, allErrors: true, coerceTypes: false, allowUnionTypes: true, discriminator: true, verbose: true, useDefaults: false, code: {source: true, esm: true, lines: false}}

const ajv = new Ajv.default(AJV_OPTIONS)
ajv.addKeyword({keyword: 'x-secret', schemaType: 'boolean'})
ajv.addKeyword({keyword: 'x-message', schemaType: 'string'})
const validate = ajv.compile(schema)
// ajv's ESM output still calls require() for its tiny runtime helpers (ucs2length): give it one.
const header = "// @ts-nocheck\n/* eslint-disable */\n// Generated from schemas/anycloud.schema.json by `npm run gen:types`. Do not edit.\nimport {createRequire} from 'node:module'\nconst require = createRequire(import.meta.url)\n"
const code = header + standaloneCode.default(ajv, validate).replace(/^"use strict";/, '') + '\n'

if (process.argv.includes('--check')) {
  if (readFileSync(outPath, 'utf8') !== code) {
    console.error('src/config/schema-validator.generated.ts is stale: run `npm run gen:types`')
    process.exit(1)
  }
} else writeFileSync(outPath, code)
