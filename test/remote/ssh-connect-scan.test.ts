import assert from 'node:assert/strict'
import {readdir, readFile} from 'node:fs/promises'
import {join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'
import ts from 'typescript'

/**
 * Row 17 of the reliability tests: a test fails if an SSH connection can be made without host-key
 * verification. Rules over every `.ts` file in `src/` (syntax only, so the scan takes milliseconds;
 * a type-checked scan of src/ takes ~13 s here):
 * - only `src/remote/ssh-runner.ts` may get at ssh2's `Client`: elsewhere ssh2 may be imported
 *   for types or for `utils` only (a default/namespace import may only be used as `x.utils`); no
 *   `require('ssh2')`, `import('ssh2')`, `export … from 'ssh2'`, and no other SSH client package;
 * - so a `.connect(` can only be an SSH connect in a file that imports ssh2: such calls are
 *   refused outside `ssh-runner.ts` (a provider's own method called `connect` is fine elsewhere);
 * - in `ssh-runner.ts`, every `.connect(` call passes an object literal with a `hostVerifier`.
 * The runtime half (every `Client#connect` made by the tests carried a hostVerifier function) is
 * in ssh-runner.test.ts.
 */

const root = fileURLToPath(new URL('../..', import.meta.url))
const SSH_RUNNER = 'src/remote/ssh-runner.ts'
const OTHER_SSH_CLIENTS = /^(node-ssh|ssh2-sftp-client|ssh2-streams|ssh2-promise|simple-ssh)(\/|$)/

/** Rule violations in one file, as `file:line: what`. */
export function scanSource(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS)
  const problems: string[] = []
  const at = (node: ts.Node, what: string): void => {
    const {line} = source.getLineAndCharacterOfPosition(node.getStart(source))
    problems.push(`${file}:${line + 1}: ${what}`)
  }
  const isRunner = file === SSH_RUNNER
  const isSsh2 = (specifier: string): boolean => specifier === 'ssh2' || specifier.startsWith('ssh2/')
  /** Local names bound to the ssh2 module object (default or namespace import). */
  const moduleNames = new Set<string>()
  let importsSsh2 = false

  for (const statement of source.statements) {
    const specifier =
      (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) && statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier)
        ? statement.moduleSpecifier.text
        : undefined
    if (specifier === undefined) continue
    if (OTHER_SSH_CLIENTS.test(specifier)) at(statement, `SSH client package ${specifier}: use src/remote/ssh-runner.ts`)
    if (!isSsh2(specifier) || isRunner) continue
    if (ts.isExportDeclaration(statement)) {
      if (!statement.isTypeOnly) at(statement, 're-exports ssh2 outside src/remote/ssh-runner.ts')
      continue
    }
    if (!ts.isImportDeclaration(statement)) continue
    const clause = statement.importClause
    if (!clause) continue
    if (clause.isTypeOnly) continue
    importsSsh2 = true
    if (clause.name) moduleNames.add(clause.name.text)
    const bindings = clause.namedBindings
    if (bindings && ts.isNamespaceImport(bindings)) moduleNames.add(bindings.name.text)
    if (bindings && ts.isNamedImports(bindings)) {
      for (const element of bindings.elements) {
        const imported = (element.propertyName ?? element.name).text
        if (!element.isTypeOnly && imported !== 'utils') at(element, `imports ssh2's ${imported} outside src/remote/ssh-runner.ts`)
      }
    }
  }

  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression
      if (ts.isPropertyAccessExpression(callee) && callee.name.text === 'connect') {
        if (isRunner) {
          const [config] = node.arguments
          const verifier =
            config && ts.isObjectLiteralExpression(config)
              ? config.properties.find((property) => property.name !== undefined && ts.isIdentifier(property.name) && property.name.text === 'hostVerifier')
              : undefined
          if (!verifier) at(node, '.connect( without an object literal that has hostVerifier')
          else if (ts.isPropertyAssignment(verifier) && /^(undefined|null|void 0)$/.test(verifier.initializer.getText(source))) {
            at(node, 'hostVerifier is empty')
          }
        } else if (importsSsh2) {
          at(node, '.connect( in a file that imports ssh2: SSH connections belong in src/remote/ssh-runner.ts')
        }
      }
      const isRequire = ts.isIdentifier(callee) && callee.text === 'require'
      const isDynamicImport = callee.kind === ts.SyntaxKind.ImportKeyword
      const [first] = node.arguments
      if ((isRequire || isDynamicImport) && first && ts.isStringLiteral(first) && !isRunner) {
        if (isSsh2(first.text)) at(node, 'ssh2 loaded dynamically outside src/remote/ssh-runner.ts')
        if (OTHER_SSH_CLIENTS.test(first.text)) at(node, `SSH client package ${first.text}: use src/remote/ssh-runner.ts`)
      }
    }
    // Outside the runner, the ssh2 module object may only be used as `ssh2.utils`.
    if (!isRunner && ts.isIdentifier(node) && moduleNames.has(node.text)) {
      const parent = node.parent
      const isBinding = ts.isImportClause(parent) || ts.isNamespaceImport(parent)
      const isUtils = ts.isPropertyAccessExpression(parent) && parent.expression === node && parent.name.text === 'utils'
      const isTypePosition = ts.isQualifiedName(parent) || ts.isTypeReferenceNode(parent) || ts.isTypeQueryNode(parent)
      if (!isBinding && !isUtils && !isTypePosition) at(node, `ssh2 used as more than \`${node.text}.utils\` outside src/remote/ssh-runner.ts`)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return problems
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, {withFileTypes: true})
  const nested = await Promise.all(
    entries.map((entry) => {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) return sourceFiles(path)
      return Promise.resolve(/\.(c|m)?ts$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [])
    }),
  )
  return nested.flat()
}

