import assert from 'node:assert/strict'

import {requireRoot} from './index.js'

/** A rig a suite needs but this machine lacks: skipped locally, a failure in CI. */
describe('requireRoot / requireNetns', () => {
  const saved = {getuid: process.getuid, ci: process.env.CI}
  afterEach(() => {
    process.getuid = saved.getuid
    if (saved.ci === undefined) delete process.env.CI
    else process.env.CI = saved.ci
  })

  const asNonRoot = () => (process.getuid = () => 1000)
  const fakeContext = () => {
    let skipped = false
    const ctx = {skip: () => { skipped = true; throw new Error('skipped') }, test: {parent: {fullTitle: () => 'a VM suite'}}} as unknown as Mocha.Context
    return {ctx, skipped: () => skipped}
  }

  it('skips without CI', async () => {
    asNonRoot()
    delete process.env.CI
    const f = fakeContext()
    await assert.rejects(requireRoot(f.ctx), /skipped/)
    assert.equal(f.skipped(), true)
  })

  it('fails in CI, naming the suite and what it lacks', async () => {
    asNonRoot()
    process.env.CI = 'true'
    const f = fakeContext()
    await assert.rejects(requireRoot(f.ctx), /a VM suite: it needs root, and CI must run it/)
    assert.equal(f.skipped(), false)
  })
})
