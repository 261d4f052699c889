import assert from 'node:assert/strict'
import {existsSync, writeFileSync} from 'node:fs'

import {machines, Project, stderrMatch, until, finished} from './cli.js'

/**
 * `anycloud watch`: a level-based controller over what was applied. It tears a finished job's
 * machine down and replaces a vanished one, and stops cleanly on SIGINT.
 */
describe('e2e: anycloud watch', function () {
  this.timeout(120_000)
  let project: Project

  const yaml = (command: string) => `version: 1
project: watchtest
credentials:
  box: {provider: local, root: cloud}
profiles:
  job:
    credentials: box
    runtime: process
    command: [sh, -c, ${JSON.stringify(command)}]
    outputBucket: watch-out
    syncIntervalSeconds: 1
`

  afterEach(async () => {
    await project?.cleanup()
  })

  it('tears down the machine once the job finishes, then exits 0 on SIGINT', async () => {
    // The job waits for a file the test creates, so "finished" happens while watch runs.
    project = new Project(yaml('while [ ! -f ../../../go ]; do sleep 0.1; done; echo done > "$ANYCLOUD_OUTPUT/result.txt"'))
    await project.expect(['apply', '-y'], 0)
    assert.equal(machines(project.path('cloud')).length, 1)

    const watch = project.start(['watch', '--interval', '1'])
    await stderrMatch(watch, /No changes\./)
    writeFileSync(project.path('go'), '')
    await until('the finished job to be torn down', () => machines(project.path('cloud')).length === 0, 60_000)
    assert.ok(existsSync(project.path('cloud', 'buckets', 'watch-out', 'result.txt')), 'the output reached the bucket before teardown')
    // One log line per decision: the teardown's deletes, each with its reason and outcome.
    await stderrMatch(watch, /Z job\.vm: delete \(workload completed \(exit 0\): tearing down \(persist is off\)\): done in \d+\.\ds/)

    watch.kill('SIGINT')
    const r = await finished(watch)
    assert.equal(r.code, 0, r.stderr)
    const lock = project.path('.anycloud', 'state.lock')
    assert.ok(!existsSync(lock), 'the lock is released')
    const second = await project.expect(['plan', '--detailed-exitcode'], 0)
    assert.match(second.stdout, /No changes\./)
  })

  it('replaces a workload whose machine vanished', async () => {
    project = new Project(yaml('sleep 300'))
    await project.expect(['apply', '-y'], 0)
    const [machine] = machines(project.path('cloud'))
    // The machine is lost behind anycloud's back: its supervisor and job are killed.
    const state = project.state()!
    const pid = Number((state.deployments.job.resources['job.workload'] as unknown as {outputs: {supervisorPid: number}}).outputs?.supervisorPid ?? 0)
    assert.ok(pid > 1, 'state records the supervisor pid')
    process.kill(-pid, 'SIGKILL')
    await until('the supervisor to die', () => {
      try {
        process.kill(pid, 0)
        return false
      } catch {
        return true
      }
    })

    const watch = project.start(['watch', '--once'])
    const r = await finished(watch)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /Z job\.workload: (replace|create) \(.*\): done/)
    assert.deepEqual(machines(project.path('cloud')), [machine])
    const after = await project.expect(['status', '--json'], 0)
    const status = JSON.parse(after.stdout) as {deployments: Array<{workload: {phase: string}}>}
    assert.equal(status.deployments[0].workload.phase, 'running')
  })

  it('--json: one JSON object per decision on stdout; the lock is held per reconcile, not for the watch\'s life; SIGINT stops it', async () => {
    project = new Project(yaml('sleep 300'))
    await project.expect(['apply', '-y'], 0)
    const watch = project.start(['watch', '--interval', '1', '--json'])
    const decisions = () => watch.out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as {time: string; action: string; outcome: string; reason: string})
    await until('two reconciles', () => decisions().length >= 2, 60_000)
    for (const d of decisions()) {
      assert.equal(d.action, 'none')
      assert.equal(d.outcome, 'done')
      assert.equal(d.reason, 'No changes.')
      assert.match(d.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    }
    // Between reconciles the lock is free (another run could take it).
    const lock = project.path('.anycloud', 'state.lock')
    await until('the lock free while watch waits', () => !existsSync(lock), 20_000, 10)
    assert.equal(watch.exitCode, null, 'watch still runs')

    watch.kill('SIGINT')
    const r = await finished(watch)
    assert.equal(r.code, 0, r.stderr)
    assert.ok(!existsSync(lock), 'the lock is released')
    for (const line of r.stdout.split('\n').filter(Boolean)) JSON.parse(line)
  })
})
