/**
 * The four state backends side by side for tests: local, S3 (s3rver + conditional-write
 * middleware), GCS (our fake, generation preconditions) and Azure (azurite, leases). Each
 * `StateBackendRig` writes the `state:` and `credentials:` blocks of an anycloud.yaml that points
 * at its emulator, so stores are built the way the CLI builds them (openStateStore).
 */
import {CreateBucketCommand, S3Client} from '@aws-sdk/client-s3'
import {BlobServiceClient} from '@azure/storage-blob'
import {Storage} from '@google-cloud/storage'

import {gcsClientOptions, s3ClientConfig, startAzurite, startGcsFake, startS3Emulator, type AzuriteRig, type GcsFake, type S3Emulator} from '../helpers/storage/index.js'

export type BackendName = 'local' | 's3' | 'gcs' | 'azure'

export interface StateBackendRig {
  name: BackendName
  /** YAML lines (no indentation) for `state:` and `credentials:`; `bucket` is created by `prepare`. */
  yaml(bucket: string): string
  /** Creates the bucket/container. */
  prepare(bucket: string): Promise<void>
  s3?: S3Emulator
  gcs?: GcsFake
  azurite?: AzuriteRig
  stop(): Promise<void>
}

export async function startBackend(name: BackendName): Promise<StateBackendRig> {
  switch (name) {
    case 'local':
      return {name, yaml: () => 'state:\n  backend: local\n', prepare: async () => {}, stop: async () => {}}
    case 's3': {
      const s3 = await startS3Emulator()
      return {
        name,
        s3,
        yaml: (bucket) => [
          'state:', '  backend: s3', `  bucket: ${bucket}`, '  credentials: team-aws',
          'credentials:', '  team-aws:', '    provider: aws', '    region: us-east-1',
          '    accessKeyId: ${env:STATE_TEST_AWS_KEY}', '    secretAccessKey: ${env:STATE_TEST_AWS_SECRET}',
          `    endpoints: {s3: "${s3.endpoint}"}`, '',
        ].join('\n'),
        prepare: async (bucket) => {
          const client = new S3Client(s3ClientConfig(s3))
          await client.send(new CreateBucketCommand({Bucket: bucket}))
          client.destroy()
        },
        stop: () => s3.stop(),
      }
    }
    case 'gcs': {
      const gcs = await startGcsFake()
      return {
        name,
        gcs,
        yaml: (bucket) => [
          'state:', '  backend: gcs', `  bucket: ${bucket}`, '  credentials: team-gcp',
          'credentials:', '  team-gcp:', '    provider: gcp', '    project: anycloud-test', `    apiEndpoint: "${gcs.apiEndpoint}"`, '',
        ].join('\n'),
        prepare: async (bucket) => {
          await new Storage(gcsClientOptions(gcs)).createBucket(bucket)
        },
        stop: () => gcs.stop(),
      }
    }
    case 'azure': {
      const azurite = await startAzurite()
      return {
        name,
        azurite,
        yaml: (bucket) => [
          'state:', '  backend: azure', `  container: ${bucket}`, '  credentials: team-azure',
          'credentials:', '  team-azure:', '    provider: azure', '    subscriptionId: 00000000-0000-0000-0000-000000000000', `    endpoint: "${azurite.blobEndpoint}"`, '',
        ].join('\n'),
        prepare: async (bucket) => {
          await BlobServiceClient.fromConnectionString(azurite.connectionString).createContainer(bucket)
        },
        stop: () => azurite.stop(),
      }
    }
  }
}

/** The environment the S3 rig's credential interpolates (s3rver's fixed, public key pair). */
export const STATE_TEST_ENV = {STATE_TEST_AWS_KEY: 'S3RVER', STATE_TEST_AWS_SECRET: 'S3RVER', AWS_EC2_METADATA_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true'}
