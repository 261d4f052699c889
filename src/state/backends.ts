/**
 * Builds the remote state stores from the `state:` block and the credential it names. Every
 * cloud SDK is imported lazily, on the first call that needs it.
 */
import {join, resolve} from 'node:path'

import type {AwsCredential, AzureCredential, GcpCredential, NamedCredential, ResolvedConfig} from '../config/types.js'
import {UsageError} from '../errors/index.js'
import {registerSecret} from '../util/redact.js'
import {ERRORED_STATE_FILE} from './local-store.js'
import {AzureObjects, LeaseLocker} from './azure-objects.js'
import {GcsObjects} from './gcs-objects.js'
import {RemoteStateStore} from './remote-store.js'
import {S3Objects} from './s3-objects.js'
import {credentialProvidersSdk, s3Sdk} from '../util/aws-sdk.js'
import {blobSdk} from '../util/azure-sdk.js'
import {gcsSdk} from '../util/gcs-sdk.js'

type Backend = Exclude<ResolvedConfig['state']['backend'], 'local'>
const PROVIDER: Record<Backend, string> = {s3: 'aws', gcs: 'gcp', azure: 'azure'}

/** The credential the state block names, or the only one of the right cloud. */
function stateCredential(config: ResolvedConfig, backend: Backend, name: string | undefined): NamedCredential {
  const provider = PROVIDER[backend]
  if (name) {
    const credential = config.credentials[name]
    if (!credential) throw new UsageError(`${config.file}: state.credentials names '${name}', which is not a credential of this file or the credential store`, [], 'state.credential')
    if (credential.spec.provider !== provider) throw new UsageError(`${config.file}: state backend ${backend} needs a ${provider} credential, but '${name}' is a ${credential.spec.provider} credential`, [], 'state.credential')
    return credential
  }
  const candidates = Object.values(config.credentials).filter((c) => c.spec.provider === provider)
  if (candidates.length === 1) return candidates[0]
  throw new UsageError(
    `${config.file}: state backend ${backend} needs a ${provider} credential and ${candidates.length === 0 ? 'none is defined' : `several are (${candidates.map((c) => c.name).join(', ')})`}`,
    [`Name one with \`state: {credentials: NAME}\`.`],
    'state.credential',
  )
}

function defaultKey(project: string): string {
  return `anycloud/${project}.json`
}

export function openRemoteStore(config: ResolvedConfig, env: NodeJS.ProcessEnv = process.env): RemoteStateStore {
  const state = config.state
  const localDir = join(config.dir, '.anycloud')
  const erroredPath = join(config.dir, ERRORED_STATE_FILE)
  switch (state.backend) {
    case 's3': {
      const credential = stateCredential(config, 's3', state.credentials)
      const key = state.key ?? defaultKey(config.project)
      let s3: Promise<import('@aws-sdk/client-s3').S3Client> | undefined
      const client = () => {
        s3 ??= s3Client(credential, state.region, env)
        return s3
      }
      return new RemoteStateStore({objects: new S3Objects(client, state.bucket), key, description: `s3://${state.bucket}/${key}`, localDir, erroredPath})
    }
    case 'gcs': {
      const credential = stateCredential(config, 'gcs', state.credentials)
      const prefix = state.prefix ?? 'anycloud/'
      const key = `${prefix}${prefix.endsWith('/') ? '' : '/'}${config.project}.json`
      let storage: Promise<import('@google-cloud/storage').Storage> | undefined
      const client = () => {
        storage ??= (async () => {
          const spec = credential.spec as GcpCredential
          const keyFile = spec.keyFile ? resolve(config.dir, spec.keyFile) : undefined
          const settings = {project: spec.project, apiEndpoint: spec.apiEndpoint?.replace(/\/+$/, ''), keyFile}
          const {Storage} = await gcsSdk()
          return new Storage({
            projectId: settings.project,
            ...(settings.apiEndpoint ? {apiEndpoint: settings.apiEndpoint, useAuthWithCustomEndpoint: Boolean(settings.keyFile)} : {}),
            ...(settings.keyFile ? {keyFilename: settings.keyFile} : {}),
          })
        })()
        return storage
      }
      return new RemoteStateStore({objects: new GcsObjects(client, state.bucket), key, description: `gs://${state.bucket}/${key}`, localDir, erroredPath})
    }
    case 'azure': {
      const credential = stateCredential(config, 'azure', state.credentials)
      const key = state.key ?? defaultKey(config.project)
      const {endpointUrl, accountName, accountKey} = azureEndpoint(config, credential, state.storageAccount, env)
      let container: Promise<import('@azure/storage-blob').ContainerClient> | undefined
      const client = () => {
        container ??= (async () => {
          const sdk = await blobSdk()
          const service = new sdk.BlobServiceClient(endpointUrl, new sdk.StorageSharedKeyCredential(accountName, accountKey), {retryOptions: {maxTries: 4, retryDelayInMs: 500, maxRetryDelayInMs: 8_000, tryTimeoutInMs: 60_000}})
          return service.getContainerClient(state.container)
        })()
        return container
      }
      const baseUrl = `${endpointUrl}/${state.container}`
      const description = `${baseUrl}/${key}`
      const objects = new AzureObjects(client, baseUrl)
      return new RemoteStateStore({objects, key, description, localDir, erroredPath, locker: new LeaseLocker(objects, `${key}.lock`, description)})
    }
    default:
      throw new UsageError(`${config.file}: unknown state backend '${(state as {backend: string}).backend}'`, [], 'state.backend')
  }
}

