import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import type {Change, Plan, PlanDiagnostic, ProfilePlan} from '../../src/engine/plan.js'
import type {Placement} from '../../src/model/resources.js'
import {loadPlan, savePlan} from '../../src/engine/plan-file.js'
import {renderPlanMarkdown} from '../../src/render/markdown.js'
import {renderPlanText} from '../../src/render/plan-text.js'
import {fixedPlan} from '../render/fixture-plan.js'
import {PLAN_SCHEMA_PATH, planValidator} from './plan-schema.js'
import {mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'

function walk(schema: unknown, path: string, visit: (node: Record<string, unknown>, path: string) => void): void {
  if (!schema || typeof schema !== 'object') return
  if (Array.isArray(schema)) return schema.forEach((s, i) => walk(s, `${path}/${i}`, visit))
  visit(schema as Record<string, unknown>, path)
  for (const [k, v] of Object.entries(schema)) if (k !== 'enum' && k !== 'const' && k !== 'required') walk(v, `${path}/${k}`, visit)
}

describe('engine: the plan as data', () => {
  const validate = planValidator()
  const check = (plan: unknown) => {
    const ok = validate(plan)
    assert.ok(ok, JSON.stringify(validate.errors, null, 2))
  }

  it('the schema is draft-07, closed (additionalProperties false) and describes every property', () => {
    const schema = JSON.parse(readFileSync(PLAN_SCHEMA_PATH, 'utf8')) as Record<string, unknown>
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#')
    walk(schema, '#', (node, path) => {
      if (node.type === 'object' && node.properties) assert.equal(node.additionalProperties, false, `${path}: additionalProperties false`)
      if (node.properties) {
        for (const [name, prop] of Object.entries(node.properties as Record<string, Record<string, unknown>>)) {
          assert.ok(typeof prop.description === 'string' || typeof prop.$ref === 'string', `${path}/properties/${name} has a description`)
        }
      }
    })
    for (const [name, def] of Object.entries(schema.definitions as Record<string, Record<string, unknown>>)) assert.equal(typeof def.description, 'string', `definitions/${name}`)
  })

  it('the schema has exactly the keys of the TypeScript types (a new field must be added to both)', () => {
    // Record<keyof T, true> fails to compile when a key is added to T and not listed here.
    const plan: Record<keyof Plan, true> = {formatVersion: true, state: true, profiles: true, changes: true, summary: true, diagnostics: true, scope: true, destroy: true}
    const change: Record<keyof Change, true> = {address: true, profile: true, kind: true, role: true, action: true, reason: true, waiting: true, credential: true, provider: true, name: true, dependsOn: true, before: true, after: true, observed: true}
    const profile: Record<keyof ProfilePlan, true> = {deploymentId: true, newDeployment: true, placement: true, phase: true, spot: true}
    const placement: Record<keyof Placement, true> = {credential: true, provider: true, region: true, zone: true, vmType: true, spot: true}
    const diagnostic: Record<keyof PlanDiagnostic, true> = {severity: true, message: true, profile: true}
    const schema = JSON.parse(readFileSync(PLAN_SCHEMA_PATH, 'utf8')) as {properties: object; definitions: Record<string, {properties: object}>}
    const keys = (o: object) => Object.keys(o).sort()
    assert.deepEqual(keys(schema.properties), keys(plan))
    assert.deepEqual(keys(schema.definitions.change.properties), keys(change))
    assert.deepEqual(keys(schema.definitions.profilePlan.properties), keys(profile))
    assert.deepEqual(keys(schema.definitions.placement.properties), keys(placement))
    assert.deepEqual(keys(schema.definitions.diagnostic.properties), keys(diagnostic))
  })

  it('a plan with every action validates', () => check(fixedPlan()))

  it('the schema rejects what the Plan type does not allow', () => {
    const bad: Array<[string, (p: Plan & Record<string, unknown>) => void]> = [
      ['extra top-level key', (p) => (p.extra = 1)],
      ['unknown action', (p) => ((p.changes[0] as unknown as Record<string, unknown>).action = 'mutate')],
      ['extra key in a change', (p) => ((p.changes[0] as unknown as Record<string, unknown>).secret = 'x')],
      ['numeric formatVersion', (p) => ((p as Record<string, unknown>).formatVersion = 1)],
      ['negative count', (p) => (p.summary.create = -1)],
      ['missing summary key', (p) => delete (p.summary as Partial<Plan['summary']>).replace],
      ['bad provider', (p) => ((p.profiles.train.placement as unknown as Record<string, unknown>).provider = 'oracle')],
      ['bad address', (p) => (p.changes[0].address = 'train.database')],
      ['bad severity', (p) => ((p.diagnostics[0] as unknown as Record<string, unknown>).severity = 'fatal')],
    ]
    for (const [what, mutate] of bad) {
      const p = structuredClone(fixedPlan()) as Plan & Record<string, unknown>
      mutate(p)
      assert.equal(validate(p), false, what)
    }
  })

  it('round-trips through JSON: deep-equal, and it renders identically', () => {
    const plan = fixedPlan()
    const back = JSON.parse(JSON.stringify(plan)) as Plan
    assert.deepEqual(back, plan)
    assert.equal(renderPlanText(back), renderPlanText(plan))
    assert.equal(renderPlanText(back, {color: true}), renderPlanText(plan, {color: true}))
    assert.equal(renderPlanMarkdown(back), renderPlanMarkdown(plan))
  })

  it('a saved plan file is the same JSON, mode 0600, and loads back equal', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anycloud-plan-'))
    try {
      const file = join(dir, 'sub', 'p.json')
      savePlan(file, fixedPlan())
      assert.equal(statSync(file).mode & 0o777, 0o600)
      const loaded = loadPlan(file)
      assert.deepEqual(loaded, fixedPlan())
      check(JSON.parse(readFileSync(file, 'utf8')))
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('loading something that is not a plan is a usage error (exit 3)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anycloud-plan-'))
    try {
      for (const [name, text] of [['garbage.json', '{nope'], ['other.json', '{"formatVersion": "2", "changes": [], "profiles": {}}']]) {
        const file = join(dir, name)
        savePlan(file, fixedPlan())
        writeFileSync(file, text)
        assert.throws(() => loadPlan(file), (e: unknown) => (e as {exitCode: number}).exitCode === 3)
      }
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
