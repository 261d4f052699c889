import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, relative, resolve, sep} from 'node:path'
import {fileURLToPath} from 'node:url'

import ts from 'typescript'

import {tsFiles} from './source-files.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** Directories whose code gets the DeploymentSpec and must never read the raw profile. */
const GUARDED = ['src/providers/', 'src/bootstrap/']

function program(files: string[]): ts.Program {
  const parsed = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, {...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {}})
  if (!parsed) throw new Error('tsconfig.json could not be read')
  return ts.createProgram({rootNames: files, options: {...parsed.options, noEmit: true}})
}

/** True when the symbol is the profile as model/ gives it (ResolvedProfile, or a `profile` field declared in src/model). */
function isRawProfile(symbol: ts.Symbol | undefined, checker: ts.TypeChecker): boolean {
  if (!symbol) return false
  const s = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol
  return (s.declarations ?? []).some((d) => {
    const file = relative(root, d.getSourceFile().fileName).split(sep).join('/')
    return file.startsWith('src/model/') && (s.name === 'profile' || s.name === 'ResolvedProfile')
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

describe('architecture: providers and bootstrap read the DeploymentSpec, never the raw profile', function () {
  this.timeout(180_000)

  let all: string[] | undefined
  /** Every read in the guarded files (one program for the tests below: building it takes a while). */
  const reads = (): string[] => {
    if (!all) {
      const files = tsFiles(join(root, 'src')).filter((f) => GUARDED.some((g) => relative(root, f).split(sep).join('/').startsWith(g)))
      assert.ok(files.length > 20, `expected the provider and bootstrap sources, found ${files.length}`)
      all = rawProfileReads(program(files), (f) => GUARDED.some((g) => f.startsWith(g)))
    }
    return all
  }

  it('no file under src/providers or src/bootstrap reads `.profile` of a deployment or names ResolvedProfile', () => {
    const found = reads()
    assert.deepEqual(found, [], `read the DeploymentSpec (ctx.spec) instead:\n${found.join('\n')}`)
  })

  it('catches each way of reading it (a fixture provider that does)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anycloud-no-raw-profile-'))
    try {
      const file = join(dir, 'src', 'providers', 'fixture.ts')
      mkdirSync(dirname(file), {recursive: true})
      const resources = relative(dirname(file), join(root, 'src/model/resources.js')).split(sep).join('/')
      const profile = relative(dirname(file), join(root, 'src/model/profile.js')).split(sep).join('/')
      writeFileSync(file, [
        `import type {DeploymentContext} from '${resources}'`,
        `import type {ResolvedProfile} from '${profile}'`,
        'export const a = (ctx: DeploymentContext) => ctx.profile.name',
        'export const b = ({profile}: DeploymentContext) => profile.spot',
        'export const c = (p: ResolvedProfile) => p.runtime',
        'export const d = (ctx: DeploymentContext) => ctx.spec.name',
        "export const e = (aws: {profile?: string}) => aws.profile ?? 'default'",
        '',
      ].join('\n'))
      const found = rawProfileReads(program([file]), (f) => f === relative(root, file).split(sep).join('/'))
      const lines = found.map((l) => Number(l.split(':')[1])).sort((x, y) => x - y)
      // Lines 2 (the import), 3, 4 and 5 (the parameter type); never 6 (the spec) or 7 (another `profile`).
      assert.deepEqual([...new Set(lines)], [2, 3, 4, 5], found.join('\n'))
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
