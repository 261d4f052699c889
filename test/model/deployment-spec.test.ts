import assert from 'node:assert/strict'

import {bucketNamesOf, bucketOf, deploymentSpec, storageCredential, type CredentialLike} from '../../src/model/deployment-spec.js'
import type {ResolvedProfile} from '../../src/model/profile.js'
import {deploymentContext, type Placement} from '../../src/model/resources.js'

function profile(overrides: Partial<ResolvedProfile> = {}): ResolvedProfile {
  return {
    name: 'train', credentials: ['box'], hardware: {kind: 'default'}, spot: false, env: {}, sensitiveEnv: [], runtime: 'docker',
    persistBucket: false, persist: false, syncIntervalSeconds: 60, extendsChain: [], ...overrides,
  }
}

const credentials: Record<string, CredentialLike> = {
  box: {spec: {provider: 'ssh', storage: 'store'}},
  bare: {spec: {provider: 'ssh'}},
  store: {spec: {provider: 'aws'}},
  data: {spec: {provider: 'gcp'}},
  aws: {spec: {provider: 'aws'}},
}

const onBox: Placement = {credential: 'box', provider: 'ssh', region: 'ssh', spot: false}
const onAws: Placement = {credential: 'aws', provider: 'aws', region: 'eu-west-1', spot: true}

describe('model/deployment-spec: what providers read about a deployment', () => {
  it('a profile without buckets has none; a spot one gets a checkpoint bucket named after the deployment', () => {
    assert.deepEqual(deploymentSpec({profile: profile(), deploymentId: 'p-train-1', placement: onAws, credentials}).buckets, [])
    const spot = deploymentSpec({profile: profile({spot: true, persistBucket: true}), deploymentId: 'p-train-1', placement: onAws, credentials})
    assert.deepEqual(spot.buckets, [{role: 'checkpoint', name: 'p-train-1', credential: 'aws', explicitCredential: false, provider: 'aws', persist: true}])
  })

  it('buckets by role: on the placement\'s storage (an ssh host\'s `storage`) unless the profile names a credential, in role order', () => {
    const spec = deploymentSpec({
      profile: profile({spot: true, outputBucket: 'out', inputBucket: 'in', inputStorage: {credential: 'data', region: 'europe-west4'}, outputStorage: {credential: 'store'}}),
      deploymentId: 'p-train-2', placement: onBox, credentials,
    })
    assert.deepEqual(spec.buckets.map((b) => b.role), ['input', 'output', 'checkpoint'])
    assert.deepEqual(bucketOf(spec, 'input'), {role: 'input', name: 'in', credential: 'data', explicitCredential: true, provider: 'gcp', region: 'europe-west4', persist: false})
    assert.deepEqual(bucketOf(spec, 'output'), {role: 'output', name: 'out', credential: 'store', explicitCredential: true, provider: 'aws', persist: false})
    assert.deepEqual(bucketOf(spec, 'checkpoint'), {role: 'checkpoint', name: 'p-train-2', credential: 'store', explicitCredential: false, provider: 'aws', persist: false})
    assert.deepEqual(bucketNamesOf(spec), {input: 'in', output: 'out', checkpoint: 'p-train-2'})
  })

  it('the storage credential: an ssh host\'s `storage`, else the credential itself (also when the credentials are unknown)', () => {
    assert.equal(storageCredential('box', credentials), 'store')
    assert.equal(storageCredential('bare', credentials), 'bare')
    assert.equal(storageCredential('aws', credentials), 'aws')
    assert.equal(storageCredential('nowhere'), 'nowhere')
    const spec = deploymentSpec({profile: profile({outputBucket: 'out'}), deploymentId: 'd', placement: onAws})
    assert.deepEqual(spec.buckets, [{role: 'output', name: 'out', credential: 'aws', explicitCredential: false, persist: false}])
  })

  it('hardware, placement request and workload come from the profile; env values keep their sensitivity list', () => {
    const spec = deploymentSpec({
      profile: profile({
        hardware: {kind: 'gpu', gpuType: 'a100:2', name: 'a100', count: 2}, gpus: 1, diskSizeGb: 80, region: 'eu', zone: 'eu-west-1b', spot: true,
        spotFallback: {afterPreemptions: 3}, sshAllowFrom: ['192.0.2.0/24'], image: 'img:1', command: ['python', 'x.py'], env: {A: 'a', TOKEN: 's3cret'},
        sensitiveEnv: ['TOKEN'], shmSize: '2g', runtime: 'process', syncIntervalSeconds: 30, persist: true,
      }),
      deploymentId: 'd', placement: onAws, credentials,
    })
    assert.equal(spec.name, 'train')
    assert.deepEqual(spec.hardware, {request: {kind: 'gpu', gpuType: 'a100:2', name: 'a100', count: 2}, gpus: 1, diskSizeGb: 80})
    assert.deepEqual(spec.placement, {region: 'eu', zone: 'eu-west-1b', spot: true, spotFallback: {afterPreemptions: 3}, sshAllowFrom: ['192.0.2.0/24']})
    assert.deepEqual(spec.workload, {runtime: 'process', image: 'img:1', command: ['python', 'x.py'], env: {A: 'a', TOKEN: 's3cret'}, sensitiveEnv: ['TOKEN'], shmSize: '2g', syncIntervalSeconds: 30})
    assert.equal(spec.persist, true)
  })

  it('deploymentContext carries the spec of the same profile, placement and deployment id', () => {
    const ctx = deploymentContext({project: 'p', deploymentId: 'p-train-3', lineage: 'l', profile: profile({spot: true, inputBucket: 'in'}), placement: onBox, configDir: '/c', stateDir: '/s', credentials})
    assert.deepEqual(ctx.spec.buckets.map((b) => [b.role, b.name, b.credential]), [['input', 'in', 'store'], ['checkpoint', 'p-train-3', 'store']])
    assert.equal(ctx.placement, onBox)
  })
})
