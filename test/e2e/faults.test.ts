import assert from 'node:assert/strict'
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {buckets, configYaml, finished, jobProfile, liveSupervisors, machines, processesUnder, Project, seedBucket, stderrMatch, supervisorProcesses} from './cli.js'

/** Every address the quickstart-like profile creates, in creation order. */
const ADDRESSES = ['job.bucket.output', 'job.bucket.checkpoint', 'job.vm', 'job.bootstrap', 'job.workload']

function newProject(): Project {
  const p = new Project(configYaml({profiles: {job: jobProfile()}}), {noAnsi: true})
  seedBucket(p.path('cloud'), 'e2e-input', {'data.txt': 'one two three\n'})
  return p
}

/** What must hold once a deployment converged: one of everything, all recorded, nothing pending. */
function assertConverged(project: Project, label: string): void {
  const root = project.path('cloud')
  const state = project.state()!
  const dep = state.deployments.job
  assert.ok(dep, `${label}: a deployment in state`)
  assert.deepEqual(Object.keys(dep.resources).sort(), [...ADDRESSES].sort(), `${label}: every resource recorded`)
  for (const r of Object.values(dep.resources)) assert.equal(r.status, 'created', `${label}: ${JSON.stringify(r)} is not pending`)
  assert.deepEqual(machines(root), [dep.id], `${label}: exactly one machine workspace`)
  assert.equal(liveSupervisors(root).length, 1, `${label}: exactly one supervisor alive`)
  assert.equal(supervisorProcesses(root).length, 1, `${label}: no second supervisor anywhere`)
  assert.deepEqual(buckets(root), [dep.id, 'e2e-input', 'e2e-output'].sort(), `${label}: one checkpoint bucket, named after the deployment`)
  assert.equal(existsSync(project.path('.anycloud', 'state.lock')), false, `${label}: the lock is released`)
}

async function assertNoChanges(project: Project, label: string): Promise<void> {
  const r = await project.run(['plan', '--detailed-exitcode'])
  assert.equal(r.code, 0, `${label}: the next plan is "No changes."\n${r.stderr}`)
  assert.equal(r.stdout.trimEnd().split('\n').at(-1), 'No changes.')
}

async function assertNothingLeaks(project: Project, label: string): Promise<void> {
  const root = project.path('cloud')
  await project.expect(['destroy', '-y'], 0)
  assert.deepEqual(project.state()!.deployments, {}, `${label}: state is empty after destroy`)
  assert.deepEqual(machines(root), [], `${label}: no machine after destroy`)
  assert.deepEqual(buckets(root), ['e2e-input', 'e2e-output'], `${label}: input untouched, output kept (holds the report), checkpoint gone`)
  const meta = existsSync(join(root, '.meta', 'buckets')) ? readdirSync(join(root, '.meta', 'buckets')) : []
  assert.deepEqual(meta, ['e2e-output.json'], `${label}: no ownership record of a deleted bucket is left`)
  assert.deepEqual(processesUnder(root), [], `${label}: no process left`)
}

/** SIGKILL at one crash point, re-run, check convergence, destroy, check for leaks. */
async function crashAndRecover(step: 'after-intent' | 'after-create', address: string): Promise<void> {
  const label = `${step}:${address}`
  const project = newProject()
  try {
    const crashed = await project.run(['apply', '-y'], {env: {ANYCLOUD_TEST_CRASH_AT: label}})
    assert.equal(crashed.signal, 'SIGKILL', `${label}: the crash point fired (exit ${crashed.code})\n${crashed.stderr}`)
    const state = project.state()
    assert.ok(state, `${label}: the intent was saved before the crash`)
    const record = state.deployments.job.resources[address]
    assert.equal(record?.status, 'pending', `${label}: the crashed step is recorded as pending`)
    assert.ok(existsSync(project.path('.anycloud', 'state.lock')), `${label}: the killed run left its lock behind`)

    const rerun = await project.run(['apply', '-y'])
    assert.equal(rerun.code, 0, `${label}: the re-run converges\n${rerun.stderr}`)
    assertConverged(project, label)
    if (step === 'after-create' || address !== 'job.workload') {
      // What existed was adopted with the same idempotency token, not made twice.
      assert.equal(project.state()!.deployments.job.resources[address].id.length > 0, true)
    }
    await assertNoChanges(project, label)
    await assertNothingLeaks(project, label)
  } finally {
    await project.cleanup()
  }
}

