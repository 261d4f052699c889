/**
 * The Azure SDK modules, each loaded on first use through `require` (their CommonJS builds; see
 * util/lazy-require.ts). Every `@azure/*` module anycloud loads comes through here, so one process
 * has one copy of each.
 */
import {lazyRequire} from './lazy-require.js'

export const identitySdk = lazyRequire<typeof import('@azure/identity')>('@azure/identity')
export const resourcesSdk = lazyRequire<typeof import('@azure/arm-resources')>('@azure/arm-resources')
export const networkSdk = lazyRequire<typeof import('@azure/arm-network')>('@azure/arm-network')
export const computeSdk = lazyRequire<typeof import('@azure/arm-compute')>('@azure/arm-compute')
export const storageSdk = lazyRequire<typeof import('@azure/arm-storage')>('@azure/arm-storage')
export const msiSdk = lazyRequire<typeof import('@azure/arm-msi')>('@azure/arm-msi')
export const authorizationSdk = lazyRequire<typeof import('@azure/arm-authorization')>('@azure/arm-authorization')
export const blobSdk = lazyRequire<typeof import('@azure/storage-blob')>('@azure/storage-blob')
