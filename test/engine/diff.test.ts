import assert from 'node:assert/strict'

import {type Change, diffDeployment, type DiffInput, foundChange, joinSorted, sortChanges} from '../../src/engine/plan.js'
import {diffBucket, updatableIn} from '../../src/providers/provider.js'
import type {ActualResource, DesiredResource, ResourceRecord} from '../../src/model/resources.js'

const P = 'train'

function desiredSet(overrides: {vm?: Record<string, unknown>; bootstrap?: Record<string, unknown>; workload?: Record<string, unknown>; credential?: string} = {}): DesiredResource[] {
  const cred = overrides.credential ?? 'aws-prod'
  const base = {profile: P, credential: cred, provider: 'aws' as const}
  return [
    {...base, address: `${P}.bucket.input`, kind: 'bucket', role: 'input', name: 'data', dependsOn: [], attributes: {name: 'data', role: 'input'}},
    {...base, address: `${P}.bucket.output`, kind: 'bucket', role: 'output', name: 'results', dependsOn: [], attributes: {name: 'results', role: 'output', region: 'us-east-1'}},
    {...base, address: `${P}.bucket.checkpoint`, kind: 'bucket', role: 'checkpoint', name: 'acme-train-x7k2q9', dependsOn: [], attributes: {name: 'acme-train-x7k2q9', role: 'checkpoint', region: 'us-east-1', persist: false}},
    {...base, address: `${P}.identity`, kind: 'identity', name: 'anycloud-acme-train-x7k2q9', dependsOn: [`${P}.bucket.output`, `${P}.bucket.checkpoint`], attributes: {buckets: {input: 'data', output: 'results'}}},
    {...base, address: `${P}.vm`, kind: 'vm', name: 'acme-train-x7k2q9', dependsOn: [`${P}.identity`], attributes: {region: 'us-east-1', spot: true, vmType: 'p3.2xlarge', ...overrides.vm}},
    {...base, address: `${P}.bootstrap`, kind: 'bootstrap', name: 'acme-train-x7k2q9', dependsOn: [`${P}.vm`], attributes: {hash: 'aaaa', ...overrides.bootstrap}},
    {...base, address: `${P}.workload`, kind: 'workload', name: 'acme-train-x7k2q9', dependsOn: [`${P}.bootstrap`], attributes: {runtime: 'docker', image: 'img:1', command: ['python', 'train.py'], specHash: 's1', ...overrides.workload}},
  ] as DesiredResource[]
}

function recordsOf(desired: DesiredResource[], status: ResourceRecord['status'] = 'created'): Record<string, ResourceRecord> {
  return Object.fromEntries(
    desired
      .filter((d) => d.role !== 'input')
      .map((d) => [d.address, {address: d.address, kind: d.kind, ...(d.role ? {role: d.role} : {}), credential: d.credential, provider: d.provider, name: d.name, id: `id-${d.name}`, status, attributes: structuredClone(d.attributes), outputs: {}, updatedAt: '2026-01-01T00:00:00.000Z'}]),
  )
}

function actualOf(desired: DesiredResource[], workload: Partial<ActualResource> = {phase: 'running'}): Record<string, ActualResource | null> {
  return Object.fromEntries(desired.map((d) => [d.address, {id: `id-${d.name}`, attributes: structuredClone(d.attributes), ...(d.kind === 'workload' ? workload : {})}]))
}

/** How the built-in clouds declare their kinds change (providers/cloud-kinds.ts); buckets follow the storage rule. */
const DIFFS: Record<string, ReturnType<typeof updatableIn>> = {identity: updatableIn('buckets'), bootstrap: updatableIn('hash')}
const diffOf: DiffInput['diffOf'] = (d) => (d.kind === 'bucket' ? diffBucket : (DIFFS[d.kind] ?? updatableIn()))

