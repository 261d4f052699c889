/**
 * `@google-cloud/storage`, loaded on first use through `require` (its CommonJS build) rather than an
 * ESM `import()` of its ESM build, like the other Google libraries (providers/gcp/clients.ts): less
 * start-up CPU, and one copy of the package per process since every load comes through here.
 */
import {createRequire} from 'node:module'

const requireHere = createRequire(import.meta.url)

type Gcs = typeof import('@google-cloud/storage')

export const gcsSdk = async (): Promise<Gcs> => requireHere('@google-cloud/storage') as Gcs
