import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'

import {assertValidPlan, planValidator} from '../engine/plan-schema.js'
import {buckets, configYaml, jobProfile, machines, Project, seedBucket} from './cli.js'

interface PlanDoc {
  state: {lineage: string | null; serial: number}
  profiles: Record<string, {deploymentId: string}>
  changes: Array<{address: string; action: string}>
  summary: Record<string, number>
}

describe('e2e: saved plans, approval and --wait', function () {
  this.timeout(90_000)
  let project: Project | undefined
  const validate = planValidator()
  const root = () => project!.path('cloud')

  afterEach(async () => {
    await project?.cleanup()
    project = undefined
  })

  it('plan --out then apply PLANFILE applies exactly that plan; both JSON forms match the schema', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile()}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    const planned = await project.expect(['plan', '--out', 'p.json', '--detailed-exitcode'], 2)
    assert.match(planned.stderr, /Saved the plan to p\.json/)
    const saved = JSON.parse(readFileSync(project.path('p.json'), 'utf8')) as PlanDoc
    assertValidPlan(saved, validate)
    const printed = JSON.parse((await project.expect(['plan', '--json'], 0)).stdout) as PlanDoc
    assertValidPlan(printed, validate)
    assert.deepEqual(printed.changes.map((c) => [c.address, c.action]), saved.changes.map((c) => [c.address, c.action]))

    const applied = await project.expect(['apply', 'p.json', '--json'], 0)
    const out = JSON.parse(applied.stdout) as {plan: PlanDoc; outcome: {done: string[]; failed: unknown[]; skipped: unknown[]; interrupted: boolean}}
    assertValidPlan(out.plan, validate)
    assert.deepEqual(out.plan, saved, 'the saved plan, not a new one')
    const planned_ = saved.changes.filter((c) => !['no-op', 'read'].includes(c.action)).map((c) => c.address).sort()
    assert.deepEqual([...out.outcome.done].sort(), planned_)
    assert.deepEqual(out.outcome.failed, [])
    assert.equal(project.state()!.deployments.job.id, saved.profiles.job.deploymentId, 'the deployment id the plan showed')
    assert.match((await project.expect(['plan', '--detailed-exitcode'], 0)).stdout, /^No changes\.$/m)

    // A saved destroy plan is applied the same way.
    await project.expect(['plan', '--destroy', '--out', 'd.json'], 0)
    const destroyPlan = JSON.parse(readFileSync(project.path('d.json'), 'utf8')) as PlanDoc & {destroy?: boolean}
    assertValidPlan(destroyPlan, validate)
    assert.equal(destroyPlan.destroy, true)
    await project.expect(['apply', 'd.json'], 0)
    assert.deepEqual(project.state()!.deployments, {})
    assert.deepEqual(machines(root()), [])
  })

  it('a saved plan is refused (exit 5) once another run moved the state, and changes nothing', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile()}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    await project.expect(['plan', '--out', 'first.json'], 0)
    await project.expect(['apply', '-y'], 0)
    const before = project.state()!
    const stale = await project.expect(['apply', 'first.json'], 5)
    assert.match(stale.stderr, /first\.json is stale|lineage/)
    assert.deepEqual(project.state(), before)
    // And after a plan made on this state, another apply moves it again.
    await project.expect(['plan', '--out', 'second.json', '--replace', 'job.workload'], 0)
    await project.expect(['apply', '-y', '--replace', 'job.bootstrap'], 0)
    const r = await project.expect(['apply', 'second.json', '--json'], 5)
    const doc = JSON.parse(r.stdout) as {error: {code: string; exitCode: number; message: string}}
    assert.equal(doc.error.exitCode, 5)
    assert.equal(doc.error.code, 'plan.stale')
    assert.match(doc.error.message, /serial/)
  })

  it('a saved plan for a profile edited since is refused (exit 5)', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile()}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    await project.expect(['plan', '--out', 'p.json'], 0)
    project.write(configYaml({profiles: {job: jobProfile({command: ['sleep', '301']})}}))
    const r = await project.expect(['apply', 'p.json'], 5)
    assert.match(r.stderr, /profile 'job' changed/)
    assert.deepEqual(machines(root()), [])
  })

  it('apply without -y in a non-interactive session refuses (exit 3) before touching anything; so does destroy', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile()}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    const ci = await project.expect(['apply'], 3)
    assert.match(ci.stderr, /refusing to apply without -y\/--auto-approve in a non-interactive session/)
    // Not CI, but stdin is not a terminal (a pipe): still non-interactive.
    await project.expect(['apply'], 3, {env: {CI: undefined}, input: 'yes\n'})
    const json = await project.expect(['apply', '--json'], 3)
    assert.equal((JSON.parse(json.stdout) as {error: {code: string}}).error.code, 'usage.needs-approval')
    assert.equal(project.state(), undefined)
    assert.deepEqual(machines(root()), [])
    await project.expect(['destroy'], 3)
  })

  it('apply --wait exits 1 when the workload fails, and tears its machine down', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile({command: ['sh', '-c', 'echo failing; exit 3']})}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    const r = await project.expect(['apply', '-y', '--wait'], 1)
    assert.match(r.stdout, /job: workload failed \(exit 3\)/)
    const dep = project.state()!.deployments.job
    assert.equal(dep.workload?.phase, 'failed')
    assert.equal(dep.workload?.exitCode, 3)
    assert.deepEqual(machines(root()), [], 'the failed job\'s VM is torn down (persist is off)')
    assert.deepEqual(buckets(root()), ['e2e-input', 'e2e-output'], 'the checkpoint bucket is deleted; the output bucket stays until destroy')
    // A failed job is not retried by the next apply: the plan has nothing to do.
    assert.match((await project.expect(['plan', '--detailed-exitcode'], 0)).stdout, /^No changes\.$/m)
    const json = await project.expect(['status', '--json'], 0)
    const status = JSON.parse(json.stdout) as {deployments: Array<{workload: {phase: string; exitCode?: number}}>}
    assert.deepEqual(status.deployments[0].workload.phase, 'failed')
    assert.equal(status.deployments[0].workload.exitCode, 3)
  })

  it('apply --wait --json: one JSON document with the workload outcome', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile({command: ['true']})}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    const r = await project.expect(['apply', '-y', '--wait', '--json'], 0)
    const doc = JSON.parse(r.stdout) as {workloads: Record<string, {phase: string; exitCode?: number}>}
    assert.deepEqual(doc.workloads, {job: {phase: 'completed', exitCode: 0}})
    assert.match(r.stderr, /job\.workload: creating/, 'progress on stderr')
  })

  it('sensitive values: salted by the lineage the plan names; a plan saved with no state applies, then no changes; a changed secret is an update', async () => {
    const yaml = configYaml({profiles: {job: jobProfile({env: {TOKEN: '${env:E2E_TOKEN}'}})}})
    project = new Project(yaml, {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    const env = {E2E_TOKEN: 'hunter2'}
    await project.expect(['plan', '--out', 'p.json'], 0, {env})
    type Changes = Omit<PlanDoc, 'changes'> & {changes: Array<{address: string; action: string; after?: {env?: Record<string, string>}}>}
    const saved = JSON.parse(readFileSync(project.path('p.json'), 'utf8')) as Changes
    assertValidPlan(saved, validate)
    assert.match(saved.state.lineage ?? '', /^[0-9a-f-]{36}$/, 'a plan made with no state names the lineage the state will get')
    const marker = saved.changes.find((c) => c.address === 'job.workload')!.after!.env!.TOKEN
    assert.match(marker, /^\(sensitive\):[0-9a-f]{12}$/)
    assert.ok(!createHash('sha256').update('hunter2').digest('hex').startsWith(marker.slice(12)), 'not the plain sha256 of the secret')

    await project.expect(['apply', 'p.json'], 0, {env})
    const state = project.state()!
    assert.equal(state.lineage, saved.state.lineage, 'the state got the lineage the plan named')
    assert.ok(JSON.stringify(state).includes(marker) && !JSON.stringify(state).includes('hunter2'))
    assert.match((await project.expect(['plan', '--detailed-exitcode'], 0, {env})).stdout, /^No changes\.$/m)

    // Another lineage (another project directory) holds the same secret under another marker.
    const other = new Project(yaml, {noAnsi: true})
    try {
      seedBucket(other.path('cloud'), 'e2e-input')
      const otherPlan = JSON.parse((await other.expect(['plan', '--json', '--detailed-exitcode'], 2, {env})).stdout) as typeof saved
      assert.notEqual(otherPlan.changes.find((c) => c.address === 'job.workload')!.after!.env!.TOKEN, marker)
    } finally {
      await other.cleanup()
    }

    // A changed secret shows as a change of the workload (its env), without showing either value.
    const changed = await project.expect(['plan', '--json', '--detailed-exitcode'], 2, {env: {E2E_TOKEN: 'hunter3'}})
    const plan = JSON.parse(changed.stdout) as Changes
    const workload = plan.changes.find((c) => c.address === 'job.workload')!
    assert.ok(['update', 'replace'].includes(workload.action), workload.action)
    assert.notEqual(workload.after!.env!.TOKEN, marker)
    assert.ok(!changed.stdout.includes('hunter'))
    await project.expect(['destroy', '-y'], 0, {env})
  })
})
