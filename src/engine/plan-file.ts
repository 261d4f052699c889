import {readFileSync} from 'node:fs'

import {UsageError} from '../errors/index.js'
import {writeFileAtomic} from '../util/atomic-write.js'
import type {Plan} from './plan.js'

/** Saves a plan (`plan --out`): the same JSON `plan --json` prints. Holds no secret values. */
export function savePlan(path: string, plan: Plan): void {
  writeFileAtomic(path, JSON.stringify(plan, null, 2) + '\n', {mode: 0o600, dirMode: 0o755})
}

export function loadPlan(path: string): Plan {
  let plan: Plan
  try {
    plan = JSON.parse(readFileSync(path, 'utf8')) as Plan
  } catch (error) {
    throw new UsageError(`${path}: not a saved anycloud plan (${(error as Error).message})`)
  }
  if (plan?.formatVersion !== '1' || !Array.isArray(plan.changes) || !plan.profiles) throw new UsageError(`${path}: not a saved anycloud plan (formatVersion 1)`)
  return plan
}
