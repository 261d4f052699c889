/**
 * Between a spot VM's interruption notice and the cloud taking it away, the workload (stopped by the
 * notice program, its checkpoint flushed) is never restarted on that VM: the plan holds it (`waiting`,
 * one `wait` decision per watch reconcile); once the cloud reports the VM gone it is replaced as any
 * preempted VM; a VM still running NOTICE_WAIT_MS after its notice is replaced, not reused.
 * In-process on the in-memory provider, the machine's notice marker injected into the workload read.
 */
import assert from 'node:assert/strict'

import {decisionsOf, TimingReporter} from '../../src/engine/decisions.js'
import {decisionLine} from '../../src/render/decision.js'
import {RecordingReporter} from '../../src/engine/events.js'
import {planChanges} from '../../src/engine/planner.js'
import {planAndApply} from '../../src/engine/run.js'
import type {Session} from '../../src/engine/session.js'
import {holdForNotice, NOTICE_WAIT_MS, noticeWait} from '../../src/engine/spot.js'
import type {Plan} from '../../src/model/plan.js'
import type {ActualResource} from '../../src/model/resources.js'
import {makeHarness, override, type Harness} from './harness.js'
import {kindOps} from '../../src/providers/provider.js'

const NOTICED_AT = new Date('2026-03-01T10:00:00Z')
const marker = (at = NOTICED_AT) => JSON.stringify({cloud: 'gcp', event: 'preempted', noticedAt: at.toISOString().replace(/\.\d+Z$/, 'Z')})
const noticed = (extra: Partial<ActualResource> = {}): ActualResource => ({id: 'w', attributes: {}, phase: 'lost', outputs: {notice: marker()}, ...extra})
const minutes = (n: number) => new Date(NOTICED_AT.getTime() + n * 60_000)

