import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {machinePaths, renderBootstrap} from '../../../src/bootstrap/render.js'
import type {NamedCredential, ResolvedProfile} from '../../../src/config/types.js'
import {deploymentContext, type ActualResource, type DeploymentContext, type DesiredResource, type ResourceKind, type ResourceRecord} from '../../../src/model/resources.js'
import type {Provider, ProviderCallContext} from '../../../src/providers/provider.js'
import {ProviderSet} from '../../../src/providers/registry.js'
import {generateHostKeyPair} from '../../../src/remote/host-keys.js'
import {redactSecrets} from '../../../src/util/redact.js'
import {entriesUnder, localRemote, PLACEMENT, processArgs, specFor, startVm, until, type Vm} from '../../bootstrap/helpers.js'
import {kindOps} from '../../../src/providers/provider.js'

/**
 * The ssh provider against a real host: vm = the host (pinned or recorded host key), bootstrap
 * rendered from the profile with buckets on the `storage` credential, workload as a supervisord
 * program; what it reads back; and what it never needs (storage providers for status/destroy).
 */

const ID = 'ssht-train-q1w2e3'

interface Rig {
  dir: string
  set: ProviderSet
  ssh: Provider
  ctx: DeploymentContext
  records: Record<string, ResourceRecord>
  call(progress?: string[]): ProviderCallContext
  desired(kind: ResourceKind, attributes?: Record<string, unknown>): DesiredResource
  /** Creates a resource and records it as the engine would. */
  create(kind: ResourceKind, attributes?: Record<string, unknown>): Promise<ActualResource>
  cleanup(): Promise<void>
}

function profile(overrides: Partial<ResolvedProfile> = {}): ResolvedProfile {
  return {
    name: 'train', credentials: ['box'], hardware: {kind: 'default'}, spot: true, env: {}, sensitiveEnv: [], runtime: 'process',
    persistBucket: false, persist: false, syncIntervalSeconds: 60, extendsChain: [], inputBucket: 'in', outputBucket: 'out',
    command: ['sh', '-c', 'exec sleep 4901'], ...overrides,
  }
}

async function makeRig(vm: Vm, options: {hostKey?: string; profile?: Partial<ResolvedProfile>; env?: Record<string, string>; storage?: string | null; dir?: string} = {}): Promise<Rig> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'anycloud-sshp-'))
  writeFileSync(join(dir, 'key'), vm.sshd.privateKey, {mode: 0o600})
  for (const b of ['in', 'out', ID]) mkdirSync(join(dir, 'cloud', 'buckets', b), {recursive: true})
  writeFileSync(join(dir, 'cloud', 'buckets', 'in', 'data.txt'), 'x\n')
  const credentials: Record<string, NamedCredential> = {
    box: {name: 'box', origin: 'file', spec: {provider: 'ssh', hosts: [{host: vm.sshd.host, port: vm.sshd.port, user: 'root', identityFile: 'key', ...(options.hostKey ? {hostKey: options.hostKey} : {})}], ...(options.storage === null ? {} : {storage: options.storage ?? 'store'})}},
    store: {name: 'store', origin: 'file', spec: {provider: 'local', root: 'cloud'}},
  }
  const set = new ProviderSet({credentials, configDir: dir, env: {ANYCLOUD_REMOTE_PREFIX: vm.prefix, ANYCLOUD_STORAGE_CHECK: '2:1', ANYCLOUD_SSH_WAIT_MS: '10000', ...options.env}})
  const ssh = await set.get('box')
  const ctx: DeploymentContext = deploymentContext({project: 'ssht', deploymentId: ID, lineage: 'test-lineage', profile: profile(options.profile), placement: {credential: 'box', provider: 'ssh', region: 'ssh', spot: true}, configDir: dir, stateDir: join(dir, '.anycloud'), credentials})
  const records: Record<string, ResourceRecord> = {}
  const desired = (kind: ResourceKind, attributes: Record<string, unknown> = {}): DesiredResource => ({
    address: `train.${kind}`, profile: 'train', kind, credential: 'box', provider: 'ssh', name: ID, dependsOn: [], attributes: {...attributes, ...(ssh.desiredAttributes?.({address: `train.${kind}`, profile: 'train', kind, credential: 'box', provider: 'ssh', name: ID, dependsOn: [], attributes}, ctx) ?? {})},
  })
  const call = (progress: string[] = []): ProviderCallContext => ({deployment: ctx, records, progress: (m) => progress.push(m)})
  return {
    dir, set, ssh, ctx, records, call, desired,
    async create(kind, attributes = {}) {
      const d = desired(kind, attributes)
      const a = await kindOps(ssh).create(d, call())
      records[d.address] = {address: d.address, kind, credential: 'box', provider: 'ssh', name: ID, id: a.id, status: 'created', attributes: a.attributes, outputs: a.outputs ?? {}, updatedAt: new Date().toISOString()}
      return a
    },
    async cleanup() {
      await set.closeAll()
      if (!options.dir) rmSync(dir, {recursive: true, force: true})
    },
  }
}

