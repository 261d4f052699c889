import assert from 'node:assert/strict'
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {stringify} from 'yaml'

import type {ResolvedConfig} from '../../src/config/types.js'
import {Anycloud} from '../../src/engine/anycloud.js'
import {applyPlan} from '../../src/engine/apply.js'
import {RecordingReporter} from '../../src/engine/events.js'
import type {Change, Plan} from '../../src/engine/plan.js'
import {planChanges} from '../../src/engine/planner.js'
import {ProviderSet} from '../../src/providers/registry.js'
import {LocalStateStore} from '../../src/state/local-store.js'
import {MEMORY, memoryCloud, useMemoryProvider, type MemoryCloud} from '../helpers/memory-provider.js'
import {RecordingHost} from './recording-host.js'

const ENGINE = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/engine')

/**
 * The provider contract: a provider that declares kinds the engine has never heard of
 * (`resourceGroup`, then `nic` inside it, a new subnet forcing the NIC's replacement) is planned,
 * applied, updated in place, replaced and destroyed by the engine as it is.
 */
describe('engine: the provider contract (an in-memory provider with kinds of its own)', () => {
  let dir: string
  let cloud: MemoryCloud
  let restore: () => void
  let store: LocalStateStore
  const config = (): ResolvedConfig => ({
    file: join(dir, 'anycloud.yaml'), dir, project: 'p', state: {backend: 'local', path: '.anycloud'},
    credentials: {mem: {name: 'mem', origin: 'file', spec: {provider: MEMORY} as never}},
    profiles: {job: {name: 'job', credentials: ['mem'], hardware: {kind: 'default'}, spot: false, env: {}, sensitiveEnv: [], runtime: 'process', command: ['x'], persistBucket: false, persist: false, syncIntervalSeconds: 60, extendsChain: []}},
  })
  const providers = (c: ResolvedConfig) => new ProviderSet({credentials: c.credentials, configDir: dir, env: {}})

  async function plan(destroy = false): Promise<Plan> {
    const c = config()
    return planChanges({config: c, profiles: Object.values(c.profiles), state: await store.read(), providers: providers(c), reporter: new RecordingReporter(), stateDir: store.localDir, destroy})
  }

  async function apply(p: Plan): Promise<string[]> {
    const c = config()
    cloud.calls.length = 0
    const result = await applyPlan({plan: p, config: c, store, state: await store.read(), providers: providers(c), reporter: new RecordingReporter()})
    assert.deepEqual(result.failed.map((f) => `${f.address}: ${f.message}`), [])
    assert.deepEqual(result.skipped, [])
    return [...cloud.calls]
  }

  const actions = (p: Plan) => Object.fromEntries(p.changes.map((c: Change) => [c.address, c.action]))
  const change = (p: Plan, address: string) => p.changes.find((c) => c.address === address)!
  const before = (calls: string[], a: string, b: string) => assert.ok(calls.indexOf(a) >= 0 && calls.indexOf(a) < calls.indexOf(b), `${a} before ${b}: ${calls.join(', ')}`)

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'anycloud-contract-'))
    cloud = memoryCloud()
    restore = useMemoryProvider(cloud)
    store = new LocalStateStore(join(dir, '.anycloud'))
  })
  afterEach(() => {
    restore()
    rmSync(dir, {recursive: true, force: true})
  })

  it('the engine names none of these kinds: they come from the provider alone', () => {
    for (const file of readdirSync(ENGINE)) {
      const text = readFileSync(join(ENGINE, file), 'utf8')
      assert.doesNotMatch(text, /resourceGroup|\bnic\b/i, `src/engine/${file}`)
    }
  })

  it('plans and applies them in dependency order, updates in place, replaces on a forcing change, and destroys in reverse', async () => {
    // Create: the declared kinds come before the machine, each after what it needs.
    const first = await plan()
    assert.deepEqual(first.changes.map((c) => c.address), ['job.resourceGroup', 'job.nic', 'job.vm', 'job.bootstrap', 'job.workload'])
    assert.deepEqual(Object.values(actions(first)), ['create', 'create', 'create', 'create', 'create'])
    assert.deepEqual(change(first, 'job.nic').dependsOn, ['job.resourceGroup'])
    assert.deepEqual(change(first, 'job.vm').dependsOn, ['job.resourceGroup', 'job.nic'])
    assert.deepEqual(change(first, 'job.resourceGroup').after, {location: 'mem-east', tags: {team: 'a'}})
    assert.deepEqual(await apply(first), ['create resourceGroup', 'create nic', 'create vm', 'create bootstrap', 'create workload'])
    const state = (await store.read())!
    assert.deepEqual(Object.keys(state.deployments.job.resources).sort(), ['job.bootstrap', 'job.nic', 'job.resourceGroup', 'job.vm', 'job.workload'])
    for (const r of Object.values(state.deployments.job.resources)) assert.ok(cloud.resources.has(r.id), `${r.address} exists as recorded`)

    // Converged.
    assert.deepEqual((await plan()).summary, {create: 0, update: 0, replace: 0, delete: 0})

    // An attribute the provider updates in place.
    cloud.settings.tags = {team: 'b'}
    const retag = await plan()
    assert.deepEqual(retag.summary, {create: 0, update: 1, replace: 0, delete: 0})
    assert.equal(change(retag, 'job.resourceGroup').action, 'update')
    assert.equal(change(retag, 'job.resourceGroup').reason, 'tags changed')
    const groupId = (await store.read())!.deployments.job.resources['job.resourceGroup'].id
    assert.deepEqual(await apply(retag), ['update resourceGroup'])
    assert.equal((await store.read())!.deployments.job.resources['job.resourceGroup'].id, groupId, 'updated in place: same resource')
    assert.deepEqual(cloud.resources.get(groupId)!.attributes.tags, {team: 'b'})

    // An attribute whose change forces replacement: the NIC (and the VM on it, and what is on the VM).
    cloud.settings.subnet = '10.0.2.0/24'
    const move = await plan()
    assert.equal(change(move, 'job.nic').action, 'replace')
    assert.equal(change(move, 'job.nic').reason, 'subnet changed: forces replacement')
    assert.equal(change(move, 'job.resourceGroup').action, 'no-op')
    assert.deepEqual(actions(move), {'job.resourceGroup': 'no-op', 'job.nic': 'replace', 'job.vm': 'replace', 'job.bootstrap': 'replace', 'job.workload': 'replace'})
    const oldNic = (await store.read())!.deployments.job.resources['job.nic'].id
    const calls = await apply(move)
    before(calls, 'delete vm', 'delete nic')
    before(calls, 'delete nic', 'create nic')
    before(calls, 'create nic', 'create vm')
    assert.ok(!calls.includes('delete resourceGroup') && !calls.includes('create resourceGroup'), calls.join(', '))
    const newNic = (await store.read())!.deployments.job.resources['job.nic'].id
    assert.notEqual(newNic, oldNic)
    assert.ok(!cloud.resources.has(oldNic) && cloud.resources.has(newNic))
    assert.deepEqual((await plan()).summary, {create: 0, update: 0, replace: 0, delete: 0})

    // Destroy: the reverse of the creation order; nothing is left, in the cloud or in state.
    const destroy = await plan(true)
    assert.deepEqual(Object.values(actions(destroy)), ['delete', 'delete', 'delete', 'delete', 'delete'])
    const gone = await apply(destroy)
    assert.deepEqual(gone, ['delete workload', 'delete bootstrap', 'delete vm', 'delete nic', 'delete resourceGroup'])
    assert.equal(cloud.resources.size, 0)
    assert.deepEqual((await store.read())!.deployments, {})
  })
})

