import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {chmod, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {RemoteCommandAbortedError, RemoteCommandTimeoutError, RemoteFileError} from '../../src/remote/errors.js'
import {LocalRunner} from '../../src/remote/local-runner.js'

/** Whether `pid` is a running process (a zombie waiting for init to reap it counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return !/^\S+ \(.*\) Z /.test(stat)
  } catch {
    return false
  }
}

describe('LocalRunner', () => {
  let work: string
  const runner = new LocalRunner()

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'anycloud-local-runner-'))
  })
  after(async () => {
    await rm(work, {recursive: true, force: true})
  })

  it('runs bash -c with exit codes, stderr, stdin and streaming', async () => {
    assert.equal(runner.description, 'local')
    const result = await runner.run('[[ -n "$BASH_VERSION" ]] && echo bash; echo err >&2; exit 4')
    assert.deepEqual(result, {exitCode: 4, stdout: 'bash\n', stderr: 'err\n'})
    assert.equal((await runner.run('tr a-z A-Z', {stdin: 'secret'})).stdout, 'SECRET')
    assert.equal((await runner.run('cat; echo eof')).stdout, 'eof\n')
    const gate = join(work, 'gate')
    const streamed = await runner.run(`echo first; while [ ! -e ${gate} ]; do sleep 0.02; done; echo second`, {
      onStdout: (chunk) => chunk.toString().includes('first') && void writeFile(gate, ''),
      timeoutMs: 10_000,
    })
    assert.equal(streamed.stdout, 'first\nsecond\n')
    assert.equal((await runner.run('kill -TERM $$')).exitCode, 143)
  })

  it('kills the whole process group on timeout and on abort', async () => {
    const pidFile = join(work, 'pid')
    // The deadline leaves the shell time to start and record the pid on a loaded machine (200 ms did not: ENOENT).
    await assert.rejects(runner.run(`sleep 300 & echo $! > ${pidFile}; wait`, {timeoutMs: 2_000}), RemoteCommandTimeoutError)
    const pid = Number(await readFile(pidFile, 'utf8'))
    assert.equal(alive(pid), false)

    const controller = new AbortController()
    await assert.rejects(
      runner.run(`sleep 300 & echo $! > ${pidFile}; echo go; wait`, {signal: controller.signal, onStdout: () => controller.abort()}),
      RemoteCommandAbortedError,
    )
    assert.equal(alive(Number(await readFile(pidFile, 'utf8'))), false)
    await assert.rejects(runner.run('true', {signal: controller.signal}), RemoteCommandAbortedError)
  })

  it('uploads atomically with the mode (0644 → 0600), creates parents; reads back; undefined when missing', async () => {
    const path = join(work, 'x', 'credentials')
    await runner.upload(path, 'one', 0o600)
    assert.equal((await stat(path)).mode & 0o7777, 0o600)
    await chmod(path, 0o644)
    await runner.upload(path, Buffer.from('two'), 0o600, {dirMode: 0o700})
    assert.equal((await stat(path)).mode & 0o7777, 0o600)
    assert.equal((await stat(join(work, 'x'))).mode & 0o7777, 0o700)
    assert.equal((await runner.readFile(path))?.toString(), 'two')
    assert.equal(await runner.readFile(join(work, 'nope')), undefined)
    await assert.rejects(runner.upload(work, 'x', 0o600), RemoteFileError)
    assert.equal(runner.stats.execs >= 3, true)
  })
})
