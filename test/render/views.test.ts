import assert from 'node:assert/strict'

import type {ApplyResult, DestroyResult} from '../../src/model/results.js'
import {showCredentialsTest} from '../../src/render/credentials-view.js'
import {showApply, showDestroy} from '../../src/render/outcome.js'
import type {Sink} from '../../src/render/sink.js'
import {showStateMigrate, showStateUnlock} from '../../src/render/state-view.js'
import {fixedPlan} from './fixture-plan.js'

/** A sink that keeps each stream's text. */
function collect(): Sink & {out: string; err: string} {
  const s = {out: '', err: '', stdout: (t: string) => void (s.out += t), stderr: (l: string) => void (s.err += l + '\n')}
  return s
}

const counts = {done: ['job.vm', 'job.workload'], kept: [{address: 'job.bucket.out', reason: 'kept: holds data'}], failed: [], skipped: []}
const applied = (over: Partial<ApplyResult> = {}): ApplyResult => ({
  plan: fixedPlan(), project: 'demo', configFile: 'anycloud.yaml', applied: true, counts, status: 'complete', interrupted: false, stillRunning: [], wait: false, ...over,
})

describe('render: the views of the façade\'s results (streams and exit codes)', () => {
  it('apply: problems on stderr, the closing line on stdout, exit 0', () => {
    const s = collect()
    assert.equal(showApply(applied(), {json: false}, s), 0)
    assert.equal(s.out, 'Apply complete: 2 done, 1 kept, 0 failed, 0 skipped.\n')
    assert.equal(s.err, 'Kept: job.bucket.out: kept: holds data\n')
  })

  it('apply declined: says so on stderr, exit 1, nothing on stdout (even with --json)', () => {
    const s = collect()
    assert.equal(showApply(applied({applied: false}), {json: true}, s), 1)
    assert.equal(s.out, '')
    assert.equal(s.err, 'Apply cancelled: nothing was changed.\n')
  })

  it('apply --wait interrupted: exit 130; JSON names what still runs; stderr says how to watch or tear it down', () => {
    const r = applied({interrupted: true, status: 'interrupted', wait: true, configFile: 'ci/anycloud.yaml', stillRunning: [{profile: 'job', deploymentId: 'job-1', credential: 'laptop'}]})
    const s = collect()
    assert.equal(showApply(r, {json: true}, s), 130)
    const doc = JSON.parse(s.out) as {outcome: Record<string, unknown>}
    assert.deepEqual(Object.keys(doc.outcome), ['status', 'done', 'kept', 'failed', 'skipped', 'interrupted', 'summary', 'stillRunning'])
    assert.deepEqual(doc.outcome.stillRunning, ['job'])
    assert.match(s.err, /^Interrupted while waiting: still running \(and billed\) on their machines: job \(job-1 on laptop\)\.\n/)
    assert.match(s.err, /Tear it down: {2}anycloud destroy -f ci\/anycloud\.yaml -y job\n/)
  })

  it('destroy: a failure is an error line on stderr and exit 1', () => {
    const r: DestroyResult = {...applied(), counts: {...counts, failed: [{address: 'job.vm', message: 'boom'}]}, status: 'failed'}
    const s = collect()
    assert.equal(showDestroy(r, {json: false}, s), 1)
    assert.equal(s.out, 'Destroy failed: 2 destroyed, 1 kept, 1 failed, 0 skipped.\n')
    assert.match(s.err, /^Error: job\.vm: boom\n/)
  })

  it('credentials test: one verdict a line on stdout; exit 1 when one failed', () => {
    const s = collect()
    const code = showCredentialsTest({credentials: [{name: 'a', provider: 'aws', ok: true, account: '123'}, {name: 'b', provider: 'gcp', ok: false, message: 'denied'}]}, {json: false}, s)
    assert.equal(code, 1)
    assert.equal(s.out, 'a (aws): ok (account 123)\nb (gcp): FAILED: denied\n')
  })

  it('state unlock and migrate: a release is a result (stdout); "nothing to do" and migration notes are stderr', () => {
    const s = collect()
    showStateUnlock({released: true, lockId: 'L1'}, s)
    showStateUnlock({released: false, store: 'the local state'}, s)
    showStateMigrate({migrated: false}, s)
    assert.equal(s.out, 'Released lock L1.\n')
    assert.equal(s.err, 'the local state is not locked; nothing to release.\nMigration cancelled: nothing was changed.\n')
  })
})
