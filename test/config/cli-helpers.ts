import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

/** The repository root. */
export const REPO = fileURLToPath(new URL('../../', import.meta.url))

let root: string | undefined

/**
 * A private, freshly built copy of the CLI package: its own dist/ (a copy of the repository's when
 * that is complete and newer than every source, as after `npm test`'s pretest build; else
 * `tsc -p tsconfig.json` into it), package.json and bin/ copied, node_modules and
 * schemas/ linked, and an oclif manifest generated and normalized exactly as `npm run build` does,
 * so that commands load the way they do for users (only the command being run is imported).
 * Built once per test run: the first worker to need it builds it in the run's shared directory
 * (test/support/shared-dir.ts) while the others wait for it; without that directory (a file run
 * on its own), once per process, removed at exit.
 */
export function builtPackage(): string {
  if (root) return root
  const shared = process.env.ANYCLOUD_TEST_SHARED_DIR
  if (!shared || !existsSync(shared)) {
    const dir = mkdtempSync(join(tmpdir(), 'anycloud-cli-'))
    process.on('exit', () => rmSync(dir, {recursive: true, force: true}))
    buildPackage(dir)
    root = dir
    return dir
  }
  const dir = join(shared, 'cli-package')
  const failed = join(shared, 'cli-package.failed')
  try {
    mkdirSync(join(shared, 'cli-package.lock'))
  } catch {
    root = awaitBuild(dir, failed)
    return root
  }
  try {
    buildPackage(`${dir}.partial`)
    renameSync(`${dir}.partial`, dir)
  } catch (error) {
    writeFileSync(failed, String((error as Error).message))
    throw error
  }
  root = dir
  return dir
}

/** Blocks this worker until another one's build of the package is ready (or has failed), bounded. */
function awaitBuild(dir: string, failed: string, timeoutMs = 600_000): string {
  const pause = new Int32Array(new SharedArrayBuffer(4))
  const deadline = Date.now() + timeoutMs
  while (!existsSync(dir)) {
    if (existsSync(failed)) throw new Error(`another test process failed to build the CLI package:\n${readFileSync(failed, 'utf8')}`)
    if (Date.now() > deadline) throw new Error(`the CLI package was not built within ${timeoutMs / 1000} s by the test process that started it`)
    Atomics.wait(pause, 0, 0, 100)
  }
  return dir
}

function buildPackage(dir: string): void {
  mkdirSync(join(dir, 'bin'), {recursive: true})
  mkdirSync(join(dir, 'scripts'))
  copyFileSync(join(REPO, 'package.json'), join(dir, 'package.json'))
  copyFileSync(join(REPO, 'bin', 'run.js'), join(dir, 'bin', 'run.js'))
  copyFileSync(join(REPO, 'scripts', 'normalize-manifest.js'), join(dir, 'scripts', 'normalize-manifest.js'))
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir')
  symlinkSync(join(REPO, 'schemas'), join(dir, 'schemas'), 'dir')
  // The repository's dist/ when it is what tsc makes of the sources as they are now (`npm test`
  // builds it first: no second compile of src/); else a compile of our own. Type errors elsewhere
  // in src/ (work in progress) do not stop tsc from emitting; a missing command file below does fail.
  const fresh = freshDist()
  let tsc = {stdout: '', stderr: `copied from ${join(REPO, 'dist')}`}
  if (fresh !== undefined) cpSync(join(REPO, 'dist'), join(dir, 'dist'), {recursive: true})
  if (fresh === undefined || freshDist() !== fresh) {
    rmSync(join(dir, 'dist'), {recursive: true, force: true})
    tsc = spawnSync(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO, 'tsconfig.json'), '--outDir', join(dir, 'dist')], {encoding: 'utf8'})
  }
  for (const command of ['validate', 'credentials/add', 'credentials/list', 'credentials/remove']) {
    assert.ok(existsSync(join(dir, 'dist', 'commands', `${command}.js`)), `tsc did not emit dist/commands/${command}.js:\n${tsc.stdout}${tsc.stderr}`)
  }
  const manifest = spawnSync(process.execPath, [join(REPO, 'node_modules', 'oclif', 'bin', 'run.js'), 'manifest'], {cwd: dir, encoding: 'utf8', env: {...process.env, NO_UPDATE_NOTIFIER: '1'}})
  assert.equal(manifest.status, 0, `oclif manifest failed:\n${manifest.stdout}${manifest.stderr}`)
  const normalize = spawnSync(process.execPath, [join(dir, 'scripts', 'normalize-manifest.js')], {encoding: 'utf8'})
  assert.equal(normalize.status, 0, normalize.stderr)
}

/** Files under `dir` (recursively) whose names end with `ext`, relative to `dir`, with their mtimes. */
function filesUnder(dir: string, ext: string, base = dir, out = new Map<string, number>()): Map<string, number> {
  for (const entry of readdirSync(dir, {withFileTypes: true})) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) filesUnder(path, ext, base, out)
    else if (entry.isFile() && entry.name.endsWith(ext) && !entry.name.endsWith('.d.ts')) out.set(relative(base, path).slice(0, -ext.length), statSync(path).mtimeMs)
  }
  return out
}

/**
 * When REPO/dist is complete and newer than every source (`rm -rf dist && tsc` ran after the last
 * edit of src/ or tsconfig.json): its oldest file's mtime, which changes if it is rebuilt meanwhile.
 * Complete: exactly one .js per .ts of src/, none left over from a deleted source.
 */
function freshDist(): number | undefined {
  const dist = join(REPO, 'dist')
  if (!existsSync(dist)) return undefined
  const sources = filesUnder(join(REPO, 'src'), '.ts')
  const emitted = filesUnder(dist, '.js')
  if (sources.size === 0 || emitted.size !== sources.size || [...sources.keys()].some((k) => !emitted.has(k))) return undefined
  const newestSource = Math.max(...sources.values(), statSync(join(REPO, 'tsconfig.json')).mtimeMs)
  const oldestEmitted = Math.min(...emitted.values())
  return oldestEmitted > newestSource ? oldestEmitted : undefined
}

export interface CliResult {
  status: number | null
  stdout: string
  stderr: string
}

/**
 * Runs the built CLI in a child process with a minimal, controlled environment: cwd as given,
 * $ANYCLOUD_HOME and $HOME pointing at `home`, no cloud credentials from the caller's environment.
 */
export function runCli(args: string[], options: {cwd: string; home: string; env?: Record<string, string>; input?: string; nodeArgs?: string[]}): CliResult {
  const pkg = builtPackage()
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: options.home,
    ANYCLOUD_HOME: options.home,
    CI: 'true',
    NO_COLOR: '1',
    ...options.env,
  }
  const r = spawnSync(process.execPath, [...(options.nodeArgs ?? []), join(pkg, 'bin', 'run.js'), ...args], {cwd: options.cwd, env, input: options.input ?? '', encoding: 'utf8', timeout: 60_000})
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}
