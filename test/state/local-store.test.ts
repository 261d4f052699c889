import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {LockedError, UsageError} from '../../src/errors/index.js'
import {emptyState} from '../../src/state/index.js'
import {LocalStateStore} from '../../src/state/local-store.js'
import type {StateDocument} from '../../src/state/types.js'

const HERE = dirname(fileURLToPath(import.meta.url))

function doc(serial: number, lineage = 'lin-1'): StateDocument {
  return {...emptyState('proj'), lineage, serial, deployments: {train: {id: 'proj-train-abc123', profile: 'train', createdAt: '2026-01-01T00:00:00.000Z', resources: {}}}}
}

/** A pid that existed and is gone now. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {encoding: 'utf8'})
  return Number(r.stdout)
}

describe('state: the local store', () => {
  let dir: string
  let store: LocalStateStore

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'anycloud-state-'))
    store = new LocalStateStore(join(dir, '.anycloud'), dir)
  })
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  it('reads nothing before the first write; writes with mode 0600 in a 0700 directory; keeps the previous version as a backup', async () => {
    assert.equal(await store.read(), undefined)
    await store.write(doc(1))
    assert.equal(statSync(store.path).mode & 0o777, 0o600)
    assert.equal(statSync(join(dir, '.anycloud')).mode & 0o777, 0o700)
    assert.equal(existsSync(`${store.path}.backup`), false)
    await store.write(doc(2))
    assert.equal((await store.read())!.serial, 2)
    assert.equal((JSON.parse(readFileSync(`${store.path}.backup`, 'utf8')) as StateDocument).serial, 1)
    assert.equal(store.description, join('.anycloud', 'state.json'))
  })

  it('a crash between the temp file and the rename leaves the old version (and a backup), never a mix', async () => {
    await store.write(doc(1))
    const before = readFileSync(store.path, 'utf8')
    store.beforeRename = (temp) => {
      assert.ok(existsSync(temp), 'the new version is fully written to the temp file first')
      assert.equal((JSON.parse(readFileSync(temp, 'utf8')) as StateDocument).serial, 2)
      throw new Error('crash injected before rename')
    }
    await assert.rejects(store.write(doc(2)), /crash injected/)
    assert.equal(readFileSync(store.path, 'utf8'), before, 'the state file is the old version')
    assert.equal(readFileSync(`${store.path}.backup`, 'utf8'), before, 'a backup exists')
    assert.equal((await store.read())!.serial, 1)
    store.beforeRename = undefined
    await store.write(doc(2))
    assert.equal((await store.read())!.serial, 2, 'the next write succeeds')
  })

  it('a process SIGKILLed between the temp file and the rename leaves the old version readable', async () => {
    await store.write(doc(1))
    const before = readFileSync(store.path, 'utf8')
    const script = `
      import {LocalStateStore} from ${JSON.stringify(pathToFileURL(join(HERE, '../../src/state/local-store.ts')).href)}
      const store = new LocalStateStore(${JSON.stringify(join(dir, '.anycloud'))})
      store.beforeRename = () => process.kill(process.pid, 'SIGKILL')
      const doc = JSON.parse(${JSON.stringify(JSON.stringify(doc(2)))})
      await store.write(doc)
    `
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {stdio: 'ignore', cwd: join(HERE, '../..')})
    const signal = await new Promise((r) => child.once('exit', (_code, sig) => r(sig)))
    assert.equal(signal, 'SIGKILL')
    assert.equal(readFileSync(store.path, 'utf8'), before)
    assert.equal((await store.read())!.serial, 1)
    assert.ok(existsSync(`${store.path}.backup`))
    assert.ok(readdirSync(join(dir, '.anycloud')).some((f) => f.endsWith('.tmp')), 'the crash left only a temp file behind')
  })

  it('refuses to overwrite another lineage or a newer (or equal) serial', async () => {
    await store.write(doc(5))
    await assert.rejects(store.write(doc(6, 'lin-2')), (e: unknown) => e instanceof Error && /lineage lin-1/.test(e.message))
    await assert.rejects(store.write(doc(5)), /serial 5/)
    await assert.rejects(store.write(doc(4)), /another run changed it/)
    assert.equal((await store.read())!.serial, 5)
  })

  it('an unreadable state is an error that points at the backup', async () => {
    await store.write(doc(1))
    await store.write(doc(2))
    writeFileSync(store.path, '{"formatVersion": 1, "lineage": "x", "ser')
    await assert.rejects(store.read(), (e: unknown) => e instanceof Error && /unreadable/.test(e.message) && (e as unknown as {suggestions: string[]}).suggestions.some((s) => s.includes('state.json.backup')))
  })

  it('the lock is exclusive: a second holder gets a LockedError naming the holder and the lock id', async () => {
    const first = await store.lock('apply')
    assert.match(first.id, /^[0-9a-f-]{36}$/)
    assert.equal(first.operation, 'apply')
    assert.equal(first.pid, process.pid)
    assert.equal(statSync(store.lockPath).mode & 0o777, 0o600)
    const other = new LocalStateStore(join(dir, '.anycloud'), dir)
    const error = await other.lock('destroy').then(() => undefined, (e: unknown) => e)
    assert.ok(error instanceof LockedError)
    assert.equal(error.exitCode, 4)
    assert.equal(error.lockId, first.id)
    assert.match(error.message, new RegExp(`apply by .+@${hostname()} \\(pid ${process.pid}\\).*lock id ${first.id}`))
    assert.deepEqual(await store.readLock(), first, 'the lock is unchanged')
    await store.unlock(first.id)
    const second = await other.lock('destroy')
    assert.notEqual(second.id, first.id, 'lock ids differ')
    await other.unlock(second.id)
    assert.equal(existsSync(store.lockPath), false)
  })

  it('unlock with a wrong id is refused and leaves the lock; without a lock it says so', async () => {
    const held = await store.lock('apply')
    await assert.rejects(store.unlock('00000000-0000-0000-0000-000000000000', {force: true}), (e: unknown) => e instanceof UsageError && /does not match/.test(e.message) && e.message.includes(held.id))
    assert.deepEqual(await store.readLock(), held)
    await store.unlock(held.id)
    await assert.rejects(store.unlock(held.id), /not locked/)
    await store.unlock(held.id, {force: true})
  })

  it('a lock whose holder died on this host is taken over; one held on another host is not', async () => {
    const {mkdirSync} = await import('node:fs')
    mkdirSync(join(dir, '.anycloud'), {recursive: true})
    writeFileSync(store.lockPath, JSON.stringify({id: 'dead-lock', operation: 'apply', who: 'ci', host: hostname(), pid: deadPid(), created: '2026-01-01T00:00:00.000Z'}))
    const mine = await store.lock('apply')
    assert.notEqual(mine.id, 'dead-lock')
    await store.unlock(mine.id)
    writeFileSync(store.lockPath, JSON.stringify({id: 'remote-lock', operation: 'apply', who: 'ci', host: 'some-other-host', pid: deadPid(), created: '2026-01-01T00:00:00.000Z'}))
    await assert.rejects(store.lock('apply'), (e: unknown) => e instanceof LockedError && e.lockId === 'remote-lock')
  })

  it('two runs taking over the same dead holder\'s lock at once: exactly one gets it', async () => {
    const {mkdirSync} = await import('node:fs')
    mkdirSync(join(dir, '.anycloud'), {recursive: true})
    for (let round = 0; round < 5; round++) {
      writeFileSync(store.lockPath, JSON.stringify({id: 'dead-lock', operation: 'apply', who: 'ci', host: hostname(), pid: deadPid(), created: '2026-01-01T00:00:00.000Z'}))
      const stores = [0, 1, 2].map(() => new LocalStateStore(join(dir, '.anycloud'), dir))
      const results = await Promise.allSettled(stores.map((s) => s.lock('apply')))
      const won = results.filter((r) => r.status === 'fulfilled')
      assert.equal(won.length, 1, `round ${round}: ${results.map((r) => r.status).join(', ')}`)
      assert.ok(results.every((r) => r.status === 'fulfilled' || r.reason instanceof LockedError))
      const holder = (won[0] as PromiseFulfilledResult<{id: string}>).value
      assert.equal((await store.readLock())!.id, holder.id, 'the lock file is the winner\'s')
      await store.unlock(holder.id)
    }
  })

  it('a live holder\'s lock cannot be force-released by another process, even with the right id', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], {stdio: 'ignore'})
    try {
      const {mkdirSync} = await import('node:fs')
      mkdirSync(join(dir, '.anycloud'), {recursive: true})
      writeFileSync(store.lockPath, JSON.stringify({id: 'live-lock', operation: 'apply', who: 'me', host: hostname(), pid: child.pid, created: '2026-01-01T00:00:00.000Z'}))
      await assert.rejects(store.unlock('live-lock', {force: true}), /held by a live process/)
      assert.equal((await store.readLock())!.id, 'live-lock')
      await assert.rejects(store.lock('apply'), LockedError)
    } finally {
      child.kill('SIGKILL')
    }
  })
})
