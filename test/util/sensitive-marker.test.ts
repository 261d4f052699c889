import assert from 'node:assert/strict'
import {createHash, randomUUID} from 'node:crypto'

import {renderWorkload} from '../../src/bootstrap/render.js'
import {workloadAttributes, workloadSpecMatches} from '../../src/engine/desired.js'
import {workloadParts} from '../../src/model/deployment-spec.js'
import {hashOf, sensitiveMarker} from '../../src/util/hash.js'
import {specFor} from '../bootstrap/helpers.js'

const shown = (marker: string) => /^\(sensitive\):([0-9a-f]{12})$/.exec(marker)?.[1]

describe('sensitive values: a keyed, salted, slow hash (per state lineage)', () => {
  const a = randomUUID()
  const b = randomUUID()

  it('the same secret gives a different marker in another lineage, the same one in the same lineage', () => {
    const one = sensitiveMarker('hunter2', a)
    assert.ok(shown(one), one)
    assert.notEqual(one, sensitiveMarker('hunter2', b))
    assert.equal(sensitiveMarker('hunter2', a), one)
  })

  it('a weak secret is not its sha256 prefix (nor that of any plain hash of it)', () => {
    for (const weak of ['password', '123456', 'hunter2', '']) {
      const marker = shown(sensitiveMarker(weak, a))!
      for (const algorithm of ['sha256', 'sha1', 'md5', 'sha512']) {
        assert.ok(!createHash(algorithm).update(weak).digest('hex').startsWith(marker), `${algorithm}(${JSON.stringify(weak)})`)
        assert.ok(!createHash(algorithm).update(a + weak).digest('hex').startsWith(marker), `${algorithm}(lineage + ${JSON.stringify(weak)})`)
      }
    }
  })

  it('a changed secret changes the marker, the workload attributes and the workload env file', () => {
    assert.notEqual(sensitiveMarker('token-1', a), sensitiveMarker('token-2', a))
    const profile = {name: 'job', credentials: ['c'], hardware: {kind: 'default'}, spot: false, env: {TOKEN: 'token-1', PLAIN: 'x'}, sensitiveEnv: ['TOKEN'], runtime: 'process', command: ['x'], persistBucket: false, persist: false, syncIntervalSeconds: 60, extendsChain: []} as const
    const before = workloadAttributes(workloadParts(profile as never), a) as {env: Record<string, string>}
    const after = workloadAttributes(workloadParts({...profile, env: {TOKEN: 'token-2', PLAIN: 'x'}} as never), a) as {env: Record<string, string>}
    assert.equal(before.env.PLAIN, 'x')
    assert.equal(before.env.TOKEN, sensitiveMarker('token-1', a))
    assert.notEqual(before.env.TOKEN, after.env.TOKEN)
    const file = (token: string, lineage: string) => renderWorkload(specFor('/p', {env: {TOKEN: token}, sensitiveEnv: ['TOKEN'], lineage})).files.find((f) => f.mode === 0o600)!
    const f1 = file('token-1', a)
    assert.ok(f1.content.includes('token-1'), 'the machine gets the value')
    assert.ok(!f1.publicContent.includes('token-1'), 'the public form has only the marker')
    assert.ok(f1.publicContent.includes(sensitiveMarker('token-1', a)))
    assert.notEqual(file('token-2', a).publicContent, f1.publicContent)
    assert.notEqual(file('token-1', b).publicContent, f1.publicContent)
  })

  describe('a state written before markers were salted (upgrading anycloud re-runs nothing)', () => {
    const profile = {name: 'job', credentials: ['c'], hardware: {kind: 'default'}, spot: false, env: {TOKEN: 'token-1', PLAIN: 'x'}, sensitiveEnv: ['TOKEN'], runtime: 'process', command: ['x'], persistBucket: false, persist: false, syncIntervalSeconds: 60, extendsChain: []} as const
    // What such a state recorded: the unsalted sha256 prefix, and the spec hash over it.
    const old = (v: string) => `(sensitive):${createHash('sha256').update(v).digest('hex').slice(0, 12)}`
    const oldAttributes = {...(workloadAttributes(workloadParts(profile as never), a) as Record<string, unknown>), env: {TOKEN: old('token-1'), PLAIN: 'x'}}
    const oldSpec = hashOf(oldAttributes)

    it('the recorded old marker of the value the file still has is kept, so nothing shows as changed', () => {
      const now = workloadAttributes(workloadParts(profile as never), a, oldAttributes) as {env: Record<string, string>}
      assert.equal(now.env.TOKEN, old('token-1'))
      assert.equal(hashOf(now), oldSpec)
      assert.ok(workloadSpecMatches(oldSpec, workloadParts(profile as never), a, oldAttributes))
    })

    it('a finished job whose state kept only the spec hash still matches', () => {
      assert.ok(workloadSpecMatches(oldSpec, workloadParts(profile as never), a))
      assert.ok(workloadSpecMatches(hashOf(workloadAttributes(workloadParts(profile as never), a)), workloadParts(profile as never), a))
    })

    it('a changed value is a change, and is recorded salted', () => {
      const changed = {...profile, env: {TOKEN: 'token-2', PLAIN: 'x'}}
      const now = workloadAttributes(workloadParts(changed as never), a, oldAttributes) as {env: Record<string, string>}
      assert.equal(now.env.TOKEN, sensitiveMarker('token-2', a))
      assert.ok(!workloadSpecMatches(oldSpec, workloadParts(changed as never), a, oldAttributes))
      assert.ok(!workloadSpecMatches(oldSpec, workloadParts(changed as never), a))
      assert.ok(!workloadSpecMatches(undefined, workloadParts(profile as never), a))
    })
  })

  it('refuses to hash without a salt', () => {
    assert.throws(() => sensitiveMarker('x', ''), /salt/)
  })
})
