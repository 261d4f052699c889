import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {silentReporter} from '../../src/engine/events.js'
import {planChanges} from '../../src/engine/planner.js'
import {ProviderSet} from '../../src/providers/registry.js'
import {convergeSteadyCloud, steadyCloud, steadyConfig, useSteadyCloud, type SteadyCloud} from '../helpers/steady-cloud.js'

/**
 * Against a cloud that reads like AWS does after refresh was batched (one listing per region and
 * resource kind for the machine resources, one bucket listing per credential), every call logged.
 */
const KIND = 'counting-cloud'

describe('engine: calls per steady plan grow with regions and resource kinds, not with profiles', function () {
  this.timeout(60_000)
  const dirs: string[] = []
  let cloud: SteadyCloud
  let unregister: () => void
  before(() => {
    unregister = useSteadyCloud(KIND, () => cloud)
  })
  after(() => {
    unregister()
    for (const d of dirs) rmSync(d, {recursive: true, force: true})
  })

  /** `n` profiles over `regions`, converged: the options of the next plan and the state it plans from. */
  async function converged(n: number, regions: string[]) {
    const dir = mkdtempSync(join(tmpdir(), 'anycloud-refresh-calls-'))
    dirs.push(dir)
    cloud = steadyCloud()
    const cfg = steadyConfig(n, {dir, kind: KIND, project: 'calls', regions})
    const options = {config: cfg, profiles: Object.values(cfg.profiles), reporter: silentReporter, stateDir: join(dir, '.anycloud')}
    const providers = () => new ProviderSet({credentials: cfg.credentials, configDir: dir, env: {}})
    const first = await planChanges({...options, state: undefined, lineage: 'calls', providers: providers()})
    assert.equal(first.summary.create, first.changes.filter((c) => c.action === 'create').length)
    const state = convergeSteadyCloud(first, cloud, 'calls')
    cloud.log = []
    return {options: {...options, state}, providers}
  }

  /** The call log of the steady plan (after a converge) of `n` profiles spread over `regions`. */
  async function steadyCalls(n: number, regions: string[]): Promise<string[]> {
    const {options, providers} = await converged(n, regions)
    const steady = await planChanges({...options, providers: providers()})
    assert.deepEqual(steady.summary, {create: 0, update: 0, replace: 0, delete: 0}, 'converged: nothing to change')
    assert.equal(Object.keys(steady.profiles).length, n)
    return cloud.log.sort()
  }

  it('1 and 100 profiles in one region: the same calls (one listing per kind, one bucket listing)', async () => {
    const one = await steadyCalls(1, ['region-a'])
    const hundred = await steadyCalls(100, ['region-a'])
    assert.deepEqual(hundred, one)
    assert.deepEqual(one, ['list bootstrap in region-a', 'list identity in region-a', 'list network in region-a', 'list sshkey in region-a', 'list vm in region-a', 'list workload in region-a', 'listBuckets'])
  })

  it('100 profiles over two regions make the calls of 2 profiles over the same two regions; one region more adds one listing per kind', async () => {
    const two = await steadyCalls(2, ['region-a', 'region-b'])
    const hundred = await steadyCalls(100, ['region-a', 'region-b'])
    assert.deepEqual(hundred, two)
    const oneRegion = await steadyCalls(100, ['region-a'])
    assert.equal(hundred.length - oneRegion.length, 6, 'six machine kinds listed in the second region')
  })

  it('state lacking a resource the profile wants: a second round reads just that one, and the plan adopts what it finds', async () => {
    const steady = await steadyCalls(50, ['region-a'])
    const {options, providers} = await converged(50, ['region-a'])
    // As after `state rm p7.identity`: the cloud still has it, state no longer does.
    delete options.state.deployments.p7.resources['p7.identity']
    const plan = await planChanges({...options, providers: providers()})
    assert.deepEqual(cloud.log.sort(), [...steady, 'list identity in region-a'].sort(), 'the steady reads, then one listing of the one kind state lacked')
    assert.deepEqual(plan.summary, {create: 0, update: 0, replace: 0, delete: 0})
    const identity = plan.changes.find((c) => c.address === 'p7.identity')!
    assert.equal(identity.action, 'no-op')
    assert.match(identity.reason, /found by name: adopted/)
    assert.ok(identity.observed, 'adopted with what the cloud showed')
  })

  it('deployments kept where state has them and a new one in the same plan: the kept ones are no-ops, the new one is created', async () => {
    const {options, providers} = await converged(30, ['region-a'])
    const extra = steadyConfig(31, {dir: options.config.dir, kind: KIND, project: 'calls', regions: ['region-a']})
    const config = {...options.config, profiles: extra.profiles}
    const plan = await planChanges({...options, config, profiles: Object.values(extra.profiles), providers: providers()})
    assert.deepEqual(Object.keys(plan.profiles).filter((name) => plan.profiles[name].newDeployment), ['p30'])
    assert.ok(plan.changes.filter((c) => c.profile === 'p30').every((c) => c.action === 'create' || c.action === 'read'))
    assert.ok(plan.changes.filter((c) => c.profile !== 'p30').every((c) => c.action === 'no-op' || c.action === 'read'))
    assert.equal(plan.profiles.p3.deploymentId, options.state.deployments.p3.id, 'a kept deployment keeps its id')
  })

  it('the provider of the credential state records fails to load: the plan fails with that error, named once', async () => {
    const {options, providers} = await converged(40, ['region-a'])
    unregister()
    try {
      await assert.rejects(planChanges({...options, providers: providers()}), (error: Error) => {
        assert.equal(error.message, `the ${KIND} provider is registered by tests only`)
        return true
      })
    } finally {
      unregister = useSteadyCloud(KIND, () => cloud)
    }
  })

  it('a desired set that fails while the steady reads are in flight fails the plan with its error', async () => {
    const {options, providers} = await converged(120, ['region-a'])
    cloud.failDesired = {profile: 'p77', message: 'quota table unreadable for p77'}
    await assert.rejects(planChanges({...options, providers: providers()}), /quota table unreadable for p77/)
  })
})
