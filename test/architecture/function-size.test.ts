import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {dirname, join, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import ts from 'typescript'

import {tsFiles} from './source-files.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** The engine's functions stay small enough to read (issue 8): none over this many lines, nested closures included. */
const MAX_LINES = 80

/** Every function with a body in `text` (declarations, methods, constructors, accessors, arrows, function expressions) and its length in lines. */
export function functionLengths(file: string, text: string): Array<{name: string; line: number; lines: number}> {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const out: Array<{name: string; line: number; lines: number}> = []
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line
      const named = node as ts.FunctionLikeDeclaration
      const parent = node.parent
      const name = named.name?.getText(source) ?? (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent) ? parent.name.getText(source) : `(${ts.SyntaxKind[node.kind]})`)
      out.push({name, line: first + 1, lines: last - first + 1})
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return out
}

describe(`architecture: no function in src/engine over ${MAX_LINES} lines`, () => {
  it('measures every kind of function, nested ones included (a long one is caught)', () => {
    const body = Array.from({length: 85}, (_, i) => `  const v${i} = ${i}`).join('\n')
    const found = functionLengths('x.ts', `export async function big() {\n${body}\n}\nconst small = () => 1\nclass C {\n  m() {\n    return [1].map((x) => {\n${body}\n    })\n  }\n}\n`)
    assert.deepEqual(found.map((f) => [f.name, f.lines]), [['big', 87], ['small', 1], ['m', 89], ['(ArrowFunction)', 87]])
  })

  it(`src/engine has none over ${MAX_LINES} lines`, () => {
    const engine = join(root, 'src', 'engine')
    const long = tsFiles(engine).flatMap((file) =>
      functionLengths(file, readFileSync(file, 'utf8'))
        .filter((f) => f.lines > MAX_LINES)
        .map((f) => `${relative(root, file)}:${f.line} ${f.name} (${f.lines} lines)`),
    )
    assert.deepEqual(long, [], `split these:\n${long.join('\n')}`)
  })
})
