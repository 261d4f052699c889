import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {copyFileSync, existsSync, mkdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {builtPackage, REPO, runCli} from '../config/cli-helpers.js'
import {CONFIG_FIXTURES, tempDir} from '../config/helpers.js'

const HOOK = join(CONFIG_FIXTURES, 'hooks', 'record-imports.mjs')
const HEAVY = /@aws-sdk|@azure|@google-cloud|ssh2|listr2/

/**
 * `anycloud validate` makes no cloud call, so it must not even load a cloud SDK, ssh2 or listr2
 * (they are slow to load, and loading them is how calls sneak in). A test-only `--import` hook
 * records every module the child process imports or requires.
 */
describe('anycloud validate loads no cloud SDK', function () {
  this.timeout(120_000)
  let t: ReturnType<typeof tempDir>

  before(() => {
    builtPackage()
  })
  beforeEach(() => {
    t = tempDir('anycloud-imports-')
  })
  afterEach(() => t.cleanup())

  function recorded(log: string): string[] {
    assert.ok(existsSync(log), 'the hook wrote no log: it did not run')
    return readFileSync(log, 'utf8').split('\n').filter(Boolean)
  }

  it('the hook sees a cloud SDK when one is loaded (ESM import and CommonJS require)', () => {
    const esmLog = join(t.dir, 'esm.log')
    const esm = spawnSync(process.execPath, ['--import', HOOK, '--input-type=module', '-e', "await import('@aws-sdk/client-s3')"], {cwd: REPO, env: {...process.env, ANYCLOUD_TEST_IMPORT_LOG: esmLog}, encoding: 'utf8'})
    assert.equal(esm.status, 0, esm.stderr)
    assert.ok(recorded(esmLog).some((l) => /^import @aws-sdk\/client-s3 /.test(l)))

    const cjsLog = join(t.dir, 'cjs.log')
    const cjs = spawnSync(process.execPath, ['--import', HOOK, '-e', "require('ssh2')"], {cwd: REPO, env: {...process.env, ANYCLOUD_TEST_IMPORT_LOG: cjsLog}, encoding: 'utf8'})
    assert.equal(cjs.status, 0, cjs.stderr)
    assert.ok(recorded(cjsLog).includes('require ssh2'))
  })

  for (const [title, fixture, args, status] of [
    ['on a valid file', join('valid', 'spec-example.yaml'), [], 0],
    ['on an invalid file, with --json', join('invalid', 'many-errors.yaml'), ['--json'], 3],
  ] as const) {
    it(title, () => {
      const cwd = join(t.dir, 'repo')
      mkdirSync(cwd)
      copyFileSync(join(CONFIG_FIXTURES, fixture), join(cwd, 'anycloud.yaml'))
      const log = join(t.dir, 'imports.log')
      const r = runCli(['validate', ...args], {cwd, home: join(t.dir, 'home'), env: {ANYCLOUD_TEST_IMPORT_LOG: log, GCP_KEY_FILE: '/k.json'}, nodeArgs: ['--import', HOOK]})
      assert.equal(r.status, status, r.stderr)
      const lines = recorded(log)
      // The hook saw the CLI's own modules (so it was active for the whole run)…
      // (A plain validate is served by the start-up fast path, without oclif: bin/run.js.)
      assert.ok(lines.some((l) => /dist\/cli\/validate-run\.js/.test(l)), 'the validate implementation not recorded')
      assert.ok(lines.some((l) => /dist\/config\/schema-validator\.generated\.js/.test(l)), 'the schema validator not recorded')
      assert.ok(lines.some((l) => /^import yaml /.test(l)), 'the YAML parser not recorded')
      // …and nothing heavy.
      assert.deepEqual(lines.filter((l) => HEAVY.test(l)), [])
    })
  }
})
