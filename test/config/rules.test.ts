import assert from 'node:assert/strict'

import {didYouMean, editDistance} from '../../src/model/did-you-mean.js'
import {loadText} from './helpers.js'

const where = (list: Array<{line: number; column: number; path: string}>) => list.map((d) => `${d.line}:${d.column} ${d.path}`)

describe('semantic rules', () => {
  describe('values from ${env:…} are checked after interpolation, without echoing them', () => {
    const text = [
      'version: 1',
      'credentials:',
      '  aws-prod: {provider: aws, region: us-east-1}',
      'profiles:',
      '  train:',
      '    command: x',
      '    gpuType: "${env:GPU}"',
      '    region: "${env:REGION}"',
      '    outputBucket: "${env:BUCKET}"',
      '    credentials: "${env:CRED}"',
      '',
    ].join('\n')

    it('good values pass (a bucket reference is not judged by its ${…} text)', () => {
      const {errors, warnings, config} = loadText(text, {env: {GPU: 'a100:8', REGION: 'us-east-1', BUCKET: 'acme-results', CRED: 'aws-prod'}})
      assert.deepEqual(errors, [])
      assert.deepEqual(warnings, [])
      assert.deepEqual(config!.profiles.train.hardware, {kind: 'gpu', gpuType: 'a100:8', name: 'a100', count: 8})
      assert.equal(config!.profiles.train.outputBucket, 'acme-results')
      assert.deepEqual(config!.profiles.train.credentials, ['aws-prod'])
    })

    it('bad values are errors at the reference, naming the reference and not the value', () => {
      const env = {GPU: 'zz-secret-gpu', REGION: 'zz-secret-region', BUCKET: 'ZZ_Secret_Bucket', CRED: 'aws-prod'}
      const {errors, warnings} = loadText(text, {env})
      assert.deepEqual(where(errors), ['7:14 profiles.train.gpuType', '9:19 profiles.train.outputBucket'])
      assert.deepEqual(where(warnings), ['8:13 profiles.train.region'])
      assert.match(errors[0].message, /'\$\{env:GPU\}' \(from the environment\) is not a valid gpuType/)
      assert.match(errors[1].message, /'\$\{env:BUCKET\}' \(from the environment\) is not a valid S3 bucket name/)
      assert.match(warnings[0].message, /'\$\{env:REGION\}' \(from the environment\) is not a known aws region/)
      for (const d of [...errors, ...warnings]) for (const v of Object.values(env)) assert.ok(!d.message.includes(v) || v === 'aws-prod', d.message)

      const unknown = loadText(text, {env: {...env, CRED: 'zz-secret-cred'}})
      assert.deepEqual(where(unknown.errors), ['7:14 profiles.train.gpuType', '10:18 profiles.train.credentials'], 'buckets are not judged for an unknown cloud')
      assert.match(unknown.errors[1].message, /unknown credential '\$\{env:CRED\}' \(from the environment\)/)
      assert.ok(!unknown.errors[1].message.includes('zz-secret-cred'))
    })

    it('an unset variable is one error, with no follow-up error on the empty value', () => {
      const {errors} = loadText(text, {env: {GPU: 'a100', REGION: 'us-east-1', CRED: 'aws-prod'}})
      assert.deepEqual(where(errors), ['9:19 profiles.train.outputBucket'])
      assert.match(errors[0].message, /environment variable BUCKET is not set/)
    })

    it('input and output buckets from the environment must still differ', () => {
      const {errors} = loadText('version: 1\nprofiles:\n  p:\n    command: x\n    inputBucket: "${env:A}"\n    outputBucket: "${env:B}"\n', {env: {A: 'same-bucket', B: 'same-bucket'}})
      assert.deepEqual(where(errors), ['6:19 profiles.p.outputBucket'])
      assert.match(errors[0].message, /both come from the environment and are equal/)
      assert.ok(!errors[0].message.includes('same-bucket'))
    })
  })

  describe('literal secrets', () => {
    it('one error per literal in a secret-bearing field (the schema and the scan do not both report it)', () => {
      const {errors} = loadText('version: 1\ncredentials:\n  c: {provider: aws, accessKeyId: AKIAIOSFODNN7EXAMPLE}\nprofiles:\n  p: {command: x}\n')
      assert.deepEqual(where(errors), ['3:35 credentials.c.accessKeyId'])
      assert.ok(!errors[0].message.includes('AKIAIOSFODNN7EXAMPLE'))
    })

    it('an AWS key id anywhere in the file is refused, e.g. in a description or a command', () => {
      const {errors} = loadText('version: 1\ncredentials:\n  c: {provider: local, description: "key AKIAIOSFODNN7EXAMPLE"}\nprofiles:\n  p: {command: [run, --key, ASIAIOSFODNN7EXAMPLE]}\n')
      assert.deepEqual(where(errors), ['3:37 credentials.c.description', '5:29 profiles.p.command[2]'])
    })

    it('a secret-sounding env name with a literal value is refused; paths, URLs and references are not', () => {
      const ok = loadText('version: 1\nprofiles:\n  p:\n    command: x\n    env: {SSL_CERT_PASSWORD_FILE: ./certs/pass.txt, OAUTH_TOKEN_ENDPOINT: "https://x.example/token", API_KEY: "prefix-${env:K}"}\n', {env: {K: 'v'}})
      assert.deepEqual(ok.errors, [])
      const bad = loadText('version: 1\ndefaults:\n  env: {MY_API_KEY: sk-live-1234567890}\nprofiles:\n  a: {command: x}\n  b: {command: y}\n')
      assert.deepEqual(where(bad.errors), ['3:21 defaults.env.MY_API_KEY'], 'reported once, though two profiles inherit it')
    })
  })

  it('a saved credential of a bad shape is ignored with a warning, not a crash', () => {
    const {errors, warnings} = loadText('version: 1\nprofiles:\n  p: {command: x, credentials: broken, outputBucket: out-bucket}\n', {
      store: {broken: {provider: 'awz'}, fine: {provider: 'local'}},
    })
    assert.equal(warnings.length, 1)
    assert.equal(warnings[0].path, 'credentials.broken')
    assert.match(warnings[0].message, /saved credential 'broken' is not valid and is ignored/)
    assert.match(warnings[0].file, /credentials\.json$/)
    assert.deepEqual(where(errors), ['3:32 profiles.p.credentials'])
    assert.match(errors[0].message, /unknown credential 'broken'.*: fine/)
  })

  it('profile and bucket names: all problems of one name in one diagnostic', () => {
    const {errors} = loadText('version: 1\ncredentials:\n  a: {provider: aws}\nprofiles:\n  Bad_Name-:\n    command: x\n    outputBucket: -Bad..Bucket-\n')
    assert.deepEqual(where(errors), ['5:3 profiles.Bad_Name-', '7:19 profiles.Bad_Name-.outputBucket'])
    assert.match(errors[0].message, /may contain only.*; .*must start with a lower-case letter; .*must not end with a hyphen/)
    assert.match(errors[1].message, /may contain only.*; .*must start and end.*; .*two dots in a row/)
  })

  it('did-you-mean counts a swap of two letters as one typo', () => {
    assert.equal(editDistance('trian', 'train'), 1)
    assert.equal(editDistance('regoin', 'region'), 1)
    assert.equal(editDistance('kitten', 'sitting'), 3)
    assert.equal(didYouMean('trian', ['train', 'eval']), 'train')
    assert.equal(didYouMean('gpuTyp', ['gpuType', 'vmType']), 'gpuType')
    assert.equal(didYouMean('completely', ['train', 'eval']), undefined)
  })
})
