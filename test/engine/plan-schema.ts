import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {ValidateFunction} from 'ajv'

export const PLAN_SCHEMA_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'schemas', 'plan.schema.json')

/** schemas/plan.schema.json compiled by ajv in strict mode (a sloppy schema fails here). */
export function planValidator(): ValidateFunction {
  const require = createRequire(import.meta.url)
  const Ajv = require('ajv').default as typeof import('ajv').default
  const ajv = new Ajv({strict: true, allErrors: true, allowUnionTypes: true})
  return ajv.compile(JSON.parse(readFileSync(PLAN_SCHEMA_PATH, 'utf8')))
}

/** Throws with ajv's errors when `plan` does not validate. */
export function assertValidPlan(plan: unknown, validate: ValidateFunction = planValidator()): void {
  if (!validate(plan)) throw new Error(`the plan does not match schemas/plan.schema.json:\n${JSON.stringify(validate.errors, null, 2)}`)
}
