import assert from 'node:assert/strict'
import {join} from 'node:path'

import {selectProfiles} from '../../src/config/index.js'
import {DEFAULT_STATE, DEFAULT_SYNC_INTERVAL_SECONDS, IMPLICIT_LOCAL, knownCredentials, mergeProfile, sanitizeProjectName, toResolvedProfile} from '../../src/config/resolve.js'
import {UsageError} from '../../src/errors/index.js'
import {CONFIG_FIXTURES, loadText, loadWith} from './helpers.js'

describe('config resolution', () => {
  describe('mergeProfile: defaults + extends chain + profile', () => {
    const profiles = {
      base: {image: 'img:1', gpuType: 'a100:8', env: {A: '1', B: '2'}, region: 'us-east-1'},
      big: {extends: 'base', diskSizeGb: 500, env: {C: '3'}},
      cpu: {extends: 'big', vmType: 'm5.large'},
      gpu: {extends: 'cpu', gpuType: 't4'},
    }
    const defaults = {spot: true, diskSizeGb: 100, env: {LOG: 'info'}, region: 'eu-west-1'}

    it('layers defaults under the root of the chain, nearest field wins', () => {
      const m = mergeProfile('big', profiles, defaults)
      assert.equal(m.fields.spot, true, 'from defaults')
      assert.equal(m.fields.region, 'us-east-1', 'base overrides defaults')
      assert.equal(m.fields.diskSizeGb, 500, 'the profile overrides defaults')
      assert.equal(m.fields.image, 'img:1', 'inherited from base')
      assert.equal('extends' in m.fields, false, 'extends is not a field')
      assert.deepEqual(m.chain, ['base'])
      assert.equal(m.cycle, undefined)
      assert.deepEqual(m.origins.spot, ['defaults', 'spot'])
      assert.deepEqual(m.origins.region, ['profiles', 'base', 'region'])
      assert.deepEqual(m.origins.diskSizeGb, ['profiles', 'big', 'diskSizeGb'])
    })

    it('replaces maps wholesale (env is not merged key by key)', () => {
      assert.deepEqual(mergeProfile('big', profiles, defaults).fields.env, {C: '3'})
      assert.deepEqual(mergeProfile('base', profiles, defaults).fields.env, {A: '1', B: '2'})
      assert.deepEqual(mergeProfile('cpu', profiles, defaults).fields.env, {C: '3'})
    })

    it('vmType set in a child drops an inherited gpuType, and the other way round', () => {
      const cpu = mergeProfile('cpu', profiles, defaults)
      assert.equal(cpu.fields.vmType, 'm5.large')
      assert.equal('gpuType' in cpu.fields, false)
      assert.deepEqual(cpu.chain, ['big', 'base'])
      const gpu = mergeProfile('gpu', profiles, defaults)
      assert.equal(gpu.fields.gpuType, 't4')
      assert.equal('vmType' in gpu.fields, false)
      assert.deepEqual(gpu.chain, ['cpu', 'big', 'base'])
      // Hardware in defaults is dropped the same way.
      const fromDefaults = mergeProfile('p', {p: {vmType: 'm5.large'}}, {gpuType: 'a100'})
      assert.deepEqual(fromDefaults.fields, {vmType: 'm5.large'})
    })

    it('stops at a cycle and reports it, first name repeated at the end', () => {
      const m = mergeProfile('a', {a: {extends: 'b', image: 'x'}, b: {extends: 'a', region: 'r'}}, undefined)
      assert.deepEqual(m.cycle, ['a', 'b', 'a'])
      assert.deepEqual(m.fields, {image: 'x', region: 'r'})
      assert.deepEqual(mergeProfile('s', {s: {extends: 's'}}, undefined).cycle, ['s', 's'])
    })

    it('stops at an unknown parent', () => {
      const m = mergeProfile('a', {a: {extends: 'nope', image: 'x'}}, {spot: true})
      assert.deepEqual(m.chain, [])
      assert.deepEqual(m.fields, {spot: true, image: 'x'})
    })
  })

  describe('toResolvedProfile', () => {
    const resolve = (fields: Record<string, unknown>) => toResolvedProfile('p', {fields, origins: {}, chain: []}, ['local'], [])

    it('defaults runtime to docker with an image, process without one; an explicit runtime wins', () => {
      assert.equal(resolve({image: 'img'}).runtime, 'docker')
      assert.equal(resolve({command: 'x'}).runtime, 'process')
      assert.equal(resolve({image: 'img', command: 'x', runtime: 'process'}).runtime, 'process')
    })

    it('fills the documented defaults', () => {
      const p = resolve({command: ['python', 'x.py']})
      assert.equal(p.spot, false)
      assert.equal(p.persist, false)
      assert.equal(p.persistBucket, false)
      assert.equal(p.syncIntervalSeconds, DEFAULT_SYNC_INTERVAL_SECONDS)
      assert.equal(DEFAULT_SYNC_INTERVAL_SECONDS, 60)
      assert.deepEqual(p.env, {})
      assert.deepEqual(p.sensitiveEnv, [])
      assert.deepEqual(p.hardware, {kind: 'default'})
      assert.deepEqual(p.command, ['python', 'x.py'])
    })

    it('parses hardware: vmType, gpuType name, count and all', () => {
      assert.deepEqual(resolve({vmType: 'm5.large'}).hardware, {kind: 'vm', vmType: 'm5.large'})
      assert.deepEqual(resolve({gpuType: 'A100'}).hardware, {kind: 'gpu', gpuType: 'A100', name: 'a100', count: 1})
      assert.deepEqual(resolve({gpuType: 'a100:8'}).hardware, {kind: 'gpu', gpuType: 'a100:8', name: 'a100', count: 8})
      assert.deepEqual(resolve({gpuType: 'h100:all'}).hardware, {kind: 'gpu', gpuType: 'h100:all', name: 'h100', count: 'all'})
    })

    it('maps cross-cloud storage', () => {
      const p = resolve({inputStorageCredentials: 'aws-data', inputStorageRegion: 'us-east-1', outputStorageCredentials: 'aws-out'})
      assert.deepEqual(p.inputStorage, {credential: 'aws-data', region: 'us-east-1'})
      assert.deepEqual(p.outputStorage, {credential: 'aws-out', region: undefined})
    })
  })

  describe('through loadConfig', () => {
    it('resolves the extends chain of a real file', () => {
      const {config, errors} = loadWith(join(CONFIG_FIXTURES, 'valid', 'extends-chain.yaml'))
      assert.deepEqual(errors, [])
      const {base, big, cpu} = config!.profiles
      assert.deepEqual(base.hardware, {kind: 'gpu', gpuType: 'a100:8', name: 'a100', count: 8})
      assert.equal(base.diskSizeGb, 100)
      assert.deepEqual(base.env, {EPOCHS: '10', BATCH: '64'})
      assert.equal(base.spot, true)
      assert.equal(base.runtime, 'docker')
      assert.deepEqual(big.extendsChain, ['base'])
      assert.equal(big.diskSizeGb, 500)
      assert.deepEqual(big.env, {EPOCHS: '10', BATCH: '64'})
      assert.deepEqual(cpu.hardware, {kind: 'vm', vmType: 'm5.2xlarge'})
      assert.deepEqual(cpu.env, {EPOCHS: '1'}, 'env replaced wholesale')
      assert.deepEqual(cpu.extendsChain, ['big', 'base'])
      assert.equal(cpu.diskSizeGb, 500)
    })

    describe('credentials, per profile: the file, then the store, then the only known one, then local', () => {
      it('a credential in the file wins over a stored one of the same name', () => {
        const {config} = loadText('version: 1\ncredentials:\n  prod: {provider: gcp, project: acme-ml}\nprofiles:\n  p: {command: x, credentials: prod}\n', {
          store: {prod: {provider: 'aws', profile: 'stored'}},
        })
        assert.equal(config!.credentials.prod.origin, 'file')
        assert.equal(config!.credentials.prod.spec.provider, 'gcp')
        assert.deepEqual(config!.profiles.p.credentials, ['prod'])
      })

      it('a name not in the file is looked up in the store', () => {
        const {config, errors} = loadText('version: 1\ncredentials:\n  laptop: {provider: local}\nprofiles:\n  p: {command: x, credentials: [saved, laptop]}\n', {
          store: {saved: {provider: 'aws', profile: 'saved'}},
        })
        assert.deepEqual(errors, [])
        assert.deepEqual(config!.profiles.p.credentials, ['saved', 'laptop'])
        assert.equal(config!.credentials.saved.origin, 'store')
        assert.equal(config!.credentials.laptop.origin, 'file')
      })

      it('a profile that names none gets the single known credential, from the file or the store', () => {
        const fromFile = loadText('version: 1\ncredentials:\n  only: {provider: aws}\nprofiles:\n  p: {command: x}\n')
        assert.deepEqual(fromFile.config!.profiles.p.credentials, ['only'])
        const fromStore = loadText('version: 1\nprofiles:\n  p: {command: x}\n', {store: {mine: {provider: 'azure', subscriptionId: '00000000-0000-0000-0000-000000000000'}}})
        assert.deepEqual(fromStore.config!.profiles.p.credentials, ['mine'])
        assert.deepEqual(Object.keys(fromStore.config!.credentials), ['mine'])
      })

      it('with none known anywhere, the implicit local credential', () => {
        const {config} = loadText('version: 1\nprofiles:\n  p: {command: x}\n  q: {command: y, credentials: local}\n')
        assert.deepEqual(config!.profiles.p.credentials, ['local'])
        assert.deepEqual(config!.profiles.q.credentials, ['local'])
        assert.deepEqual(config!.credentials, {local: IMPLICIT_LOCAL})
        assert.equal(config!.credentials.local.origin, 'implicit')
      })

      it('with several known and none named, an error that lists them (file and store)', () => {
        const {errors} = loadText('version: 1\ncredentials:\n  a: {provider: aws}\nprofiles:\n  p: {command: x}\n', {store: {b: {provider: 'local'}}})
        assert.equal(errors.length, 1)
        assert.match(errors[0].message, /names no credentials and 2 are known \(b, a\)/)
      })

      it('an unknown credential lists what exists in the file and in the store', () => {
        const {errors} = loadText('version: 1\ncredentials:\n  a: {provider: aws}\nprofiles:\n  p: {command: x, credentials: nope}\n', {store: {b: {provider: 'local'}}})
        assert.equal(errors.length, 1)
        assert.match(errors[0].message, /unknown credential 'nope'; known credentials in the file: a; in .*credentials\.json: b/)
      })
    })

    describe('sensitiveEnv', () => {
      const env = {TOKEN: 'canary-token-1', TAG: 'v7', REGION: 'us-east-1'}
      const text = [
        'version: 1',
        'defaults:',
        '  env: {FROM_DEFAULTS: "${env:TOKEN}", PLAIN: "x"}',
        'profiles:',
        '  base:',
        '    command: x',
        '    region: "${env:REGION}"',
        '  child:',
        '    extends: base',
        '    env: {API_TOKEN: "${env:TOKEN}", RUN: "run-${env:TAG}", LITERAL: "$${env:TOKEN}", NAME: "plain"}',
        '',
      ].join('\n')

      it('marks exactly the env values interpolated from ${env:…}, inherited ones included', () => {
        const {config, errors} = loadText(text, {env})
        assert.deepEqual(errors, [])
        const {base, child} = config!.profiles
        assert.deepEqual(base.sensitiveEnv, ['FROM_DEFAULTS'])
        assert.deepEqual(base.env, {FROM_DEFAULTS: 'canary-token-1', PLAIN: 'x'})
        assert.deepEqual(child.sensitiveEnv, ['API_TOKEN', 'RUN'])
        assert.deepEqual(child.env, {API_TOKEN: 'canary-token-1', RUN: 'run-v7', LITERAL: '${env:TOKEN}', NAME: 'plain'})
        assert.equal(child.region, 'us-east-1', 'other fields are interpolated too')
      })
    })

    describe('project name', () => {
      it('defaults to the folder name, sanitized', () => {
        assert.equal(loadText('version: 1\nprofiles:\n  p: {command: x}\n', {folder: 'My_Repo.Name'}).config!.project, 'my-repo-name')
        assert.equal(loadText('version: 1\nproject: explicit\nprofiles:\n  p: {command: x}\n', {folder: 'ignored'}).config!.project, 'explicit')
      })

      it('sanitizes to a usable resource name', () => {
        assert.equal(sanitizeProjectName('/src/My Project_2024'), 'my-project-2024')
        assert.equal(sanitizeProjectName('/src/2024-Q3--Results!'), 'q3-results')
        assert.equal(sanitizeProjectName('/src/a-very-long-repository-name-indeed'), 'a-very-long-repository-n')
        assert.equal(sanitizeProjectName('/src/abcdefghijklmnopqrstuvw-xyz'), 'abcdefghijklmnopqrstuvw', 'no trailing hyphen after the cut')
        assert.equal(sanitizeProjectName('/src/1234'), 'anycloud')
        assert.equal(sanitizeProjectName('/src/---'), 'anycloud')
        assert.equal(sanitizeProjectName('/src/google-drive-sync'), 'anycloud', 'GCS refuses "google" in bucket names')
        for (const dir of ['/x/Ünïcode Repo', '/x/a', '/x/.hidden', '/x/goog-stuff']) {
          assert.match(sanitizeProjectName(dir), /^[a-z][a-z0-9-]{0,23}$/)
        }
      })
    })

    it('state defaults to a local backend', () => {
      const {config} = loadText('version: 1\nprofiles:\n  p: {command: x}\n')
      assert.deepEqual(config!.state, DEFAULT_STATE)
      assert.deepEqual(DEFAULT_STATE, {backend: 'local', path: '.anycloud'})
    })

    it('knownCredentials: the file over the store', () => {
      const known = knownCredentials({a: {provider: 'local'}}, {a: {provider: 'aws'}, b: {provider: 'aws'}})
      assert.deepEqual(Object.fromEntries(Object.entries(known).map(([k, v]) => [k, [v.origin, v.spec.provider]])), {a: ['file', 'local'], b: ['store', 'aws']})
    })

    it('selectProfiles: all by default, named ones in order, an unknown name is a usage error listing the real ones', () => {
      const {config} = loadWith(join(CONFIG_FIXTURES, 'valid', 'extends-chain.yaml'))
      assert.deepEqual(selectProfiles(config!, []).map((p) => p.name), ['base', 'big', 'cpu'])
      assert.deepEqual(selectProfiles(config!, ['cpu', 'base', 'cpu']).map((p) => p.name), ['cpu', 'base'])
      assert.throws(() => selectProfiles(config!, ['bgi']), (e: unknown) => e instanceof UsageError && e.exitCode === 3 && /unknown profile 'bgi'.*did you mean 'big'.*profiles: base, big, cpu/.test(e.message))
    })
  })
})
