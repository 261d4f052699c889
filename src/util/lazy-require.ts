import {createRequire} from 'node:module'

const requireHere = createRequire(import.meta.url)

/**
 * A loader of a CommonJS package, through `require` on its first call (the module cache after):
 * nothing is loaded by importing the module that holds the loader. The cloud SDKs load this way,
 * not by an ESM `import()`: for a CommonJS package without `type` or `exports`, `import()` compiles
 * its entry once more to detect the format and scans it for named exports, about 0.5 s of CPU per
 * process that loads them all; `require` loads the same module without that.
 */
export function lazyRequire<T>(id: string): () => Promise<T> {
  return async () => requireHere(id) as T
}
