import assert from 'node:assert/strict'

import type {CloudProvider} from '../../src/model/continents.js'
import {
  GCP_N1_ACCELERATOR_LIMITS,
  type GpuRequest,
  gpuForInstanceType,
  gpuInfo,
  gpuOfferings,
  knownGpuNames,
  maxGpuCount,
  parseGpuType,
  pickGpuOffering,
  resolveGpuInstance,
} from '../../src/model/gpu-catalog.js'

const PROVIDERS: CloudProvider[] = ['aws', 'azure', 'gcp']

function parsed(input: string): GpuRequest {
  const result = parseGpuType(input)
  assert.ok(result.ok, `expected '${input}' to parse: ${result.ok ? '' : result.error}`)
  return result.value
}

function parseError(input: string): string {
  const result = parseGpuType(input)
  assert.ok(!result.ok, `expected '${input}' to be rejected`)
  return result.error
}

describe('gpu-catalog', () => {
  describe('catalog', () => {
    it('knows the GPUs users name', () => {
      const names = knownGpuNames()
      for (const n of ['h100', 'h200', 'a100', 'a100-80gb', 'l40s', 'l4', 'a10g', 'a10', 't4', 'v100', 'k80', 'p100', 'p4', 'a6000']) {
        assert.ok(names.includes(n), n)
      }
    })

    it('has no duplicate names or aliases, all lower case', () => {
      const all = knownGpuNames().flatMap((n) => [n, ...gpuInfo(n)!.aliases])
      assert.equal(new Set(all).size, all.length)
      for (const n of all) assert.equal(n, n.toLowerCase())
    })

    for (const provider of PROVIDERS) {
      it(`${provider}: every offering is well formed and appears under one GPU only`, () => {
        const seen = new Map<string, string>()
        for (const name of knownGpuNames()) {
          for (const offer of gpuOfferings(provider, name)) {
            assert.ok(Number.isInteger(offer.gpuCount) && offer.gpuCount >= 1, `${offer.instanceType} gpuCount`)
            assert.ok(Number.isInteger(offer.vcpus) && offer.vcpus >= 1, `${offer.instanceType} vcpus`)
            // GCP N1 hosts carry different GPUs, so key them by host + accelerator.
            const key = offer.attachedAccelerator ? `${offer.instanceType}+${offer.attachedAccelerator.type}` : offer.instanceType
            assert.equal(seen.get(key), undefined, `${key} listed under ${seen.get(key)} and ${name}`)
            seen.set(key, name)
          }
        }
      })
    }

    it('uses each cloud’s naming for instance types', () => {
      const shape: Record<CloudProvider, RegExp> = {
        aws: /^[a-z][a-z0-9-]*\.(metal|\d*xlarge)$/,
        azure: /^Standard_[A-Z]+\d+[a-z]*_[A-Za-z0-9]+(_v\d)?$/,
        gcp: /^[a-z]\d+-[a-z]+-\d+g?$/,
      }
      for (const provider of PROVIDERS) {
        for (const name of knownGpuNames()) {
          for (const offer of gpuOfferings(provider, name)) assert.match(offer.instanceType, shape[provider], `${provider} ${name}`)
        }
      }
    })

    it('keeps GCP N1 hosts within Google’s per-count limits', () => {
      let checked = 0
      for (const name of knownGpuNames()) {
        for (const offer of gpuOfferings('gcp', name)) {
          if (!offer.attachedAccelerator) continue
          const {type, count} = offer.attachedAccelerator
          assert.equal(count, offer.gpuCount)
          assert.equal(type, gpuInfo(name)!.gcpAcceleratorType)
          assert.match(offer.instanceType, /^n1-standard-\d+$/)
          const limit = GCP_N1_ACCELERATOR_LIMITS[type]?.[count]
          assert.ok(limit, `${type} x${count} is not an allowed count`)
          assert.ok(offer.vcpus <= limit.maxVcpus, `${offer.instanceType} too big for ${type} x${count}`)
          assert.equal(offer.instanceType, `n1-standard-${offer.vcpus}`)
          checked++
        }
      }
      assert.equal(checked, 13)
    })

    it('offers nothing where a cloud has no such GPU', () => {
      assert.deepEqual(gpuOfferings('azure', 'l40s'), [])
      assert.deepEqual(gpuOfferings('gcp', 'l40s'), [])
      assert.deepEqual(gpuOfferings('azure', 'a10g'), [])
      assert.deepEqual(gpuOfferings('aws', 'a10'), [])
      assert.deepEqual(gpuOfferings('gcp', 'k80'), [])
      assert.deepEqual(gpuOfferings('aws', 'a6000'), [])
      assert.deepEqual(gpuOfferings('aws', 'nope'), [])
    })

    it('gives the largest count per cloud', () => {
      assert.equal(maxGpuCount('gcp', 'a100'), 16)
      assert.equal(maxGpuCount('aws', 'a100'), 8)
      assert.equal(maxGpuCount('azure', 't4'), 4)
      assert.equal(maxGpuCount('azure', 'l40s'), undefined)
    })
  })

  describe('parseGpuType', () => {
    const ok: Array<[string, GpuRequest]> = [
      ['a100', {name: 'a100', count: 1, countSpecified: false}],
      ['A100', {name: 'a100', count: 1, countSpecified: false}],
      ['a100:8', {name: 'a100', count: 8, countSpecified: true}],
      ['H100:all', {name: 'h100', count: 'all', countSpecified: true}],
      ['h100:ALL', {name: 'h100', count: 'all', countSpecified: true}],
      ['a100-80gb:4', {name: 'a100-80gb', count: 4, countSpecified: true}],
      ['A100-40GB:2', {name: 'a100', count: 2, countSpecified: true}],
      ['rtx-a6000', {name: 'a6000', count: 1, countSpecified: false}],
      [' t4:1 ', {name: 't4', count: 1, countSpecified: true}],
      ['l4:16', {name: 'l4', count: 16, countSpecified: true}],
    ]
    for (const [input, expected] of ok) {
      it(`parses ${JSON.stringify(input)}`, () => assert.deepEqual(parsed(input), expected))
    }

    const bad: Array<[string, RegExp]> = [
      ['', /empty/],
      ['   ', /empty/],
      [':8', /no GPU name/],
      ['a100:', /nothing after ':'/],
      ['a100:8:2', /more than one ':'/],
      ['a100:0', /positive whole number/],
      ['a100:-1', /positive whole number/],
      ['a100:1.5', /positive whole number/],
      ['a100:two', /positive whole number/],
      ['a100:08', /positive whole number/],
      ['a100:1e3', /positive whole number/],
      ['a100:99999999999999999999', /too large/],
      ['h10', /unknown GPU 'h10'.*did you mean 'h100'/],
      ['A10O:8', /unknown GPU 'A10O'.*did you mean/],
      ['quantum-gpu', /unknown GPU 'quantum-gpu' in gpuType; known GPUs: .*h100/],
    ]
    for (const [input, pattern] of bad) {
      it(`rejects ${JSON.stringify(input)}`, () => assert.match(parseError(input), pattern))
    }

    it('shows the expected syntax in syntax errors', () => {
      assert.match(parseError('a100:8:2'), /NAME:COUNT/)
    })

    it('does not suggest far-off names', () => {
      assert.doesNotMatch(parseError('quantum-gpu'), /did you mean/)
    })
  })

  describe('resolveGpuInstance', () => {
    const cases: Array<[CloudProvider, string, string | undefined, number | undefined]> = [
      // AWS
      ['aws', 'h100:8', 'p5.48xlarge', 8],
      ['aws', 'h100', 'p5.4xlarge', 1],
      ['aws', 'h100:2', 'p5.48xlarge', 8],
      ['aws', 'h100:all', 'p5.48xlarge', 8],
      ['aws', 'h200:8', 'p5en.48xlarge', 8],
      ['aws', 'a100:8', 'p4d.24xlarge', 8],
      ['aws', 'a100', 'p4d.24xlarge', 8],
      ['aws', 'a100-80gb:8', 'p4de.24xlarge', 8],
      ['aws', 'l40s', 'g6e.xlarge', 1],
      ['aws', 'l40s:4', 'g6e.12xlarge', 4],
      ['aws', 'l40s:all', 'g6e.48xlarge', 8],
      ['aws', 'l4:1', 'g6.xlarge', 1],
      ['aws', 'l4:2', 'g6.12xlarge', 4],
      ['aws', 'l4:5', 'g6.48xlarge', 8],
      ['aws', 'a10g:4', 'g5.12xlarge', 4],
      ['aws', 'a10g:8', 'g5.48xlarge', 8],
      ['aws', 't4', 'g4dn.xlarge', 1],
      ['aws', 't4:4', 'g4dn.12xlarge', 4],
      ['aws', 't4:all', 'g4dn.metal', 8],
      ['aws', 'v100', 'p3.2xlarge', 1],
      ['aws', 'v100:4', 'p3.8xlarge', 4],
      ['aws', 'v100:8', 'p3.16xlarge', 8],
      ['aws', 'v100:all', 'p3.16xlarge', 8],
      ['aws', 'k80:all', 'p2.16xlarge', 16],
      ['aws', 'h100:9', undefined, undefined],
      ['aws', 'a10', undefined, undefined],
      ['aws', 'p100', undefined, undefined],
      // Azure
      ['azure', 'h100', 'Standard_NC40ads_H100_v5', 1],
      ['azure', 'h100:2', 'Standard_NC80adis_H100_v5', 2],
      ['azure', 'h100:3', 'Standard_ND96isr_H100_v5', 8],
      ['azure', 'h100:all', 'Standard_ND96isr_H100_v5', 8],
      ['azure', 'h200:8', 'Standard_ND96isr_H200_v5', 8],
      ['azure', 'a100', 'Standard_ND96asr_v4', 8],
      ['azure', 'a100-80gb', 'Standard_NC24ads_A100_v4', 1],
      ['azure', 'a100-80gb:4', 'Standard_NC96ads_A100_v4', 4],
      ['azure', 'a100-80gb:8', 'Standard_ND96amsr_A100_v4', 8],
      ['azure', 'a10', 'Standard_NV36ads_A10_v5', 1],
      ['azure', 'a10:2', 'Standard_NV72ads_A10_v5', 2],
      ['azure', 't4', 'Standard_NC4as_T4_v3', 1],
      ['azure', 't4:2', 'Standard_NC64as_T4_v3', 4],
      ['azure', 'v100:3', 'Standard_NC24s_v3', 4],
      ['azure', 'v100:all', 'Standard_ND40rs_v2', 8],
      ['azure', 'l40s', undefined, undefined],
      ['azure', 'l4', undefined, undefined],
      ['azure', 't4:5', undefined, undefined],
      // GCP
      ['gcp', 'h100:8', 'a3-highgpu-8g', 8],
      ['gcp', 'h100', 'a3-highgpu-1g', 1],
      ['gcp', 'h100:3', 'a3-highgpu-4g', 4],
      ['gcp', 'a100', 'a2-highgpu-1g', 1],
      ['gcp', 'a100:8', 'a2-highgpu-8g', 8],
      ['gcp', 'a100:all', 'a2-megagpu-16g', 16],
      ['gcp', 'a100-80gb:2', 'a2-ultragpu-2g', 2],
      ['gcp', 'l4', 'g2-standard-4', 1],
      ['gcp', 'l4:2', 'g2-standard-24', 2],
      ['gcp', 'l4:3', 'g2-standard-48', 4],
      ['gcp', 'l4:all', 'g2-standard-96', 8],
      ['gcp', 't4', 'n1-standard-4', 1],
      ['gcp', 't4:3', 'n1-standard-16', 4],
      ['gcp', 'v100:8', 'n1-standard-64', 8],
      ['gcp', 'p100:all', 'n1-standard-32', 4],
      ['gcp', 'p4:2', 'n1-standard-8', 2],
      ['gcp', 'l40s', undefined, undefined],
      ['gcp', 'a10g', undefined, undefined],
      ['gcp', 't4:8', undefined, undefined],
    ]
    for (const [provider, gpuType, instanceType, gpuCount] of cases) {
      it(`${provider} ${gpuType} → ${instanceType ?? 'none'}`, () => {
        const got = resolveGpuInstance(provider, parsed(gpuType))
        assert.equal(got?.instanceType, instanceType)
        assert.equal(got?.gpuCount, gpuCount)
      })
    }

    it('describes attached GPUs for GCP N1 hosts only', () => {
      assert.deepEqual(resolveGpuInstance('gcp', parsed('v100:2'))?.attachedAccelerator, {type: 'nvidia-tesla-v100', count: 2})
      assert.equal(resolveGpuInstance('gcp', parsed('l4'))?.attachedAccelerator, undefined)
      assert.equal(resolveGpuInstance('aws', parsed('t4'))?.attachedAccelerator, undefined)
    })

    it('resolves exactly N whenever the cloud has a size with N GPUs', () => {
      for (const provider of PROVIDERS) {
        for (const name of knownGpuNames()) {
          for (const offer of gpuOfferings(provider, name)) {
            const got = resolveGpuInstance(provider, {name, count: offer.gpuCount})
            assert.equal(got?.gpuCount, offer.gpuCount, `${provider} ${name}:${offer.gpuCount}`)
            assert.ok(got!.vcpus <= offer.vcpus)
          }
        }
      }
    })

    it('resolves `all` to the most GPUs on offer, and unknown names to nothing', () => {
      for (const provider of PROVIDERS) {
        for (const name of knownGpuNames()) {
          assert.equal(resolveGpuInstance(provider, {name, count: 'all'})?.gpuCount, maxGpuCount(provider, name))
        }
      }
      assert.equal(resolveGpuInstance('aws', {name: 'quantum', count: 1}), undefined)
    })
  })

  describe('pickGpuOffering', () => {
    // Deliberately out of order, so the rule cannot lean on catalog order.
    const offers = [
      {instanceType: 'big8', gpuCount: 8, vcpus: 192},
      {instanceType: 'wide4', gpuCount: 4, vcpus: 96},
      {instanceType: 'slim4', gpuCount: 4, vcpus: 48},
      {instanceType: 'other4', gpuCount: 4, vcpus: 48},
      {instanceType: 'huge1', gpuCount: 1, vcpus: 64},
      {instanceType: 'tiny1', gpuCount: 1, vcpus: 4},
      {instanceType: 'lean8', gpuCount: 8, vcpus: 96},
    ]
    const cases: Array<[number | 'all', string | undefined]> = [
      [1, 'tiny1'],
      [2, 'slim4'],
      [4, 'slim4'],
      [5, 'lean8'],
      [8, 'lean8'],
      ['all', 'lean8'],
      [9, undefined],
    ]
    for (const [count, expected] of cases) {
      it(`${count} → ${expected ?? 'none'}`, () => assert.equal(pickGpuOffering(offers, count)?.instanceType, expected))
    }

    it('gives nothing for an empty list', () => {
      assert.equal(pickGpuOffering([], 1), undefined)
      assert.equal(pickGpuOffering([], 'all'), undefined)
    })
  })

  describe('gpuForInstanceType', () => {
    it('finds the GPU of a vmType', () => {
      assert.deepEqual(gpuForInstanceType('aws', 'p4d.24xlarge'), {gpu: 'a100', gpuCount: 8})
      assert.deepEqual(gpuForInstanceType('aws', 'g6e.12xlarge'), {gpu: 'l40s', gpuCount: 4})
      assert.deepEqual(gpuForInstanceType('azure', 'standard_nc6s_v3'), {gpu: 'v100', gpuCount: 1})
      assert.deepEqual(gpuForInstanceType('gcp', 'a3-highgpu-8g'), {gpu: 'h100', gpuCount: 8})
    })

    it('gives nothing for CPU types, other clouds and N1 hosts', () => {
      assert.equal(gpuForInstanceType('aws', 't3.medium'), undefined)
      assert.equal(gpuForInstanceType('gcp', 'p4d.24xlarge'), undefined)
      assert.equal(gpuForInstanceType('gcp', 'n1-standard-8'), undefined)
    })
  })
})