/** The blob endpoint and shared key: the credential's `endpoint` (emulators) or the storage account. */
function azureEndpoint(config: ResolvedConfig, credential: NamedCredential, storageAccount: string | undefined, env: NodeJS.ProcessEnv): {endpointUrl: string; accountName: string; accountKey: string} {
  const spec = credential.spec as AzureCredential
  let endpointUrl: string
  let accountName: string
  if (spec.endpoint) {
    const url = new URL(spec.endpoint)
    const segments = url.pathname.split('/').filter(Boolean)
    accountName = segments[0] ?? url.hostname.split('.')[0]!
    endpointUrl = segments.length > 0 ? `${url.protocol}//${url.host}/${accountName}` : `${url.protocol}//${url.host}`
  } else if (storageAccount) {
    accountName = storageAccount
    endpointUrl = `https://${storageAccount}.blob.core.windows.net`
  } else {
    throw new UsageError(`${config.file}: state backend azure needs \`state.storageAccount\` (or an \`endpoint\` on credential '${credential.name}')`, [], 'state.azure-account')
  }
  const servicePrincipal = Boolean(spec.tenantId || spec.clientId)
  const accountKey = (spec.clientSecret && !servicePrincipal ? spec.clientSecret : undefined) ?? env.AZURE_STORAGE_KEY ?? (accountName === 'devstoreaccount1' ? AZURITE_KEY : undefined)
  if (!accountKey) {
    throw new UsageError(`${config.file}: no shared key for storage account '${accountName}' (state backend azure, credential '${credential.name}')`, ['Give the account key through the credential\'s clientSecret: ${env:NAME}, or export AZURE_STORAGE_KEY.'], 'state.azure-key')
  }
  if (accountKey !== AZURITE_KEY) registerSecret(accountKey)
  return {endpointUrl, accountName, accountKey}
}

/** Azurite's public development key (documented by Microsoft; not a secret). */
const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

/**
 * An S3 client for the state credential: its static keys (from `${env:…}`), else its named
 * profile, else the default chain; its `endpoints.s3` (path style, no aws-chunked bodies).
 */
async function s3Client(credential: NamedCredential, region: string | undefined, env: NodeJS.ProcessEnv): Promise<import('@aws-sdk/client-s3').S3Client> {
  const spec = credential.spec as AwsCredential
  const {S3Client} = await s3Sdk()
  let credentials
  if (spec.accessKeyId && spec.secretAccessKey) {
    registerSecret(spec.secretAccessKey)
    registerSecret(spec.sessionToken)
    credentials = {accessKeyId: spec.accessKeyId, secretAccessKey: spec.secretAccessKey, ...(spec.sessionToken ? {sessionToken: spec.sessionToken} : {})}
  } else {
    const {fromIni, fromNodeProviderChain} = await credentialProvidersSdk()
    credentials = spec.profile ? fromIni({profile: spec.profile}) : fromNodeProviderChain()
  }
  const endpoint = spec.endpoints?.s3
  return new S3Client({
    region: region ?? spec.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    credentials,
    maxAttempts: 5,
    retryMode: 'standard',
    requestHandler: {connectionTimeout: 10_000, requestTimeout: 60_000},
    ...(endpoint ? {endpoint, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED'} : {followRegionRedirects: true}),
  })
}
