import assert from 'node:assert/strict'
import {copyFileSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {builtPackage, REPO, runCli} from '../config/cli-helpers.js'
import {CONFIG_FIXTURES, tempDir} from '../config/helpers.js'

/** `anycloud validate` as a user runs it: the built CLI in a child process. */
describe('anycloud validate (CLI)', function () {
  this.timeout(120_000)
  let t: ReturnType<typeof tempDir>
  let cwd: string
  let home: string

  before(() => {
    builtPackage()
  })

  beforeEach(() => {
    t = tempDir('anycloud-validate-')
    cwd = join(t.dir, 'repo')
    home = join(t.dir, 'home')
    mkdirSync(cwd)
  })

  afterEach(() => t.cleanup())

  const write = (text: string, name = 'anycloud.yaml') => writeFileSync(join(cwd, name), text)
  const fixture = (kind: string, name: string, as = 'anycloud.yaml') => copyFileSync(join(CONFIG_FIXTURES, kind, `${name}.yaml`), join(cwd, as))
  const validate = (args: string[] = [], env?: Record<string, string>) => runCli(['validate', ...args], {cwd, home, env})

  it('exits 0 on a valid ./anycloud.yaml and says so on stdout (the verdict is the result: `validate | grep` sees it)', () => {
    fixture('valid', 'minimal')
    const r = validate()
    assert.equal(r.status, 0, r.stderr)
    assert.equal(r.stdout, 'anycloud.yaml is valid (1 profile).\n')
    assert.equal(r.stderr, '')
  })

  it('-f DIR reads DIR/anycloud.yaml', () => {
    mkdirSync(join(cwd, 'ci'))
    fixture('valid', 'minimal', 'ci/anycloud.yaml')
    for (const dir of ['ci', 'ci/']) {
      const r = validate(['-f', dir])
      assert.equal(r.status, 0, r.stderr)
      assert.match(r.stdout, /^ci\/+anycloud\.yaml is valid \(1 profile\)\.$/m)
    }
    // Through oclif too (an extra flag leaves the fast path).
    const slow = validate(['-f', 'ci', '--debug'])
    assert.equal(slow.status, 0, slow.stderr)
    assert.match(slow.stdout, /is valid/)
    const empty = validate(['-f', '.'])
    assert.equal(empty.status, 3)
    assert.match(empty.stderr, /anycloud\.yaml: no such file/)
  })

  it('exits 3 on an invalid file, one `file:line:col path: message` line per error on stderr', () => {
    fixture('invalid', 'many-errors')
    const r = validate()
    assert.equal(r.status, 3, r.stderr)
    assert.equal(r.stdout, 'anycloud.yaml: 6 errors.\n')
    const lines = r.stderr.trim().split('\n')
    assert.deepEqual(lines.slice(0, 6).map((l) => l.split(': ')[0]), [
      'anycloud.yaml:10:5 profiles.train.regoin',
      'anycloud.yaml:11:11 profiles.train.spot',
      'anycloud.yaml:12:14 profiles.train.gpuType',
      'anycloud.yaml:13:19 profiles.train.outputBucket',
      'anycloud.yaml:15:14 profiles.eval.extends',
      'anycloud.yaml:16:14 profiles.eval.command',
    ])
    assert.equal(lines[0], "anycloud.yaml:10:5 profiles.train.regoin: unknown key 'regoin' (did you mean 'region'?)")
    assert.equal(lines.length, 6)
  })

  it('--json prints exactly {valid, errors, warnings} on stdout', () => {
    fixture('invalid', 'typo-regoin')
    const r = validate(['--json'])
    assert.equal(r.status, 3)
    const out = JSON.parse(r.stdout)
    assert.deepEqual(out, {
      valid: false,
      errors: [{file: 'anycloud.yaml', line: 5, column: 5, path: 'profiles.train.regoin', profile: 'train', message: "unknown key 'regoin' (did you mean 'region'?)"}],
      warnings: [],
    })
    assert.equal(r.stderr, '', 'nothing but the document is printed in --json mode')

    fixture('valid', 'warnings')
    const ok = validate(['--json'])
    assert.equal(ok.status, 0)
    const doc = JSON.parse(ok.stdout)
    assert.equal(doc.valid, true)
    assert.deepEqual(doc.errors, [])
    assert.deepEqual(doc.warnings.map((w: {line: number; column: number; path: string}) => [w.line, w.column, w.path]), [
      [7, 13, 'profiles.train.region'],
      [8, 20, 'profiles.train.persistBucket'],
      [9, 26, 'profiles.train.outputStorageRegion'],
    ])
    for (const w of doc.warnings) assert.deepEqual(Object.keys(w).sort(), ['column', 'file', 'line', 'message', 'path', 'profile'])
  })

  it('-f/--file names another file, and diagnostics name it as given', () => {
    mkdirSync(join(cwd, 'ci'))
    copyFileSync(join(CONFIG_FIXTURES, 'invalid', 'spot-yes.yaml'), join(cwd, 'ci', 'prod.yaml'))
    const r = validate(['-f', 'ci/prod.yaml'])
    assert.equal(r.status, 3)
    assert.match(r.stderr, /^ci\/prod\.yaml:5:11 profiles\.train\.spot: must be a boolean/m)
    const long = validate(['--file', 'ci/prod.yaml', '--json'])
    assert.equal(JSON.parse(long.stdout).errors[0].file, 'ci/prod.yaml')
  })

  it('a global error (no profile) carries profile: null in JSON', () => {
    fixture('invalid', 'duplicate-key')
    const out = JSON.parse(validate(['--json']).stdout)
    assert.deepEqual(out.errors, [{file: 'anycloud.yaml', line: 2, column: 1, path: 'version', profile: null, message: out.errors[0].message}])
    assert.match(out.errors[0].message, /duplicate key 'version'/)
  })

  describe('profile arguments', () => {
    const text = [
      'version: 1',
      'profiles:',
      '  good:',
      '    command: python train.py',
      '  bad:',
      '    command: python train.py',
      '    spot: yes',
      '  child:',
      '    extends: bad',
      '',
    ].join('\n')

    it('check only the named profiles (and what they extend)', () => {
      write(text)
      const good = validate(['good'])
      assert.equal(good.status, 0, good.stderr)
      const bad = validate(['bad', '--json'])
      assert.equal(bad.status, 3)
      assert.deepEqual(JSON.parse(bad.stdout).errors.map((e: {path: string}) => e.path), ['profiles.bad.spot'])
      const child = validate(['child', '--json'])
      assert.equal(child.status, 3, 'an error in the parent profile is an error of the child')
      assert.deepEqual(JSON.parse(child.stdout).errors.map((e: {path: string}) => e.path), ['profiles.bad.spot'])
      const all = validate()
      assert.equal(all.status, 3)
    })

    it('an unknown profile exits 3 and lists the profiles that exist (valid and invalid files alike)', () => {
      write(text)
      const r = validate(['nope'])
      assert.equal(r.status, 3)
      assert.match(r.stderr, /unknown profile 'nope'.*profiles: good, bad, child/)
      fixture('valid', 'extends-chain')
      const v = validate(['bgi'])
      assert.equal(v.status, 3)
      assert.match(v.stderr, /unknown profile 'bgi' in anycloud\.yaml \(did you mean 'big'\?\); profiles: base, big, cpu/)
      const j = validate(['bgi', '--json'])
      assert.equal(j.status, 3)
      assert.match(JSON.parse(j.stdout).error.message, /unknown profile 'bgi'/)
    })
  })

  describe('usage errors exit 3', () => {
    for (const args of [['--nope'], ['-f'], ['--json=maybe']]) {
      it(`validate ${args.join(' ')}`, () => {
        fixture('valid', 'minimal')
        const r = validate(args)
        assert.equal(r.status, 3, `${r.stdout}\n${r.stderr}`)
        assert.match(r.stderr, /Error:/)
      })
    }

    it('a missing file exits 3 and says which file', () => {
      const r = validate()
      assert.equal(r.status, 3)
      assert.match(r.stderr, /anycloud\.yaml: no such file/)
      const other = validate(['-f', 'missing/prod.yaml'])
      assert.equal(other.status, 3)
      assert.match(other.stderr, /missing\/prod\.yaml: no such file/)
      const json = validate(['--json'])
      assert.equal(json.status, 3)
      assert.equal(JSON.parse(json.stdout).error.exitCode, 3)
    })
  })

  it('needs no secrets (SPEC §8): an unset variable is a warning naming it and its line', () => {
    fixture('valid', 'spec-example')
    const unset = validate(['--json'])
    assert.equal(unset.status, 0, unset.stdout)
    const doc = JSON.parse(unset.stdout)
    assert.equal(doc.valid, true)
    assert.deepEqual(doc.errors, [])
    assert.deepEqual(doc.warnings.filter((e: {message: string}) => e.message.includes('GCP_KEY_FILE')).map((e: {line: number; path: string; message: string}) => [e.line, e.path, e.message.split(' (')[0]]), [
      [8, 'credentials.gcp-prod.keyFile', 'environment variable GCP_KEY_FILE is not set'],
    ])
    const human = validate()
    assert.equal(human.status, 0, human.stderr)
    assert.match(human.stderr, /^anycloud\.yaml:8:\d+ warning: credentials\.gcp-prod\.keyFile: environment variable GCP_KEY_FILE is not set/m)
    assert.match(human.stdout, /is valid \(2 profiles, 3 warnings\)/)
    const set = validate([], {GCP_KEY_FILE: '/keys/sa.json'})
    assert.equal(set.status, 0, set.stderr)
    assert.match(set.stdout, /is valid \(2 profiles, 2 warnings\)/)
    assert.doesNotMatch(set.stderr, /GCP_KEY_FILE/)
  })

  it('plan and apply refuse an unset variable (exit 3), naming it and its line', () => {
    fixture('valid', 'spec-example')
    for (const args of [['plan'], ['apply', '-y']]) {
      const r = runCli(args, {cwd, home})
      assert.equal(r.status, 3, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, /^anycloud\.yaml:8:\d+ credentials\.gcp-prod\.keyFile: environment variable GCP_KEY_FILE is not set/m, args.join(' '))
    }
  })

  it('examples/aws validates in a fresh shell (no WANDB_API_KEY): a warning, exit 0', () => {
    // A copy: the test never depends on what a user left in examples/.
    copyFileSync(join(REPO, 'examples', 'aws', 'anycloud.yaml'), join(cwd, 'anycloud.yaml'))
    const r = validate()
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /^anycloud\.yaml is valid \(2 profiles, 1 warning\)\.$/m)
    assert.match(r.stderr, /^anycloud\.yaml:\d+:\d+ warning: profiles\.train\.env\.WANDB_API_KEY: environment variable WANDB_API_KEY is not set/m)
  })

  it('uses credentials saved in $ANYCLOUD_HOME', () => {
    fixture('valid', 'stored-credential')
    const missing = validate()
    assert.equal(missing.status, 3)
    assert.match(missing.stderr, /unknown credential 'saved-aws'; no credentials are defined in the file or saved with `anycloud credentials add`/)
    const add = runCli(['credentials', 'add', 'saved-aws', '--provider', 'aws', '--profile', 'saved'], {cwd, home})
    assert.equal(add.status, 0, add.stderr)
    const found = validate()
    assert.equal(found.status, 0, found.stderr)
  })
})
