import assert from 'node:assert/strict'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join, relative} from 'node:path'

import {formatDiagnostic} from '../../src/config/diagnostics.js'
import {assertDiagnostics, CONFIG_FIXTURES, type ExpectedFile, loadWith} from './helpers.js'

/**
 * The fixture corpus: every `invalid/NAME.yaml` has a `NAME.expected.json` listing every error it
 * must produce (exactly: same count, same line, column and path); every `valid/NAME.yaml` loads
 * without errors, with exactly the warnings its optional `NAME.expected.json` lists.
 */

function corpus(kind: 'valid' | 'invalid'): Array<{name: string; file: string; expected: ExpectedFile; expectedPath: string}> {
  const dir = join(CONFIG_FIXTURES, kind)
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -'.yaml'.length)
      const expectedPath = join(dir, `${name}.expected.json`)
      const expected = existsSync(expectedPath) ? (JSON.parse(readFileSync(expectedPath, 'utf8')) as ExpectedFile) : {}
      return {name, file: join(dir, f), expected, expectedPath}
    })
}

function orphans(kind: 'valid' | 'invalid'): string[] {
  const dir = join(CONFIG_FIXTURES, kind)
  const files = new Set(readdirSync(dir))
  return [...files].filter((f) => f.endsWith('.expected.json') && !files.has(f.replace(/\.expected\.json$/, '.yaml')))
}

describe('config fixture corpus', () => {
  const invalid = corpus('invalid')
  const valid = corpus('valid')

  it('has at least 40 invalid and 10 valid files, each invalid one with its expectations', () => {
    assert.ok(invalid.length >= 40, `only ${invalid.length} invalid fixtures`)
    assert.ok(valid.length >= 10, `only ${valid.length} valid fixtures`)
    for (const f of invalid) {
      assert.ok(existsSync(f.expectedPath), `${f.name}.yaml has no ${f.name}.expected.json`)
      assert.ok((f.expected.errors ?? []).length > 0, `${f.name}.expected.json lists no errors`)
    }
    assert.deepEqual(orphans('invalid'), [])
    assert.deepEqual(orphans('valid'), [])
    for (const f of valid) assert.equal(f.expected.errors, undefined, `valid/${f.name}.expected.json must not list errors`)
  })

  describe('invalid/', () => {
    for (const f of invalid) {
      it(f.name, () => {
        const result = loadWith(f.file, {env: f.expected.env, store: f.expected.store})
        assert.equal(result.config, undefined, 'an invalid file must not resolve')
        assertDiagnostics(result.errors, f.expected.errors ?? [], `invalid/${f.name} errors`)
        assertDiagnostics(result.warnings, f.expected.warnings ?? [], `invalid/${f.name} warnings`)
        for (const d of [...result.errors, ...result.warnings]) {
          assert.equal(d.file, f.file, 'diagnostics name the file as it was given')
          assert.ok(d.message.length > 10, `message too short: ${d.message}`)
          for (const secret of f.expected.messageExcludes ?? []) {
            assert.ok(!d.message.includes(secret), `a message echoes ${JSON.stringify(secret)}: ${d.message}`)
          }
        }
      })
    }
  })

  describe('valid/', () => {
    for (const f of valid) {
      it(f.name, () => {
        const result = loadWith(f.file, {env: f.expected.env, store: f.expected.store})
        assertDiagnostics(result.errors, [], `valid/${f.name} errors`)
        assertDiagnostics(result.warnings, f.expected.warnings ?? [], `valid/${f.name} warnings`)
        assert.ok(result.config, 'a valid file resolves')
        assert.ok(Object.keys(result.config.profiles).length > 0)
      })
    }
  })

  it('formats every diagnostic as FILE:LINE:COLUMN PATH: MESSAGE', () => {
    const f = invalid.find((x) => x.name === 'typo-regoin')!
    const [d] = loadWith(f.file).errors
    const rel = relative(process.cwd(), f.file)
    assert.equal(formatDiagnostic({...d, file: rel}), `${rel}:5:5 profiles.train.regoin: unknown key 'regoin' (did you mean 'region'?)`)
    assert.equal(formatDiagnostic({...d, file: 'anycloud.yaml', path: ''}), `anycloud.yaml:5:5 unknown key 'regoin' (did you mean 'region'?)`)
    assert.equal(formatDiagnostic({...d, file: 'anycloud.yaml', severity: 'warning'}), `anycloud.yaml:5:5 warning: profiles.train.regoin: unknown key 'regoin' (did you mean 'region'?)`)
  })
})
