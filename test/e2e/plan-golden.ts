/**
 * Golden plan JSON of the e2e scenarios: every `plan --json` (and the `plan` of `apply/destroy
 * --json`) an e2e test prints is normalised and compared with test/fixtures/golden/plans/<file>.json,
 * keyed by the test's full title, in order. The engine may be reshaped; these bytes may not change.
 * `UPDATE_GOLDEN=1` records them. A test with no recorded entry is not checked (new scenarios).
 *
 * Normalised: deployment ids, 16-hex hashes, cloud ids, lineages, timestamps and salted hashes of sensitive values become numbered placeholders in
 * order of appearance (so "the same hash before and after" still shows), temp paths, ports and process ids go.
 */
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

import {currentTest, onTestEnd, type CurrentTest} from '../support/current-test.js'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..')
const DIR = join(REPO, 'test', 'fixtures', 'golden', 'plans')
const UPDATE = process.env.UPDATE_GOLDEN === '1'

type Golden = Record<string, string[]>

const seen = new Map<string, string[]>()

function goldenFile(test: CurrentTest): string {
  return join(DIR, `${relative(join(REPO, 'test'), test.file).replace(/\.test\.ts$/, '').replace(/[\\/]/g, '_')}.json`)
}

function load(file: string): Golden {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Golden) : {}
}

/** The plan as stable text: placeholders for what differs run to run. */
export function normalizePlan(plan: {profiles?: Record<string, {deploymentId?: string}>}, projectDir: string): string {
  let text = JSON.stringify(plan, null, 2)
  const ids = Object.values(plan.profiles ?? {}).map((p) => p.deploymentId).filter((d): d is string => Boolean(d))
  const numbered = (pattern: RegExp, label: string) => {
    const names = new Map<string, string>()
    text = text.replace(pattern, (m) => {
      if (!names.has(m)) names.set(m, `<${label}-${names.size + 1}>`)
      return names.get(m)!
    })
  }
  text = text.split(projectDir).join('<dir>')
  for (const id of ids.sort((a, b) => b.length - a.length)) text = text.split(id).join(`<deployment:${id.replace(/-[a-z0-9]{6}$/, '')}>`)
  numbered(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, 'uuid')
  numbered(/\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z\b/g, 'time')
  // Sensitive values' hashes are salted by the state's lineage (new on every run).
  numbered(/\(sensitive\):[0-9a-f]+/g, 'sensitive')
  numbered(/\b(?:i|sg|key|vpc|subnet|ami|eni|vol|r|sir)-[0-9a-f]{8,17}\b/g, 'cloud-id')
  numbered(/\b[0-9a-f]{16,64}\b/g, 'hash')
  numbered(/SHA256:[A-Za-z0-9+/]{43}/g, 'fingerprint')
  numbered(/ssh-ed25519 [A-Za-z0-9+/=]+/g, 'public-key')
  text = text.replace(/\bsupervisor:\d+/g, 'supervisor:<pid>')
  text = text.replace(/\/tmp\/[A-Za-z0-9._-]+/g, '<tmp>').replace(/(127\.0\.0\.1|localhost|10\.200\.\d+\.\d+):\d+/g, '$1:<port>').replace(/10\.200\.\d+\.\d+/g, '10.200.<n>')
  return text
}

/** Called with each plan an e2e command printed. */
export function recordPlan(plan: unknown, projectDir: string): void {
  const test = currentTest()
  if (!test || !plan || typeof plan !== 'object') return
  const file = goldenFile(test)
  const list = seen.get(test.title) ?? []
  seen.set(test.title, list)
  const text = normalizePlan(plan as never, projectDir)
  list.push(text)
  if (UPDATE) {
    mkdirSync(DIR, {recursive: true})
    const golden = load(file)
    golden[test.title] = list
    writeFileSync(file, JSON.stringify(golden, null, 2) + '\n')
    return
  }
  const expected = load(file)[test.title]
  if (!expected) return
  const want = expected[list.length - 1]
  // A recording cut short (its test failed while recording) checks what it holds.
  if (want === undefined) return
  if (want !== text) throw new Error(`plan #${list.length} of "${test.title}" differs from ${relative(REPO, file)}:\n--- expected\n${want}\n--- actual\n${text}`)
}

onTestEnd((test) => {
  const list = seen.get(test.title) ?? []
  seen.delete(test.title)
  if (UPDATE) return
  const expected = load(goldenFile(test))[test.title]
  if (expected && list.length < expected.length) throw new Error(`"${test.title}" printed ${list.length} plans; ${relative(REPO, goldenFile(test))} recorded ${expected.length}`)
})

/** The plan in a command's JSON stdout: the document itself (plan) or its `plan` (apply, destroy). */
export function planInOutput(args: string[], stdout: string): unknown {
  if (!args.includes('--json')) return undefined
  const cmd = args[0]
  if (cmd !== 'plan' && cmd !== 'apply' && cmd !== 'destroy') return undefined
  try {
    const doc = JSON.parse(stdout.trim()) as Record<string, unknown>
    if (cmd === 'plan') return doc.formatVersion ? doc : undefined
    return doc.plan
  } catch {
    return undefined
  }
}
