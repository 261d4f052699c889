/**
 * Remote state through the built CLI, on the S3 stand-in (s3rver + conditional writes), with
 * `local` provider workloads: concurrent applies of different profiles (reliability row 1 at
 * scale), a held lock and its release, the honesty probe, a fresh clone converging, the lock let
 * go while `apply --wait` waits, and a failed save (row 9) with its errored state, the refusal to
 * fork and `state push`. Canary secrets (row 19) never reach the remote object or the errored file.
 */
import assert from 'node:assert/strict'
import {cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {GetObjectCommand, S3Client} from '@aws-sdk/client-s3'
import {stringify as stringifyYaml} from 'yaml'

import {requireConfig} from '../../src/config/index.js'
import {openStateStore} from '../../src/state/index.js'
import type {StateDocument} from '../../src/state/types.js'
import {s3ClientConfig, type S3Emulator} from '../helpers/storage/index.js'
import {STATE_TEST_ENV, startBackend, type StateBackendRig} from '../state/backend-rig.js'
import {killLeftovers, machines, Project, until} from './cli.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
const CANARY = 'canary-SECRET-7f3a9c1e-do-not-leak'
const BUCKET = 'team-state'

function remoteYaml(s3: S3Emulator, root: string, profiles: Record<string, Record<string, unknown>>): string {
  return stringifyYaml({
    version: 1,
    project: 'team',
    state: {backend: 's3', bucket: BUCKET, credentials: 'team-aws'},
    credentials: {
      'team-aws': {provider: 'aws', region: 'us-east-1', accessKeyId: '${env:STATE_TEST_AWS_KEY}', secretAccessKey: '${env:STATE_TEST_AWS_SECRET}', endpoints: {s3: s3.endpoint}},
      laptop: {provider: 'local', root},
    },
    profiles,
  })
}

function job(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {credentials: 'laptop', runtime: 'process', command: ['sh', '-c', 'exec sleep 300'], env: {TOKEN: '${env:CANARY_TOKEN}'}, ...extra}
}

async function remoteObject(s3: S3Emulator, key: string): Promise<string | undefined> {
  const client = new S3Client(s3ClientConfig(s3))
  try {
    const out = await client.send(new GetObjectCommand({Bucket: BUCKET, Key: key}))
    return await out.Body!.transformToString()
  } catch {
    return undefined
  } finally {
    client.destroy()
  }
}

describe('e2e: remote state on S3 (s3rver with conditional writes)', function () {
  this.timeout(300_000)
  let rig: StateBackendRig
  let s3: S3Emulator
  let project: Project | undefined
  let root: string
  const env = {...STATE_TEST_ENV, CANARY_TOKEN: CANARY}

  before(async () => {
    rig = await startBackend('s3')
    s3 = rig.s3!
  })
  after(async () => {
    await rig?.stop()
  })
  beforeEach(async () => {
    await s3.reset()
    await rig.prepare(BUCKET)
    root = mkdtempSync(join(tmpdir(), 'anycloud-remote-cloud-'))
  })
  afterEach(async () => {
    if (project && existsSync(project.path('anycloud.yaml'))) await project.run(['destroy', '-y', '--lock-timeout', '60s'], {env, timeoutMs: 120_000}).catch(() => undefined)
    await project?.cleanup()
    project = undefined
    killLeftovers(root)
    rmSync(root, {recursive: true, force: true})
  })

  const state = async (): Promise<StateDocument | undefined> => {
    const text = await remoteObject(s3, 'anycloud/team.json')
    return text ? (JSON.parse(text) as StateDocument) : undefined
  }
  const successfulStateWrites = () => s3.requests.filter((r) => r.method === 'PUT' && r.path === `/${BUCKET}/anycloud/team.json` && r.status === 200).length

  it('ten concurrent applies of different profiles: each applies or exits 4; the state is valid, its serial counts the writes, every profile is applied once', async () => {
    const names = Array.from({length: 10}, (_, i) => `p${i}`)
    project = new Project(remoteYaml(s3, root, Object.fromEntries(names.map((n) => [n, job()]))))
    // Half wait for the lock, half fail at once when it is held.
    const runs = await Promise.all(names.map((n, i) => project!.run(['apply', '-y', n, ...(i % 2 === 0 ? ['--lock-timeout', '4m'] : [])], {env, timeoutMs: 280_000})))
    const locked: string[] = []
    runs.forEach((r, i) => {
      assert.ok(r.code === 0 || (r.code === 4 && i % 2 === 1), `${names[i]}: exit ${r.code}\n${r.stderr}`)
      if (r.code === 4) {
        assert.match(r.stderr, /is locked by another run: apply by \S+@\S+ \(pid \d+\) since \S+; lock id [0-9a-f-]{36}/)
        locked.push(names[i])
      }
    })
    // The ones refused run again, one after the other.
    for (const n of locked) await project.expect(['apply', '-y', n], 0, {env})
    const doc = await state()
    assert.ok(doc)
    assert.equal(doc.serial, successfulStateWrites(), 'serial = number of successful state writes')
    assert.deepEqual(Object.keys(doc.deployments).sort(), names)
    const ids = Object.values(doc.deployments).map((d) => d.id)
    assert.equal(new Set(ids).size, 10)
    assert.equal(machines(root).length, 10, 'one machine per profile: nothing applied twice')
    assert.equal(await remoteObject(s3, 'anycloud/team.json.lock'), undefined, 'no lock left behind')
    assert.ok(!JSON.stringify(doc).includes(CANARY), 'no secret in the remote state')
    // A fresh clone (only anycloud.yaml) converges: no changes, same deployment ids, no new machine.
    const clone = mkdtempSync(join(tmpdir(), 'anycloud-clone-'))
    try {
      cpSync(project.path('anycloud.yaml'), join(clone, 'anycloud.yaml'))
      const cloned = new Project(readFileSync(join(clone, 'anycloud.yaml'), 'utf8'))
      try {
        const plan = await cloned.expect(['plan', '--json'], 0, {env})
        const parsed = JSON.parse(plan.stdout) as {summary: Record<string, number>; profiles: Record<string, {deploymentId: string}>}
        assert.deepEqual(parsed.summary, {create: 0, update: 0, replace: 0, delete: 0})
        await cloned.expect(['apply', '-y'], 0, {env})
        const after = await state()
        assert.deepEqual(Object.values(after!.deployments).map((d) => d.id).sort(), [...ids].sort())
        assert.equal(machines(root).length, 10)
      } finally {
        rmSync(cloned.dir, {recursive: true, force: true})
      }
    } finally {
      rmSync(clone, {recursive: true, force: true})
    }
  })

  it('a held lock: exit 4 naming holder, CI run and id; a wrong id is refused; the right id releases it; --lock-timeout waits for it', async () => {
    project = new Project(remoteYaml(s3, root, {a: job()}))
    const {config} = requireConfig({file: project.path('anycloud.yaml'), env: {...process.env, ...env}})
    const holder = openStateStore(config, {...process.env, ...env})
    const saved = {...process.env}
    Object.assign(process.env, {GITHUB_ACTIONS: 'true', GITHUB_REPOSITORY: 'acme/train', GITHUB_RUN_ID: '4242', GITHUB_SERVER_URL: 'https://github.com'})
    let held
    try {
      held = await holder.lock('apply')
    } finally {
      for (const k of ['GITHUB_ACTIONS', 'GITHUB_REPOSITORY', 'GITHUB_RUN_ID', 'GITHUB_SERVER_URL']) if (saved[k] === undefined) delete process.env[k]
    }
    const refused = await project.expect(['apply', '-y'], 4, {env})
    assert.ok(refused.stderr.includes(held.id), refused.stderr)
    assert.match(refused.stderr, /CI run https:\/\/github\.com\/acme\/train\/actions\/runs\/4242/)
    assert.match(refused.stderr, /state unlock/)
    assert.equal(machines(root).length, 0, 'the refused run changed nothing')
    const wrong = await project.expect(['state', 'unlock', '00000000-0000-4000-8000-000000000000'], 3, {env})
    assert.match(wrong.stderr, /does not match/)
    assert.equal((await holder.readLock())?.id, held.id)
    await project.expect(['state', 'unlock', held.id], 0, {env})
    assert.equal(await holder.readLock(), undefined)
    // Held again; a waiting run applies once it is released.
    const again = await holder.lock('apply')
    const waiting = project.start(['apply', '-y', '--lock-timeout', '2m'], {env})
    await until('the run to say it waits', () => /Waiting for the state lock/.test(waiting.out.stderr), 60_000)
    await holder.unlock(again.id)
    await holder.close?.()
    const {finished} = await import('./cli.js')
    const done = await finished(waiting)
    assert.equal(done.code, 0, done.stderr)
    assert.equal(machines(root).length, 1)
  })

  it('the honesty probe refuses a store that ignores If-None-Match (plain s3rver); --lock=false runs anyway', async () => {
    project = new Project(remoteYaml(s3, root, {a: job()}))
    s3.settings.ignoreConditionalHeaders = true
    try {
      const r = await project.expect(['apply', '-y'], 3, {env})
      assert.match(r.stderr, /ignores write conditions/)
      assert.match(r.stderr, /--lock=false/)
      assert.equal(machines(root).length, 0)
      const forced = await project.expect(['apply', '-y', '--lock=false'], 0, {env})
      assert.match(forced.stderr, /without the state lock/)
      assert.equal(machines(root).length, 1)
    } finally {
      s3.settings.ignoreConditionalHeaders = false
    }
  })

  it('apply --wait lets go of the lock while it waits: another profile applies meanwhile; the teardown takes it again', async () => {
    const gate = join(root, 'go')
    project = new Project(remoteYaml(s3, root, {
      waiter: job({command: ['sh', '-c', `while [ ! -e ${gate} ]; do sleep 0.2; done; echo done`]}),
      other: job(),
    }))
    const waiting = project.start(['apply', '-y', '--wait', 'waiter'], {env})
    await until('waiter to be applied and the lock released', async () => {
      const doc = await state()
      return Boolean(doc?.deployments.waiter?.resources['waiter.workload']) && (await remoteObject(s3, 'anycloud/team.json.lock')) === undefined
    }, 120_000, 200)
    await project.expect(['apply', '-y', 'other'], 0, {env})
    writeFileSync(gate, '')
    const {finished} = await import('./cli.js')
    const done = await finished(waiting)
    assert.equal(done.code, 0, done.stderr)
    const doc = await state()
    assert.ok(doc?.deployments.other?.resources['other.workload'], 'the other profile stays applied')
    assert.equal(doc?.deployments.waiter?.resources['waiter.vm'], undefined, 'the finished job was torn down')
  })

  it('a failed save leaves an errored state (0600, no secrets) and push instructions; a re-run refuses to fork; state push restores it', async () => {
    project = new Project(remoteYaml(s3, root, {a: job()}))
    // The first two state writes land; every later one is refused (credentials expired).
    let seen = 0
    const rule = s3.faults.add({
      method: 'PUT', path: new RegExp(`^/${BUCKET}/anycloud/team\\.json$`), status: 403, code: 'ExpiredToken', message: 'The provided token has expired.', times: Infinity,
      when: () => ++seen > 2,
    })
    const failed = await project.run(['apply', '-y'], {env})
    assert.equal(failed.code, 1, failed.stderr)
    assert.ok(rule.hits > 0)
    const errored = project.path('errored.anycloud-state.json')
    assert.ok(existsSync(errored), failed.stderr)
    assert.equal(statSync(errored).mode & 0o777, 0o600)
    assert.match(failed.stderr, /state push errored\.anycloud-state\.json/)
    const erroredText = readFileSync(errored, 'utf8')
    assert.ok(!erroredText.includes(CANARY), 'no secret in the errored state')
    assert.ok(!failed.stderr.includes(CANARY) && !failed.stdout.includes(CANARY))
    assert.equal(await remoteObject(s3, 'anycloud/team.json.lock'), undefined, 'the lock was released')
    const erroredDoc = JSON.parse(erroredText) as StateDocument
    assert.ok(erroredDoc.serial > (await state())!.serial)
    // A plain re-run refuses.
    const refused = await project.expect(['apply', '-y'], 1, {env})
    assert.match(refused.stderr, /refusing to run.*fork/s)
    rule.cancel()
    const pushed = await project.expect(['state', 'push', 'errored.anycloud-state.json'], 0, {env})
    // The result is on stdout (a script can read it), not among the diagnostics.
    assert.match(pushed.stdout, new RegExp(`^Pushed errored\\.anycloud-state\\.json to .*: lineage ${erroredDoc.lineage}, serial ${erroredDoc.serial} \\(was serial \\d+\\)\\.$`, 'm'))
    assert.match(pushed.stdout, /^Removed errored\.anycloud-state\.json: the state is whole again\.$/m)
    assert.doesNotMatch(pushed.stderr, /Pushed|Removed/)
    assert.equal(existsSync(errored), false)
    assert.equal((await state())!.serial, erroredDoc.serial)
    // Converges without duplicating what the failed run made.
    await project.expect(['apply', '-y'], 0, {env})
    assert.equal(machines(root).length, 1)
    const remote = await remoteObject(s3, 'anycloud/team.json')
    assert.ok(remote && !remote.includes(CANARY))
  })

  it('state migrate: local → s3 keeps the lineage and leaves the old copy; state pull prints it; back to local finds the newer remote copy', async () => {
    const local = remoteYaml(s3, root, {a: job(), b: job()}).replace(/state:\n(  .*\n)+/, '')
    project = new Project(local)
    await project.expect(['apply', '-y', 'a'], 0, {env})
    const before = project.state()!
    project.write(remoteYaml(s3, root, {a: job(), b: job()}))
    const refused = await project.expect(['state', 'migrate'], 3, {env})
    assert.match(refused.stderr, /-y/)
    assert.equal(await state(), undefined, 'nothing moved without confirmation')
    const moved = await project.expect(['state', 'migrate', '-y'], 0, {env})
    assert.match(moved.stdout, new RegExp(`^Migrated: .* now holds lineage ${before.lineage}, serial ${before.serial}\\. The old copy stays in .* as a backup\\.$`, 'm'))
    assert.doesNotMatch(moved.stderr, /Migrated/)
    assert.match(moved.stderr, /Moving the state from /)
    const remote = await state()
    assert.equal(remote?.lineage, before.lineage)
    assert.equal(remote?.serial, before.serial)
    assert.deepEqual(project.state(), before, 'the local copy is left as it was (a backup)')
    const pulled = await project.expect(['state', 'pull'], 0, {env})
    assert.equal((JSON.parse(pulled.stdout) as StateDocument).lineage, before.lineage)
    const plan = await project.expect(['plan', '--json', 'a'], 0, {env})
    assert.deepEqual((JSON.parse(plan.stdout) as {summary: unknown}).summary, {create: 0, update: 0, replace: 0, delete: 0})
    // The remote copy moves on; migrating back to local takes it from where the s3 backend kept it.
    await project.expect(['apply', '-y', 'b'], 0, {env})
    const newer = (await state())!
    assert.ok(newer.serial > before.serial)
    project.write(local)
    await project.expect(['state', 'migrate', '-y'], 0, {env})
    assert.equal(project.state()?.serial, newer.serial)
    assert.deepEqual(Object.keys(project.state()!.deployments).sort(), ['a', 'b'])
    assert.equal(machines(root).length, 2)
  })
})
