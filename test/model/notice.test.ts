import assert from 'node:assert/strict'

import {parseNotice} from '../../src/model/notice.js'

describe('model: parseNotice', () => {
  it('none, an object, and a marker cut short (its time kept when it names one)', () => {
    assert.equal(parseNotice(undefined), undefined)
    assert.equal(parseNotice('  '), undefined)
    assert.deepEqual(parseNotice('{"cloud":"aws","noticedAt":"2026-01-01T00:00:00Z"}'), {fields: {cloud: 'aws', noticedAt: '2026-01-01T00:00:00Z'}})
    assert.deepEqual(parseNotice('{"cloud":"gcp","noticedAt":"2026-01-01T00:00:00Z","event":"preem'), {cut: '{"cloud":"gcp","noticedAt":"2026-01-01T00:00:00Z","event":"preem', noticedAt: '2026-01-01T00:00:00Z'})
    assert.deepEqual(parseNotice('[1]'), {cut: '[1]'})
  })
})