describe('e2e: faults (reliability rows 7, 8, 10)', function () {
  this.timeout(120_000)

  describe('SIGKILL at every step of an apply, then apply again', () => {
    // Ten independent projects: run them side by side (bounded), then report each on its own.
    const scenarios = ADDRESSES.flatMap((address) => (['after-intent', 'after-create'] as const).map((step) => ({step, address})))
    const outcomes = new Map<string, unknown>()
    before(async function () {
      this.timeout(180_000)
      const queue = [...scenarios]
      await Promise.all(
        Array.from({length: 4}, async () => {
          for (let s = queue.shift(); s; s = queue.shift()) {
            outcomes.set(`${s.step}:${s.address}`, await crashAndRecover(s.step, s.address).then(() => 'ok', (error: unknown) => error))
          }
        }),
      )
    })
    for (const {step, address} of scenarios) {
      it(`${step}:${address} — converges, nothing duplicated, nothing leaks`, () => {
        const outcome = outcomes.get(`${step}:${address}`)
        if (outcome !== 'ok') throw outcome ?? new Error('the scenario did not run')
      })
    }
  })

  describe('interrupts and concurrent runs', () => {
    let project: Project | undefined
    afterEach(async () => {
      await project?.cleanup()
      project = undefined
    })

    it('SIGINT during an apply: exit 130, in-flight work finished and saved, lock released; the next apply converges', async () => {
      project = newProject()
      const child = project.start(['apply', '-y'])
      await stderrMatch(child, /: creating\.\.\./)
      // Freeze it where it is, so the interrupt lands mid-apply however fast the machine is.
      child.kill('SIGSTOP')
      child.kill('SIGINT')
      child.kill('SIGCONT')
      const r = await finished(child)
      assert.equal(r.code, 130, r.stderr)
      assert.match(r.stderr, /Interrupt received/)
      assert.match(r.stderr, /skipped: interrupted/)
      assert.match(r.stdout, /Apply interrupted/)
      assert.equal(existsSync(project.path('.anycloud', 'state.lock')), false, 'lock released')
      const state = project.state()!
      assert.ok(state, 'state saved')
      for (const rec of Object.values(state.deployments.job.resources)) assert.equal(rec.status, 'created', `${JSON.stringify(rec)}: in-flight work finished`)
      assert.ok(Object.keys(state.deployments.job.resources).length < ADDRESSES.length, 'no new work started after the interrupt')
      assert.deepEqual(liveSupervisors(project.path('cloud')), [], 'the workload was never started')

      await project.expect(['apply', '-y'], 0)
      assertConverged(project, 'after SIGINT')
      await assertNoChanges(project, 'after SIGINT')
    })

    it('a second interrupt exits at once; pending work stays recorded and the next apply converges', async () => {
      project = newProject()
      const child = project.start(['apply', '-y'])
      await stderrMatch(child, /job\.vm: creating\.\.\./)
      // Two SIGINTs sent to a stopped process coalesce into one; SIGTERM goes through the same
      // handler and does not, so both are delivered, one after the other, when it continues.
      child.kill('SIGSTOP')
      child.kill('SIGINT')
      child.kill('SIGTERM')
      child.kill('SIGCONT')
      const r = await finished(child)
      assert.equal(r.code, 130, r.stderr)
      assert.match(r.stderr, /Interrupted again: exiting now/)
      assert.doesNotMatch(r.stdout + r.stderr, /Apply (complete|interrupted)/, 'it did not wait for the in-flight work')
      assert.ok(project.state(), 'the intents written so far are in state')
      await project.expect(['apply', '-y'], 0)
      assertConverged(project, 'after a double interrupt')
      await assertNoChanges(project, 'after a double interrupt')
    })

    it('two applies on one state: the second exits 4 naming the holder and the lock id; unlock needs the right id and a dead holder; state intact', async () => {
      project = newProject()
      const first = project.start(['apply', '-y'])
      await stderrMatch(first, /: creating\.\.\./)
      first.kill('SIGSTOP')
      try {
        const lock = JSON.parse(readFileSync(project.path('.anycloud', 'state.lock'), 'utf8')) as {id: string; pid: number; operation: string}
        assert.equal(lock.pid, first.pid)
        assert.equal(lock.operation, 'apply')
        // (It may be frozen before its first state write.)
        const serial = project.state()?.serial ?? 0

        const second = await project.expect(['apply', '-y'], 4)
        assert.match(second.stderr, new RegExp(`locked by another run: apply by .+ \\(pid ${first.pid}\\)`))
        assert.ok(second.stderr.includes(lock.id), 'the message names the lock id')
        const json = JSON.parse((await project.expect(['destroy', '-y', '--json'], 4)).stdout) as {error: {exitCode: number; message: string}}
        assert.ok(json.error.message.includes(lock.id))
        await project.expect(['state', 'rm', 'job.vm'], 4)

        const wrong = await project.expect(['state', 'unlock', '00000000-0000-4000-8000-000000000000'], 3)
        assert.match(wrong.stderr, /does not match/)
        const live = await project.expect(['state', 'unlock', lock.id], 3)
        assert.match(live.stderr, /held by a live process/)
        assert.deepEqual(JSON.parse(readFileSync(project.path('.anycloud', 'state.lock'), 'utf8')), lock, 'the lock is unchanged')
        assert.equal(project.state()?.serial ?? 0, serial, 'the refused runs wrote nothing')
      } finally {
        first.kill('SIGCONT')
      }
      const r = await finished(first)
      assert.equal(r.code, 0, r.stderr)
      assertConverged(project, 'after the contended apply')
      await assertNoChanges(project, 'after the contended apply')
    })

    it('a lock left by a run that died on another machine: apply exits 4 naming it; state unlock with the id from that message releases it', async () => {
      project = newProject()
      const crashed = await project.run(['apply', '-y'], {env: {ANYCLOUD_TEST_CRASH_AT: 'after-intent:job.vm'}})
      assert.equal(crashed.signal, 'SIGKILL')
      // The same lock, as if the run had died on a CI agent: its pid cannot be checked from here.
      const lockPath = project.path('.anycloud', 'state.lock')
      writeFileSync(lockPath, JSON.stringify({...JSON.parse(readFileSync(lockPath, 'utf8')), host: 'ci-agent-7'}))
      const locked = await project.expect(['apply', '-y'], 4)
      assert.match(locked.stderr, /locked by another run: apply by .+@ci-agent-7/)
      const id = /lock id (\S+)/.exec(locked.stderr)?.[1]
      assert.ok(id, locked.stderr)
      assert.match(locked.stderr, new RegExp(`anycloud state unlock ${id}`), 'the message says how to release it')

      await project.expect(['state', 'unlock', 'not-the-id'], 3)
      assert.ok(existsSync(lockPath), 'a wrong id leaves the lock')
      const ok = await project.expect(['state', 'unlock', id], 0)
      assert.match(ok.stdout, new RegExp(`Released lock ${id}`))
      assert.equal(existsSync(lockPath), false)
      const again = await project.expect(['state', 'unlock', id], 0)
      assert.match(again.stderr, /is not locked; nothing to release/)
      assert.doesNotMatch(again.stderr, /Released/)
      await project.expect(['apply', '-y'], 0)
      assertConverged(project, 'after unlock')
    })
  })
})
