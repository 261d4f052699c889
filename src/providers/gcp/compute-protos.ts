/**
 * The compute clients' protobuf definitions, cut to the services anycloud uses. Every
 * `@google-cloud/compute` client loads the package's whole `protos.json` (12 MB: all ~2,100
 * messages and services of the Compute API) and builds a protobuf root of all of it, about a
 * second of CPU on each gcp command. The clients take that JSON with `require`; put first in the
 * module cache, the same definitions cut to our services and every type they reach (their
 * requests, responses, the fields of those, recursively: the same definitions, identical for
 * everything those services send and receive) build in a few milliseconds.
 * test/providers/gcp/compute-protos.test.ts compares the two for every method.
 */
import {readFileSync} from 'node:fs'
import Module, {createRequire} from 'node:module'

const requireHere = createRequire(import.meta.url)

interface ProtoNode {
  nested?: Record<string, ProtoNode>
  fields?: Record<string, {type: string; keyType?: string}>
  methods?: Record<string, {requestType: string; responseType: string}>
  [key: string]: unknown
}

/** The compute API's namespace in protos.json. */
const V1 = ['google', 'cloud', 'compute', 'v1']

/**
 * `full` with the compute namespace's top-level members cut to `services` and what they reach.
 * A reference keeps the top-level member its first name part names (over-keeping a same-named
 * nested type's namesake is harmless); everything outside the namespace stays.
 */
export function pruneComputeProtos(full: ProtoNode, services: string[]): ProtoNode {
  let v1: ProtoNode = full
  for (const part of V1) v1 = v1.nested![part]!
  const members = v1.nested!
  const keep = new Set<string>()
  const refs = (node: ProtoNode, out: string[]): void => {
    for (const f of Object.values(node.fields ?? {})) out.push(f.type, ...(f.keyType ? [f.keyType] : []))
    for (const m of Object.values(node.methods ?? {})) out.push(m.requestType, m.responseType)
    for (const n of Object.values(node.nested ?? {})) refs(n, out)
  }
  const queue = [...services]
  while (queue.length > 0) {
    const name = queue.pop()!
    if (keep.has(name) || !(name in members)) continue
    keep.add(name)
    const out: string[] = []
    refs(members[name]!, out)
    for (const t of out) if (!t.startsWith('.')) queue.push(t.split('.')[0]!)
  }
  const cut = (node: ProtoNode, path: string[]): ProtoNode => {
    if (path.length === 0) return {...node, nested: Object.fromEntries([...keep].sort().map((k) => [k, members[k]!]))}
    const [head, ...rest] = path
    return {...node, nested: {...node.nested, [head!]: cut(node.nested![head!]!, rest)}}
  }
  return cut(full, V1)
}

/**
 * Before the first compute client is loaded: the cut definitions in the module cache under
 * protos.json's path. Once per process; where the package's layout differs from what this
 * expects, nothing is done (the clients load the whole file, as without this).
 */
export function preloadComputeProtos(services: string[]): void {
  try {
    const path = requireHere.resolve('@google-cloud/compute/build/protos/protos.json')
    if (requireHere.cache[path]) return
    const full = JSON.parse(readFileSync(path, 'utf8')) as ProtoNode
    const cut = pruneComputeProtos(full, services)
    const entry = new Module(path)
    entry.filename = path
    entry.exports = cut
    entry.loaded = true
    requireHere.cache[path] = entry
  } catch {
    // Another layout: the clients' own require loads the whole file.
  }
}
