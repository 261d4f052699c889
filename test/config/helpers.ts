import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {loadConfig, type LoadConfigResult} from '../../src/config/index.js'
import type {Diagnostic} from '../../src/config/diagnostics.js'
import type {Credential} from '../../src/config/schema-types.js'
import {CredentialStore} from '../../src/credentials/store.js'

export const CONFIG_FIXTURES = fileURLToPath(new URL('../fixtures/config/', import.meta.url))

/** One expected diagnostic of a fixture's `NAME.expected.json`. */
export interface ExpectedDiagnostic {
  line: number
  column: number
  path: string
  /** When present (null = none), the diagnostic's profile must match. */
  profile?: string | null
  messageIncludes: string
}

/** `NAME.expected.json`: what loading `NAME.yaml` must report. */
export interface ExpectedFile {
  /** The whole environment the file is interpolated against (default: empty). */
  env?: Record<string, string>
  /** Credentials to seed the credential store with (default: an empty store). */
  store?: Record<string, Credential>
  errors?: ExpectedDiagnostic[]
  warnings?: ExpectedDiagnostic[]
  /** Strings no message may contain (literal secrets, interpolated values). */
  messageExcludes?: string[]
}

/** A temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'anycloud-test-'): {dir: string; cleanup: () => void} {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return {dir, cleanup: () => rmSync(dir, {recursive: true, force: true})}
}

/**
 * loadConfig with a controlled environment and a private credential store (never the user's
 * ~/.anycloud), seeded with `store` when given.
 */
export function loadWith(file: string, options: {env?: Record<string, string>; store?: Record<string, unknown>} = {}): LoadConfigResult {
  const home = tempDir('anycloud-home-')
  try {
    if (options.store) {
      mkdirSync(home.dir, {recursive: true})
      writeFileSync(join(home.dir, 'credentials.json'), JSON.stringify({version: 1, credentials: options.store}))
    }
    return loadConfig({file, env: options.env ?? {}, store: new CredentialStore(home.dir)})
  } finally {
    home.cleanup()
  }
}

/** Writes `text` as `anycloud.yaml` in a fresh directory (named `folder` when given) and loads it. */
export function loadText(text: string, options: {env?: Record<string, string>; store?: Record<string, unknown>; folder?: string} = {}): LoadConfigResult {
  const t = tempDir()
  try {
    const dir = options.folder ? join(t.dir, options.folder) : t.dir
    mkdirSync(dir, {recursive: true})
    const file = join(dir, 'anycloud.yaml')
    writeFileSync(file, text)
    return loadWith(file, options)
  } finally {
    t.cleanup()
  }
}

const order = (a: {line: number; column: number; path: string}, b: {line: number; column: number; path: string}) =>
  a.line - b.line || a.column - b.column || a.path.localeCompare(b.path)

function listing(list: Diagnostic[]): string {
  return list.map((d) => `  ${d.line}:${d.column} [${d.path}] (${d.profile ?? '-'}) ${d.message}`).join('\n') || '  (none)'
}

/** Exactly the expected diagnostics: same count, same positions and paths, messages containing the text. */
export function assertDiagnostics(actual: Diagnostic[], expected: ExpectedDiagnostic[], what: string): void {
  const a = [...actual].sort(order)
  const e = [...expected].sort(order)
  assert.equal(a.length, e.length, `${what}: expected ${e.length} diagnostic(s), got ${a.length}:\n${listing(a)}`)
  e.forEach((x, i) => {
    const d = a[i]
    const where = `${what} #${i + 1} (${listing([d]).trim()})`
    assert.equal(d.line, x.line, `${where}: line`)
    assert.equal(d.column, x.column, `${where}: column`)
    assert.equal(d.path, x.path, `${where}: path`)
    if (x.profile !== undefined) assert.equal(d.profile ?? null, x.profile, `${where}: profile`)
    assert.ok(d.message.includes(x.messageIncludes), `${where}: message should include ${JSON.stringify(x.messageIncludes)}`)
  })
}