function diff(input: Partial<DiffInput> & Pick<DiffInput, 'desired'>): Map<string, Change> {
  const changes = diffDeployment({records: {}, actual: {}, replace: new Set(), phase: 'run', deleteReason: () => 'no longer part of the profile', diffOf, ...input})
  return new Map(changes.map((c) => [c.address, c]))
}

function actions(changes: Map<string, Change>): Record<string, string> {
  return Object.fromEntries([...changes.values()].map((c) => [c.address.slice(P.length + 1), c.action]))
}

describe('engine: diffDeployment (pure)', () => {
  it('a new deployment: buckets and everything above them are created; the input bucket is read', () => {
    const c = diff({desired: desiredSet(), actual: {[`${P}.bucket.input`]: {id: 'data', attributes: {name: 'data'}}}})
    assert.deepEqual(actions(c), {'bucket.input': 'read', 'bucket.output': 'create', 'bucket.checkpoint': 'create', identity: 'create', vm: 'create', bootstrap: 'create', workload: 'create'})
    assert.equal(c.get(`${P}.bucket.input`)!.reason, "input bucket 'data' exists on aws-prod")
    assert.equal(c.get(`${P}.bucket.output`)!.reason, "output bucket 'results' does not exist on aws-prod: it will be created")
    assert.equal(c.get(`${P}.vm`)!.reason, 'new deployment')
    assert.equal(c.get(`${P}.vm`)!.before, null)
    assert.deepEqual(c.get(`${P}.vm`)!.after, desiredSet()[4].attributes)
    assert.deepEqual(c.get(`${P}.workload`)!.dependsOn, [`${P}.bootstrap`])
  })

  it('everything recorded and found unchanged: no-ops, with what refresh saw of the workload', () => {
    const d = desiredSet()
    const c = diff({desired: d, records: recordsOf(d), actual: actualOf(d)})
    assert.deepEqual(new Set(Object.values(actions(c))), new Set(['read', 'no-op']))
    assert.equal(c.get(`${P}.vm`)!.reason, 'up to date')
    assert.equal(c.get(`${P}.workload`)!.reason, 'workload running')
    assert.deepEqual(c.get(`${P}.workload`)!.observed, {phase: 'running', exitCode: undefined, id: 'id-acme-train-x7k2q9'})
    assert.equal(c.get(`${P}.vm`)!.observed, undefined, 'nothing new to remember')
  })

  it('found but not recorded (state lost, or a killed run): adopted, with its id to remember', () => {
    const d = desiredSet()
    const c = diff({desired: d, actual: actualOf(d)})
    assert.equal(c.get(`${P}.bucket.output`)!.action, 'no-op')
    assert.equal(c.get(`${P}.bucket.output`)!.reason, "output bucket 'results' already exists: adopted")
    assert.equal(c.get(`${P}.vm`)!.reason, 'found by name: adopted')
    assert.deepEqual(c.get(`${P}.vm`)!.observed, {id: 'id-acme-train-x7k2q9', outputs: undefined})
  })

  it('a pending intent: adopted when found, created (same token) when not', () => {
    const d = desiredSet()
    const pending = recordsOf(d, 'pending')
    const found = diff({desired: d, records: pending, actual: actualOf(d)})
    assert.equal(found.get(`${P}.vm`)!.action, 'no-op')
    assert.equal(found.get(`${P}.vm`)!.observed?.id, 'id-acme-train-x7k2q9')
    const gone = diff({desired: d, records: pending, actual: {}})
    assert.equal(gone.get(`${P}.vm`)!.action, 'create')
    assert.equal(gone.get(`${P}.vm`)!.reason, 'a previous run stopped before it was confirmed; not found, so it will be created')
    assert.deepEqual(gone.get(`${P}.vm`)!.before, d[4].attributes, 'create after a pending intent shows what was intended')
  })

  it('a VM attribute that cannot change in place forces replacement, and its dependents are rebuilt', () => {
    const d = desiredSet({vm: {vmType: 'p4d.24xlarge'}})
    const c = diff({desired: d, records: recordsOf(desiredSet()), actual: actualOf(desiredSet())})
    assert.equal(c.get(`${P}.vm`)!.action, 'replace')
    assert.equal(c.get(`${P}.vm`)!.reason, 'vmType changed: forces replacement')
    assert.equal(c.get(`${P}.bootstrap`)!.action, 'replace')
    assert.equal(c.get(`${P}.bootstrap`)!.reason, 'its VM is being created: the machine must be bootstrapped again')
    assert.equal(c.get(`${P}.workload`)!.action, 'replace')
    assert.equal(c.get(`${P}.workload`)!.reason, 'its VM is being created: the workload starts on the new machine')
    for (const k of ['bucket.output', 'bucket.checkpoint', 'identity']) assert.equal(actions(c)[k], 'no-op', k)
  })

  it('several forcing attributes are all named, sorted', () => {
    const d = desiredSet({vm: {vmType: 'x', spot: false, diskSizeGb: 50}})
    const c = diff({desired: d, records: recordsOf(desiredSet()), actual: actualOf(desiredSet())})
    assert.equal(c.get(`${P}.vm`)!.reason, 'diskSizeGb, spot, vmType changed: forces replacement')
  })

  it('in-place updates: the bootstrap hash and the identity\'s buckets; they do not rebuild the workload', () => {
    const d = desiredSet({bootstrap: {hash: 'bbbb'}})
    d[3].attributes = {buckets: {input: 'data', output: 'results', checkpoint: 'acme-train-x7k2q9'}}
    const c = diff({desired: d, records: recordsOf(desiredSet()), actual: actualOf(desiredSet())})
    assert.equal(c.get(`${P}.bootstrap`)!.action, 'update')
    assert.equal(c.get(`${P}.bootstrap`)!.reason, 'hash changed')
    assert.equal(c.get(`${P}.identity`)!.action, 'update')
    assert.equal(c.get(`${P}.identity`)!.reason, 'buckets changed')
    assert.equal(c.get(`${P}.workload`)!.action, 'no-op')
  })

  it('buckets are never replaced: a differing setting is reported, not acted on', () => {
    const d = desiredSet()
    d[1].attributes = {...d[1].attributes, versioning: true}
    const c = diff({desired: d, records: recordsOf(desiredSet()), actual: actualOf(desiredSet())})
    assert.equal(c.get(`${P}.bucket.output`)!.action, 'no-op')
    assert.match(c.get(`${P}.bucket.output`)!.reason, /settings differ \(versioning\) but buckets are never replaced/)
  })

  it('a VM gone behind anycloud\'s back is created again, with its bootstrap and workload', () => {
    const d = desiredSet()
    const actual = actualOf(d)
    actual[`${P}.vm`] = null
    actual[`${P}.bootstrap`] = null
    actual[`${P}.workload`] = null
    let c = diff({desired: d, records: recordsOf(d), actual})
    assert.equal(c.get(`${P}.vm`)!.action, 'create')
    assert.equal(c.get(`${P}.vm`)!.reason, 'VM no longer exists (preempted?)')
    assert.equal(c.get(`${P}.bootstrap`)!.action, 'create')
    assert.equal(c.get(`${P}.workload`)!.action, 'create')
    assert.equal(c.get(`${P}.workload`)!.reason, 'workload is no longer running on the machine (preempted or restarted?): it will be started again')
    // The bootstrap and workload still there on a re-created VM (e.g. found by a stale read) are rebuilt too.
    const partial = actualOf(d)
    partial[`${P}.vm`] = null
    c = diff({desired: d, records: recordsOf(d), actual: partial})
    assert.equal(c.get(`${P}.bootstrap`)!.action, 'replace')
    assert.equal(c.get(`${P}.workload`)!.action, 'replace')
  })

  it('a VM the cloud lists as not running (its note says why) is replaced, with its bootstrap and workload', () => {
    const d = desiredSet()
    const actual = actualOf(d)
    actual[`${P}.vm`] = {...actual[`${P}.vm`]!, note: 'Server.SpotInstanceTermination'}
    const c = diff({desired: d, records: recordsOf(d), actual})
    assert.equal(c.get(`${P}.vm`)!.action, 'replace')
    assert.equal(c.get(`${P}.vm`)!.reason, 'VM no longer exists (Server.SpotInstanceTermination)')
    assert.equal(c.get(`${P}.bootstrap`)!.action, 'replace')
    assert.equal(c.get(`${P}.workload`)!.action, 'replace')
  })

  it('a lost workload (its supervisor died) is replaced', () => {
    const d = desiredSet()
    const c = diff({desired: d, records: recordsOf(d), actual: actualOf(d, {phase: 'lost'})})
    assert.equal(c.get(`${P}.workload`)!.action, 'replace')
    assert.equal(c.get(`${P}.workload`)!.reason, 'workload was lost (its machine was preempted or restarted): it will be started again')
    assert.equal(c.get(`${P}.vm`)!.action, 'no-op')
  })

  it('a changed command re-runs the workload, naming what changed; the machine stays', () => {
    const d = desiredSet({workload: {command: ['python', 'train.py', '--epochs', '3'], specHash: 's2'}})
    const c = diff({desired: d, records: recordsOf(desiredSet()), actual: actualOf(desiredSet())})
    assert.equal(c.get(`${P}.workload`)!.action, 'replace')
    assert.equal(c.get(`${P}.workload`)!.reason, 'command changed: re-runs the workload')
    assert.equal(c.get(`${P}.vm`)!.action, 'no-op')
  })

  it('--replace forces one resource (and what runs on it)', () => {
    const d = desiredSet()
    let c = diff({desired: d, records: recordsOf(d), actual: actualOf(d), replace: new Set([`${P}.vm`])})
    assert.deepEqual(actions(c), {'bucket.input': 'read', 'bucket.output': 'no-op', 'bucket.checkpoint': 'no-op', identity: 'no-op', vm: 'replace', bootstrap: 'replace', workload: 'replace'})
    assert.equal(c.get(`${P}.vm`)!.reason, 'replacement requested with --replace')
    c = diff({desired: d, records: recordsOf(d), actual: actualOf(d), replace: new Set([`${P}.workload`])})
    assert.equal(c.get(`${P}.workload`)!.action, 'replace')
    assert.equal(c.get(`${P}.workload`)!.reason, 'replacement requested with --replace')
    assert.equal(c.get(`${P}.vm`)!.action, 'no-op')
    c = diff({desired: d, records: recordsOf(d), actual: actualOf(d), replace: new Set([`${P}.bucket.output`])})
    assert.equal(c.get(`${P}.bucket.output`)!.action, 'replace')
  })

  it('a finished workload: kept as a no-op with its outcome; what is no longer wanted is deleted with the given reason', () => {
    const all = desiredSet()
    const done = all.filter((d) => d.kind === 'bucket' && d.role !== 'checkpoint').concat(all.filter((d) => d.kind === 'workload').map((w) => ({...w, dependsOn: []})))
    const c = diff({
      desired: done,
      records: recordsOf(all),
      actual: actualOf(all, {phase: 'completed', exitCode: 0}),
      phase: 'done',
      deleteReason: (r) => `workload completed (exit 0): ${r.kind === 'bucket' ? 'checkpoint bucket deleted (persistBucket is off)' : 'tearing down (persist is off)'}`,
    })
    assert.deepEqual(actions(c), {'bucket.input': 'read', 'bucket.output': 'no-op', 'bucket.checkpoint': 'delete', identity: 'delete', vm: 'delete', bootstrap: 'delete', workload: 'no-op'})
    assert.equal(c.get(`${P}.workload`)!.reason, 'workload completed (exit 0)')
    assert.deepEqual(c.get(`${P}.workload`)!.observed, {phase: 'completed', exitCode: 0, id: 'id-acme-train-x7k2q9'})
    assert.equal(c.get(`${P}.vm`)!.reason, 'workload completed (exit 0): tearing down (persist is off)')
    assert.equal(c.get(`${P}.vm`)!.after, null)
    assert.deepEqual(c.get(`${P}.vm`)!.dependsOn, [])
  })

  it('a finished workload whose machine is gone is remembered from state', () => {
    const all = desiredSet()
    const w = all.find((d) => d.kind === 'workload')!
    const c = diff({desired: [{...w, dependsOn: []}], records: recordsOf([w]), actual: {}, phase: 'done', workloadMemory: {phase: 'failed', exitCode: 3}})
    assert.equal(c.get(`${P}.workload`)!.action, 'no-op')
    assert.equal(c.get(`${P}.workload`)!.reason, 'workload failed (exit 3)')
  })

  it('a finished workload whose spec changed runs again', () => {
    const w = desiredSet({workload: {image: 'img:2', specHash: 's2'}}).find((d) => d.kind === 'workload')!
    const old = desiredSet().find((d) => d.kind === 'workload')!
    const c = diff({desired: [w], records: recordsOf([old]), actual: {}, workloadMemory: {phase: 'completed', exitCode: 0, specHash: 's1'}})
    assert.equal(c.get(`${P}.workload`)!.action, 'create')
    assert.equal(c.get(`${P}.workload`)!.reason, 'image changed since it completed: re-runs the workload')
  })

  it('recorded resources that are not desired: deleted when found, forgotten when gone; input buckets only forgotten', () => {
    const all = desiredSet()
    const records = recordsOf(all)
    records[`${P}.bucket.input`] = {...records[`${P}.bucket.output`], address: `${P}.bucket.input`, role: 'input', name: 'data'}
    const actual = actualOf(all)
    actual[`${P}.identity`] = null
    const c = diff({desired: [], records, actual, deleteReason: (r) => `destroy ${r.kind}`})
    assert.equal(c.get(`${P}.vm`)!.action, 'delete')
    assert.equal(c.get(`${P}.vm`)!.reason, 'destroy vm')
    assert.equal(c.get(`${P}.identity`)!.action, 'no-op')
    assert.equal(c.get(`${P}.identity`)!.reason, 'already gone: removed from state')
    assert.equal(c.get(`${P}.identity`)!.after, null)
    assert.equal(c.get(`${P}.bucket.input`)!.action, 'no-op')
    assert.match(c.get(`${P}.bucket.input`)!.reason, /input buckets are never deleted/)
  })

  it('a resource recorded on another credential moves: replaced there', () => {
    const d = desiredSet({credential: 'gcp-prod'})
    const c = diff({desired: d, records: recordsOf(desiredSet()), actual: {}})
    assert.equal(c.get(`${P}.vm`)!.action, 'replace')
    assert.equal(c.get(`${P}.vm`)!.reason, "vm moves from credential 'aws-prod' to 'gcp-prod': re-created there, the old one deleted")
    assert.match(c.get(`${P}.bucket.output`)!.reason, /output bucket moves .* deleted if empty$/)
    assert.equal(c.get(`${P}.bucket.input`)!.action, 'read')
  })

  it('is pure and deterministic: same input, same output, sorted by kind order then address', () => {
    const d = desiredSet({vm: {vmType: 'x'}})
    const input = {desired: d, records: recordsOf(desiredSet()), actual: actualOf(desiredSet())}
    const frozen = JSON.stringify(input)
    const a = diffDeployment({...input, replace: new Set(), phase: 'run', deleteReason: () => 'x', diffOf})
    const b = diffDeployment({...structuredClone(input), desired: [...structuredClone(d)].reverse(), replace: new Set(), phase: 'run', deleteReason: () => 'x', diffOf})
    assert.deepEqual(a, b)
    assert.equal(JSON.stringify(input), frozen, 'inputs are not mutated')
    assert.deepEqual(a.map((c) => c.address), [`${P}.bucket.input`, `${P}.bucket.output`, `${P}.bucket.checkpoint`, `${P}.identity`, `${P}.vm`, `${P}.bootstrap`, `${P}.workload`])
  })

  it('sortChanges orders profiles, then kinds in creation order, then addresses', () => {
    const mk = (address: string): Change => ({address, profile: address.split('.')[0], kind: 'vm', action: 'no-op', reason: '', credential: 'c', provider: 'local', name: 'n', dependsOn: [], before: null, after: null})
    const addresses = ['b.workload', 'a.vm', 'b.bucket.output', 'a.bucket.checkpoint', 'a.bucket.input', 'b.vm', 'a.workload', 'a.sshkey', 'a.network', 'a.identity', 'a.bootstrap', 'a.bucket.output']
    const expected = ['a.bucket.input', 'a.bucket.output', 'a.bucket.checkpoint', 'a.identity', 'a.network', 'a.sshkey', 'a.vm', 'a.bootstrap', 'a.workload', 'b.bucket.output', 'b.vm', 'b.workload']
    for (let i = 0; i < 20; i++) {
      const shuffled = [...addresses].sort(() => Math.random() - 0.5)
      assert.deepEqual(sortChanges(shuffled.map(mk)).map((c) => c.address), expected)
    }
  })
})

