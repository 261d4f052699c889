import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

/**
 * Mocha global fixtures (run once, in the main process, before the parallel workers start): a
 * directory for what the test files of one run share (the CLI package built from src/, see
 * test/config/cli-helpers.ts), handed to the workers through the environment and removed when the
 * run ends. A file run on its own without mocha's fixtures builds privately instead.
 */
export function mochaGlobalSetup(): void {
  process.env.ANYCLOUD_TEST_SHARED_DIR = mkdtempSync(join(tmpdir(), 'anycloud-test-run-'))
}

export function mochaGlobalTeardown(): void {
  const dir = process.env.ANYCLOUD_TEST_SHARED_DIR
  if (dir) rmSync(dir, {recursive: true, force: true})
}
