import assert from 'node:assert/strict'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {Plan} from '../../src/engine/plan.js'
import {renderPlanMarkdown} from '../../src/render/markdown.js'
import {renderPlanText} from '../../src/render/plan-text.js'
import {fixedPlan} from './fixture-plan.js'

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'golden')

/**
 * Compares `actual` with the golden file. `UPDATE_GOLDEN=1` rewrites it instead — never in CI,
 * where a golden update would silently bless whatever the code renders.
 */
function golden(name: string, actual: string): void {
  const path = join(GOLDEN, name)
  if (process.env.UPDATE_GOLDEN === '1') {
    if (process.env.CI) throw new Error('UPDATE_GOLDEN must not be set in CI')
    writeFileSync(path, actual)
    return
  }
  assert.ok(existsSync(path), `${path} is missing: run the test once with UPDATE_GOLDEN=1 and review the file`)
  assert.equal(actual, readFileSync(path, 'utf8'), `${name} differs from the golden file (if the change is intended: UPDATE_GOLDEN=1, then review the diff)`)
}

function noChanges(): Plan {
  const plan = fixedPlan()
  const changes = plan.changes.map((c) => ({...c, action: c.action === 'read' ? ('read' as const) : ('no-op' as const), reason: 'up to date'}))
  return {...plan, changes, summary: {create: 0, update: 0, replace: 0, delete: 0}, diagnostics: []}
}

function destroyPlan(): Plan {
  const plan = fixedPlan()
  const changes = plan.changes.filter((c) => c.action !== 'read').map((c) => ({...c, action: 'delete' as const, reason: 'destroy', after: null}))
  return {...plan, changes, summary: {create: 0, update: 0, replace: 0, delete: changes.length}, diagnostics: [], destroy: true}
}

describe('render: golden files', () => {
  it('the human plan', () => golden('plan.txt', renderPlanText(fixedPlan())))
  it('the human plan with colour (a terminal)', () => golden('plan-color.txt', renderPlanText(fixedPlan(), {color: true})))
  it('the markdown plan', () => golden('plan.md', renderPlanMarkdown(fixedPlan(), {project: 'acme'})))
  it('a plan with no changes', () => golden('no-changes.txt', renderPlanText(noChanges())))
  it('a destroy plan', () => golden('destroy.txt', renderPlanText(destroyPlan())))
  it('the golden files themselves hold what the contract says', () => {
    const text = readFileSync(join(GOLDEN, 'plan.txt'), 'utf8')
    assert.equal(text.trimEnd().split('\n').at(-1), 'Plan: 2 to create, 1 to update, 3 to replace, 2 to delete.')
    assert.doesNotMatch(text, /\u001B\[/)
    assert.doesNotMatch(text, /specHash/, 'internal hashes are not shown')
    assert.doesNotMatch(text, /eval\.workload|bucket\.checkpoint.*up to date/, 'no-ops are not listed')
    assert.match(readFileSync(join(GOLDEN, 'plan-color.txt'), 'utf8'), /\u001B\[32m  \+ train\.bucket\.output\u001B\[0m/)
    assert.equal(readFileSync(join(GOLDEN, 'no-changes.txt'), 'utf8'), 'No changes.\n')
    assert.equal(readFileSync(join(GOLDEN, 'destroy.txt'), 'utf8').trimEnd().split('\n').at(-1), 'Plan: 0 to create, 0 to update, 0 to replace, 10 to delete.')
    assert.deepEqual(readFileSync(join(GOLDEN, 'plan.md'), 'utf8').split('\n').slice(0, 3), ['### anycloud plan: acme', '', '**Plan: 2 to create, 1 to update, 3 to replace, 2 to delete.**'])
  })
})
