import assert from 'node:assert/strict'
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {assertValidPlan, planValidator} from '../engine/plan-schema.js'
import {buckets, configYaml, jobProfile, machines, Project, seedBucket} from './cli.js'

const validatePlan = planValidator()

/** Parses `plan --json` output, checking it against schemas/plan.schema.json. */
function planOf(stdout: string): unknown {
  const plan = JSON.parse(stdout) as unknown
  assertValidPlan(plan, validatePlan)
  return plan
}

/** Two `local` credentials, each its own root, i.e. its own "cloud". */
const CREDENTIALS = {a: 'ca', b: 'cb'}
const ROOTS = Object.values(CREDENTIALS)

function twoClouds(overrides: Record<string, unknown> = {}): string {
  return configYaml({credentials: CREDENTIALS, profiles: {job: jobProfile({credentials: ['a', 'b'], inputBucket: 'in', outputBucket: 'out', command: ['sleep', '300'], ...overrides})}})
}

function fault(project: Project, root: string, value: Record<string, unknown>): void {
  writeFileSync(project.path(root, '.anycloud-fault.json'), JSON.stringify(value))
}

describe('e2e: several credentials (each local root its own cloud)', function () {
  this.timeout(90_000)
  let project: Project | undefined

  afterEach(async () => {
    await project?.cleanup(ROOTS)
    project = undefined
  })

  it('an input bucket missing on one listed credential fails the plan, naming profile, credential, provider and bucket', async () => {
    project = new Project(twoClouds(), {noAnsi: true})
    seedBucket(project.path('ca'), 'in')
    const r = await project.expect(['plan'], 1)
    assert.match(r.stderr, /job: input bucket 'in' does not exist on credential 'b' \(local\)/)
    assert.equal(project.state(), undefined, 'a failed plan writes no state')
    const json = await project.expect(['plan', '--json'], 1)
    const doc = JSON.parse(json.stdout) as {error: {message: string; exitCode: number}}
    assert.equal(doc.error.exitCode, 1)
    assert.match(doc.error.message, /'in'.*'b' \(local\)/)
    // apply refuses before any change.
    await project.expect(['apply', '-y'], 1)
    assert.deepEqual(machines(project.path('ca')), [])
    assert.deepEqual(buckets(project.path('ca')), ['in'])
    assert.deepEqual(buckets(project.path('cb')), [])
  })

  it('an output bucket on some listed credentials but not all fails the plan, saying where it exists and where not', async () => {
    project = new Project(twoClouds(), {noAnsi: true})
    seedBucket(project.path('ca'), 'in')
    seedBucket(project.path('cb'), 'in')
    seedBucket(project.path('ca'), 'out', {})
    const r = await project.expect(['plan'], 1)
    assert.match(r.stderr, /job: output bucket 'out' exists on 'a' \(local\) but not on 'b' \(local\)/)
  })

  it('an output bucket that exists nowhere is created where the workload lands, and later plans accept it', async () => {
    project = new Project(twoClouds(), {noAnsi: true})
    seedBucket(project.path('ca'), 'in')
    seedBucket(project.path('cb'), 'in')
    await project.expect(['apply', '-y'], 0)
    const dep = project.state()!.deployments.job
    assert.equal(dep.placement?.credential, 'a')
    assert.deepEqual(buckets(project.path('ca')), [dep.id, 'in', 'out'].sort())
    assert.deepEqual(buckets(project.path('cb')), ['in'])
    // The bucket anycloud made on 'a' is not a partial all-or-none set.
    const again = await project.expect(['plan', '--detailed-exitcode'], 0)
    assert.match(again.stdout, /^No changes\.$/m)
  })

  it('an expired credential: placement takes the next one and reports each attempt', async () => {
    project = new Project(twoClouds(), {noAnsi: true})
    seedBucket(project.path('ca'), 'in')
    seedBucket(project.path('cb'), 'in')
    fault(project, 'ca', {auth: 'expired'})
    const r = await project.expect(['apply', '-y'], 0)
    assert.match(r.stderr, /^job: a \(local, local\): auth-failed: .*expired/m)
    assert.match(r.stderr, /^job: b \(local, local\): ok$/m)
    assert.ok(r.stderr.indexOf('job: a (') < r.stderr.indexOf('job: b ('), 'attempts in the listed order')
    const dep = project.state()!.deployments.job
    assert.equal(dep.placement?.credential, 'b')
    assert.deepEqual(machines(project.path('cb')), [dep.id])
    assert.deepEqual(machines(project.path('ca')), [])
    assert.deepEqual(buckets(project.path('cb')), [dep.id, 'in', 'out'].sort(), 'output and checkpoint buckets where the VM landed')
    // JSON: the plan shows the placement.
    const plan = planOf((await project.expect(['plan', '--json'], 0)).stdout) as {profiles: Record<string, {placement: {credential: string}}>}
    assert.equal(plan.profiles.job.placement.credential, 'b')
  })

  it('every listed credential expired: the plan fails naming them all', async () => {
    project = new Project(twoClouds(), {noAnsi: true})
    seedBucket(project.path('ca'), 'in')
    seedBucket(project.path('cb'), 'in')
    fault(project, 'ca', {auth: 'expired'})
    fault(project, 'cb', {auth: 'invalid'})
    const r = await project.expect(['plan'], 1)
    assert.match(r.stderr, /job: a \(local, local\): auth-failed/)
    assert.match(r.stderr, /job: b \(local, local\): auth-failed/)
    assert.match(r.stderr, /no listed credential authenticates \(a, b\)/)
  })

  it('no capacity in zone local-a: the VM moves to local-b, and the move is reported and recorded', async () => {
    project = new Project(twoClouds(), {noAnsi: true})
    seedBucket(project.path('ca'), 'in')
    seedBucket(project.path('cb'), 'in')
    fault(project, 'ca', {capacity: ['local-a']})
    const r = await project.expect(['apply', '-y'], 0)
    assert.match(r.stderr, /^job: a \(local, local, local-a\): no-capacity: /m)
    assert.match(r.stderr, /^job: a \(local, local, local-b\): ok$/m)
    const dep = project.state()!.deployments.job
    assert.equal(dep.placement?.zone, 'local-b')
    const machine = JSON.parse(readFileSync(join(project.path('ca'), 'machines', dep.id, 'machine.json'), 'utf8')) as {zone: string}
    assert.equal(machine.zone, 'local-b')
    const status = JSON.parse((await project.expect(['status', '--json'], 0)).stdout) as {deployments: Array<{placement: {zone?: string}}>}
    assert.equal(status.deployments[0].placement.zone, 'local-b')
    // The zone the VM landed in is not drift.
    const again = await project.expect(['plan', '--detailed-exitcode'], 0)
    assert.match(again.stdout, /^No changes\.$/m)
  })

  it('no capacity anywhere on the credential: apply fails (exit 1) naming the zones tried, and leaves no machine', async () => {
    project = new Project(twoClouds({credentials: ['a']}), {noAnsi: true})
    seedBucket(project.path('ca'), 'in')
    fault(project, 'ca', {capacity: ['*']})
    const r = await project.expect(['apply', '-y'], 1)
    assert.match(r.stderr, /no capacity for job\.vm in local-a, local-b/)
    assert.match(r.stderr, /no capacity for job\.vm in [^\n]* \(credential 'a', cloud local\)/, 'the error ends naming the credential and the cloud')
    assert.match(r.stderr, /job\.bootstrap: skipped: job\.vm failed/)
    assert.deepEqual(machines(project.path('ca')), [])
  })

  it('a credential that expires between plan and apply: a fresh apply re-places; a saved plan is applied exactly as planned', async () => {
    project = new Project(twoClouds(), {noAnsi: true})
    seedBucket(project.path('ca'), 'in')
    seedBucket(project.path('cb'), 'in')
    await project.expect(['plan', '--out', 'p.json'], 0)
    const saved = JSON.parse(readFileSync(project.path('p.json'), 'utf8')) as {profiles: Record<string, {placement: {credential: string}}>}
    assert.equal(saved.profiles.job.placement.credential, 'a')
    fault(project, 'ca', {auth: 'expired'})

    // A fresh plan sees the expired credential and moves on.
    const fresh = planOf((await project.expect(['plan', '--json'], 0)).stdout) as {profiles: Record<string, {placement: {credential: string}}>}
    assert.equal(fresh.profiles.job.placement.credential, 'b')
    // The saved plan is not re-placed: it is applied as it was made (the local cloud accepts the
    // calls; on a real cloud the expired credential would fail them).
    await project.expect(['apply', 'p.json'], 0)
    assert.equal(project.state()!.deployments.job.placement?.credential, 'a')
    assert.equal(machines(project.path('ca')).length, 1)
    assert.deepEqual(machines(project.path('cb')), [])
  })

  it('two profiles, one failing: only its root cause fails, its dependents are skipped, the other converges; destroy PROFILE leaves the other alone', async () => {
    project = new Project(configYaml({
      credentials: CREDENTIALS,
      profiles: {
        bad: jobProfile({credentials: 'a', inputBucket: 'in', outputBucket: 'out-bad', command: ['sleep', '300']}),
        good: jobProfile({credentials: 'b', inputBucket: 'in', outputBucket: 'out-good', command: ['sleep', '300']}),
      },
    }), {noAnsi: true})
    seedBucket(project.path('ca'), 'in')
    seedBucket(project.path('cb'), 'in')
    const status = JSON.parse((await project.expect(['status', '--json'], 0)).stdout) as {deployments: Array<{profile: string; applied: boolean}>}
    assert.deepEqual(status.deployments.map((d) => [d.profile, d.applied]), [['bad', false], ['good', false]])
    fault(project, 'ca', {capacity: ['*']})
    const r = await project.expect(['apply', '-y', '--json'], 1)
    const out = JSON.parse(r.stdout) as {outcome: {done: string[]; failed: Array<{address: string; message: string}>; skipped: Array<{address: string; reason: string}>}}
    assert.deepEqual(out.outcome.failed.map((f) => f.address), ['bad.vm'], 'only the root cause is an error')
    assert.deepEqual(out.outcome.skipped.map((s) => s.address).sort(), ['bad.bootstrap', 'bad.workload'])
    assert.ok(out.outcome.done.includes('good.workload'))
    assert.equal(r.stderr.match(/ failed: /g)?.length, 1, 'one failure line on stderr')
    assert.equal(machines(project.path('cb')).length, 1)

    rmSync(project.path('ca', '.anycloud-fault.json'))
    await project.expect(['apply', '-y'], 0)
    assert.match((await project.expect(['plan', '--detailed-exitcode'], 0)).stdout, /^No changes\.$/m)
    const goodId = project.state()!.deployments.good.id
    await project.expect(['destroy', '-y', 'bad'], 0)
    assert.deepEqual(Object.keys(project.state()!.deployments), ['good'])
    assert.deepEqual(machines(project.path('ca')), [])
    assert.deepEqual(machines(project.path('cb')), [goodId])
    assert.match((await project.expect(['plan', '--detailed-exitcode', 'good'], 0)).stdout, /^No changes\.$/m)
  })

  it('a finished job stays where it ran: its credential expiring later moves nothing', async () => {
    project = new Project(twoClouds({command: ['sh', '-c', 'echo done > "$ANYCLOUD_OUTPUT/result.txt"'], persistBucket: true}), {noAnsi: true})
    seedBucket(project.path('ca'), 'in')
    seedBucket(project.path('cb'), 'in')
    await project.expect(['apply', '-y', '--wait'], 0)
    const id = project.state()!.deployments.job.id
    assert.deepEqual(buckets(project.path('ca')), [id, 'in', 'out'].sort())
    fault(project, 'ca', {auth: 'expired'})
    const plan = await project.expect(['plan', '--detailed-exitcode'], 0)
    assert.match(plan.stdout, /^No changes\.$/m)
    assert.doesNotMatch(plan.stdout + plan.stderr, /moves from credential/)
    // A changed spec runs again: then it is placed afresh, on the credential that works.
    project.write(twoClouds({command: ['sh', '-c', 'echo again > "$ANYCLOUD_OUTPUT/result.txt"'], persistBucket: true}))
    const rerun = planOf((await project.expect(['plan', '--json'], 0)).stdout) as {profiles: Record<string, {placement: {credential: string}}>}
    assert.equal(rerun.profiles.job.placement.credential, 'b')
  })
})
