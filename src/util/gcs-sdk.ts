/**
 * `@google-cloud/storage`, loaded on first use through `require` (its CommonJS build; see
 * util/lazy-require.ts), like the other Google libraries (providers/gcp/clients.ts); every load
 * comes through here, so one process has one copy of the package.
 */
import {lazyRequire} from './lazy-require.js'

export const gcsSdk = lazyRequire<typeof import('@google-cloud/storage')>('@google-cloud/storage')
