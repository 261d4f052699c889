import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {cruise, type ICruiseResult} from 'dependency-cruiser'
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options'
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** Cruises `src/` under `baseDir` with the project's own rules; returns "rule: from → to" lines. */
async function violations(baseDir: string): Promise<string[]> {
  const options = await extractDepcruiseOptions(join(root, '.dependency-cruiser.cjs'))
  const tsConfig = extractTSConfig(join(root, 'tsconfig.json'))
  const previous = process.cwd()
  process.chdir(baseDir)
  try {
    const result = await cruise(['src'], {...options, baseDir, tsConfig: {fileName: join(root, 'tsconfig.json')}}, {}, {tsConfig})
    const output = result.output as ICruiseResult
    return output.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}${v.cycle ? ` (cycle: ${v.cycle.map((c) => c.name).join(' → ')})` : ''}`)
  } finally {
    process.chdir(previous)
  }
}

describe('architecture: the import rules of ARCHITECTURE.md (.dependency-cruiser.cjs)', function () {
  this.timeout(120_000)

  it('src/ has no cycle and no forbidden arrow', async () => {
    const found = await violations(root)
    assert.deepEqual(found, [], `dependency rules broken:\n${found.join('\n')}`)
  })

  it('the rules catch a cycle and each forbidden arrow (a fixture tree that breaks them)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anycloud-arch-'))
    try {
      const file = (path: string, text: string) => {
        mkdirSync(dirname(join(dir, path)), {recursive: true})
        writeFileSync(join(dir, path), text)
      }
      file('src/engine/apply.ts', "import {view} from '../render/view.js'\nimport {run} from '../commands/plan.js'\nexport const apply = [view, run]\n")
      file('src/render/view.ts', "import type {Provider} from '../providers/provider.js'\nexport const view = (p?: Provider) => p\n")
      file('src/commands/plan.ts', 'export const run = 1\n')
      file('src/providers/provider.ts', 'export interface Provider { kind: string }\n')
      file('src/providers/registry.ts', "export const load = () => import('./aws/index.js')\n")
      file('src/providers/aws/index.ts', "import type {load} from '../registry.js'\nexport type L = typeof load\n")
      file('src/config/load.ts', "import type {Provider} from '../providers/provider.js'\nexport type P = Provider\n")
      file('src/model/resources.ts', "import type {P} from '../config/load.js'\nexport type R = P\n")
      file('src/state/store.ts', "import type {Provider} from '../providers/provider.js'\nexport type S = Provider\n")
      const found = (await violations(dir)).map((v) => v.split(' (cycle')[0]).sort()
      for (const expected of [
        'engine-not-to-render-or-cli: src/engine/apply.ts → src/render/view.ts',
        'engine-not-to-render-or-cli: src/engine/apply.ts → src/commands/plan.ts',
        'nothing-imports-commands: src/engine/apply.ts → src/commands/plan.ts',
        'render-not-to-providers-or-engine: src/render/view.ts → src/providers/provider.ts',
        'config-not-to-providers: src/config/load.ts → src/providers/provider.ts',
        'model-is-a-leaf: src/model/resources.ts → src/config/load.ts',
        'state-not-to-providers: src/state/store.ts → src/providers/provider.ts',
        'no-cycles: src/providers/aws/index.ts → src/providers/registry.ts',
      ]) {
        assert.ok(found.includes(expected), `expected "${expected}" among:\n${found.join('\n')}`)
      }
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
