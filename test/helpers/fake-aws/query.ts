/**
 * The AWS Query protocol's request side: a form-encoded body (`Action=…&Version=…&A.1.B=…`)
 * parsed into a nested tree, plus typed accessors for handlers.
 *
 * The SDK flattens lists as `Name.N` (EC2) or `Name.member.N` (IAM, STS) with 1-based indexes,
 * and structures as `Name.Member`; numeric path segments become arrays here.
 */

/** A node of a parsed Query request: a leaf string, a structure, or a list. */
export type QueryTree = string | QueryStruct | QueryTree[]
/** A structure of a parsed Query request. */
export interface QueryStruct {
  [key: string]: QueryTree
}

/** Parses a form-encoded body into its flat key/value pairs, in order (last one wins on repeats). */
export function parseForm(body: string): Record<string, string> {
  const out: Record<string, string> = {}
  const search = new URLSearchParams(body)
  for (const [key, value] of search) out[key] = value
  return out
}

/** Turns flat `A.1.B` keys into a nested tree (numeric segments become 0-based arrays). */
export function nestForm(flat: Record<string, string>): QueryStruct {
  const root: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(flat)) {
    const parts = key.split('.')
    let node: Record<string, unknown> = root
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string
      if (part === '__proto__' || part === 'constructor' || part === 'prototype') break
      if (i === parts.length - 1) {
        if (typeof node[part] !== 'object') node[part] = value
      } else {
        const next = node[part]
        if (typeof next !== 'object' || next === null) node[part] = {}
        node = node[part] as Record<string, unknown>
      }
    }
  }
  return arrayify(root) as QueryStruct
}

function arrayify(node: unknown): QueryTree {
  if (typeof node === 'string') return node
  const obj = node as Record<string, unknown>
  const keys = Object.keys(obj)
  if (keys.length > 0 && keys.every((k) => /^[1-9][0-9]*$/.test(k))) {
    return keys
      .map(Number)
      .sort((a, b) => a - b)
      .map((k) => arrayify(obj[String(k)]))
  }
  const out: QueryStruct = {}
  for (const k of keys) out[k] = arrayify(obj[k])
  return out
}

/** Typed, path-based access to a parsed Query request (paths like `IamInstanceProfile.Name`). */
export class QueryParams {
  /** The flat key/value pairs as sent, for logs and idempotency fingerprints. */
  readonly flat: Record<string, string>
  /** The nested tree. */
  readonly tree: QueryStruct

  constructor(flat: Record<string, string>, tree?: QueryStruct) {
    this.flat = flat
    this.tree = tree ?? nestForm(flat)
  }

  /** The raw node at `path`, or undefined. */
  get(path: string): QueryTree | undefined {
    let node: QueryTree | undefined = this.tree
    for (const part of path.split('.')) {
      if (node === undefined || typeof node === 'string') return undefined
      if (Array.isArray(node)) {
        const i = Number(part)
        node = Number.isInteger(i) && i >= 1 ? node[i - 1] : undefined
      } else {
        node = Object.prototype.hasOwnProperty.call(node, part) ? node[part] : undefined
      }
    }
    return node
  }

  /** A string leaf, or undefined. */
  str(path: string): string | undefined {
    const v = this.get(path)
    return typeof v === 'string' ? v : undefined
  }

  /** An integer leaf; NaN when present but not an integer. */
  int(path: string): number | undefined {
    const v = this.str(path)
    if (v === undefined) return undefined
    return /^-?[0-9]+$/.test(v) ? Number(v) : Number.NaN
  }

  /** A boolean leaf (`true`/`false`). */
  bool(path: string): boolean | undefined {
    const v = this.str(path)
    if (v === undefined) return undefined
    return v === 'true'
  }

  /** The items of a list (a missing list is empty). */
  list(path: string): QueryTree[] {
    const v = this.get(path)
    if (v === undefined) return []
    return Array.isArray(v) ? v : [v]
  }

  /** The string items of a list. */
  strList(path: string): string[] {
    return this.list(path).filter((v): v is string => typeof v === 'string')
  }

  /** The structure items of a list, each wrapped for typed access. */
  structList(path: string): QueryParams[] {
    return this.list(path)
      .filter((v): v is QueryStruct => typeof v === 'object' && !Array.isArray(v))
      .map((v) => QueryParams.of(v))
  }

  /** The sub-structure at `path`, wrapped (empty when missing). */
  struct(path: string): QueryParams {
    const v = this.get(path)
    return QueryParams.of(typeof v === 'object' && !Array.isArray(v) ? v : {})
  }

  /** Whether anything was sent under `path`. */
  has(path: string): boolean {
    return this.get(path) !== undefined
  }

  /** Wraps a sub-tree. */
  static of(tree: QueryStruct): QueryParams {
    return new QueryParams(flatten(tree), tree)
  }
}

function flatten(tree: QueryTree, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (typeof tree === 'string') {
    out[prefix] = tree
  } else if (Array.isArray(tree)) {
    tree.forEach((v, i) => flatten(v, `${prefix}${prefix ? '.' : ''}${i + 1}`, out))
  } else {
    for (const [k, v] of Object.entries(tree)) flatten(v, `${prefix}${prefix ? '.' : ''}${k}`, out)
  }
  return out
}