/**
 * `--replace` of kinds only the provider knows, through the engine façade and an anycloud.yaml
 * (whose `local` credential the memory provider stands in for).
 */
describe('engine: --replace of a kind the provider declares (through the Anycloud façade)', () => {
  let dir: string
  let cloud: MemoryCloud
  let restore: () => void
  let file: string
  let env: NodeJS.ProcessEnv

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'anycloud-contract-'))
    file = join(dir, 'anycloud.yaml')
    writeFileSync(file, stringify({version: 1, project: 'p', credentials: {mem: {provider: 'local', root: 'cloud'}}, profiles: {job: {credentials: 'mem', runtime: 'process', command: ['x']}}}))
    env = {...process.env, ANYCLOUD_HOME: join(dir, '.home')}
    cloud = memoryCloud()
    restore = useMemoryProvider(cloud, 'local')
  })
  afterEach(() => {
    restore()
    rmSync(dir, {recursive: true, force: true})
  })

  const engine = () => new Anycloud(new RecordingHost(false), {env})
  const ids = async () => Object.fromEntries((await engine().state.list({file})).resources.map((r) => [r.address, r.id]))
  async function apply(replace: string[] = []): Promise<string[]> {
    cloud.calls.length = 0
    const r = await engine().apply({file, targets: [], autoApprove: true, replace})
    assert.equal(r.status, 'complete', JSON.stringify(r))
    return [...cloud.calls]
  }

  it('replaces the NIC (and what sits on it) or the resource group (and everything in it), by address', async () => {
    await apply()
    const first = await ids()
    assert.deepEqual(Object.keys(first).sort(), ['job.bootstrap', 'job.nic', 'job.resourceGroup', 'job.vm', 'job.workload'])

    const plan = (await engine().plan({file, replace: ['job.nic']})).plan
    assert.equal(plan.changes.find((c) => c.address === 'job.nic')!.reason, 'replacement requested with --replace')
    assert.deepEqual(plan.summary, {create: 0, update: 0, replace: 4, delete: 0}, 'the NIC, the VM on it, and what runs on the VM')
    const calls = await apply(['job.nic'])
    assert.deepEqual(calls.filter((c) => c.endsWith(' nic')), ['delete nic', 'create nic'])
    assert.ok(!calls.some((c) => c.endsWith(' resourceGroup')), calls.join(', '))
    const second = await ids()
    assert.notEqual(second['job.nic'], first['job.nic'])
    assert.equal(second['job.resourceGroup'], first['job.resourceGroup'])

    const all = await apply(['job.resourceGroup'])
    assert.deepEqual(all.filter((c) => c.startsWith('create')), ['create resourceGroup', 'create nic', 'create vm', 'create bootstrap', 'create workload'])
    assert.notEqual((await ids())['job.resourceGroup'], first['job.resourceGroup'])
    assert.deepEqual((await engine().plan({file})).plan.summary, {create: 0, update: 0, replace: 0, delete: 0})
  })

  it('refuses a kind the provider does not declare, naming the valid addresses (and the likely one)', async () => {
    await apply()
    const before = await ids()
    cloud.calls.length = 0
    const valid = 'job.bucket.input, job.bucket.output, job.bucket.checkpoint, job.resourceGroup, job.nic, job.vm, job.bootstrap, job.workload'
    for (const [address, guess] of [['job.nci', ' Did you mean job.nic?'], ['job.identity', '']]) {
      await assert.rejects(engine().apply({file, targets: [], autoApprove: true, replace: [address]}), (e: Error & {exitCode?: number}) => {
        assert.equal(e.message, `--replace ${address}: profile 'job' has no '${address.slice(4)}' resource (its memory provider, credential 'mem', does not declare that kind). Valid addresses: ${valid}.${guess}`)
        assert.equal(e.exitCode, 3)
        return true
      })
    }
    assert.deepEqual(cloud.calls, [], 'nothing was touched')
    assert.deepEqual(await ids(), before)
    // A bucket role this profile has no bucket for: well-formed, so a warning that nothing is replaced.
    const absent = (await engine().plan({file, replace: ['job.bucket.output']})).plan
    assert.deepEqual(absent.diagnostics.map((d) => [d.severity, d.message]), [['warning', '--replace job.bucket.output: no such resource in this plan; nothing is replaced']])
    assert.equal(absent.summary.replace, 0)
    await assert.rejects(engine().plan({file, replace: ['job.bucket.cache']}), /--replace job\.bucket\.cache: not a resource address \(PROFILE\.KIND or PROFILE\.bucket\.ROLE/)
  })
})
