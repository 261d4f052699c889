// The import rules of ARCHITECTURE.md, checked by test/architecture.test.ts (and `npx depcruise src`).
// Type-only imports count: a type import still couples the layers.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {name: 'no-cycles', severity: 'error', comment: 'Modules form no cycle (a dynamic import counts).', from: {}, to: {circular: true}},
    {name: 'nothing-imports-commands', severity: 'error', comment: 'Commands are adapters at the edge: nothing imports them.', from: {pathNot: '^src/commands/'}, to: {path: '^src/commands/'}},
    {name: 'engine-not-to-render-or-cli', severity: 'error', comment: 'The engine never prints and knows no CLI: it emits events.', from: {path: '^src/engine/'}, to: {path: '^src/(render|cli|commands)/'}},
    {name: 'config-not-to-providers', severity: 'error', comment: 'Loading and validating a file needs no cloud code.', from: {path: '^src/config/'}, to: {path: '^src/(providers|engine|cli|render|state)/'}},
    {name: 'model-is-a-leaf', severity: 'error', comment: 'model/ is plain data and pure functions: it imports only model/ and util/.', from: {path: '^src/model/'}, to: {pathNot: '^src/(model|util)/'}},
    {name: 'state-not-to-providers', severity: 'error', comment: 'State backends talk to storage directly, not through providers or the engine.', from: {path: '^src/state/'}, to: {path: '^src/(providers|engine|render|cli)/'}},
    {name: 'render-not-to-providers-or-engine', severity: 'error', comment: 'Views render data (model/): they call no provider and no engine.', from: {path: '^src/render/'}, to: {path: '^src/(providers|engine|state)/'}},
    {name: 'errors-is-a-leaf', severity: 'error', comment: 'errors/ (with the exit-code table) is imported by every layer and imports only util/.', from: {path: '^src/errors/'}, to: {pathNot: '^src/(errors|util)/'}},
    {name: 'util-is-a-leaf', severity: 'error', comment: 'util/ imports nothing of ours.', from: {path: '^src/util/'}, to: {path: '^src/', pathNot: '^src/util/'}},
    {name: 'providers-not-to-engine', severity: 'error', comment: 'Providers implement the contract in providers/provider.ts; they do not call the engine.', from: {path: '^src/providers/'}, to: {path: '^src/(engine|render|cli)/'}},
  ],
  options: {
    doNotFollow: {path: 'node_modules'},
    exclude: {path: '^(node_modules|dist)/'},
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: {fileName: 'tsconfig.json'},
    enhancedResolveOptions: {extensions: ['.ts', '.js']},
  },
}
