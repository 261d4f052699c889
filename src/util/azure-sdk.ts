/**
 * The Azure SDK modules, each loaded on first use through `require` (their CommonJS builds), not an
 * ESM `import()` of their ESM builds: the same packages, about 0.5 s of CPU less for a process that
 * loads them all (the ESM loader resolves and links each of their hundreds of files on its own).
 * Every `@azure/*` module anycloud loads comes through here, so one process has one copy of each.
 */
import {createRequire} from 'node:module'

const requireHere = createRequire(import.meta.url)

type Identity = typeof import('@azure/identity')
type Resources = typeof import('@azure/arm-resources')
type Network = typeof import('@azure/arm-network')
type Compute = typeof import('@azure/arm-compute')
type Storage = typeof import('@azure/arm-storage')
type Msi = typeof import('@azure/arm-msi')
type Authorization = typeof import('@azure/arm-authorization')
type Blob = typeof import('@azure/storage-blob')

export const identitySdk = async (): Promise<Identity> => requireHere('@azure/identity') as Identity
export const resourcesSdk = async (): Promise<Resources> => requireHere('@azure/arm-resources') as Resources
export const networkSdk = async (): Promise<Network> => requireHere('@azure/arm-network') as Network
export const computeSdk = async (): Promise<Compute> => requireHere('@azure/arm-compute') as Compute
export const storageSdk = async (): Promise<Storage> => requireHere('@azure/arm-storage') as Storage
export const msiSdk = async (): Promise<Msi> => requireHere('@azure/arm-msi') as Msi
export const authorizationSdk = async (): Promise<Authorization> => requireHere('@azure/arm-authorization') as Authorization
export const blobSdk = async (): Promise<Blob> => requireHere('@azure/storage-blob') as Blob
