import assert from 'node:assert/strict'
import {chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {checkCredentialShape} from '../../src/credentials/shape.js'
import {anycloudHome, CredentialStore, redactCredential} from '../../src/credentials/store.js'
import {AnycloudError, UsageError} from '../../src/errors/index.js'
import {tempDir} from '../config/helpers.js'

const mode = (path: string) => statSync(path).mode & 0o777

describe('CredentialStore', () => {
  let t: ReturnType<typeof tempDir>
  beforeEach(() => {
    t = tempDir('anycloud-store-')
  })
  afterEach(() => t.cleanup())

  it('lives under $ANYCLOUD_HOME, else ~/.anycloud', () => {
    assert.equal(anycloudHome({ANYCLOUD_HOME: '/x/y'}), '/x/y')
    assert.match(anycloudHome({}), /\.anycloud$/)
    assert.equal(new CredentialStore('/x/y').path, '/x/y/credentials.json')
  })

  it('an absent store is empty; add, get, list and remove round-trip', () => {
    const store = new CredentialStore(join(t.dir, 'home'))
    assert.deepEqual(store.list(), {})
    store.add('aws-prod', {provider: 'aws', profile: 'prod'})
    store.add('laptop', {provider: 'local'})
    assert.deepEqual(store.get('aws-prod'), {provider: 'aws', profile: 'prod'})
    assert.deepEqual(Object.keys(new CredentialStore(join(t.dir, 'home')).list()), ['aws-prod', 'laptop'])
    assert.equal(store.remove('aws-prod'), true)
    assert.equal(store.remove('aws-prod'), false)
    assert.deepEqual(JSON.parse(readFileSync(store.path, 'utf8')), {version: 1, credentials: {laptop: {provider: 'local'}}})
  })

  it('refuses to replace a credential unless asked to', () => {
    const store = new CredentialStore(join(t.dir, 'home'))
    store.add('a', {provider: 'local'})
    assert.throws(() => store.add('a', {provider: 'aws'}), (e: unknown) => e instanceof UsageError && e.exitCode === 3 && /already exists/.test(e.message))
    store.add('a', {provider: 'aws'}, {overwrite: true})
    assert.equal(store.get('a')?.provider, 'aws')
  })

  it('creates its directory 0700 and the file 0600, leaving no temp files', () => {
    const home = join(t.dir, 'nested', 'home')
    const store = new CredentialStore(home)
    store.add('a', {provider: 'local'})
    assert.equal(mode(home), 0o700)
    assert.equal(mode(store.path), 0o600)
    assert.deepEqual(readdirSync(home), ['credentials.json'])
  })

  it('rewrites a store that had mode 0644 as 0600 (a new file, renamed over the old one)', () => {
    const home = join(t.dir, 'home')
    mkdirSync(home, {mode: 0o700})
    const path = join(home, 'credentials.json')
    writeFileSync(path, JSON.stringify({version: 1, credentials: {old: {provider: 'local'}}}))
    chmodSync(path, 0o644)
    const inodeBefore = statSync(path).ino
    const store = new CredentialStore(home)
    store.add('new', {provider: 'local'})
    assert.equal(mode(path), 0o600)
    assert.notEqual(statSync(path).ino, inodeBefore, 'written atomically: a new file replaces the old one')
    assert.deepEqual(Object.keys(store.list()), ['old', 'new'])
    chmodSync(path, 0o644)
    store.remove('old')
    assert.equal(mode(path), 0o600, 'remove rewrites it 0600 too')
  })

  it('a corrupt store is a clear error, not a crash', () => {
    const home = join(t.dir, 'home')
    mkdirSync(home)
    const store = new CredentialStore(home)
    for (const content of ['{oops', 'null', '[]', '{"version": 1}', '{"version": 1, "credentials": null}', '{"version": 1, "credentials": []}']) {
      writeFileSync(store.path, content)
      assert.throws(() => store.list(), (e: unknown) => e instanceof AnycloudError && e.code === 'credentials.corrupt' && e.message.startsWith(store.path), content)
    }
  })

  it('redactCredential hides every secret field and nothing else', () => {
    assert.deepEqual(redactCredential({provider: 'aws', region: 'us-east-1', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'canary', sessionToken: 'tok'}), {
      provider: 'aws',
      region: 'us-east-1',
      accessKeyId: '(sensitive)',
      secretAccessKey: '(sensitive)',
      sessionToken: '(sensitive)',
    })
    assert.deepEqual(redactCredential({provider: 'azure', subscriptionId: '00000000-0000-0000-0000-000000000000', clientSecret: 'canary'}), {
      provider: 'azure',
      subscriptionId: '00000000-0000-0000-0000-000000000000',
      clientSecret: '(sensitive)',
    })
  })
})

describe('checkCredentialShape', () => {
  it('accepts the shapes of the file schema', () => {
    assert.deepEqual(checkCredentialShape({provider: 'aws', profile: 'prod', region: 'us-east-1'}), [])
    assert.deepEqual(checkCredentialShape({provider: 'local'}), [])
    assert.deepEqual(checkCredentialShape({provider: 'ssh', hosts: [{host: 'h', user: 'u'}], storage: 'x'}), [])
  })

  it('accepts literal secrets only when asked to (the store may hold them, the file may not)', () => {
    const c = {provider: 'aws', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'}
    assert.equal(checkCredentialShape(c).length, 2)
    assert.deepEqual(checkCredentialShape(c, {allowLiteralSecrets: true}), [])
    // …but a secret must still be a non-empty string.
    assert.equal(checkCredentialShape({provider: 'aws', secretAccessKey: 5}, {allowLiteralSecrets: true}).length, 1)
    assert.equal(checkCredentialShape({provider: 'aws', secretAccessKey: ''}, {allowLiteralSecrets: true}).length, 1)
  })

  it('names what is wrong', () => {
    assert.deepEqual(checkCredentialShape({provider: 'azure'}), ['missing subscriptionId'])
    assert.deepEqual(checkCredentialShape({provider: 'gcp', project: 'acme-ml', keyfile: 'x'}), ["unknown field 'keyfile'"])
    assert.match(checkCredentialShape({provider: 'gcp', project: 'Acme_ML'})[0], /^project: must be a GCP project id/)
    assert.match(checkCredentialShape({provider: 'aws', secretAccessKey: 'x'})[0], /^secretAccessKey: /)
  })
})