describe('engine: changes worked out while refresh reads (foundChange) are the ones the diff makes', () => {
  /** Scenarios over the same desired set: what state recorded and what refresh found. */
  function scenarios(): Array<{name: string; input: Omit<DiffInput, 'diffOf' | 'deleteReason' | 'phase'> & {phase?: DiffInput['phase']}}> {
    const desired = desiredSet()
    const records = recordsOf(desired)
    const actual = actualOf(desired)
    const without = (address: string) => ({...actual, [`${P}.${address}`]: null})
    const changedVm = desiredSet({vm: {vmType: 'p3.8xlarge'}})
    const movedRecords = recordsOf(desiredSet({credential: 'aws-old'}))
    return [
      {name: 'steady', input: {desired, records, actual, replace: new Set()}},
      {name: 'vm gone', input: {desired, records, actual: without('vm'), replace: new Set()}},
      {name: 'output bucket gone', input: {desired, records, actual: without('bucket.output'), replace: new Set()}},
      {name: 'identity gone', input: {desired, records, actual: without('identity'), replace: new Set()}},
      {name: 'vm listed but terminated', input: {desired, records, actual: {...actual, [`${P}.vm`]: {id: 'id-vm', attributes: {}, note: 'terminated (spot reclaim)'}}, replace: new Set()}},
      {name: 'vm type changed', input: {desired: changedVm, records, actual, replace: new Set()}},
      {name: '--replace identity', input: {desired, records, actual, replace: new Set([`${P}.identity`])}},
      {name: '--replace vm', input: {desired, records, actual, replace: new Set([`${P}.vm`])}},
      {name: 'records pending', input: {desired, records: recordsOf(desired, 'pending'), actual, replace: new Set()}},
      {name: 'moved credential', input: {desired, records: movedRecords, actual, replace: new Set()}},
      {name: 'workload done', input: {desired, records, actual: {...actual, [`${P}.workload`]: {id: 'w', attributes: {}, phase: 'completed', exitCode: 0}}, replace: new Set(), phase: 'done'}},
    ]
  }

  for (const {name, input} of scenarios()) {
    it(`${name}: the same changes with and without the worked-out ones`, () => {
      const recordAt = (a: string) => input.records[a]
      const full: DiffInput = {phase: 'run', deleteReason: () => 'no longer part of the profile', diffOf, ...input}
      const plain = diffDeployment(full)
      const found = input.desired.map((d) => foundChange(d, recordAt(d.address), diffOf))
      // A pending or moved record has none worked out ahead; every other scenario has some.
      assert.equal(found.some(Boolean), !/pending|moved/.test(name), 'changes worked out ahead')
      const ahead = diffDeployment({...full, found})
      assert.deepEqual(ahead, plain)
    })
  }

  it('only what reads no actual is worked out ahead: never the bootstrap, the workload, an input bucket, a pending or moved record', () => {
    const desired = desiredSet()
    const records = recordsOf(desired)
    const ahead = (d: DesiredResource, r: ResourceRecord | undefined) => foundChange(d, r, diffOf)?.action
    assert.deepEqual(desired.map((d) => ahead(d, records[d.address])), [undefined, 'no-op', 'no-op', 'no-op', 'no-op', undefined, undefined])
    assert.equal(ahead(desired[4], {...records[desired[4].address], status: 'pending'}), undefined)
    assert.equal(ahead(desired[4], {...records[desired[4].address], credential: 'aws-old'}), undefined)
    assert.equal(ahead(desired[4], undefined), undefined)
    assert.equal(ahead(desiredSet({vm: {vmType: 'p3.8xlarge'}})[4], records[desired[4].address]), 'replace')
  })
})

