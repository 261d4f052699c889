/**
 * What apply and destroy say when they end (issue 13, items 2 and 4): an interrupted `apply --wait`
 * exits 130 and says what still runs; summaries count kept, failed and skipped as such, and the
 * JSON carries the same counts.
 */
import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'

import {buckets, configYaml, finished, jobProfile, liveSupervisors, Project, seedBucket, stderrMatch, until} from './cli.js'

/** The one grammar of the closing line of apply and destroy. */
const OUTCOME = /^(Apply|Destroy) (complete|failed|interrupted): (\d+) (done|destroyed), (\d+) kept, (\d+) failed, (\d+) skipped\.$/m

function outcomeLine(stdout: string): {verb: string; status: string; done: number; kept: number; failed: number; skipped: number} {
  const lines = stdout.split('\n').filter((l) => OUTCOME.test(l))
  assert.equal(lines.length, 1, `exactly one outcome line on stdout:\n${stdout}`)
  const m = OUTCOME.exec(lines[0])!
  return {verb: m[1], status: m[2], done: Number(m[3]), kept: Number(m[5]), failed: Number(m[6]), skipped: Number(m[7])}
}

describe('e2e: how apply and destroy end', function () {
  this.timeout(120_000)
  let project: Project | undefined

  afterEach(async () => {
    await project?.cleanup()
    project = undefined
  })

  const newProject = (job: Record<string, unknown>) => {
    const p = new Project(configYaml({profiles: {job: jobProfile(job)}}), {noAnsi: true})
    seedBucket(p.path('cloud'), 'e2e-input')
    return p
  }

  it('Ctrl-C during `apply --wait`: exit 130, the job keeps running, and the CLI says so and how to watch or destroy it', async () => {
    project = newProject({})
    const child = project.start(['apply', '-y', '--wait'])
    await stderrMatch(child, /job\.workload: created/)
    await until('the job running', () => liveSupervisors(project!.path('cloud')).length === 1)
    child.kill('SIGINT')
    const r = await finished(child)
    assert.equal(r.code, 130, `${r.stdout}\n${r.stderr}`)
    const o = outcomeLine(r.stdout)
    assert.equal(o.status, 'interrupted')
    assert.doesNotMatch(r.stdout, /Apply complete/)
    assert.match(r.stderr, /still running .*: job \(e2e-job-[a-z0-9]{6} on laptop\)/)
    assert.match(r.stderr, /anycloud status job/)
    assert.match(r.stderr, /anycloud logs job --follow/)
    assert.match(r.stderr, /anycloud destroy -y job/)
    assert.equal(liveSupervisors(project.path('cloud')).length, 1, 'the job is still running, as the message says')
    assert.equal(existsSync(project.path('.anycloud', 'state.lock')), false, 'lock released')
  })

  it('`apply --wait` whose workload fails: "Apply failed", the workload counted as failed, exit 1; JSON has the same counts', async () => {
    project = newProject({spot: false, command: ['sh', '-c', 'echo partial > "$ANYCLOUD_OUTPUT/partial.txt"; exit 3']})
    const r = await project.expect(['apply', '-y', '--wait'], 1)
    const o = outcomeLine(r.stdout)
    assert.deepEqual({status: o.status, failed: o.failed, skipped: o.skipped}, {status: 'failed', failed: 1, skipped: 0})
    assert.match(r.stderr, /Error: job\.workload: workload failed \(exit 3\)/)
    assert.match(r.stdout, /^job: workload failed \(exit 3\)$/m)

    // The same through --json (a fresh deployment: destroy first, keeping nothing of ours).
    await project.expect(['destroy', '-y'], 0)
    const j = await project.expect(['apply', '-y', '--wait', '--json'], 1)
    const doc = JSON.parse(j.stdout) as {outcome: {status: string; summary: Record<string, number>; failed: Array<{address: string; message: string}>; done: string[]}}
    assert.equal(doc.outcome.status, 'failed')
    assert.deepEqual(doc.outcome.failed, [{address: 'job.workload', message: 'workload failed (exit 3)'}])
    assert.ok(!doc.outcome.done.includes('job.workload'))
    assert.deepEqual(doc.outcome.summary, {done: doc.outcome.done.length, kept: 0, failed: 1, skipped: 0})
  })

  it('destroy of an output bucket holding data: counted as kept, not destroyed; text and JSON agree', async () => {
    project = newProject({spot: false})
    await project.expect(['apply', '-y'], 0)
    await until('the report in the output bucket', () => existsSync(project!.path('cloud', 'buckets', 'e2e-output', 'report.txt')))
    const r = await project.expect(['destroy', '-y', '--json'], 0)
    const doc = JSON.parse(r.stdout) as {outcome: {status: string; done: string[]; kept: Array<{address: string; reason: string}>; summary: Record<string, number>}}
    assert.equal(doc.outcome.status, 'complete')
    assert.deepEqual(doc.outcome.kept.map((k) => k.address), ['job.bucket.output'])
    assert.match(doc.outcome.kept[0].reason, /kept bucket 'e2e-output'/)
    assert.deepEqual([...doc.outcome.done].sort(), ['job.bootstrap', 'job.vm', 'job.workload'])
    assert.deepEqual(doc.outcome.summary, {done: 3, kept: 1, failed: 0, skipped: 0})
    assert.deepEqual(buckets(project.path('cloud')), ['e2e-input', 'e2e-output'])

    // And in text, after a fresh apply.
    await project.expect(['apply', '-y'], 0)
    const text = await project.expect(['destroy', '-y'], 0)
    assert.deepEqual(outcomeLine(text.stdout), {verb: 'Destroy', status: 'complete', done: 3, kept: 1, failed: 0, skipped: 0})
    assert.match(text.stderr, /Kept: job\.bucket\.output: kept bucket 'e2e-output'/)
  })
})
