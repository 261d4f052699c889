/** The AWS SDK modules, each loaded on first use (util/lazy-require.ts says why by `require`). */
import {lazyRequire} from './lazy-require.js'

export const ec2Sdk = lazyRequire<typeof import('@aws-sdk/client-ec2')>('@aws-sdk/client-ec2')
export const s3Sdk = lazyRequire<typeof import('@aws-sdk/client-s3')>('@aws-sdk/client-s3')
export const iamSdk = lazyRequire<typeof import('@aws-sdk/client-iam')>('@aws-sdk/client-iam')
export const stsSdk = lazyRequire<typeof import('@aws-sdk/client-sts')>('@aws-sdk/client-sts')
export const credentialProvidersSdk = lazyRequire<typeof import('@aws-sdk/credential-providers')>('@aws-sdk/credential-providers')
