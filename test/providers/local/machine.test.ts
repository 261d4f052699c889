import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {mkdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {AuthError, CapacityError} from '../../../src/errors/index.js'
import {renderLocalBootstrap} from '../../../src/providers/local/index.js'
import {callContext, deployment, desired, makeRig, profile, recordOf, type Rig} from './helpers.js'
import {kindOps} from '../../../src/providers/provider.js'

const CANARY = 'canary-s3cr3t-7f9e2d1c'

describe('local provider: vm, bootstrap, faults', () => {
  let rig: Rig
  beforeEach(async () => {
    rig = await makeRig()
  })
  afterEach(async () => {
    await rig.cleanup()
  })

  it('declares its kinds, region and zones', () => {
    assert.deepEqual([...rig.provider.compute.keys()].sort(), ['bootstrap', 'vm', 'workload'])
    assert.equal(rig.provider.defaultRegion(), 'local')
    assert.deepEqual(rig.provider.zones('local'), ['local-a', 'local-b'])
    assert.deepEqual(rig.provider.zones('us-east-1'), [])
  })

  it('creates a vm workspace idempotently, reads it, deletes only its own', async () => {
    const d = deployment(rig, profile())
    const ctx = callContext(d)
    const vm = desired(d, 'vm', {region: 'local', spot: false})
    assert.equal(await kindOps(rig.provider).read({address: vm.address, kind: 'vm', name: vm.name}, ctx), null)
    const first = await kindOps(rig.provider).create(vm, ctx)
    const second = await kindOps(rig.provider).create(vm, ctx)
    assert.deepEqual(second, first)
    assert.equal(first.id, join(rig.root, 'machines', d.deploymentId))
    const meta = JSON.parse(await readFile(join(first.id, 'machine.json'), 'utf8')) as {tags: Record<string, string>}
    assert.deepEqual(meta.tags, {'anycloud-managed': 'true', 'anycloud-project': 'proj', 'anycloud-deployment': d.deploymentId, 'anycloud-address': 'train.vm'})
    const read = await kindOps(rig.provider).read({address: vm.address, kind: 'vm', name: vm.name}, ctx)
    assert.deepEqual(read?.attributes, {region: 'local', spot: false})

    // Another deployment's context neither sees nor deletes it.
    const other = callContext(deployment(rig, profile(), 'proj-train-other1'))
    await assert.rejects(kindOps(rig.provider).delete(recordOf(vm, first.id), other), /belongs to deployment 'proj-train-abc123'/)
    assert.ok(existsSync(first.id))

    await kindOps(rig.provider).delete(recordOf(vm, first.id), ctx)
    assert.equal(existsSync(first.id), false)
    await kindOps(rig.provider).delete(recordOf(vm, first.id), ctx) // missing = success
  })

  it('refuses a workspace directory it did not make', async () => {
    const d = deployment(rig, profile())
    const dir = join(rig.root, 'machines', d.deploymentId)
    await mkdir(dir, {recursive: true})
    await writeFile(join(dir, 'precious.txt'), 'x')
    const vm = desired(d, 'vm')
    await assert.rejects(kindOps(rig.provider).create(vm, callContext(d)), /not made by anycloud/)
    await assert.rejects(kindOps(rig.provider).delete(recordOf(vm, dir), callContext(d)), /not deleting it/)
    assert.ok(existsSync(join(dir, 'precious.txt')))
  })

  it('fault injection: expired auth and capacity per zone', async () => {
    assert.ok((await rig.provider.checkAuth()).account)
    await mkdir(rig.root, {recursive: true})
    await writeFile(join(rig.root, '.anycloud-fault.json'), JSON.stringify({auth: 'expired', capacity: ['local-a']}))
    await assert.rejects(rig.provider.checkAuth(), (e: unknown) => e instanceof AuthError && /expired/.test(e.message))
    const d = deployment(rig, profile())
    const ctx = callContext(d)
    await assert.rejects(kindOps(rig.provider).create(desired(d, 'vm', {zone: 'local-a'}), ctx), (e: unknown) => e instanceof CapacityError && e.where === 'local-a')
    assert.equal(existsSync(join(rig.root, 'machines', d.deploymentId)), false, 'a failed create leaves nothing')
    const ok = await kindOps(rig.provider).create(desired(d, 'vm', {zone: 'local-b'}), ctx)
    assert.equal(ok.outputs?.zone, 'local-b')
    await rm(join(rig.root, '.anycloud-fault.json'))
    await rig.provider.checkAuth()
  })

  it('renders a stable bootstrap hash of the machine\'s part: a changed command or secret value leaves it alone (the workload is replaced instead)', () => {
    const base = profile({command: ['python', 'train.py'], env: {API_TOKEN: CANARY, MODE: 'fast'}, sensitiveEnv: ['API_TOKEN'], inputBucket: 'data', outputBucket: 'results'})
    const d = deployment(rig, base)
    const a = renderLocalBootstrap(d)
    const b = renderLocalBootstrap({deployment: deployment(rig, {...base, env: {MODE: 'fast', API_TOKEN: CANARY}})})
    assert.equal(a.hash, b.hash, 'same input, same hash (env order irrelevant)')
    assert.match(a.hash, /^[0-9a-f]{16}$/)
    assert.equal(renderLocalBootstrap(d, {root: '/somewhere/else'}).hash, a.hash, 'independent of the root')
    const cmd = renderLocalBootstrap(deployment(rig, {...base, command: ['python', 'train.py', '--epochs', '2']}))
    assert.equal(cmd.hash, a.hash, 'the command is the workload\'s')
    assert.ok(cmd.files['job.json'].content.includes('--epochs'), 'the rendered job carries the new command')
    const secret = renderLocalBootstrap(deployment(rig, {...base, env: {...base.env, API_TOKEN: CANARY + 'x'}}))
    assert.equal(secret.hash, a.hash, 'env values are the workload\'s')
    assert.notEqual(renderLocalBootstrap(deployment(rig, {...base, syncIntervalSeconds: 7})).hash, a.hash, 'the sync interval is the machine\'s')
    assert.ok(!secret.hash.includes(CANARY) && !a.hash.includes(CANARY))
    const job = a.files['job.json']
    assert.equal(job.mode, 0o644)
    assert.ok(!job.content.includes(CANARY), 'job.json carries names only')
    const parsed = JSON.parse(job.content) as {envNames: string[]; buckets: Record<string, {dir: string}>}
    assert.deepEqual(parsed.envNames, ['API_TOKEN', 'MODE', 'ANYCLOUD_DEPLOYMENT_ID', 'ANYCLOUD_INPUT', 'ANYCLOUD_OUTPUT', 'ANYCLOUD_CHECKPOINT'])
    assert.equal(parsed.buckets.input.dir, join(rig.root, 'buckets', 'data'))
    assert.equal(a.files.env.mode, 0o600)
    assert.ok(a.files.env.content.includes(`API_TOKEN=${CANARY}\n`))
    assert.ok(a.files.env.content.includes(`ANYCLOUD_OUTPUT=${join(rig.root, 'machines', d.deploymentId, 'output')}\n`))
    const docker = renderLocalBootstrap(deployment(rig, {...base, runtime: 'docker', image: 'python:3.12'}))
    assert.ok(docker.files.env.content.includes('ANYCLOUD_INPUT=/mnt/input\n'))
    assert.throws(() => renderLocalBootstrap(deployment(rig, {...base, env: {PEM: 'a\nb'}})), /spans several lines/)
  })

  it('bootstrap: writes job.json, a 0600 env file and the dirs; idempotent; read gives the hash; delete removes the files', async () => {
    const p = profile({command: 'echo hi', env: {API_TOKEN: CANARY}, sensitiveEnv: ['API_TOKEN']})
    const d = deployment(rig, p)
    const ctx = callContext(d)
    const vm = await kindOps(rig.provider).create(desired(d, 'vm'), ctx)
    const attrs = rig.provider.desiredAttributes(desired(d, 'bootstrap'), d)
    assert.deepEqual(attrs, {hash: renderLocalBootstrap(d).hash})
    const bs = desired(d, 'bootstrap', attrs)
    const lookup = {address: bs.address, kind: 'bootstrap' as const, name: bs.name}
    assert.equal(await kindOps(rig.provider).read(lookup, ctx), null)
    const created = await kindOps(rig.provider).create(bs, ctx)
    assert.deepEqual(created.attributes, attrs)
    assert.deepEqual((await kindOps(rig.provider).create(bs, ctx)).attributes, attrs)
    assert.deepEqual((await kindOps(rig.provider).read(lookup, ctx))?.attributes, attrs)
    const envStat = await stat(join(vm.id, 'env'))
    assert.equal(envStat.mode & 0o777, 0o600)
    for (const dir of ['input', 'output', 'checkpoint']) assert.ok((await stat(join(vm.id, dir))).isDirectory())
    for (const f of ['job.json', 'bootstrap.json', 'machine.json']) assert.ok(!(await readFile(join(vm.id, f), 'utf8')).includes(CANARY), f)

    // A plan made with another secret value is refused at apply time.
    await assert.rejects(kindOps(rig.provider).update(desired(d, 'bootstrap', {hash: '0000000000000000'}), recordOf(bs, created.id), ctx), /changed since the plan/)

    // A deleted rendered file makes read report a null hash (the plan re-renders).
    await rm(join(vm.id, 'env'))
    assert.deepEqual((await kindOps(rig.provider).read(lookup, ctx))?.attributes, {hash: null})
    await kindOps(rig.provider).update(bs, recordOf(bs, created.id), ctx)
    assert.deepEqual((await kindOps(rig.provider).read(lookup, ctx))?.attributes, attrs)

    await kindOps(rig.provider).delete(recordOf(bs, created.id), ctx)
    assert.equal(await kindOps(rig.provider).read(lookup, ctx), null)
    assert.equal(existsSync(join(vm.id, 'env')), false)
    assert.equal(existsSync(join(vm.id, 'job.json')), false)
  })

  it('bootstrap needs the machine', async () => {
    const d = deployment(rig, profile({command: 'true'}))
    await assert.rejects(kindOps(rig.provider).create(desired(d, 'bootstrap'), callContext(d)), /does not exist: create train.vm first/)
  })
})
