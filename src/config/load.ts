import {readFileSync, statSync} from 'node:fs'
import {isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode} from 'yaml'

import {UsageError} from '../errors/index.js'
import {type Diagnostic, dottedPath, profileOf} from './diagnostics.js'

/** Files larger than this are refused before parsing. */
export const MAX_FILE_BYTES = 1024 * 1024
/** Bounds alias expansion (billion laughs). */
export const MAX_ALIAS_COUNT = 100

export interface Position {
  line: number
  column: number
}

/** Where a node sits: its value, and for map entries also its key. */
export interface NodeLocation {
  value: Position
  key?: Position
  /** The scalar's source text, e.g. `012345678901` (helps explain YAML surprises). */
  source?: string
}

/** A parsed anycloud.yaml: plain data plus the source position of every node. */
export interface LoadedDocument {
  file: string
  /** The directory relative paths in the file are resolved against. */
  dir: string
  data: unknown
  /** Keyed by JSON pointer (`/profiles/train/gpuType`). */
  locations: Map<string, NodeLocation>
}

export type LoadResult = {ok: true; document: LoadedDocument} | {ok: false; diagnostics: Diagnostic[]; document?: LoadedDocument}

export function pointer(segments: ReadonlyArray<string | number>): string {
  return segments.map((s) => '/' + String(s).replaceAll('~', '~0').replaceAll('/', '~1')).join('')
}

export function segmentsOf(jsonPointer: string): string[] {
  if (jsonPointer === '') return []
  return jsonPointer.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
}

