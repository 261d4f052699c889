import assert from 'node:assert/strict'
import {existsSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import {assertValidPlan, planValidator} from '../engine/plan-schema.js'
import {buckets, configYaml, jobProfile, liveSupervisors, machines, processesUnder, Project, seedBucket, until} from './cli.js'

const validatePlan = planValidator()

/** Parses `plan --json` output, checking it against schemas/plan.schema.json. */
function planOf(stdout: string): unknown {
  const plan = JSON.parse(stdout) as unknown
  assertValidPlan(plan, validatePlan)
  return plan
}

const SUMMARY = /^(Plan: \d+ to create, \d+ to update, \d+ to replace, \d+ to delete\.|No changes\.)$/

/** The summary line a human plan ends with (the last non-empty stdout line of `plan`). */
function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1) ?? ''
}

interface JsonChange {
  address: string
  action: string
  reason: string
}

function visible(plan: {changes: JsonChange[]}): Array<[string, string]> {
  return plan.changes.filter((c) => c.action !== 'no-op' && c.action !== 'read').map((c) => [c.address, c.action])
}

describe('e2e: lifecycle on the local provider', function () {
  this.timeout(90_000)
  let project: Project | undefined
  const root = () => project!.path('cloud')

  afterEach(async () => {
    await project?.cleanup()
    project = undefined
  })

  it('apply → status → no changes → edit → exact plan → apply → destroy leaves nothing behind', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile()}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input', {'data.txt': 'one two three\n'})

    const applied = await project.expect(['apply', '-y'], 0)
    assert.match(applied.stdout, /^Apply complete: 5 done, 0 kept, 0 failed, 0 skipped\.$/m)
    const state = project.state()!
    const dep = state.deployments.job
    assert.match(dep.id, /^e2e-job-[a-z0-9]{6}$/)
    assert.deepEqual(Object.keys(dep.resources).sort(), ['job.bootstrap', 'job.bucket.checkpoint', 'job.bucket.output', 'job.vm', 'job.workload'])
    assert.ok(Object.values(dep.resources).every((r) => r.status === 'created'))
    assert.deepEqual(machines(root()), [dep.id])
    assert.deepEqual(buckets(root()), [dep.id, 'e2e-input', 'e2e-output'].sort())
    await until('the report in the output bucket', () => existsSync(join(root(), 'buckets', 'e2e-output', 'report.txt')))

    const status = await project.expect(['status', '--json'], 0)
    const doc = JSON.parse(status.stdout) as {project: string; deployments: Array<{profile: string; deploymentId: string; workload: {phase: string}; address?: string; resources: Array<{address: string; exists: boolean}>}>}
    assert.equal(doc.project, 'e2e')
    assert.equal(doc.deployments.length, 1)
    assert.equal(doc.deployments[0].deploymentId, dep.id)
    assert.ok(['pending', 'running'].includes(doc.deployments[0].workload.phase), doc.deployments[0].workload.phase)
    assert.equal(doc.deployments[0].address, join(root(), 'machines', dep.id))
    assert.ok(doc.deployments[0].resources.every((r) => r.exists), JSON.stringify(doc.deployments[0].resources))

    const clean = await project.expect(['plan', '--detailed-exitcode'], 0)
    assert.equal(clean.stdout, 'No changes.\n', 'the plan is the whole of stdout')

    const supervisor = liveSupervisors(root())
    assert.equal(supervisor.length, 1)
    project.write(configYaml({profiles: {job: jobProfile({command: ['sh', '-c', 'echo changed > "$ANYCLOUD_OUTPUT/changed.txt"; exec sleep 300']})}}))
    const changed = await project.expect(['plan', '--detailed-exitcode'], 2)
    assert.equal(lastLine(changed.stdout), 'Plan: 0 to create, 0 to update, 1 to replace, 0 to delete.')
    assert.match(changed.stdout, /# job\.workload must be replaced: command changed/)
    const json = planOf((await project.expect(['plan', '--json', '--detailed-exitcode'], 2)).stdout) as {changes: JsonChange[]}
    // One rule for every provider: a changed command re-runs the workload (which writes its job files); nothing else moves.
    assert.deepEqual(visible(json), [['job.workload', 'replace']])
    const workload = json.changes.find((c) => c.address === 'job.workload')!
    assert.match(workload.reason, /\bcommand\b/)

    await project.expect(['apply', '-y'], 0)
    await until('the new command to run', () => existsSync(join(root(), 'buckets', 'e2e-output', 'changed.txt')))
    assert.equal(lastLine((await project.expect(['plan', '--detailed-exitcode'], 0)).stdout), 'No changes.')
    const now = liveSupervisors(root())
    assert.equal(now.length, 1, 'one supervisor after the replace')
    assert.notEqual(now[0], supervisor[0], 'the workload was re-started')
    assert.equal(project.state()!.deployments.job.id, dep.id, 'the deployment id is stable')

    const destroyed = await project.expect(['destroy', '-y'], 0)
    assert.match(destroyed.stdout, /Destroy complete/)
    assert.deepEqual(project.state()!.deployments, {})
    assert.deepEqual(machines(root()), [])
    assert.deepEqual(buckets(root()), ['e2e-input', 'e2e-output'], 'no checkpoint bucket; input untouched; output kept (it holds data)')
    assert.equal(readFileSync(join(root(), 'buckets', 'e2e-input', 'data.txt'), 'utf8'), 'one two three\n')
    assert.ok(existsSync(join(root(), 'buckets', 'e2e-output', 'report.txt')))
    assert.deepEqual(processesUnder(root()), [], 'no process of the deployment survives destroy')
    assert.equal(lastLine((await project.expect(['plan', '--destroy'], 0)).stdout), 'No changes.')
  })

  it('apply twice in a row: the second plan is "No changes." and touches nothing', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile()}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    await project.expect(['apply', '-y'], 0)
    const before = project.state()!
    const pid = liveSupervisors(root())
    const again = await project.expect(['apply', '-y'], 0)
    assert.match(again.stdout, /^No changes\.$/m)
    assert.doesNotMatch(again.stderr, /creating|replacing|destroying|updating/)
    assert.deepEqual(liveSupervisors(root()), pid)
    assert.deepEqual(project.state()!.deployments, before.deployments)
  })

  it('an empty output bucket made by anycloud is deleted by destroy; a user-made one never is', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile({command: ['sleep', '300']}), other: jobProfile({command: ['sleep', '300'], outputBucket: 'users-own'})}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    seedBucket(root(), 'users-own', {})
    await project.expect(['apply', '-y'], 0)
    await project.expect(['destroy', '-y'], 0)
    assert.deepEqual(buckets(root()), ['e2e-input', 'users-own'])
    assert.deepEqual(machines(root()), [])
  })

  it('a completed workload is not re-run; the next apply tears its VM and checkpoint bucket down', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile({command: ['sh', '-c', 'echo ran >> "$ANYCLOUD_OUTPUT/runs.txt"']})}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    await project.expect(['apply', '-y'], 0)
    const id = project.state()!.deployments.job.id
    await until('the workload to complete', async () => JSON.parse((await project!.expect(['status', '--json'], 0)).stdout).deployments[0].workload.phase === 'completed')

    const plan = planOf((await project.expect(['plan', '--json', '--detailed-exitcode'], 2)).stdout) as {changes: JsonChange[]; profiles: Record<string, {phase: string}>}
    assert.equal(plan.profiles.job.phase, 'done')
    assert.deepEqual(visible(plan), [['job.bucket.checkpoint', 'delete'], ['job.vm', 'delete'], ['job.bootstrap', 'delete']])
    assert.match(plan.changes.find((c) => c.address === 'job.vm')!.reason, /completed \(exit 0\).*persist is off/)
    assert.match(plan.changes.find((c) => c.address === 'job.bucket.checkpoint')!.reason, /persistBucket is off/)

    const teardown = await project.expect(['apply', '-y'], 0)
    assert.doesNotMatch(teardown.stderr, /job\.workload: (creating|replacing)/)
    assert.deepEqual(machines(root()), [])
    assert.deepEqual(buckets(root()), ['e2e-input', 'e2e-output'])
    const again = await project.expect(['apply', '-y'], 0)
    assert.match(again.stdout, /^No changes\.$/m)
    assert.deepEqual(machines(root()), [], 'not re-run')
    assert.equal(readFileSync(join(root(), 'buckets', 'e2e-output', 'runs.txt'), 'utf8'), 'ran\n')
    const st = project.state()!.deployments.job
    assert.equal(st.id, id)
    assert.equal(st.workload?.phase, 'completed')
  })

  it('persist keeps the VM and persistBucket the checkpoint bucket after completion; destroy removes the VM and keeps the bucket', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile({command: ['true'], persist: true, persistBucket: true})}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    await project.expect(['apply', '-y', '--wait'], 0)
    const id = project.state()!.deployments.job.id
    assert.deepEqual(machines(root()), [id], 'persist: the VM stays')
    assert.ok(buckets(root()).includes(id), 'persistBucket: the checkpoint bucket stays')
    assert.deepEqual(liveSupervisors(root()), [], 'the workload is not running')
    const plan = await project.expect(['plan', '--detailed-exitcode'], 0)
    assert.equal(lastLine(plan.stdout), 'No changes.')

    // Drift on a finished deployment: nothing syncs any more, so a deleted output bucket stays deleted.
    rmSync(join(root(), 'buckets', 'e2e-output'), {recursive: true, force: true})
    const drift = planOf((await project.expect(['plan', '--json', '--detailed-exitcode'], 2)).stdout) as {changes: JsonChange[]}
    assert.deepEqual(visible(drift), [['job.bucket.output', 'create']])
    assert.match(drift.changes.find((c) => c.address === 'job.bucket.output')!.reason, /no longer exists/)

    const destroyed = await project.expect(['destroy', '-y'], 0)
    assert.match(destroyed.stdout + destroyed.stderr, /persistBucket/)
    assert.deepEqual(machines(root()), [])
    assert.deepEqual(buckets(root()), ['e2e-input', id].sort(), 'persistBucket keeps the checkpoint bucket through destroy; the output bucket was never re-made')
    assert.deepEqual(project.state()!.deployments, {}, 'and state no longer tracks it')
  })

  it('apply --replace ADDRESS re-creates that resource (and what runs on it), nothing else', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile()}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    await project.expect(['apply', '-y'], 0)
    const before = project.state()!.deployments.job
    const pid = liveSupervisors(root())

    const plan = planOf((await project.expect(['plan', '--json', '--replace', 'job.bootstrap'], 0)).stdout) as {changes: JsonChange[]}
    assert.deepEqual(visible(plan), [['job.bootstrap', 'replace'], ['job.workload', 'replace']])
    assert.match(plan.changes.find((c) => c.address === 'job.bootstrap')!.reason, /--replace/)

    const r = await project.expect(['apply', '-y', '--replace', 'job.vm'], 0)
    assert.match(r.stdout, /Plan: 0 to create, 0 to update, 3 to replace, 0 to delete\./)
    assert.match(r.stdout, /# job\.vm must be replaced: replacement requested with --replace/)
    const after = project.state()!.deployments.job
    assert.equal(after.id, before.id)
    assert.notEqual(after.resources['job.vm'].attributes, undefined)
    assert.equal(after.resources['job.bucket.output'].id, before.resources['job.bucket.output'].id)
    const now = liveSupervisors(root())
    assert.equal(now.length, 1)
    assert.notEqual(now[0], pid[0])
    assert.equal(lastLine((await project.expect(['plan', '--detailed-exitcode'], 0)).stdout), 'No changes.')

    const bad = await project.expect(['plan', '--replace', 'nope.vm'], 3)
    assert.match(bad.stderr, /no profile 'nope'/)
    const malformed = await project.expect(['apply', '-y', '--replace', 'job.bucket.cache'], 3)
    assert.match(malformed.stderr, /--replace job\.bucket\.cache: not a resource address/)
    // Well-formed, but a kind the local provider does not declare (an identity is a cloud's): refused, naming what is there.
    const valid = 'Valid addresses: job.bucket.input, job.bucket.output, job.bucket.checkpoint, job.vm, job.bootstrap, job.workload.'
    const unknown = await project.expect(['plan', '--replace', 'job.identity'], 3)
    assert.ok(unknown.stderr.includes(`--replace job.identity: profile 'job' has no 'identity' resource (its local provider, credential 'laptop', does not declare that kind). ${valid}`), unknown.stderr)
    const typo = await project.expect(['apply', '-y', '--replace', 'job.wokload'], 3)
    assert.ok(typo.stderr.includes(`${valid} Did you mean job.workload?`), typo.stderr)
  })

  it('drift: a killed supervisor and then a deleted output bucket show up in the next plan with a reason, and apply repairs them', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile()}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    await project.expect(['apply', '-y'], 0)
    const [pid] = liveSupervisors(root())

    process.kill(pid, 'SIGKILL')
    await until('the supervisor to die', () => liveSupervisors(root()).length === 0)
    let plan = planOf((await project.expect(['plan', '--json', '--detailed-exitcode'], 2)).stdout) as {changes: JsonChange[]}
    assert.deepEqual(visible(plan), [['job.workload', 'replace']])
    assert.match(plan.changes.find((c) => c.address === 'job.workload')!.reason, /lost/)

    // With no supervisor left, nothing syncs into the output bucket any more (a sync would re-create it).
    rmSync(join(root(), 'buckets', 'e2e-output'), {recursive: true, force: true})
    plan = planOf((await project.expect(['plan', '--json', '--detailed-exitcode'], 2)).stdout) as {changes: JsonChange[]}
    assert.deepEqual(visible(plan), [['job.bucket.output', 'create'], ['job.workload', 'replace']])
    assert.match(plan.changes.find((c) => c.address === 'job.bucket.output')!.reason, /no longer exists/)
    const human = await project.expect(['plan'], 0)
    assert.match(human.stdout, /# job\.workload must be replaced: workload was lost/)
    assert.match(human.stdout, /# job\.bucket\.output will be created: output bucket no longer exists/)
    assert.equal(lastLine(human.stdout), 'Plan: 1 to create, 0 to update, 1 to replace, 0 to delete.')

    await project.expect(['apply', '-y'], 0)
    assert.equal(liveSupervisors(root()).length, 1)
    assert.ok(existsSync(join(root(), 'buckets', 'e2e-output')))
    assert.equal(lastLine((await project.expect(['plan', '--detailed-exitcode'], 0)).stdout), 'No changes.')
  })

  it('drift: a machine deleted behind anycloud\'s back is re-created with its bootstrap and workload', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile()}}), {noAnsi: true})
    seedBucket(root(), 'e2e-input')
    await project.expect(['apply', '-y'], 0)
    const id = project.state()!.deployments.job.id
    for (const pid of processesUnder(root())) process.kill(pid, 'SIGKILL')
    rmSync(join(root(), 'machines', id), {recursive: true, force: true})
    const plan = planOf((await project.expect(['plan', '--json', '--detailed-exitcode'], 2)).stdout) as {changes: JsonChange[]}
    assert.deepEqual(visible(plan), [['job.vm', 'create'], ['job.bootstrap', 'create'], ['job.workload', 'create']])
    assert.match(plan.changes.find((c) => c.address === 'job.vm')!.reason, /VM no longer exists/)
    await project.expect(['apply', '-y'], 0)
    assert.deepEqual(machines(root()), [id])
    assert.equal(liveSupervisors(root()).length, 1)
  })
})
