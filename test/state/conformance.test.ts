/**
 * One lock-and-fencing suite run against every state backend (reliability rows 1–6): two clients
 * contend for the lock, force-unlock with the right and a wrong id, the lost-response case, a
 * release that meets someone else's lock, a stale writer, and the honesty probe.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {PutObjectCommand, S3Client} from '@aws-sdk/client-s3'

import {requireConfig} from '../../src/config/index.js'
import {AnycloudError, LockedError, UsageError} from '../../src/errors/index.js'
import {emptyState, openStateStore} from '../../src/state/index.js'
import type {StateDocument, StateStore} from '../../src/state/types.js'
import {loopbackOnly, s3ClientConfig, withEnv} from '../helpers/storage/index.js'
import {STATE_TEST_ENV, startBackend, type BackendName, type StateBackendRig} from './backend-rig.js'

const BACKENDS: BackendName[] = ['local', 's3', 'gcs', 'azure']

function projectYaml(rig: StateBackendRig, bucket: string): string {
  return ['version: 1', 'project: conf', rig.yaml(bucket), 'profiles:', '  p: {credentials: here, command: "true", runtime: process}', ''].join('\n')
    .replace('credentials:\n', 'credentials:\n  here: {provider: local}\n')
    .replace(/^state:\n  backend: local\n/m, 'state:\n  backend: local\ncredentials:\n  here: {provider: local}\n')
}

function withSerial(doc: StateDocument, serial: number, marker = 'x'): StateDocument {
  return {...structuredClone(doc), serial, deployments: {p: {id: `conf-p-${marker}`, profile: 'p', createdAt: '2026-01-01T00:00:00.000Z', resources: {}}}}
}

for (const backend of BACKENDS) {
  describe(`state backend conformance: ${backend}`, function () {
    this.timeout(60_000)
    let rig: StateBackendRig
    let dir: string
    let bucket: string
    let n = 0
    const env = withEnv(STATE_TEST_ENV)
    let restoreNet: () => void
    const opened: StateStore[] = []

    const open = (): StateStore => {
      const {config} = requireConfig({file: join(dir, 'anycloud.yaml'), env: process.env})
      const store = openStateStore(config)
      opened.push(store)
      return store
    }

    before(async () => {
      env.apply()
      restoreNet = loopbackOnly()
      rig = await startBackend(backend)
    })
    after(async () => {
      await rig?.stop()
      restoreNet?.()
      env.restore()
    })
    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), `anycloud-conf-${backend}-`))
      bucket = `conf-state-${++n}`
      await rig.prepare(bucket)
      writeFileSync(join(dir, 'anycloud.yaml'), projectYaml(rig, bucket))
    })
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close?.()
      rmSync(dir, {recursive: true, force: true})
    })

    it('two clients contend: exactly one holds the lock; the other gets exit 4 naming holder, operation, time and id; the ids differ', async () => {
      const a = open()
      const b = open()
      const results = await Promise.allSettled([a.lock('apply'), b.lock('apply')])
      const won = results.filter((r) => r.status === 'fulfilled')
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      assert.equal(won.length, 1, `exactly one lock: ${results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'ok')).join(' | ')}`)
      assert.equal(lost.length, 1)
      const holder = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<StateStore['lock']>>>).value
      const error = lost[0].reason as LockedError
      assert.ok(error instanceof LockedError, String(error))
      assert.equal(error.exitCode, 4)
      assert.equal(error.lockId, holder.id)
      assert.match(error.message, new RegExp(`apply by ${holder.who}@${holder.host}.*since ${holder.created.replace(/[.]/g, '\\.')}.*lock id ${holder.id}`))
      const again = await (won[0] === results[0] ? b : a).lock('destroy').catch((e: unknown) => e as Error)
      assert.ok(again instanceof LockedError)
      // The winner releases; now the other one gets it, with a different id.
      await (won[0] === results[0] ? a : b).unlock(holder.id)
      const second = await (won[0] === results[0] ? b : a).lock('apply')
      assert.notEqual(second.id, holder.id)
      assert.deepEqual((await a.readLock())?.id, second.id)
    })

    it('force-unlock: a wrong id is refused and changes nothing; the id from the error releases it', async () => {
      const a = open()
      const b = open()
      const held = await a.lock('apply')
      const error = (await b.lock('apply').catch((e: unknown) => e)) as LockedError
      assert.ok(error instanceof LockedError)
      const wrong = await b.unlock('00000000-0000-4000-8000-000000000000', {force: true}).catch((e: unknown) => e as Error)
      assert.ok(wrong instanceof UsageError, String(wrong))
      assert.match(wrong.message, /does not match/)
      assert.equal((await b.readLock())?.id, held.id, 'the lock is unchanged')
      if (backend === 'local') {
        // The holder is this (live) process, which the local store lets release its own lock.
      }
      await b.unlock(error.lockId, {force: true})
      assert.equal(await b.readLock(), undefined)
      const mine = await b.lock('apply')
      assert.equal((await a.readLock())?.id, mine.id)
    })

    it('a stale writer is refused: A loses its lock while paused, B writes N+1, A\'s N+1 (based on N) is refused and B\'s state stays', async () => {
      const a = open()
      const b = open()
      const lockA = await a.lock('apply')
      const base = emptyState('conf')
      await a.write(withSerial(base, 1, 'one'))
      const readByA = await a.read()
      assert.equal(readByA?.serial, 1)
      // A is paused; an operator force-unlocks it; B locks and writes serial 2.
      await b.unlock(lockA.id, {force: true})
      const lockB = await b.lock('apply')
      const readByB = await b.read()
      await b.write(withSerial(readByB!, 2, 'bee'))
      // A resumes and writes its own serial 2.
      const refused = await a.write(withSerial(readByA!, 2, 'aaa')).catch((e: unknown) => e as Error)
      assert.ok(refused instanceof AnycloudError, String(refused))
      assert.notEqual(refused.exitCode, 0)
      assert.match(refused.message, /serial|changed/)
      const now = await open().read()
      assert.equal(now?.serial, 2)
      assert.equal(now?.deployments.p?.id, 'conf-p-bee')
      // A's release must not remove B's lock.
      await a.unlock(lockA.id).catch(() => undefined)
      assert.equal((await b.readLock())?.id, lockB.id)
    })

    it('writes check lineage: a state of another lineage is never overwritten', async () => {
      const a = open()
      await a.write(withSerial(emptyState('conf'), 1))
      const other = open()
      await other.read()
      const refused = await other.write(withSerial({...emptyState('conf'), lineage: 'other-lineage'}, 5)).catch((e: unknown) => e as Error)
      assert.ok(refused instanceof AnycloudError)
      assert.match(refused.message, /lineage/)
    })

    if (backend !== 'local') {
      it('a release meets a lock replaced since it was taken: the conditional delete fails and leaves the other lock alone', async () => {
        const a = open()
        const b = open()
        const lockA = await a.lock('apply')
        // Simulated: A's lock vanishes (broken) and B takes it, between A's read and A's delete.
        await b.unlock(lockA.id, {force: true})
        const lockB = await b.lock('apply')
        const refused = await a.unlock(lockA.id).catch((e: unknown) => e as Error)
        assert.ok(refused instanceof AnycloudError, String(refused))
        assert.match(refused.message, /left alone/)
        assert.equal((await b.readLock())?.id, lockB.id)
      })
    }

    if (backend === 's3' || backend === 'gcs') {
      const lockPath = backend === 's3' ? /\/anycloud\/conf\.json\.lock$/ : /\/o$/
      const lockWhen = backend === 'gcs' ? (q: URLSearchParams) => q.get('name') === 'anycloud/conf.json.lock' : undefined
      const createMethod = backend === 's3' ? 'PUT' : 'POST'
      const faults = () => (backend === 's3' ? rig.s3!.faults : rig.gcs!.faults)

      it('lost response: the lock create commits but its answer is lost; the retry meets our own lock and continues (no orphan)', async () => {
        const a = open()
        await a.probe?.()
        const rule = faults().add({method: createMethod, path: lockPath, when: lockWhen, mode: 'lose-response'})
        const held = await a.lock('apply')
        assert.equal(rule.hits, 1, 'the fault fired')
        assert.equal((await a.readLock())?.id, held.id)
        await a.unlock(held.id)
        assert.equal(await a.readLock(), undefined, 'no orphan lock')
      })

      it('lost response, variants: a foreign owner token is a lock error; an unreadable lock body is a failure, not a lock', async () => {
        const b = open()
        const held = await b.lock('apply')
        const a = open()
        await a.probe?.()
        const rule = faults().add({method: createMethod, path: lockPath, when: lockWhen, mode: 'error', status: 503, times: 1})
        const error = await a.lock('apply').catch((e: unknown) => e as Error)
        assert.equal(rule.hits, 1, 'the fault fired')
        assert.ok(error instanceof LockedError, String(error))
        assert.equal(error.lockId, held.id)
        await b.unlock(held.id)
        // An unreadable lock object (written by something else).
        if (backend === 's3') {
          const client = new S3Client(s3ClientConfig(rig.s3!))
          await client.send(new PutObjectCommand({Bucket: bucket, Key: 'anycloud/conf.json.lock', Body: 'garbage{'}))
          client.destroy()
        } else {
          const {Storage} = await import('@google-cloud/storage')
          const {gcsClientOptions} = await import('../helpers/storage/index.js')
          await new Storage(gcsClientOptions(rig.gcs!)).bucket(bucket).file('anycloud/conf.json.lock').save('garbage{', {resumable: false})
        }
        const failure = await a.lock('apply').catch((e: unknown) => e as AnycloudError)
        assert.ok(failure instanceof AnycloudError)
        assert.ok(!(failure instanceof LockedError), 'not reported as a held lock')
        assert.equal(failure.code, 'state.lock-unreadable')
      })

      it('lost response on a state write: the retry meets our own bytes and the run continues', async () => {
        const a = open()
        await a.lock('apply')
        await a.write(withSerial(emptyState('conf'), 1))
        const statePath = backend === 's3' ? /\/anycloud\/conf\.json$/ : /\/o$/
        const rule = faults().add({method: createMethod, path: statePath, mode: 'lose-response', when: backend === 'gcs' ? (q) => q.get('name') === 'anycloud/conf.json' : undefined})
        const doc2 = withSerial((await a.read())!, 2, 'two')
        await a.write(doc2)
        assert.equal(rule.hits, 1)
        assert.equal((await open().read())?.serial, 2)
        await a.write(withSerial(doc2, 3, 'three'))
        assert.equal((await open().read())?.serial, 3)
      })
    }

    if (backend === 'azure') {
      it('a lease acquire retried with the same id (its first answer lost) succeeds: the lock is ours, not a conflict', async () => {
        const a = open()
        const held = await a.lock('apply')
        const {BlobServiceClient} = await import('@azure/storage-blob')
        const blob = BlobServiceClient.fromConnectionString(rig.azurite!.connectionString).getContainerClient(bucket).getBlobClient('anycloud/conf.json.lock')
        await blob.getBlobLeaseClient(held.id).acquireLease(60)
        const other = await blob.getBlobLeaseClient('11111111-1111-4111-8111-111111111111').acquireLease(60).catch((e: unknown) => e as {statusCode?: number})
        assert.equal((other as {statusCode?: number}).statusCode, 409)
        await a.unlock(held.id)
        assert.equal(await a.readLock(), undefined)
      })
    }

    if (backend === 's3') {
      it('honesty probe: a store that ignores If-None-Match (plain s3rver) is refused for team state, and no lock is taken', async () => {
        rig.s3!.settings.ignoreConditionalHeaders = true
        try {
          const a = open()
          const error = await a.lock('apply').catch((e: unknown) => e as AnycloudError)
          assert.ok(error instanceof AnycloudError, String(error))
          assert.equal(error.code, 'state.store-ignores-conditions')
          assert.match(error.message, /ignores write conditions/)
          assert.ok(error.suggestions.some((s) => s.includes('--lock=false')))
          assert.equal(await a.readLock(), undefined)
        } finally {
          rig.s3!.settings.ignoreConditionalHeaders = false
        }
      })
    }
  })
}