/** Reads and parses a file; a missing, unreadable or oversized file is a usage error (exit 3). */
export function loadFile(file: string, dir: string): LoadResult {
  let stats: ReturnType<typeof statSync>
  try {
    stats = statSync(file)
  } catch {
    throw new UsageError(`${file}: no such file`, ['Create one (see examples/quickstart/anycloud.yaml) or pass -f FILE.'], 'config.missing')
  }
  if (!stats.isFile()) {
    throw new UsageError(`${file}: not a file${stats.isDirectory() ? ' (a directory)' : ''}`, ['Pass the path of an anycloud.yaml with -f FILE.'], 'config.missing')
  }
  if (stats.size > MAX_FILE_BYTES) {
    return {ok: false, diagnostics: [{severity: 'error', file, line: 1, column: 1, path: '', message: `file is ${stats.size} bytes; anycloud.yaml files are limited to ${MAX_FILE_BYTES} bytes (1 MiB): it is refused without being parsed`}]}
  }
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new UsageError(`${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, [], 'config.unreadable')
  }
  return loadText(text, file, dir)
}

/** Parses YAML 1.2 text with positions; duplicate keys, syntax errors and alias bombs become diagnostics. */
export function loadText(text: string, file: string, dir: string): LoadResult {
  if (Buffer.byteLength(text) > MAX_FILE_BYTES) {
    return {ok: false, diagnostics: [{severity: 'error', file, line: 1, column: 1, path: '', message: `file is larger than ${MAX_FILE_BYTES} bytes (1 MiB)`}]}
  }
  const lineCounter = new LineCounter()
  let doc: ReturnType<typeof parseDocument>
  try {
    doc = parseDocument(text, {lineCounter, uniqueKeys: true, version: '1.2', prettyErrors: false, strict: true, keepSourceTokens: true})
  } catch (error) {
    // The parser recurses; absurd nesting can exhaust the stack before it reports anything.
    return {ok: false, diagnostics: [{severity: 'error', file, line: 1, column: 1, path: '', message: `the document cannot be parsed: ${tooDeep(error) ? NESTED_TOO_DEEPLY : (error as Error).message}`}]}
  }
  const diagnostics: Diagnostic[] = []
  for (const e of [...doc.errors, ...doc.warnings]) {
    const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0])
    const first = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')
    if (e.code === 'DUPLICATE_KEY') {
      const dup = findDuplicateKey(doc.contents, e.pos[0], lineCounter)
      if (dup) {
        diagnostics.push({severity: 'error', file, line: pos.line, column: pos.col, path: dottedPath(dup.segments), profile: profileOf(dup.segments),
          message: `duplicate key '${dup.key}' (first defined at line ${dup.firstLine}): each key may appear only once in a map; remove one of them`})
        continue
      }
    }
    diagnostics.push({severity: 'error', file, line: pos.line, column: pos.col, path: '', message: yamlMessage(e.code, first)})
  }
  if (diagnostics.length > 0) return {ok: false, diagnostics}

  let data: unknown
  try {
    data = doc.toJS({maxAliasCount: MAX_ALIAS_COUNT})
  } catch (error) {
    const message = error instanceof ReferenceError
      ? `too many alias expansions (more than ${MAX_ALIAS_COUNT}): refused as a possible alias bomb (billion laughs); share settings with defaults: or extends: instead`
      : `YAML error: ${(error as Error).message}`
    return {ok: false, diagnostics: [{severity: 'error', file, line: 1, column: 1, path: '', message}]}
  }
  const locations = new Map<string, NodeLocation>()
  const at = (offset: number | undefined): Position => {
    const p = lineCounter.linePos(offset ?? 0)
    return {line: p.line, column: p.col}
  }
  const walk = (node: unknown, segments: Array<string | number>, key?: Position, depth = 0): void => {
    if (depth > 64 || !node) return
    const n = node as YamlNode
    const source = isScalar(n) && n.srcToken && 'source' in n.srcToken ? String(n.srcToken.source) : undefined
    // `key:` with nothing after it: the empty value sits at the end of the line; point at the key.
    const empty = isScalar(n) && n.value === null && !source && key !== undefined
    locations.set(pointer(segments), {value: empty ? key : at(n.range?.[0]), key, source})
    if (isAlias(n)) return
    if (isMap(n)) {
      for (const item of n.items) {
        if (!isPair(item)) continue
        const k = isScalar(item.key) ? String(item.key.value) : String(item.key)
        const keyNode = item.key as YamlNode | null
        const keyPos = at(keyNode?.range?.[0])
        if (item.value) walk(item.value, [...segments, k], keyPos, depth + 1)
        else locations.set(pointer([...segments, k]), {value: keyPos, key: keyPos})
      }
    } else if (isSeq(n)) {
      n.items.forEach((item, i) => walk(item, [...segments, i], undefined, depth + 1))
    }
  }
  walk(doc.contents, [])
  if (!locations.has('')) locations.set('', {value: {line: 1, column: 1}})
  return {ok: true, document: {file, dir, data, locations}}
}

const NESTED_TOO_DEEPLY = 'the document is nested too deeply (an anycloud.yaml needs only a few levels)'

function tooDeep(error: unknown): boolean {
  return error instanceof RangeError || /call stack/i.test(String((error as Error)?.message))
}

/** yaml's messages, made specific where anycloud knows better. */
function yamlMessage(code: string, first: string): string {
  switch (code) {
    case 'MULTIPLE_DOCS':
      return 'more than one YAML document (a second `---`): an anycloud.yaml holds exactly one document'
    case 'TAG_RESOLVE_FAILED':
      return `YAML tags are not supported here (${first}): write a plain value, and \${env:NAME} for values from the environment`
    case 'RESOURCE_EXHAUSTION':
      return tooDeep({message: first}) ? NESTED_TOO_DEEPLY : `YAML error: ${first}`
    case 'TAB_AS_INDENT':
      return `YAML syntax error: ${first} (indent with spaces, not tabs)`
    default:
      return `YAML syntax error: ${first}`
  }
}

/** The duplicated key at `offset`, its JSON path and the line of its first definition. */
function findDuplicateKey(root: unknown, offset: number, lineCounter: LineCounter): {key: string; segments: Array<string | number>; firstLine: number} | undefined {
  const stack: Array<{node: unknown; segments: Array<string | number>}> = [{node: root, segments: []}]
  while (stack.length > 0) {
    const {node, segments} = stack.pop()!
    if (isMap(node)) {
      const firstSeen = new Map<string, number>()
      for (const item of node.items) {
        if (!isPair(item)) continue
        const keyNode = item.key as YamlNode | null
        const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode)
        const start = keyNode?.range?.[0] ?? -1
        if (start === offset && firstSeen.has(key)) return {key, segments: [...segments, key], firstLine: lineCounter.linePos(firstSeen.get(key)!).line}
        if (!firstSeen.has(key)) firstSeen.set(key, start)
        stack.push({node: item.value, segments: [...segments, key]})
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => stack.push({node: item, segments: [...segments, i]}))
    }
  }
  return undefined
}

/**
 * The best position for a JSON pointer: the node itself, else its nearest ancestor.
 * `preferKey` points at the key of a map entry (for "unknown key" errors).
 */
export function locate(document: LoadedDocument, jsonPointer: string, preferKey = false): NodeLocation & {position: Position} {
  let p = jsonPointer
  for (;;) {
    const loc = document.locations.get(p)
    if (loc) return {...loc, position: (preferKey && loc.key) || loc.value}
    if (p === '') return {value: {line: 1, column: 1}, position: {line: 1, column: 1}}
    p = p.slice(0, p.lastIndexOf('/'))
  }
}

/** Builds a diagnostic at a JSON path of the document. */
export function diagnosticAt(
  document: LoadedDocument,
  segments: ReadonlyArray<string | number>,
  message: string,
  options: {severity?: 'error' | 'warning'; preferKey?: boolean} = {},
): Diagnostic {
  const {position} = locate(document, pointer(segments), options.preferKey)
  return {
    severity: options.severity ?? 'error',
    file: document.file,
    line: position.line,
    column: position.column,
    path: dottedPath(segments),
    profile: profileOf(segments),
    message,
  }
}
