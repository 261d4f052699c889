import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {dirname, join, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import ts from 'typescript'

import {tsFiles} from './source-files.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** ARCHITECTURE.md, "Commands are adapters": a command's run() parses, calls the engine once, hands the result to a view. */
const MAX_RUN_LINES = 30

/** Every method named `run` in a class of `file` with its length in lines (declaration to closing brace). */
function runMethods(file: string, text = readFileSync(file, 'utf8')): Array<{where: string; lines: number}> {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const found: Array<{where: string; lines: number}> = []
  const visit = (node: ts.Node): void => {
    if (ts.isMethodDeclaration(node) && node.body && node.name.getText(source) === 'run') {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line
      const cls = ts.isClassLike(node.parent) && node.parent.name ? node.parent.name.getText(source) : '(anonymous class)'
      found.push({where: `${relative(root, file)}:${start + 1} ${cls}.run()`, lines: end - start + 1})
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

describe('architecture: commands are adapters', () => {
  it(`no run() in src/commands is over ${MAX_RUN_LINES} lines`, () => {
    const files = tsFiles(join(root, 'src', 'commands'))
    const runs = files.flatMap((f) => runMethods(f))
    assert.ok(runs.length >= files.length, `expected a run() in each of the ${files.length} command files, found ${runs.length}`)
    const long = runs.filter((r) => r.lines > MAX_RUN_LINES).map((r) => `${r.where}: ${r.lines} lines`)
    assert.deepEqual(long, [], `run() over ${MAX_RUN_LINES} lines (move the logic into the engine façade, src/engine/anycloud.ts, and the output into a view in src/render):\n${long.join('\n')}`)
  })

  it('the check measures a run() from its declaration to its closing brace', () => {
    const body = (n: number) => Array.from({length: n}, (_, i) => `    const x${i} = ${i}`).join('\n')
    const text = (n: number) => `export default class C {\n  static x = 1\n  public async run(): Promise<void> {\n${body(n)}\n  }\n}\n`
    assert.deepEqual(runMethods('/tmp/c.ts', text(28)).map((r) => r.lines), [30])
    assert.deepEqual(runMethods('/tmp/c.ts', text(29)).map((r) => r.lines), [31])
  })
})