describe('SSH connections are only made in src/remote/ssh-runner.ts, always with a hostVerifier', () => {
  it('scans src/', async () => {
    const files = await sourceFiles(join(root, 'src'))
    assert.ok(files.some((file) => file.endsWith('ssh-runner.ts')), 'the scan saw ssh-runner.ts')
    const problems: string[] = []
    let connects = 0
    for (const file of files) {
      const rel = relative(root, file).split('\\').join('/')
      const text = await readFile(file, 'utf8')
      problems.push(...scanSource(rel, text))
      if (rel === SSH_RUNNER) connects = (text.match(/\.connect\(/g) ?? []).length
    }
    assert.deepEqual(problems, [])
    assert.ok(connects >= 1, 'ssh-runner.ts has its connect call')
  })

  it('the scanner catches what it must', () => {
    const bad = [
      [`import ssh2 from 'ssh2'\nconst c = new ssh2.Client()`, 'src/providers/x.ts'],
      [`import {Client} from 'ssh2'\nconst c = new Client()`, 'src/providers/x.ts'],
      [`import {Client as C} from 'ssh2'\nconst c = new C()`, 'src/providers/x.ts'],
      [`import * as s from 'ssh2'\nconst c = new s.Client()`, 'src/providers/x.ts'],
      [`import ssh2 from 'ssh2'\nconst {Client} = ssh2`, 'src/providers/x.ts'],
      [`import ssh2 from 'ssh2'\nhelper(ssh2)`, 'src/providers/x.ts'],
      [`export {default as s} from 'ssh2'`, 'src/util/x.ts'],
      [`const s = require('ssh2')`, 'src/providers/x.ts'],
      [`const s = await import('ssh2')`, 'src/providers/x.ts'],
      [`import {NodeSSH} from 'node-ssh'`, 'src/providers/x.ts'],
      [`import ssh2 from 'ssh2'\nconst k = ssh2.utils.parseKey(x)\nclient.connect({host})`, 'src/providers/x.ts'],
      [`client.connect({host, port})`, SSH_RUNNER],
      [`client.connect(config)`, SSH_RUNNER],
      [`client.connect({host, hostVerifier: undefined})`, SSH_RUNNER],
    ]
    for (const [text, file] of bad) assert.notDeepEqual(scanSource(file!, text!), [], `not caught: ${text}`)
    const good = [
      [`import ssh2 from 'ssh2'\nconst pair = ssh2.utils.generateKeyPairSync('ed25519')`, 'src/remote/host-keys.ts'],
      [`import type {Client} from 'ssh2'\nlet c: Client`, 'src/remote/other.ts'],
      [`client.connect({host, hostVerifier: (key) => check(key)})`, SSH_RUNNER],
      [`import {utils} from 'ssh2'\nutils.parseKey(x)`, 'src/remote/other.ts'],
      [`import type ssh2 from 'ssh2'\nlet c: ssh2.Client`, 'src/remote/other.ts'],
      ["class P { connect() {} run() { return this.connect() } }", 'src/providers/ssh/index.ts'],
      ["const socket = net.connect({port})", 'src/util/x.ts'],
    ]
    for (const [text, file] of good) assert.deepEqual(scanSource(file!, text!), [], `false alarm: ${text}`)
  })
})
