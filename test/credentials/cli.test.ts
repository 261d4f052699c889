import assert from 'node:assert/strict'
import {chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {builtPackage, runCli} from '../config/cli-helpers.js'
import {tempDir} from '../config/helpers.js'

const mode = (path: string) => statSync(path).mode & 0o777

/** `anycloud credentials add | list | remove` as a user runs them. */
describe('anycloud credentials (CLI)', function () {
  this.timeout(120_000)
  let t: ReturnType<typeof tempDir>
  let cwd: string
  let home: string
  let storePath: string

  before(() => {
    builtPackage()
  })

  beforeEach(() => {
    t = tempDir('anycloud-creds-')
    cwd = join(t.dir, 'repo')
    // Not created in advance: the store creates $ANYCLOUD_HOME itself.
    home = join(t.dir, 'home', '.anycloud')
    storePath = join(home, 'credentials.json')
    mkdirSync(cwd)
  })

  afterEach(() => t.cleanup())

  const cli = (args: string[], input?: string) => runCli(['credentials', ...args], {cwd, home, input})

  it('add writes the store 0600 in a 0700 directory; list shows it; remove deletes it', () => {
    const add = cli(['add', 'aws-prod', '--provider', 'aws', '--profile', 'prod', '--region', 'us-east-1'])
    assert.equal(add.status, 0, add.stderr)
    assert.match(add.stdout, /^Saved credential 'aws-prod' \(aws\) in .*credentials\.json:$/m)
    // Echoed as lines a person reads, never as JSON.
    assert.match(add.stdout, /^ {2}region {3}us-east-1$/m)
    assert.match(add.stdout, /^ {2}profile {2}prod$/m)
    assert.doesNotMatch(add.stdout, /[{}"]/)
    assert.equal(mode(home), 0o700)
    assert.equal(mode(storePath), 0o600)
    assert.deepEqual(JSON.parse(readFileSync(storePath, 'utf8')), {version: 1, credentials: {'aws-prod': {provider: 'aws', region: 'us-east-1', profile: 'prod'}}})

    const list = cli(['list'])
    assert.equal(list.status, 0, list.stderr)
    assert.match(list.stdout, /^aws-prod\taws\tregion=us-east-1 profile=prod$/m, 'a list is a result: stdout (`credentials list | grep`)')
    const json = cli(['list', '--json'])
    assert.equal(json.status, 0)
    assert.deepEqual(JSON.parse(json.stdout), {store: storePath, credentials: [{name: 'aws-prod', provider: 'aws', region: 'us-east-1', profile: 'prod'}]})

    const remove = cli(['remove', 'aws-prod'])
    assert.equal(remove.status, 0, remove.stderr)
    assert.deepEqual(JSON.parse(readFileSync(storePath, 'utf8')).credentials, {})
    const empty = cli(['list'])
    assert.equal(empty.stdout, '')
    assert.match(empty.stderr, /No credentials saved/)
  })

  it('rewrites a pre-existing 0644 store as 0600', () => {
    mkdirSync(home, {recursive: true, mode: 0o700})
    writeFileSync(storePath, JSON.stringify({version: 1, credentials: {laptop: {provider: 'local'}}}))
    chmodSync(storePath, 0o644)
    const add = cli(['add', 'lab', '--provider', 'ssh', '--host', 'ubuntu@10.0.0.5:2222', '--identity-file', '~/.ssh/lab', '--storage', 'laptop'])
    assert.equal(add.status, 0, add.stderr)
    assert.equal(mode(storePath), 0o600)
    const store = JSON.parse(readFileSync(storePath, 'utf8'))
    assert.deepEqual(store.credentials.lab, {provider: 'ssh', storage: 'laptop', hosts: [{host: '10.0.0.5', user: 'ubuntu', port: 2222, identityFile: '~/.ssh/lab'}]})
    assert.deepEqual(Object.keys(store.credentials), ['laptop', 'lab'])
    assert.match(add.stdout, /^ {2}hosts {4}ubuntu@10\.0\.0\.5:2222 \(key ~\/\.ssh\/lab\)$/m)
    assert.match(cli(['list']).stdout, /^lab\tssh\tstorage=laptop hosts=ubuntu@10\.0\.0\.5:2222 \(key ~\/\.ssh\/lab\)$/m)
  })

  it('never prints a secret: not when adding, not in list, not in list --json', () => {
    const canaryKey = 'AKIACANARY0000000001'
    const canarySecret = 'canary-secret-Hq7vZ2pL9xW4'
    const add = cli(['add', 'ci', '--provider', 'aws', '--region', 'eu-west-1', '--secrets-stdin'], JSON.stringify({accessKeyId: canaryKey, secretAccessKey: canarySecret}))
    assert.equal(add.status, 0, add.stderr)
    const stored = readFileSync(storePath, 'utf8')
    assert.ok(stored.includes(canarySecret), 'the secret is in the 0600 store')
    assert.equal(mode(storePath), 0o600)

    const list = cli(['list'])
    const json = cli(['list', '--json'])
    assert.equal(list.status, 0)
    assert.equal(json.status, 0)
    for (const [what, text] of [['add', add.stdout + add.stderr], ['list', list.stdout + list.stderr], ['list --json', json.stdout + json.stderr]]) {
      assert.ok(!text.includes(canarySecret), `${what} printed the secret access key`)
      assert.ok(!text.includes(canaryKey), `${what} printed the access key id`)
      assert.ok(!text.includes('Hq7vZ2'), `${what} printed part of the secret`)
    }
    const listed = JSON.parse(json.stdout).credentials[0]
    assert.equal(listed.secretAccessKey, '(sensitive)')
    assert.equal(listed.accessKeyId, '(sensitive)')
    assert.match(list.stdout, /secretAccessKey=\(sensitive\)/)
    assert.match(add.stdout, /^ {2}secretAccessKey +\(sensitive\)$/m)
  })

  it('remove of an unknown name exits 3 and lists what is saved', () => {
    assert.equal(cli(['add', 'laptop', '--provider', 'local']).status, 0)
    const r = cli(['remove', 'nope'])
    assert.equal(r.status, 3)
    assert.match(r.stderr, /no credential named 'nope'.*saved: laptop/)
  })

  describe('add rejects a bad credential with exit 3 and writes nothing', () => {
    const cases: Array<[string, string[], string | undefined, RegExp]> = [
      ['azure without a subscription', ['add', 'az', '--provider', 'azure'], undefined, /missing subscriptionId/],
      ['a bad GCP project id', ['add', 'g', '--provider', 'gcp', '--project', 'Acme_ML'], undefined, /project: must be a GCP project id/],
      ['an unknown provider', ['add', 'x', '--provider', 'awz'], undefined, /Expected --provider=awz to be one of/],
      ['a host without a user', ['add', 'lab', '--provider', 'ssh', '--host', '10.0.0.5'], undefined, /expected user@host/],
      ['a name the file could not reference', ['add', 'my cred', '--provider', 'local'], undefined, /invalid credential name 'my cred'/],
      ['secrets that are not JSON', ['add', 'ci', '--provider', 'aws', '--secrets-stdin'], 'accessKeyId=AKIA', /stdin is not a JSON object/],
      ['secrets that are a JSON list', ['add', 'ci', '--provider', 'aws', '--secrets-stdin'], '["x"]', /stdin is not a JSON object/],
      ['a non-secret field on stdin', ['add', 'ci', '--provider', 'aws', '--secrets-stdin'], '{"region": "us-east-1"}', /'region' is not a secret field/],
      ['a secret that is not a string', ['add', 'ci', '--provider', 'aws', '--secrets-stdin'], '{"secretAccessKey": 5}', /must be a non-empty string/],
      ['a secret of the wrong cloud', ['add', 'g', '--provider', 'gcp', '--project', 'acme-ml', '--secrets-stdin'], '{"clientSecret": "canary-Zz"}', /unknown field 'clientSecret'/],
      ['no name', ['add', '--provider', 'local'], undefined, /Missing 1 required arg/],
    ]
    for (const [title, args, input, message] of cases) {
      it(title, () => {
        const r = cli(args, input)
        assert.equal(r.status, 3, `${r.stdout}\n${r.stderr}`)
        assert.match(r.stderr, message)
        assert.ok(!r.stderr.includes('canary-Zz'))
        assert.equal(existsSync(storePath), false)
      })
    }
  })

  it('add of an existing name exits 3 unless --force', () => {
    assert.equal(cli(['add', 'a', '--provider', 'local']).status, 0)
    const again = cli(['add', 'a', '--provider', 'aws'])
    assert.equal(again.status, 3)
    assert.match(again.stderr, /already exists/)
    const forced = cli(['add', 'a', '--provider', 'aws', '--force'])
    assert.equal(forced.status, 0, forced.stderr)
    assert.equal(JSON.parse(readFileSync(storePath, 'utf8')).credentials.a.provider, 'aws')
  })
})
