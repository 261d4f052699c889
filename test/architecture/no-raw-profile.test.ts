import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, relative, resolve, sep} from 'node:path'
import {fileURLToPath} from 'node:url'

import ts from 'typescript'

import {tsFiles} from './source-files.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** Directories whose code gets the DeploymentSpec and must never read the raw profile. */
const GUARDED = ['src/providers/', 'src/bootstrap/', 'src/engine/']

/**
 * The engine's files that do read the profile, each for a reason of its own; every other engine
 * file (the apply, the diff, refresh, outcome, watch…) reads the deployment's spec from its context.
 */
const ENGINE_READS_PROFILE: Record<string, string> = {
  'src/engine/planner.ts': 'builds each deployment\'s context (and spec) from its profile and placement',
  'src/engine/apply-run.ts': 'builds the context (and spec) of a deployment it applies',
  'src/engine/session.ts': 'selects the profiles, registers their secrets, builds the context of a recorded deployment',
  'src/engine/placement.ts': 'places a profile: its credentials, region, zone and spot request come before any spec',
  'src/engine/spot.ts': 'spotFallback thresholds, a placement decision',
  'src/engine/desired.ts': 'the stand-in profile of a deployment whose profile left the file',
  'src/engine/saved-plan.ts': 'checks a saved plan\'s workload against the file\'s profile',
  'src/engine/status.ts': 'which profiles there are and whether they run on spot',
  'src/engine/workload-logs.ts': 'the profile whose recorded deployment it connects to',
}
const guardedFile = (file: string) => GUARDED.some((g) => file.startsWith(g)) && !(file in ENGINE_READS_PROFILE)

/**
 * A type-checked program of every file under src/ plus `extra`. Imports between them resolve as in
 * the build; third-party packages' declarations are left out (noResolve): following the SDK
 * imports would add some 3,500 declaration files (about 20 CPU seconds) while the symbols this test
 * looks for are declared in src/model. With them or without, the guarded files resolve every
 * `.profile` and ResolvedProfile to the same declarations. `reuse` shares its parsed files.
 */
function program(extra: string[] = [], reuse?: ts.Program): ts.Program {
  const parsed = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, {...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {}})
  if (!parsed) throw new Error('tsconfig.json could not be read')
  return ts.createProgram({rootNames: [...tsFiles(join(root, 'src')), ...extra], options: {...parsed.options, noEmit: true, noResolve: true}, oldProgram: reuse})
}

/** True when the symbol is the profile as model/ gives it (ResolvedProfile, or a `profile` field declared in src/model). */
function isRawProfile(symbol: ts.Symbol | undefined, checker: ts.TypeChecker): boolean {
  if (!symbol) return false
  const s = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
  return (s.declarations ?? []).some((d) => {
    const file = relative(root, d.getSourceFile().fileName).split(sep).join('/')
    if (!file.startsWith('src/model/')) return false
    // A `profile` field holding the profile itself (not one holding a profile's name, as a plan's Change has).
    if (s.name === 'profile') return ts.isPropertySignature(d) && Boolean(d.type?.getText().includes('ResolvedProfile'))
    return s.name === 'ResolvedProfile'
  })
}

/** `file:line: text` for each read of the raw profile in the guarded files of a program. */
function rawProfileReads(p: ts.Program, guarded: (file: string) => boolean): string[] {
  const checker = p.getTypeChecker()
  const out: string[] = []
  for (const sf of p.getSourceFiles()) {
    const file = relative(root, sf.fileName).split(sep).join('/')
    if (sf.isDeclarationFile || !guarded(file)) continue
    const visit = (node: ts.Node): void => {
      let symbol: ts.Symbol | undefined
      if (ts.isPropertyAccessExpression(node) && node.name.text === 'profile') symbol = checker.getSymbolAtLocation(node.name)
      else if (ts.isBindingElement(node) && (node.propertyName ?? node.name).getText(sf) === 'profile') {
        const type = checker.getTypeAtLocation(node.parent)
        symbol = type.getProperty('profile')
      } else if (ts.isIdentifier(node) && node.text === 'ResolvedProfile') symbol = checker.getSymbolAtLocation(node)
      if (isRawProfile(symbol, checker)) {
        const {line} = sf.getLineAndCharacterOfPosition(node.getStart(sf))
        out.push(`${file}:${line + 1}: ${node.getText(sf).slice(0, 80)}`)
      }
      ts.forEachChild(node, visit)
    }
    visit(sf)
  }
  return out
}

describe('architecture: providers, bootstrap and the engine read the DeploymentSpec, never the raw profile', function () {
  this.timeout(180_000)

  let src: ts.Program | undefined

  it('no file under src/providers, src/bootstrap or src/engine (but the few that place and build specs) reads `.profile` of a deployment or names ResolvedProfile', () => {
    const files = tsFiles(join(root, 'src')).filter((f) => guardedFile(relative(root, f).split(sep).join('/')))
    assert.ok(files.length > 40, `expected the provider, bootstrap and engine sources, found ${files.length}`)
    src = program()
    const found = rawProfileReads(src, guardedFile)
    assert.deepEqual(found, [], `read the DeploymentSpec (ctx.spec) instead:\n${found.join('\n')}`)
  })

  it('catches each way of reading it (a fixture provider that does)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anycloud-no-raw-profile-'))
    try {
      const file = join(dir, 'src', 'providers', 'fixture.ts')
      mkdirSync(dirname(file), {recursive: true})
      const model = (f: string) => relative(dirname(file), join(root, 'src/model', f)).split(sep).join('/')
      writeFileSync(file, [
        `import type {DeploymentContext} from '${model('resources.js')}'`,
        `import type {ResolvedProfile} from '${model('profile.js')}'`,
        `import type {SpecInput} from '${model('deployment-spec.js')}'`,
        `import type {Change} from '${model('plan.js')}'`,
        'export const a = (input: SpecInput) => input.profile.name',
        'export const b = ({profile}: SpecInput) => profile.spot',
        'export const c = (p: ResolvedProfile) => p.runtime',
        'export const d = (ctx: DeploymentContext) => ctx.spec.name',
        "export const e = (aws: {profile?: string}) => aws.profile ?? 'default'",
        'export const f = (change: Change) => change.profile',
        '',
      ].join('\n'))
      const found = rawProfileReads(program([file], src), (f) => f === relative(root, file).split(sep).join('/'))
      const lines = found.map((l) => Number(l.split(':')[1])).sort((x, y) => x - y)
      // Lines 2 (the import), 5, 6 and 7 (the parameter type); never 8 (the spec), 9 (another `profile`) or 10 (a profile's name).
      assert.deepEqual([...new Set(lines)], [2, 5, 6, 7], found.join('\n'))
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
