import assert from 'node:assert/strict'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {loadConfig, requireConfig, ConfigError} from '../../src/config/index.js'
import {loadFile, locate, MAX_ALIAS_COUNT, MAX_FILE_BYTES} from '../../src/config/load.js'
import {CredentialStore} from '../../src/credentials/store.js'
import {AnycloudError, UsageError} from '../../src/errors/index.js'
import {CONFIG_FIXTURES, loadText, loadWith, tempDir} from './helpers.js'

const MINIMAL = 'version: 1\nprofiles:\n  train:\n    command: python train.py\n'

/** A file of exactly `bytes` bytes: a valid document padded with a comment. */
function padded(bytes: number): string {
  const head = MINIMAL + '# '
  return head + 'x'.repeat(bytes - Buffer.byteLength(head) - 1) + '\n'
}

describe('config loading: limits and YAML hazards', () => {
  it('rejects the billion-laughs alias bomb in well under a second', () => {
    const file = join(CONFIG_FIXTURES, 'invalid', 'alias-bomb.yaml')
    const started = process.hrtime.bigint()
    const result = loadWith(file)
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    assert.ok(ms < 1000, `took ${ms} ms`)
    assert.equal(result.errors.length, 1)
    assert.match(result.errors[0].message, /alias bomb/)
    assert.match(result.errors[0].message, new RegExp(`more than ${MAX_ALIAS_COUNT}`))
  })

  it('refuses a file over 1 MiB before parsing it, and accepts one of exactly 1 MiB', () => {
    const t = tempDir()
    try {
      const big = join(t.dir, 'big.yaml')
      writeFileSync(big, padded(MAX_FILE_BYTES + 1))
      const result = loadWith(big)
      assert.equal(result.errors.length, 1)
      assert.deepEqual({line: result.errors[0].line, column: result.errors[0].column, path: result.errors[0].path}, {line: 1, column: 1, path: ''})
      assert.match(result.errors[0].message, new RegExp(`file is ${MAX_FILE_BYTES + 1} bytes.*1 MiB`))

      const edge = join(t.dir, 'edge.yaml')
      writeFileSync(edge, padded(MAX_FILE_BYTES))
      assert.equal(readFileSync(edge).length, MAX_FILE_BYTES)
      const ok = loadWith(edge)
      assert.deepEqual(ok.errors, [])
      assert.ok(ok.config)
    } finally {
      t.cleanup()
    }
  })

  it('refuses a 5 MB file quickly (it is never read into the parser)', () => {
    const t = tempDir()
    try {
      const huge = join(t.dir, 'huge.yaml')
      // A 5 MB alias-free document that would be slow to parse: many small maps.
      writeFileSync(huge, 'version: 1\nprofiles:\n' + '  p: {command: x}\n'.repeat(5 * 1024 * 1024 / 18))
      const started = process.hrtime.bigint()
      const result = loadWith(huge)
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      assert.equal(result.errors.length, 1)
      assert.match(result.errors[0].message, /limited to 1048576 bytes/)
      assert.ok(ms < 1000, `took ${ms} ms`)
    } finally {
      t.cleanup()
    }
  })

  it('reports an absurdly nested document as one error instead of crashing', () => {
    const deep = loadText(`version: 1\nprofiles:\n  train:\n    command: x\n    env:\n      X: ${'['.repeat(20000)}${']'.repeat(20000)}\n`)
    assert.equal(deep.errors.length, 1, deep.errors.map((d) => d.message).join('\n'))
    assert.match(deep.errors[0].message, /nested too deeply/)
    assert.equal(deep.errors[0].line, 6)

    // Moderately nested values are parsed and get an ordinary type error at their position.
    const nested = loadText(`version: 1\nprofiles:\n  train:\n    command: x\n    env:\n      X: ${'['.repeat(300)}${']'.repeat(300)}\n`)
    assert.equal(nested.errors.length, 1)
    assert.equal(nested.errors[0].path, 'profiles.train.env.X')
    assert.equal(nested.errors[0].line, 6)
    assert.equal(nested.errors[0].column, 10)
    assert.match(nested.errors[0].message, /must be a string, not a list/)
  })

  it('treats YAML 1.1 booleans and octal-looking numbers the YAML 1.2 way', () => {
    const result = loadText('version: 1\nprofiles:\n  train:\n    command: [echo, no, on, off]\n    env: {A: yes, B: "012"}\n')
    assert.deepEqual(result.errors, [])
    const p = result.config!.profiles.train
    assert.deepEqual(p.command, ['echo', 'no', 'on', 'off'])
    assert.deepEqual(p.env, {A: 'yes', B: '012'})
    // `0755` is the decimal integer 755 in YAML 1.2, which a list of strings refuses.
    const octal = loadText('version: 1\nprofiles:\n  train:\n    command: [chmod, 0755, f]\n')
    assert.equal(octal.errors.length, 1)
    assert.equal(octal.errors[0].path, 'profiles.train.command[1]')
    assert.match(octal.errors[0].message, /YAML reads 0755 as the number 755.*quote it, "0755"/)
  })

  it('points at the key when a value is empty, and at the second key of a duplicate', () => {
    const empty = loadText('version: 1\nprofiles:\n  train:\n    command: x\n    region:\n')
    assert.deepEqual(empty.errors.map((d) => [d.line, d.column, d.path]), [[5, 5, 'profiles.train.region']])
    const dup = loadText('version: 1\nprofiles:\n  train: {command: x}\n  eval: {command: y}\n  train: {command: z}\n')
    assert.deepEqual(dup.errors.map((d) => [d.line, d.column, d.path, d.profile]), [[5, 3, 'profiles.train', 'train']])
    assert.match(dup.errors[0].message, /duplicate key 'train' \(first defined at line 3\)/)
  })

  it('records positions for every node, including list items and keys', () => {
    const t = tempDir()
    try {
      const file = join(t.dir, 'anycloud.yaml')
      writeFileSync(file, 'version: 1\nprofiles:\n  train:\n    command:\n      - python\n      - train.py\n')
      const loaded = loadFile(file, t.dir)
      assert.ok(loaded.ok)
      assert.deepEqual(locate(loaded.document, '/profiles/train/command/1').position, {line: 6, column: 9})
      assert.deepEqual(locate(loaded.document, '/profiles/train/command', true).position, {line: 4, column: 5})
      // A pointer below a leaf falls back to the nearest ancestor.
      assert.deepEqual(locate(loaded.document, '/profiles/train/command/1/x').position, {line: 6, column: 9})
    } finally {
      t.cleanup()
    }
  })

  it('a missing file, a directory and an unreadable file are usage errors (exit 3), not crashes', () => {
    const t = tempDir()
    try {
      const store = new CredentialStore(join(t.dir, 'home'))
      const missing = join(t.dir, 'nope.yaml')
      assert.throws(() => loadConfig({file: missing, env: {}, store}), (e: unknown) => e instanceof UsageError && e.exitCode === 3 && /nope\.yaml: no such file/.test(e.message))
      mkdirSync(join(t.dir, 'adir'))
      // A directory stands for its anycloud.yaml (`-f DIR`): one without it is a missing file, named.
      assert.throws(() => loadConfig({file: join(t.dir, 'adir'), env: {}, store}), (e: unknown) => e instanceof UsageError && e.exitCode === 3 && /adir\/anycloud\.yaml: no such file/.test(e.message))
      mkdirSync(join(t.dir, 'bdir', 'anycloud.yaml'), {recursive: true})
      assert.throws(() => loadConfig({file: join(t.dir, 'bdir'), env: {}, store}), (e: unknown) => e instanceof UsageError && e.exitCode === 3 && /not a file/.test(e.message))
    } finally {
      t.cleanup()
    }
  })

  it('requireConfig throws a ConfigError (exit 3) carrying every diagnostic', () => {
    const t = tempDir()
    try {
      const store = new CredentialStore(join(t.dir, 'home'))
      const file = join(CONFIG_FIXTURES, 'invalid', 'many-errors.yaml')
      assert.throws(() => requireConfig({file, env: {}, store}), (e: unknown) => {
        assert.ok(e instanceof ConfigError)
        assert.ok(e instanceof AnycloudError)
        assert.equal(e.exitCode, 3)
        assert.equal(e.diagnostics.length, 6)
        assert.match(e.message, /^6 errors in the configuration:/)
        return true
      })
      const ok = requireConfig({file: join(CONFIG_FIXTURES, 'valid', 'minimal.yaml'), env: {}, store})
      assert.deepEqual(Object.keys(ok.config.profiles), ['hello'])
    } finally {
      t.cleanup()
    }
  })

  it('reports a corrupt credential store as an error at the store, without crashing', () => {
    const t = tempDir()
    try {
      const home = join(t.dir, 'home')
      mkdirSync(home)
      for (const content of ['{not json', '{"version": 1, "credentials": null}', '[]']) {
        writeFileSync(join(home, 'credentials.json'), content)
        const result = loadConfig({file: join(CONFIG_FIXTURES, 'valid', 'minimal.yaml'), env: {}, store: new CredentialStore(home)})
        assert.equal(result.errors.length, 1, content)
        assert.equal(result.errors[0].file, join(home, 'credentials.json'))
      }
    } finally {
      t.cleanup()
    }
  })
})
