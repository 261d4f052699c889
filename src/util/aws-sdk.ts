/**
 * The AWS SDK modules, each loaded on first use (nothing here loads one by itself being imported).
 * They are CommonJS packages without a `type` or `exports` field: an ESM `import()` of one makes
 * Node compile its (multi-megabyte) entry file once to detect its format and scan it again for
 * named exports before loading it as CommonJS anyway; `require` loads the same module (one module
 * cache either way) without that, about 0.45 s of CPU less per process that loads them all.
 */
import {createRequire} from 'node:module'

const requireHere = createRequire(import.meta.url)

type Ec2 = typeof import('@aws-sdk/client-ec2')
type S3 = typeof import('@aws-sdk/client-s3')
type Iam = typeof import('@aws-sdk/client-iam')
type Sts = typeof import('@aws-sdk/client-sts')
type CredentialProviders = typeof import('@aws-sdk/credential-providers')

export const ec2Sdk = async (): Promise<Ec2> => requireHere('@aws-sdk/client-ec2') as Ec2
export const s3Sdk = async (): Promise<S3> => requireHere('@aws-sdk/client-s3') as S3
export const iamSdk = async (): Promise<Iam> => requireHere('@aws-sdk/client-iam') as Iam
export const stsSdk = async (): Promise<Sts> => requireHere('@aws-sdk/client-sts') as Sts
export const credentialProvidersSdk = async (): Promise<CredentialProviders> => requireHere('@aws-sdk/credential-providers') as CredentialProviders
