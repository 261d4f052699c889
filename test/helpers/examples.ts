/**
 * The checked-in examples, for tests that copy one: the copy holds what git tracks of it, never what
 * a user's run left next to it (README: quickstart, then npm test), so no test plans against that.
 */
import {cpSync} from 'node:fs'
import {dirname, join, relative, resolve, sep} from 'node:path'
import {fileURLToPath} from 'node:url'

export const EXAMPLES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../examples')

/**
 * Whether a path of an example (relative to its folder) is what a run leaves: its state
 * (`.anycloud/`), and what `local-cloud/.gitignore` ignores: the local provider's machines and
 * metadata, and every bucket but the seeded `<example>-input`.
 */
export function isRunLeftover(example: string, path: string): boolean {
  const [top, sub, name] = path.split(sep)
  if (top === '.anycloud') return true
  if (top !== 'local-cloud') return false
  return sub === 'machines' || sub === '.meta' || (sub === 'buckets' && name !== undefined && name !== `${example}-input`)
}

/** Copies examples/`name` to `dest` without what a run left in it. */
export function copyExample(name: string, dest: string): void {
  const root = join(EXAMPLES_DIR, name)
  cpSync(root, dest, {recursive: true, filter: (src) => !isRunLeftover(name, relative(root, src))})
}