describe(`ssh provider (host ${PLACEMENT.title})`, function () {
  this.timeout(120_000)
  let vm: Vm
  let rig: Rig | undefined

  before(async () => {
    vm = await startVm()
  })
  after(async () => {
    await vm?.stop()
  })
  afterEach(async () => {
    if (rig) {
      // Leave the host clean for the next test.
      for (const kind of ['workload', 'bootstrap'] as const) {
        const r = rig.records[`train.${kind}`]
        if (r) await kindOps(rig.ssh).delete(r, rig.call()).catch(() => undefined)
      }
      await rig.cleanup()
      rig = undefined
    }
  })

  it('plans from the profile: the vm is the host, the bootstrap hash is the rendered one and ignores the workload', async () => {
    rig = await makeRig(vm)
    await rig.ssh.prepare!(rig.ctx)
    assert.deepEqual(rig.ssh.desiredAttributes!(rig.desired('vm'), rig.ctx), {host: `root@${vm.sshd.host}:${vm.sshd.port}`, region: undefined, spot: undefined})
    const hash = rig.ssh.desiredAttributes!(rig.desired('bootstrap'), rig.ctx).hash
    const expected = renderBootstrap(specFor(vm.prefix, {
      deploymentId: ID, command: ['sh', '-c', 'exec sleep 4901'], syncIntervalSeconds: 60,
      remotes: {input: localRemote(join(rig.dir, 'cloud', 'buckets', 'in')), output: localRemote(join(rig.dir, 'cloud', 'buckets', 'out')), checkpoint: localRemote(join(rig.dir, 'cloud', 'buckets', ID))},
    }))
    assert.equal(hash, expected.hash, 'the ssh provider renders the bootstrap this test expects (ANYCLOUD_REMOTE_PREFIX, 2:1 storage check)')
    const other = await makeRig(vm, {dir: rig.dir, profile: {command: ['python', 'x.py'], env: {A: 'b'}}})
    try {
      await other.ssh.prepare!(other.ctx)
      assert.equal(other.ssh.desiredAttributes!(other.desired('bootstrap'), other.ctx).hash, hash, 'a workload change is not a bootstrap change')
      const slower = await makeRig(vm, {dir: rig.dir, profile: {syncIntervalSeconds: 300}})
      await slower.ssh.prepare!(slower.ctx)
      assert.notEqual(slower.ssh.desiredAttributes!(slower.desired('bootstrap'), slower.ctx).hash, hash)
      await slower.cleanup()
    } finally {
      await other.cleanup()
    }
    assert.equal(rig.ssh.defaultRegion(), 'ssh')
    assert.deepEqual([...rig.ssh.compute.keys()].sort(), ['bootstrap', 'vm', 'workload'])
  })

  it('keeps buckets on the storage credential; without one it says what to set', async () => {
    rig = await makeRig(vm)
    assert.equal((await rig.ssh.readBucket('in'))?.id, join(rig.dir, 'cloud', 'buckets', 'in'))
    assert.equal(await rig.ssh.readBucket('nope'), null)
    const bare = await makeRig(vm, {storage: null})
    try {
      await assert.rejects(bare.ssh.readBucket('in'), /ssh credential 'box' has no storage: set credentials\.box\.storage/)
    } finally {
      await bare.cleanup()
    }
  })

  it('checkAuth names a missing identity file', async () => {
    rig = await makeRig(vm)
    await rig.ssh.checkAuth()
    rmSync(join(rig.dir, 'key'))
    await assert.rejects(rig.ssh.checkAuth(), (e: Error & {code?: string}) => /identity file .*key for root@.* does not exist/.test(e.message))
  })

  it('records the host key on first contact, then creates, reads and deletes bootstrap and workload over one connection', async () => {
    rig = await makeRig(vm)
    const logFrom = vm.sshd.log().length
    await rig.ssh.prepare!(rig.ctx)
    assert.equal(await kindOps(rig.ssh).read({address: 'train.bootstrap', kind: 'bootstrap', name: ID}, rig.call()), null, 'no vm yet: nothing to read, no SSH')
    const vmActual = await rig.create('vm')
    assert.equal(vmActual.outputs?.hostKey, vm.sshd.hostPublicKey.split(' ').slice(0, 2).join(' '))
    assert.equal(vmActual.outputs?.system, 'Linux x86_64')
    const progress: string[] = []
    const boot = await kindOps(rig.ssh).create(rig.desired('bootstrap'), rig.call(progress))
    rig.records['train.bootstrap'] = {address: 'train.bootstrap', kind: 'bootstrap', credential: 'box', provider: 'ssh', name: ID, id: boot.id, status: 'created', attributes: boot.attributes, outputs: boot.outputs ?? {}, updatedAt: ''}
    assert.ok(progress.includes('input-sync: ran'), progress.join('\n'))
    assert.deepEqual(boot.outputs?.steps, ['files', 'supervisord', 'storage-check', 'input-sync', 'checkpoint-restore', 'programs', 'done'])
    await rig.create('workload', {specHash: 'wl-1'})
    await until('the workload process', () => processArgs().some((p) => p.args === 'sleep 4901'))

    const w = await kindOps(rig.ssh).read({address: 'train.workload', kind: 'workload', name: ID, record: rig.records['train.workload']}, rig.call())
    assert.equal(w?.phase, 'running')
    const b = await kindOps(rig.ssh).read({address: 'train.bootstrap', kind: 'bootstrap', name: ID}, rig.call())
    assert.equal(b?.attributes.hash, rig.records['train.bootstrap'].attributes.hash)
    assert.equal((vm.sshd.log().slice(logFrom).match(/Accepted publickey/g) ?? []).length, 1, 'one SSH connection for the whole run')

    await kindOps(rig.ssh).delete(rig.records['train.workload'], rig.call())
    assert.ok(!processArgs().some((p) => p.args === 'sleep 4901'))
    await kindOps(rig.ssh).delete(rig.records['train.bootstrap'], rig.call())
    await kindOps(rig.ssh).delete(rig.records['train.vm'], rig.call())
    delete rig.records['train.workload']
    delete rig.records['train.bootstrap']
    assert.deepEqual(entriesUnder(vm.prefix), ['etc/', 'mnt/', 'var/', 'var/lib/', 'var/log/'])
  })

  it('reads status and deletes with no storage provider loaded (status, logs and destroy never prepare())', async () => {
    rig = await makeRig(vm)
    await rig.ssh.prepare!(rig.ctx)
    await rig.create('vm')
    await rig.create('bootstrap')
    const fresh = await makeRig(vm, {dir: rig.dir})
    try {
      Object.assign(fresh.records, rig.records)
      const b = await kindOps(fresh.ssh).read({address: 'train.bootstrap', kind: 'bootstrap', name: ID}, fresh.call())
      assert.equal(b?.attributes.hash, rig.records['train.bootstrap'].attributes.hash)
      let out = ''
      await fresh.ssh.logs!(fresh.call(), {follow: false, write: (c) => (out += c)})
      assert.equal(out, '')
      await kindOps(fresh.ssh).delete(rig.records['train.bootstrap'], fresh.call())
      delete rig.records['train.bootstrap']
      assert.ok(!entriesUnder(vm.prefix).some((e) => e.includes(ID)))
    } finally {
      await fresh.cleanup()
    }
  })

  it('a wrong pinned key fails before authentication: no login attempt, nothing on the host', async () => {
    rig = await makeRig(vm, {hostKey: generateHostKeyPair('not-the-host').publicKey})
    const logFrom = vm.sshd.log().length
    const before = entriesUnder(vm.prefix)
    await assert.rejects(kindOps(rig.ssh).create(rig.desired('vm'), rig.call()), (e: Error & {code?: string}) => e.code === 'ssh.host-key-mismatch')
    const log = vm.sshd.log().slice(logFrom)
    assert.match(log, /Connection from/)
    assert.doesNotMatch(log, /publickey|Accepted|session/i)
    assert.deepEqual(entriesUnder(vm.prefix), before, 'nothing written on the host')
  })

  it('a recorded key is enforced: state\'s key wins over whatever the host presents', async () => {
    rig = await makeRig(vm)
    rig.records['train.vm'] = {address: 'train.vm', kind: 'vm', credential: 'box', provider: 'ssh', name: ID, id: 'x', status: 'created', attributes: {}, outputs: {hostKey: generateHostKeyPair('old').publicKey}, updatedAt: ''}
    await assert.rejects(kindOps(rig.ssh).read({address: 'train.bootstrap', kind: 'bootstrap', name: ID}, rig.call()), /Host key mismatch/)
    delete rig.records['train.vm']
  })

  it('storage secrets are fetched at apply time, registered for redaction and written only to the 0600 env file', async () => {
    rig = await makeRig(vm)
    const store = await rig.set.get('store')
    const secret = 'canary-rclone-secret-0b9d7c'
    // A storage whose remotes need a secret (what an S3 credential with static keys hands out).
    Object.assign(store, {
      rcloneRemote: (req: {bucket: string}) => ({...localRemote(join(rig!.dir, 'cloud', 'buckets', req.bucket)), secretOptions: ['token'], secretsFingerprint: 'fp1', warning: 'the storage credential\'s own keys are written to the host'}),
      rcloneSecrets: async () => ({token: secret}),
    })
    await rig.ssh.prepare!(rig.ctx)
    assert.deepEqual((rig.ssh as unknown as {warnings(c: DeploymentContext): string[]}).warnings(rig.ctx), [
      'input bucket: the storage credential\'s own keys are written to the host', 'output bucket: the storage credential\'s own keys are written to the host', 'checkpoint bucket: the storage credential\'s own keys are written to the host',
    ])
    await rig.create('vm')
    await rig.create('bootstrap')
    const paths = machinePaths({...specFor(vm.prefix), deploymentId: ID})
    const {readFileSync} = await import('node:fs')
    assert.match(readFileSync(paths.rcloneEnv, 'utf8'), new RegExp(`RCLONE_CONFIG_ACOUTPUT_TOKEN=${secret}`))
    assert.equal(redactSecrets(`x ${secret} y`).includes(secret), false)
    assert.ok(!JSON.stringify(rig.records).includes(secret))
  })
})
