import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {stringify} from 'yaml'

import {builtPackage, runCli} from '../config/cli-helpers.js'
import {tempDir} from '../config/helpers.js'
import {FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, startFakeAws, type FakeAws} from '../helpers/fake-aws/index.js'

/** CLI conventions (issue 13, item 9 and 13): help, flags, -f, messages — the built CLI in a child process. */
describe('anycloud CLI conventions', function () {
  this.timeout(120_000)
  let t: ReturnType<typeof tempDir>
  let cwd: string
  let home: string

  before(function () {
    // The first test file of a run compiles the private package; on a loaded machine that is slow.
    this.timeout(600_000)
    builtPackage()
  })

  beforeEach(() => {
    t = tempDir('anycloud-conventions-')
    cwd = join(t.dir, 'repo')
    home = join(t.dir, 'home')
    mkdirSync(cwd)
    mkdirSync(home)
    writeFileSync(join(cwd, 'anycloud.yaml'), stringify({version: 1, project: 'conv', credentials: {laptop: {provider: 'local', root: 'cloud'}}, profiles: {train: {credentials: 'laptop', runtime: 'process', command: ['true']}}}))
  })

  afterEach(() => t.cleanup())

  const run = (args: string[], env?: Record<string, string>) => runCli(args, {cwd, home, env})

  describe('help', () => {
    it('-h, --help and `anycloud help` list the commands on stdout, exit 0', () => {
      for (const args of [['-h'], ['--help'], ['help']]) {
        const r = run(args)
        assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`)
        assert.match(r.stdout, /USAGE/)
        for (const c of ['apply', 'plan', 'validate', 'watch', 'logs', 'destroy', 'status']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'), `${args.join(' ')} lists ${c}`)
      }
    })

    it('`anycloud help COMMAND` and `COMMAND -h` show that command', () => {
      for (const args of [['help', 'plan'], ['plan', '-h'], ['plan', '--help'], ['help', 'state', 'list'], ['validate', '-h']]) {
        const r = run(args)
        assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`)
        assert.match(r.stdout, new RegExp(`\\$ anycloud ${args[0] === 'help' ? args.slice(1).join(' ') : args[0]}`), args.join(' '))
      }
    })

    it('help for a command that does not exist is invalid usage (exit 3, not oclif\'s 2 = "changes pending")', () => {
      const r = run(['help', 'pln'])
      assert.equal(r.status, 3, r.stderr)
      assert.match(r.stderr, /pln not found/)
    })

    it('shell completion is offered (autocomplete)', () => {
      const r = run(['autocomplete', '--help'])
      assert.equal(r.status, 0, r.stderr)
      assert.match(r.stdout, /anycloud autocomplete/)
    })

    it('watch\'s one-line description is a whole sentence in the command list', () => {
      const r = run(['help'])
      const line = r.stdout.split('\n').find((l) => /^ {2}watch /.test(l))
      assert.ok(line, r.stdout)
      // The summary may wrap; take it up to the next command.
      const block = r.stdout.slice(r.stdout.indexOf(line)).split(/\n {2}\S/)[0].replace(/\s+/g, ' ').trim()
      assert.match(block, /^watch Controller loop: .*\.$/)
      assert.doesNotMatch(block, /—$/)
    })
  })

  describe('flags', () => {
    it('an unknown flag is invalid usage (exit 3) with a did-you-mean', () => {
      const r = run(['plan', '--detailed-exit-code'])
      assert.equal(r.status, 3, r.stderr)
      assert.match(r.stderr, /Nonexistent flag: --detailed-exit-code/)
      assert.match(r.stderr, /Did you mean --detailed-exitcode/)
      assert.equal(r.stdout, '')
      const far = run(['status', '--zzzzzzzz'])
      assert.equal(far.status, 3)
      assert.doesNotMatch(far.stderr, /Did you mean/)
    })

    it('logs: -f is --file (as everywhere), follow is -F/--follow', () => {
      mkdirSync(join(cwd, 'sub'))
      writeFileSync(join(cwd, 'sub', 'anycloud.yaml'), stringify({version: 1, project: 'other', credentials: {laptop: {provider: 'local', root: 'cloud'}}, profiles: {other: {credentials: 'laptop', runtime: 'process', command: ['true']}}}))
      // -f names the file: profile `other` is found there (and has no deployment yet).
      const f = run(['logs', 'other', '-f', 'sub/anycloud.yaml'])
      assert.equal(f.status, 3, f.stderr)
      assert.match(f.stderr, /profile 'other' has no deployment yet/)
      for (const follow of ['-F', '--follow']) {
        const r = run(['logs', 'train', follow])
        assert.equal(r.status, 3, r.stderr)
        assert.match(r.stderr, /profile 'train' has no deployment yet/)
      }
      const help = run(['logs', '--help'])
      assert.match(help.stdout, /-F, --follow/)
      assert.match(help.stdout, /-f, --file=<value>/)
    })

    it('-f DIR reads DIR/anycloud.yaml (every command)', () => {
      mkdirSync(join(cwd, 'ci'))
      writeFileSync(join(cwd, 'ci', 'anycloud.yaml'), stringify({version: 1, project: 'ci', credentials: {laptop: {provider: 'local', root: 'cloud'}}, profiles: {job: {credentials: 'laptop', runtime: 'process', command: ['true']}}}))
      const s = run(['status', '-f', 'ci'])
      assert.equal(s.status, 0, s.stderr)
      assert.match(s.stdout, /^job: not applied$/m)
      const p = run(['plan', '-f', 'ci', '--json'])
      assert.equal(p.status, 0, p.stderr)
      assert.deepEqual(Object.keys(JSON.parse(p.stdout).profiles), ['job'])
    })
  })

  it('apply FILE that does not exist says "no such plan file"', () => {
    for (const args of [['apply', 'missing.json'], ['apply', '-y', 'out/plan.json'], ['apply', '-y', 'plan.v2']]) {
      const r = run(args)
      assert.equal(r.status, 3, r.stderr)
      assert.match(r.stderr, /no such plan file: (missing\.json|out\/plan\.json|plan\.v2)/, args.join(' '))
      assert.doesNotMatch(r.stderr, /unknown profile|non-interactive/)
    }
    // A profile name is still a profile name.
    const typo = run(['apply', '-y', 'trian'])
    assert.equal(typo.status, 3)
    assert.match(typo.stderr, /unknown profile 'trian'.*did you mean 'train'/)
  })

  describe('AWS', () => {
    let fake: FakeAws
    before(async () => {
      fake = await startFakeAws()
    })
    after(async () => {
      await fake?.close()
    })

    it('no SDK Node-version notice on a command that talks to AWS', async () => {
      writeFileSync(join(cwd, 'anycloud.yaml'), stringify({
        version: 1, project: 'conv',
        credentials: {aws: {provider: 'aws', region: 'us-east-1', accessKeyId: '${env:K}', secretAccessKey: '${env:S}', endpoints: {sts: fake.url, ec2: fake.url, iam: fake.url, s3: fake.url}}},
        profiles: {train: {credentials: 'aws', vmType: 't3.micro', command: ['true']}},
      }))
      // Asynchronously: the fake answers from this process, which spawnSync would block.
      const env = {PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ANYCLOUD_HOME: home, CI: 'true', K: FAKE_ACCESS_KEY_ID, S: FAKE_SECRET_ACCESS_KEY, AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent'}
      const r = await new Promise<{status: number; stdout: string; stderr: string}>((resolve) => {
        execFile(process.execPath, [join(builtPackage(), 'bin', 'run.js'), 'credentials', 'test', 'aws'], {cwd, env, timeout: 60_000}, (error, stdout, stderr) => resolve({status: error ? Number(error.code ?? 1) : 0, stdout, stderr}))
      })
      assert.equal(r.status, 0, r.stderr)
      assert.match(r.stdout, /aws \(aws\): ok/)
      assert.doesNotMatch(r.stdout + r.stderr, /NodeVersionSupportWarning|AWS SDK for JavaScript/)
    })
  })
})
