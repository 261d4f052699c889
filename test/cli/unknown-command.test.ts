import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

describe('anycloud with an unknown command', () => {
  let home: string
  before(() => {
    home = mkdtempSync(join(tmpdir(), 'anycloud-unknown-'))
  })
  after(() => rmSync(home, {recursive: true, force: true}))

  const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], {cwd: home, env: {...process.env, CI: 'true', ANYCLOUD_HOME: home}, encoding: 'utf8'})

  it('exits 3 (invalid usage, not 2 = changes pending) and suggests the closest command', () => {
    const r = run('pln')
    assert.equal(r.status, 3, r.stderr)
    assert.match(r.stderr, /unknown command 'pln' \(did you mean 'plan'\?\)/)
    assert.equal(r.stdout, '')
  })

  it('handles topics the same way', () => {
    const r = run('state', 'lst')
    assert.equal(r.status, 3, r.stderr)
    assert.match(r.stderr, /did you mean 'state list'/)
  })
})
