import assert from 'node:assert/strict'

import {assertValidPlan, planValidator} from '../engine/plan-schema.js'
import {ANSI, configYaml, jobProfile, Project, type RunResult, seedBucket} from './cli.js'

const SUMMARY = /^(Plan: \d+ to create, \d+ to update, \d+ to replace, \d+ to delete\.|No changes\.)$/

/** stdout is exactly one JSON document (whitespace around it allowed). */
function oneJson(r: RunResult): unknown {
  const text = r.stdout.trim()
  assert.ok(text.startsWith('{') && text.endsWith('}'), `stdout is one JSON object:\n${r.stdout}`)
  return JSON.parse(text)
}

function noAnsi(r: RunResult, what: string): void {
  assert.doesNotMatch(r.stdout, ANSI, `${what}: no escape codes on stdout`)
  assert.doesNotMatch(r.stderr, ANSI, `${what}: no escape codes on stderr`)
}

describe('e2e: output discipline', function () {
  this.timeout(90_000)
  let project: Project | undefined
  const root = () => project!.path('cloud')
  const validate = planValidator()

  afterEach(async () => {
    await project?.cleanup()
    project = undefined
  })

  it('--json: stdout is exactly one JSON document for plan, apply, status and destroy; progress goes to stderr', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile()}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    const runs: Array<[string[], number]> = [
      [['plan', '--json'], 0],
      [['plan', '--json', '--detailed-exitcode'], 2],
      [['apply', '-y', '--json'], 0],
      [['status', '--json'], 0],
      [['state', 'list', '--json'], 0],
      [['plan', '--json', '--detailed-exitcode'], 0],
      [['destroy', '-y', '--json'], 0],
      [['status', '--json'], 0],
    ]
    for (const [args, code] of runs) {
      const r = await project.expect(args, code)
      const doc = oneJson(r) as Record<string, unknown>
      noAnsi(r, args.join(' '))
      if (args[0] === 'plan') {
        assert.equal(doc.formatVersion, '1')
        assertValidPlan(doc, validate)
      }
      if (args[0] === 'apply' || args[0] === 'destroy') {
        assert.ok(doc.plan && doc.outcome, `${args.join(' ')}: {plan, outcome}`)
        assertValidPlan(doc.plan, validate)
        assert.match(r.stderr, /: (creating|destroying)\.\.\./, 'progress is on stderr')
        assert.doesNotMatch(r.stdout, /creating\.\.\.|destroying\.\.\./)
      }
      if (args[0] === 'status') assert.ok(Array.isArray(doc.deployments))
      assert.doesNotMatch(r.stdout, /Refreshing state/, 'no progress on stdout')
    }
  })

  it('--json errors are one JSON document too (usage error, failed plan)', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile()}}), {noAnsi: true})
    const usage = await project.expect(['plan', '--json', 'nosuchprofile'], 3)
    assert.equal((oneJson(usage) as {error: {exitCode: number}}).error.exitCode, 3)
    const failed = await project.expect(['plan', '--json'], 1)
    const doc = oneJson(failed) as {error: {message: string}}
    assert.match(doc.error.message, /input bucket 'e2e-input' does not exist on credential 'laptop' \(local\)/)
  })

  it('with CI=true nothing anywhere carries an escape code: errors, help, status (every run of these tests checks it too)', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile()}}), {noAnsi: true})
    // No input bucket: the plan fails, so the error path is covered as well.
    for (const [args, code] of [[['plan'], 1], [['apply', '--bogus-flag'], 3], [['plan', 'nosuchprofile'], 3], [['apply', '--help'], 0], [['status'], 0], [['state', 'list'], 0]] as Array<[string[], number]>) {
      const r = await project.expect(args, code)
      noAnsi(r, args.join(' '))
    }
  })

  it('the human plan is a result: on stdout, ending with exactly one summary line; --markdown starts with it', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile(), other: jobProfile({command: ['sleep', '299']})}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    const human = await project.expect(['plan'], 0)
    assert.doesNotMatch(human.stdout, /Refreshing state/, 'progress is not on stdout')
    assert.match(human.stderr, /Refreshing state/, 'progress is on stderr')
    const lines = human.stdout.trimEnd().split('\n')
    assert.equal(lines.filter((l) => SUMMARY.test(l)).length, 1)
    assert.equal(lines.at(-1), 'Plan: 10 to create, 0 to update, 0 to replace, 0 to delete.')

    const md = await project.expect(['plan', '--markdown'], 0)
    assert.deepEqual(md.stdout.split('\n').slice(0, 3), ['### anycloud plan: e2e', '', '**Plan: 10 to create, 0 to update, 0 to replace, 0 to delete.**'])
    assert.match(md.stdout, /```diff\n/)
    assert.match(md.stdout, /^\+ job\.workload$/m)
    assert.match(md.stdout, /deployment `\(known after apply\)`/)

    await project.expect(['apply', '-y'], 0)
    const none = await project.expect(['plan'], 0)
    assert.equal(none.stdout.trimEnd().split('\n').at(-1), 'No changes.')
    assert.equal((await project.expect(['plan', '--markdown'], 0)).stdout.split('\n')[2], '**No changes.**')
    const destroyPlan = await project.expect(['plan', '--destroy'], 0)
    assert.equal(destroyPlan.stdout.trimEnd().split('\n').at(-1), 'Plan: 0 to create, 0 to update, 0 to replace, 10 to delete.')
  })

  it('state list / show / rm behave, and rm only forgets (the resource is untouched)', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile()}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    await project.expect(['apply', '-y'], 0)
    const listed = await project.expect(['state', 'list'], 0)
    assert.deepEqual(listed.stdout.trim().split('\n'), ['job.bootstrap', 'job.bucket.checkpoint', 'job.bucket.output', 'job.vm', 'job.workload'])
    const json = oneJson(await project.expect(['state', 'list', '--json'], 0)) as {resources: Array<{address: string; status: string}>; serial: number}
    assert.equal(json.resources.length, 5)
    assert.ok(json.resources.every((r) => r.status === 'created'))

    const shown = oneJson(await project.expect(['state', 'show', 'job.vm'], 0)) as {address: string; kind: string; deploymentId: string; id: string}
    assert.equal(shown.address, 'job.vm')
    assert.equal(shown.kind, 'vm')
    assert.equal(shown.deploymentId, project.state()!.deployments.job.id)
    const missing = await project.expect(['state', 'show', 'job.nothing'], 3)
    assert.match(missing.stderr, /no resource job\.nothing in state; addresses: job\.bootstrap, /)

    const serial = project.state()!.serial
    const rm = await project.expect(['state', 'rm', 'job.bucket.output'], 0)
    assert.match(rm.stdout, /Removed job\.bucket\.output from state/)
    assert.equal(project.state()!.serial, serial + 1)
    assert.equal(project.state()!.deployments.job.resources['job.bucket.output'], undefined)
    await project.expect(['state', 'rm', 'job.bucket.output'], 3)
    // The bucket still exists: the next plan adopts it rather than creating it.
    const plan = oneJson(await project.expect(['plan', '--json', '--detailed-exitcode'], 0)) as {changes: Array<{address: string; action: string; reason: string}>}
    const output = plan.changes.find((c) => c.address === 'job.bucket.output')!
    assert.equal(output.action, 'no-op')
    assert.match(output.reason, /already exists: adopted/)
    await project.expect(['apply', '-y'], 0)
    assert.equal(project.state()!.deployments.job.resources['job.bucket.output'].status, 'created', 'adopted back into state')
  })
})
