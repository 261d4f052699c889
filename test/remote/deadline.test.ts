import assert from 'node:assert/strict'

import {Budget, callWithDeadline, currentBudget, DeadlineError, setProcessBudget, withinBudget} from '../../src/remote/deadline.js'
import {formatDuration, parseDuration} from '../../src/util/duration.js'

const never = () => new Promise<never>(() => undefined)

describe('remote/deadline: budgets and per-call deadlines', () => {
  afterEach(() => setProcessBudget(undefined))

  it('parses and formats durations', () => {
    assert.equal(parseDuration('90s'), 90_000)
    assert.equal(parseDuration('5m'), 300_000)
    assert.equal(parseDuration('1h30m'), 5_400_000)
    assert.equal(parseDuration('500ms'), 500)
    assert.equal(parseDuration('2'), 2000)
    for (const bad of ['', 'soon', '5x', 'm5', '5m soon', '-1s']) assert.equal(parseDuration(bad), undefined, bad)
    assert.equal(formatDuration(90_000), '1m30s')
    assert.equal(formatDuration(2500), '2.5s')
    assert.equal(formatDuration(400), '400ms')
  })

  it('a call that ignores its signal is abandoned at its own deadline, with what was tried', async () => {
    let sawAbort = false
    const error = await callWithDeadline({call: 'svc:Op', endpoint: 'http://127.0.0.1:1', credential: 'c1', timeoutMs: 50, tried: () => '2 attempts; last: ECONNRESET'}, (signal) => {
      signal.addEventListener('abort', () => (sawAbort = true))
      return never()
    }).catch((e: unknown) => e)
    assert.ok(error instanceof DeadlineError)
    assert.ok(sawAbort, 'the call\'s signal was aborted')
    assert.match(error.message, /^svc:Op to http:\/\/127\.0\.0\.1:1 \(credential 'c1'\) got no answer within \d+ms \(its own 50ms deadline\); tried: 2 attempts; last: ECONNRESET$/)
    assert.equal(error.code, 'timeout')
  })

  it('the process budget cuts a call short and is named', async () => {
    setProcessBudget(new Budget('the --timeout 80ms budget', 80))
    const error = await callWithDeadline({call: 'svc:Op', timeoutMs: 60_000}, () => never()).catch((e: unknown) => e)
    assert.ok(error instanceof DeadlineError)
    assert.match(error.message, /\(the --timeout 80ms budget\)/)
  })

  it('a caller abort (Ctrl-C) is not a deadline', async () => {
    const controller = new AbortController()
    const pending = callWithDeadline({call: 'svc:Op', timeoutMs: 60_000, signal: controller.signal}, () => never())
    controller.abort(new Error('interrupted'))
    await assert.rejects(pending, (e: Error) => !(e instanceof DeadlineError) && e.message === 'interrupted')
  })

  it('a stage budget nests under the process budget and ends a stage that waits on something unwrapped, naming the calls in flight', async () => {
    setProcessBudget(new Budget('the --timeout 1h budget', 3_600_000))
    await withinBudget('the refresh budget', 60, async () => {
      assert.equal(currentBudget()?.label, 'the refresh budget')
    })
    const error = await withinBudget('the refresh budget', 60, async () => {
      // A call with no own deadline beyond the budget's, whose rejection is lost: the stage still ends.
      void callWithDeadline({call: 'ssh exec', endpoint: 'root@10.0.0.1:22'}, () => never()).catch(() => undefined)
      return never()
    }).catch((e: unknown) => e)
    assert.ok(error instanceof DeadlineError)
    assert.match(error.message, /the refresh budget/)
    // A child budget never outlives its parent, and then carries the parent's name.
    const parent = new Budget('the --timeout 1s budget', 1000)
    const child = new Budget('the refresh budget', 60_000, parent)
    assert.equal(child.label, 'the --timeout 1s budget')
    assert.ok(child.deadline <= parent.deadline)
    parent.dispose()
    child.dispose()
  })

  it('without any budget, a stage runs as is', async () => {
    assert.equal(await withinBudget('x', undefined, async () => 7), 7)
  })
})
