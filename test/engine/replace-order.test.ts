import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {NamedCredential, ResolvedConfig} from '../../src/config/types.js'
import {applyPlan} from '../../src/engine/apply.js'
import {RecordingReporter} from '../../src/engine/events.js'
import type {Change, Plan} from '../../src/engine/plan.js'
import type {ResourceKind, ResourceRecord} from '../../src/model/resources.js'
import {kindTable, updatableIn, type Provider, type ResourceKindSpec} from '../../src/providers/provider.js'
import {ProviderSet, registerProvider} from '../../src/providers/registry.js'
import {LocalStateStore} from '../../src/state/local-store.js'
import type {StateDocument} from '../../src/state/types.js'

/**
 * Replacing a machine and what it depends on (a region change replaces the network and the VM):
 * the old VM must go before its old network (a security group cannot be deleted while an instance
 * uses it), and the new network must exist before the new VM.
 */
describe('engine: replace order', () => {
  let dir: string
  const calls: string[] = []

  before(() => {
    registerProvider('local', async () => async ({credential}: {credential: NamedCredential}) => fake(credential))
  })
  after(() => registerProvider('local', async () => (await import('../../src/providers/local/index.js')).createLocalProvider))
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'anycloud-replace-order-'))
    calls.length = 0
  })
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  function fake(credential: NamedCredential): Provider {
    const tick = () => new Promise((r) => setTimeout(r, 5))
    return {
      kind: 'local', credential,
      compute: kindTable((['network', 'vm', 'workload'] as ResourceKind[]).map((kind): ResourceKindSpec => ({
        kind, dependsOn: [], diff: updatableIn(), ...(kind === 'network' ? {desired: () => ({attributes: {}})} : {}),
        read: async () => null,
        create: async (r) => {
          calls.push(`create ${r.kind}`)
          await tick()
          return {id: r.name, attributes: r.attributes}
        },
        update: async (r) => ({id: r.name, attributes: r.attributes}),
        delete: async (r) => {
          calls.push(`delete ${r.kind}`)
          await tick()
        },
      }))),
      checkAuth: async () => ({}), defaultRegion: () => 'r', zones: () => [],
      readBucket: async () => null, createBucket: async () => ({id: 'b', attributes: {}}), deleteBucket: async () => ({deleted: true}),
    }
  }

  it('deletes the old VM before the old network, and creates the new network before the new VM', async () => {
    const config: ResolvedConfig = {
      file: join(dir, 'anycloud.yaml'), dir, project: 'p', state: {backend: 'local', path: '.anycloud'},
      credentials: {c: {name: 'c', origin: 'file', spec: {provider: 'local'}}},
      profiles: {job: {name: 'job', credentials: ['c'], hardware: {kind: 'default'}, spot: false, env: {}, sensitiveEnv: [], runtime: 'process', command: ['x'], persistBucket: false, persist: false, syncIntervalSeconds: 60, extendsChain: []}},
    }
    const record = (kind: ResourceKind): ResourceRecord => ({address: `job.${kind}`, kind, credential: 'c', provider: 'local', name: `n-${kind}`, id: `old-${kind}`, status: 'created', attributes: {region: 'a'}, outputs: {}, updatedAt: ''})
    const state: StateDocument = {
      formatVersion: 1, lineage: 'l', serial: 1, project: 'p',
      deployments: {job: {id: 'p-job-abc123', profile: 'job', placement: {credential: 'c', provider: 'local', region: 'a', spot: false}, createdAt: '', resources: {'job.network': record('network'), 'job.vm': record('vm'), 'job.workload': record('workload')}}},
    }
    const store = new LocalStateStore(join(dir, '.anycloud'))
    await store.write(state)
    const change = (kind: ResourceKind, dependsOn: string[]): Change => ({
      address: `job.${kind}`, profile: 'job', kind, action: 'replace', reason: 'region changed: forces replacement', credential: 'c', provider: 'local',
      name: `n-${kind}`, dependsOn, before: {region: 'a'}, after: {region: 'b'},
    })
    const plan: Plan = {
      formatVersion: '1', state: {lineage: 'l', serial: 1}, scope: ['job'], diagnostics: [], summary: {create: 0, update: 0, replace: 3, delete: 0},
      profiles: {job: {deploymentId: 'p-job-abc123', placement: {credential: 'c', provider: 'local', region: 'b', spot: false}, phase: 'run'}},
      changes: [change('network', []), change('vm', ['job.network']), change('workload', ['job.vm'])],
    }
    const reporter = new RecordingReporter()
    const result = await applyPlan({plan, config, store, state, providers: new ProviderSet({credentials: config.credentials, configDir: dir, env: {}}), reporter})
    assert.deepEqual(result.failed, [])
    assert.deepEqual(calls, ['delete workload', 'delete vm', 'delete network', 'create network', 'create vm', 'create workload'])
    assert.deepEqual(result.done.sort(), ['job.network', 'job.vm', 'job.workload'])
    // One start and one done per replaced address, as before the split.
    const starts = reporter.events.filter((e) => e.type === 'change-start').map((e) => (e as {address: string}).address).sort()
    const dones = reporter.events.filter((e) => e.type === 'change-done').map((e) => (e as {address: string}).address).sort()
    assert.deepEqual(starts, ['job.network', 'job.vm', 'job.workload'])
    assert.deepEqual(dones, ['job.network', 'job.vm', 'job.workload'])
  })
})
