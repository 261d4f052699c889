import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {builtPackage, REPO} from '../config/cli-helpers.js'

/**
 * The committed oclif.manifest.json is what installed CLIs use to find commands: it must match a
 * manifest generated from the current sources. builtPackage() compiles src/ into a private copy of
 * the package and runs `oclif manifest` plus scripts/normalize-manifest.js there, so the
 * repository's own file is never rewritten by the test.
 */
describe('oclif.manifest.json', function () {
  this.timeout(120_000)

  it('matches a freshly generated, normalized manifest', () => {
    const fresh = readFileSync(join(builtPackage(), 'oclif.manifest.json'), 'utf8')
    const committed = readFileSync(join(REPO, 'oclif.manifest.json'), 'utf8')
    const ids = (text: string) => Object.keys((JSON.parse(text) as {commands: object}).commands)
    assert.deepEqual(ids(committed), ids(fresh), 'the same commands (run `npm run build` and commit oclif.manifest.json)')
    assert.deepEqual(JSON.parse(committed), JSON.parse(fresh), 'the same command metadata (run `npm run build` and commit oclif.manifest.json)')
    assert.equal(committed, fresh, 'the same bytes (normalized by scripts/normalize-manifest.js)')
  })

  it('lists validate and the credentials commands', () => {
    const {commands} = JSON.parse(readFileSync(join(builtPackage(), 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, {flags: Record<string, unknown>}>}
    for (const id of ['validate', 'credentials:add', 'credentials:list', 'credentials:remove']) assert.ok(commands[id], `${id} missing`)
    assert.ok(commands.validate.flags.json)
    assert.ok(commands.validate.flags.file)
  })
})
