import assert from 'node:assert/strict'

import {AuthError, NotFoundError, ProviderError, ThrottledError} from '../../../src/errors/index.js'
import {bucketLocation, bucketState, gcpSettings, labelKey, labelValue, tagsToLabels, toGcpError} from '../../../src/providers/gcp/index.js'
import {ownershipTags} from '../../../src/providers/provider.js'

describe('gcp provider: labels, locations, settings and errors (no I/O)', function () {
  it('turns ownership tags into valid GCS labels', function () {
    assert.deepEqual(tagsToLabels(ownershipTags('My.Proj', 'proj-train-abc123', 'train.bucket.output')), {
      'anycloud-managed': 'true',
      'anycloud-project': 'my_proj',
      'anycloud-deployment': 'proj-train-abc123',
      'anycloud-address': 'train_bucket_output',
    })
    assert.equal(labelValue('x'.repeat(80)).length, 63)
    assert.equal(labelValue('Ünïcode ok'), 'ünïcode_ok')
    assert.equal(labelKey('1abc'), 'k1abc')
  })

  it('puts a new bucket in the requested GCP region, else the fallback', function () {
    assert.equal(bucketLocation('europe-west4', 'us-east1'), 'europe-west4')
    assert.equal(bucketLocation('EUROPE-WEST4', 'us-east1'), 'europe-west4')
    assert.equal(bucketLocation('rack-7', 'us-east1'), 'us-east1')
    assert.equal(bucketLocation('eastus', 'nowhere'), 'us-central1')
  })

  it('reads location, region and continent from bucket metadata', function () {
    assert.deepEqual(bucketState('b', {location: 'EUROPE-WEST4', locationType: 'region', labels: {a: 'b', gone: null}, projectNumber: 42}, true), {
      name: 'b', labels: {a: 'b'}, location: 'EUROPE-WEST4', locationType: 'region', region: 'europe-west4', continent: 'eu', projectNumber: '42', empty: true,
    })
    assert.equal(bucketState('b', {location: 'NAM4', locationType: 'dual-region'}, true).continent, 'us')
    // A configurable dual-region spanning two continents has no single continent.
    assert.equal(bucketState('b', {location: 'US', locationType: 'dual-region', customPlacementConfig: {dataLocations: ['US-EAST1', 'EUROPE-WEST4']}}, true).continent, undefined)
  })

  it('resolves keyFile against the config directory and reads GOOGLE_APPLICATION_CREDENTIALS', function () {
    assert.deepEqual(gcpSettings({provider: 'gcp', project: 'p', keyFile: 'keys/sa.json', region: 'US-EAST1', apiEndpoint: 'http://127.0.0.1:1/'}, '/cfg', {GOOGLE_APPLICATION_CREDENTIALS: '/adc.json', HOME: '/home/u'}), {
      project: 'p', keyFile: '/cfg/keys/sa.json', apiEndpoint: 'http://127.0.0.1:1', region: 'us-east1', adcKeyFile: '/adc.json',
      gcloudAdcFile: '/home/u/.config/gcloud/application_default_credentials.json',
    })
    // accessToken (interpolated from ${env:…}) and the on-GCE opt-in; CLOUDSDK_CONFIG moves gcloud's file.
    assert.deepEqual(gcpSettings({provider: 'gcp', project: 'p', accessToken: 'ya29.x'}, '/cfg', {ANYCLOUD_GCP_METADATA: '1', CLOUDSDK_CONFIG: '/g'}), {
      project: 'p', accessToken: 'ya29.x', onGce: true, gcloudAdcFile: '/g/application_default_credentials.json',
    })
  })

  it('maps SDK errors to typed provider errors', function () {
    const api = (code: number, reason: string) => Object.assign(new Error(`${reason} message`), {code, errors: [{reason}]})
    assert.ok(toGcpError(api(401, 'required'), 'x', 'c') instanceof AuthError)
    assert.ok(toGcpError(api(403, 'forbidden'), 'x', 'c') instanceof AuthError)
    assert.ok(toGcpError(new Error('Could not load the default credentials. Browse to https://cloud.google.com/docs/authentication'), 'x', 'c') instanceof AuthError)
    assert.ok(toGcpError(api(404, 'notFound'), 'x', 'c') instanceof NotFoundError)
    assert.ok(toGcpError(api(429, 'rateLimitExceeded'), 'x', 'c') instanceof ThrottledError)
    const net = toGcpError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), {code: 'ECONNREFUSED'}), 'listing', 'c', 'http://127.0.0.1:9')
    assert.ok(net instanceof ProviderError && net.code === 'gcp.unreachable')
    const other = toGcpError(api(400, 'invalid'), 'creating bucket', 'c')
    assert.ok(other instanceof ProviderError && other.code === 'gcp.storage')
    assert.equal(other.message, 'gcp: creating bucket failed: HTTP 400 invalid message')
  })
})