describe('engine: joinSorted (the changes of many deployments in plan order)', () => {
  /** Each profile's changes as diffDeployment returns them, the profiles in an unsorted order. */
  function perProfile(names: string[]): Array<{profile: string; changes: Change[]}> {
    return names.map((name) => {
      const desired = desiredSet().map((d) => ({...d, profile: name, address: d.address.replace(`${P}.`, `${name}.`), dependsOn: []}))
      return {profile: name, changes: diffDeployment({desired, records: {}, actual: {}, replace: new Set(), phase: 'run', deleteReason: () => 'x', diffOf})}
    })
  }
  const names = ['p10', 'p2', 'b', 'p1', 'a', 'p100', 'A']

  it('by the ranks of the sorted names: the order of sorting every change', () => {
    const lists = perProfile(names)
    const sorted = [...names].sort((x, y) => new Intl.Collator().compare(x, y))
    const rank = new Map(sorted.map((n, i) => [n, i]))
    const expected = sortChanges(lists.flatMap((l) => l.changes))
    assert.deepEqual(joinSorted(lists, undefined, (n) => rank.get(n)).map((c) => c.address), expected.map((c) => c.address))
    assert.deepEqual(joinSorted(lists).map((c) => c.address), expected.map((c) => c.address), 'without ranks: by name')
    assert.equal(expected[0].profile, sorted[0])
  })

  it('ranks that do not number the lists 0..n-1 (a gap, a repeat, one missing) fall back to sorting by name', () => {
    const lists = perProfile(names)
    const expected = sortChanges(lists.flatMap((l) => l.changes)).map((c) => c.address)
    const sorted = [...names].sort((x, y) => new Intl.Collator().compare(x, y))
    for (const rankOf of [(n: string) => sorted.indexOf(n) * 2, () => 0, (n: string) => (n === 'a' ? undefined : sorted.indexOf(n))]) {
      assert.deepEqual(joinSorted(lists, undefined, rankOf).map((c) => c.address), expected)
    }
  })

  it('a list holding another profile\'s change is not joined as it is: every change is sorted', () => {
    const lists = perProfile(['b', 'a'])
    const stray = lists[0].changes.pop()!
    lists[1].changes.push(stray)
    const rank = new Map([['a', 0], ['b', 1]])
    assert.deepEqual(joinSorted(lists, undefined, (n) => rank.get(n)).map((c) => c.address), sortChanges(lists.flatMap((l) => l.changes)).map((c) => c.address))
  })
})
