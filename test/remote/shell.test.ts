import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {composeReadFile, composeRun, composeStop, composeUpload, modeString, shellQuote} from '../../src/remote/shell.js'

describe('remote shell lines', () => {
  it('shellQuote survives a real shell for nasty strings', () => {
    for (const value of ['', 'plain', "it's", '$(id) `id` $HOME', 'a\nb', '*', '-n', ' lead', "''", '\\', 'ü €']) {
      const echoed = execFileSync('sh', ['-c', `printf '%s' ${shellQuote(value)}`], {encoding: 'utf8'})
      assert.equal(echoed, value)
    }
  })

  it('composes run/upload/read/stop lines with and without sudo -n', () => {
    const token = 'abc123def456'
    assert.match(composeRun('echo hi', token, {sudo: false}), /^exec bash --norc -c '.*' anycloud-run-abc123def456 'echo hi'$/s)
    assert.match(composeRun('echo hi', token, {sudo: true}), /^exec sudo -n bash --norc -c '.*' anycloud-run-abc123def456 'echo hi'$/s)
    assert.match(composeUpload('/etc/x y', 0o600, undefined, {sudo: true}), /^exec sudo -n bash --norc -c '.*' anycloud-upload '\/etc\/x y' 0600 '' ''$/s)
    assert.match(composeUpload('/root/.aws/credentials', 0o600, {owner: 'ubuntu:ubuntu', dirMode: 0o700}, {sudo: false}), / 0600 ubuntu:ubuntu 0700$/)
    assert.match(composeReadFile('/etc/hostname', {sudo: true}), /^exec sudo -n bash --norc -c .* anycloud-read \/etc\/hostname$/s)
    assert.match(composeStop(token, {sudo: true}), /^exec sudo -n bash --norc -c .* anycloud-stop abc123def456$/s)
    assert.ok(!composeStop(token, {sudo: false}).includes(`anycloud-run-${token}`), 'the stop line never matches itself')
  })

  it('refuses what cannot be passed safely', () => {
    assert.throws(() => composeUpload('/x', 0o600, {owner: 'root; rm -rf /'}, {sudo: false}), RangeError)
    assert.throws(() => composeUpload('', 0o600, undefined, {sudo: false}), RangeError)
    assert.throws(() => composeUpload('/x\0y', 0o600, undefined, {sudo: false}), RangeError)
    assert.throws(() => composeRun('true', 'BAD TOKEN', {sudo: false}), RangeError)
    assert.throws(() => modeString(0o10000), RangeError)
    assert.equal(modeString(0o600), '0600')
  })
})