describe('engine: a workload on a VM that had its interruption notice', function () {
  this.timeout(60_000)

  describe('noticeWait (pure)', () => {
    it('no marker: nothing to hold', () => {
      assert.equal(noticeWait(null, minutes(1)), undefined)
      assert.equal(noticeWait({id: 'w', attributes: {}, phase: 'lost', outputs: {}}, minutes(1)), undefined)
    })

    it('within the wait: hold, naming the cloud, the event and the time', () => {
      const w = noticeWait(noticed(), minutes(1))
      assert.ok(w && 'wait' in w, JSON.stringify(w))
      assert.match(w.wait, /^gcp interruption notice \(preempted\) at 2026-03-01T10:00:00\.000Z: workload stopped and checkpoint flushed; waiting for the cloud to take the VM back/)
      assert.ok(noticeWait(noticed(), new Date(NOTICED_AT.getTime() + NOTICE_WAIT_MS - 1)) && 'wait' in noticeWait(noticed(), new Date(NOTICED_AT.getTime() + NOTICE_WAIT_MS - 1))!)
    })

    it('past the wait: overdue (the VM is replaced); a marker cut short still names its time; one without a time is overdue at once', () => {
      const late = noticeWait(noticed(), new Date(NOTICED_AT.getTime() + NOTICE_WAIT_MS))
      assert.ok(late && 'overdue' in late)
      assert.match(late.overdue, /but the VM still runs 10 min later: replaced/)
      const cut = noticeWait(noticed({outputs: {notice: marker().slice(0, -1)}}), minutes(2))
      assert.ok(cut && 'wait' in cut, JSON.stringify(cut))
      const timeless = noticeWait(noticed({outputs: {notice: '{"cloud": "azure"'}}), minutes(2))
      assert.ok(timeless && 'overdue' in timeless)
    })

    it('holdForNotice leaves a VM that changes anyway alone (its workload follows it)', () => {
      const change = (address: string, action: 'no-op' | 'replace') => ({address, profile: 'job', kind: address.endsWith('vm') ? 'vm' : 'workload', action, reason: 'r', credential: 'c', provider: 'local', name: 'n', dependsOn: [], before: null, after: {}}) as Plan['changes'][number]
      const changes = [change('job.vm', 'replace'), change('job.workload', 'replace')]
      assert.equal(holdForNotice(changes, noticeWait(noticed(), minutes(1)), 'job'), undefined)
      assert.deepEqual(changes.map((c) => [c.action, c.waiting]), [['replace', undefined], ['replace', undefined]])
    })
  })

  describe('through the planner and watch decisions (in-memory provider)', () => {
    let h: Harness
    before(async () => {
      h = makeHarness({job: {credentials: 'laptop', runtime: 'process', spot: true, syncIntervalSeconds: 60, command: ['train.sh']}})
      const s = await h.open({lock: 'apply'})
      await planAndApply({session: s, reporter: new RecordingReporter()})
      await s.release()
    })
    after(async () => {
      try {
        await h.releaseAll()
        const s = await h.open({lock: 'destroy'})
        await planAndApply({session: s, reporter: new RecordingReporter(), destroy: true}).catch(() => undefined)
      } finally {
        await h.cleanup()
      }
    })

    /** The machine as refresh reads it after a notice: the workload stopped (lost), the marker there; the VM gone or not. */
    async function planNoticed(now: Date, options: {vmGone?: boolean} = {}): Promise<{plan: Plan; session: Session}> {
      const session = await h.open()
      h.wrap(session, (_name, p) =>
        override(p, {
          read: async (lookup, ctx) => {
            const actual = await kindOps(p).read(lookup, ctx)
            if (lookup.kind === 'vm' && options.vmGone) return null
            if (lookup.kind === 'workload' && actual) return options.vmGone ? {...actual, phase: 'lost', note: 'its VM is gone'} : {...actual, phase: 'lost', outputs: {...actual.outputs, notice: marker()}}
            return actual
          },
        }),
      )
      const plan = await planChanges({config: session.config, profiles: session.profiles, state: session.state, providers: session.providers, reporter: new RecordingReporter(), stateDir: session.store.localDir, now})
      return {plan, session}
    }
    const actions = (plan: Plan) => Object.fromEntries(plan.changes.filter((c) => c.action !== 'no-op' || c.waiting).map((c) => [c.address, c.action]))

    it('noticed and still up: nothing changes; the workload is held (`waiting`) and watch logs one wait line for it', async () => {
      const {plan} = await planNoticed(minutes(1))
      assert.deepEqual(plan.summary, {create: 0, update: 0, replace: 0, delete: 0}, JSON.stringify(plan.changes.map((c) => [c.address, c.action, c.reason])))
      const w = plan.changes.find((c) => c.address === 'job.workload')!
      assert.equal(w.action, 'no-op')
      assert.equal(w.waiting, true)
      assert.match(w.reason, /waiting for the cloud to take the VM back/)
      assert.ok(plan.diagnostics.some((d) => d.severity === 'info' && /job\.workload: gcp interruption notice/.test(d.message)))
      const decisions = decisionsOf({plan, results: [], applied: true}, new TimingReporter())
      assert.deepEqual(decisions.map((d) => [d.action, d.address, d.outcome]), [['wait', 'job.workload', 'skipped']])
      assert.equal(decisions[0].reason, w.reason)
      assert.equal(decisionLine(decisions[0]), `${decisions[0].time} job.workload: wait (${w.reason})`)
    })

    it('without the notice the same lost workload would be restarted on the VM (what the hold prevents)', async () => {
      const session = await h.open()
      h.wrap(session, (_name, p) => override(p, {read: async (lookup, ctx) => {
        const actual = await kindOps(p).read(lookup, ctx)
        return lookup.kind === 'workload' && actual ? {...actual, phase: 'lost'} : actual
      }}))
      const plan = await planChanges({config: session.config, profiles: session.profiles, state: session.state, providers: session.providers, reporter: new RecordingReporter(), stateDir: session.store.localDir, now: minutes(1)})
      assert.deepEqual(actions(plan), {'job.workload': 'replace'})
    })

    it('the cloud reports the VM gone: replaced as preempted, the workload with it', async () => {
      const {plan} = await planNoticed(minutes(2), {vmGone: true})
      const a = actions(plan)
      assert.equal(a['job.vm'], 'create')
      assert.equal(a['job.workload'], 'replace')
      assert.ok(!plan.changes.some((c) => c.waiting))
    })

    it(`still up ${NOTICE_WAIT_MS / 60_000} min after its notice: the VM is replaced (with its bootstrap and workload), never reused`, async () => {
      const {plan} = await planNoticed(minutes(NOTICE_WAIT_MS / 60_000 + 1))
      const vm = plan.changes.find((c) => c.address === 'job.vm')!
      assert.equal(vm.action, 'replace')
      assert.match(vm.reason, /interruption notice \(preempted\) at 2026-03-01T10:00:00\.000Z, but the VM still runs 11 min later: replaced/)
      assert.equal(actions(plan)['job.bootstrap'], 'replace')
      assert.equal(actions(plan)['job.workload'], 'replace')
      assert.ok(plan.diagnostics.some((d) => d.severity === 'warning' && /job\.vm: .*still runs 11 min later/.test(d.message)))
    })
  })
})
