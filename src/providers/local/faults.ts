import {readFileSync} from 'node:fs'

import {ProviderError} from '../../errors/index.js'
import {faultPath} from './layout.js'

/**
 * Fault injection FOR TESTS: lets a test suite give several `local` credentials (each with its own
 * root, i.e. its own "cloud") the failures the engine must handle across a credential fallback list.
 * A file `<root>/.anycloud-fault.json`:
 *
 * ```json
 * {"auth": "expired", "capacity": ["local-a"]}
 * ```
 *
 * - `auth` (any non-empty string, e.g. `expired`, `invalid`): `checkAuth()` raises AuthError.
 * - `capacity`: zones (`local-a`, `local-b`), the region `local`, or `*`, where `vm` create raises
 *   CapacityError (a zone-less create matches the region or `*` only).
 *
 * The file is read on every call (no caching), so a test can add or remove it between runs. Real
 * users never have it; nothing else in anycloud writes it.
 */
export interface LocalFaults {
  auth?: string
  capacity?: string[]
}

export function readFaults(root: string, provider = 'local'): LocalFaults {
  const path = faultPath(root)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw error
  }
  try {
    const parsed = JSON.parse(text) as unknown
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object')
    const {auth, capacity} = parsed as Record<string, unknown>
    return {
      auth: typeof auth === 'string' && auth !== '' ? auth : undefined,
      capacity: Array.isArray(capacity) ? capacity.filter((z): z is string => typeof z === 'string') : undefined,
    }
  } catch (error) {
    throw new ProviderError(`invalid fault-injection file ${path}: ${(error as Error).message}`, 'local.fault-file', provider)
  }
}
