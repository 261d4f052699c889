import assert from 'node:assert/strict'

import {CONTINENTS} from '../../../src/model/continents.js'
import {
  AZURITE_ACCOUNT,
  azureStorageAccess,
  metadataToTags,
  parseBlobEndpoint,
  storageAccountName,
  storageResourceGroup,
  tagsToMetadata,
  toAzureError,
} from '../../../src/providers/azure/index.js'
import {AuthError, NotFoundError, ProviderError, ThrottledError} from '../../../src/errors/index.js'
import {ownershipTags} from '../../../src/providers/provider.js'

describe('azure provider: names, endpoint, key and errors (no I/O)', function () {
  it('names the continent storage account anycloud{continent}{subscriptionPrefix}, at most 24 characters', function () {
    const sub = '0123ABCD-4567-89ef-0123-456789abcdef'
    assert.equal(storageAccountName('us', sub), 'anycloudus0123abcd456')
    assert.equal(storageAccountName('latam', sub), 'anycloudlatam0123abcd456')
    for (const c of CONTINENTS) {
      const name = storageAccountName(c, sub)
      assert.match(name, /^[a-z0-9]{3,24}$/, name)
      assert.ok(name.endsWith('0123abcd456'), 'the same subscription prefix for every continent')
    }
    assert.equal(storageResourceGroup('eu'), 'anycloud-storage-eu')
  })

  it('stores ownership tags as C#-identifier metadata and reads them back', function () {
    const tags = ownershipTags('proj', 'proj-train-abc123', 'train.bucket.output')
    const metadata = tagsToMetadata(tags)
    assert.deepEqual(Object.keys(metadata), ['anycloud_managed', 'anycloud_project', 'anycloud_deployment', 'anycloud_address'])
    assert.deepEqual(metadataToTags({...metadata, other: 'x', Anycloud_Managed: 'true'}), tags)
  })

  it('parses path-style (emulator) and host-style (real account) blob endpoints', function () {
    assert.deepEqual(parseBlobEndpoint('http://127.0.0.1:10000/devstoreaccount1/'), {url: 'http://127.0.0.1:10000/devstoreaccount1', accountName: 'devstoreaccount1', pathStyle: true, secure: false})
    assert.deepEqual(parseBlobEndpoint('https://myacct.blob.core.windows.net'), {url: 'https://myacct.blob.core.windows.net', accountName: 'myacct', pathStyle: false, secure: true})
    assert.throws(() => parseBlobEndpoint('https://myacct.blob.core.windows.net/container/blob'), /more than one path segment/)
    assert.throws(() => parseBlobEndpoint('https://myacct.blob.core.windows.net?sv=1&sig=x'), /must not carry a query/)
    assert.throws(() => parseBlobEndpoint('http://127.0.0.1:10000/Bad_Account'), /does not name a storage account/)
  })

  it('takes the account key from clientSecret (unless it is a service principal\'s), then AZURE_STORAGE_KEY, then azurite\'s published key', function () {
    const base = {provider: 'azure' as const, subscriptionId: 's'}
    const key = (spec: object, env: NodeJS.ProcessEnv = {}) => {
      const a = azureStorageAccess('c', {...base, ...spec}, env)
      return a.mode === 'endpoint' ? a.keySource : a.mode
    }
    assert.equal(key({}), 'arm')
    assert.equal(key({endpoint: 'https://acct.blob.core.windows.net', clientSecret: 'k'}), 'clientSecret')
    assert.equal(key({endpoint: 'https://acct.blob.core.windows.net', clientSecret: 'k', tenantId: 't', clientId: 'c'}, {AZURE_STORAGE_KEY: 'e'}), 'AZURE_STORAGE_KEY')
    assert.equal(key({endpoint: 'https://acct.blob.core.windows.net'}), undefined)
    assert.equal(key({endpoint: `http://127.0.0.1:1/${AZURITE_ACCOUNT}`}), 'azurite')
  })

  it('maps SDK errors to typed provider errors', function () {
    const rest = (statusCode: number | undefined, code: string) => Object.assign(new Error(`${code} message\nRequestId:1`), {name: 'RestError', statusCode, code})
    assert.ok(toAzureError(rest(403, 'AuthenticationFailed'), 'x', 'c') instanceof AuthError)
    assert.ok(toAzureError(rest(403, 'KeyBasedAuthenticationNotPermitted'), 'x', 'c') instanceof AuthError)
    assert.ok(toAzureError(rest(404, 'ContainerNotFound'), 'x', 'c') instanceof NotFoundError)
    assert.ok(toAzureError(rest(503, 'ServerBusy'), 'x', 'c') instanceof ThrottledError)
    const net = toAzureError(rest(undefined, 'ECONNREFUSED'), 'x', 'c', 'http://127.0.0.1:9')
    assert.ok(net instanceof ProviderError && net.code === 'azure.unreachable')
    const other = toAzureError(rest(409, 'ContainerBeingDeleted'), 'creating container', 'c')
    assert.ok(other instanceof ProviderError && other.code === 'azure.storage')
    assert.equal(other.message, 'azure: creating container failed: HTTP 409 ContainerBeingDeleted message')
  })
})
