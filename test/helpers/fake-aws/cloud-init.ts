/**
 * Reads the cloud-init user data anycloud sends in RunInstances, so a fake VM can present the
 * host key anycloud generated (`ssh_keys`) and accept the keys it authorised
 * (`ssh_authorized_keys`, per-user keys). Handles `#cloud-config`, MIME multipart (with base64
 * parts) and gzip; shell scripts are kept as-is.
 */
import {gunzipSync} from 'node:zlib'
import {parse as parseYaml} from 'yaml'

/** A host key pair from `ssh_keys`. */
export interface CloudInitHostKey {
  /** PEM/OpenSSH private key text. */
  privateKey: string
  /** OpenSSH public key line, when given. */
  publicKey?: string
}

/** A user from `users:` (the `default` entry becomes the image's default user). */
export interface CloudInitUser {
  name: string
  authorizedKeys: string[]
  sudo?: unknown
  shell?: string
  groups?: unknown
}

/** What the fake needs from the user data. */
export interface CloudInitSummary {
  format: 'empty' | 'cloud-config' | 'multipart' | 'script' | 'unknown'
  /** The (merged) cloud-config object; `{}` when there is none. */
  config: Record<string, unknown>
  /** `ssh_keys` by type: `ed25519`, `rsa`, `ecdsa`. */
  hostKeys: Partial<Record<'ed25519' | 'rsa' | 'ecdsa', CloudInitHostKey>>
  /** Top-level `ssh_authorized_keys` (they go to the default user). */
  authorizedKeys: string[]
  users: CloudInitUser[]
  /** Shell-script parts (`#!…`), in order. */
  scripts: string[]
}

/** Decodes RunInstances `UserData` (base64, maybe gzip) to text. Undefined when it is not base64. */
export function decodeUserData(base64: string): string | undefined {
  const compact = base64.replace(/\s+/g, '')
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) return undefined
  let bytes: Buffer = Buffer.from(compact, 'base64')
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes)
  return bytes.toString('utf8')
}

/** Parses decoded user data. `defaultUser` is the image's login user (`ubuntu`). */
export function parseCloudInit(userData: string, defaultUser = 'ubuntu'): CloudInitSummary {
  const summary: CloudInitSummary = {format: 'empty', config: {}, hostKeys: {}, authorizedKeys: [], users: [], scripts: []}
  const text = userData.replace(/^\uFEFF/, '')
  if (text.trim() === '') return summary
  const parts: {type: string; body: string}[] = []
  if (/^#cloud-config\b/.test(text)) {
    summary.format = 'cloud-config'
    parts.push({type: 'text/cloud-config', body: text})
  } else if (/^#!/.test(text)) {
    summary.format = 'script'
    parts.push({type: 'text/x-shellscript', body: text})
  } else if (/^(MIME-Version|Content-Type):/im.test(text.split(/\r?\n\r?\n/)[0] ?? '')) {
    summary.format = 'multipart'
    parts.push(...splitMime(text))
  } else {
    summary.format = 'unknown'
  }
  for (const part of parts) {
    if (part.type === 'text/cloud-config' || part.body.startsWith('#cloud-config')) {
      const doc = parseYaml(part.body) as unknown
      if (doc && typeof doc === 'object' && !Array.isArray(doc)) Object.assign(summary.config, doc)
    } else if (part.type === 'text/x-shellscript' || part.body.startsWith('#!')) {
      summary.scripts.push(part.body)
    }
  }
  const cfg = summary.config
  const sshKeys = cfg.ssh_keys
  if (sshKeys && typeof sshKeys === 'object') {
    const keys = sshKeys as Record<string, unknown>
    for (const type of ['ed25519', 'rsa', 'ecdsa'] as const) {
      const priv = keys[`${type}_private`]
      const pub = keys[`${type}_public`]
      if (typeof priv === 'string') summary.hostKeys[type] = {privateKey: priv, ...(typeof pub === 'string' ? {publicKey: pub.trim()} : {})}
    }
  }
  summary.authorizedKeys = stringList(cfg.ssh_authorized_keys)
  const users = Array.isArray(cfg.users) ? cfg.users : cfg.users === undefined ? ['default'] : []
  for (const u of users) {
    if (u === 'default') {
      summary.users.push({name: defaultUser, authorizedKeys: [...summary.authorizedKeys]})
    } else if (u && typeof u === 'object') {
      const o = u as Record<string, unknown>
      if (typeof o.name !== 'string') continue
      summary.users.push({
        name: o.name,
        authorizedKeys: stringList(o.ssh_authorized_keys ?? o['ssh-authorized-keys']),
        ...(o.sudo !== undefined ? {sudo: o.sudo} : {}),
        ...(typeof o.shell === 'string' ? {shell: o.shell} : {}),
        ...(o.groups !== undefined ? {groups: o.groups} : {}),
      })
    }
  }
  return summary
}

function stringList(v: unknown): string[] {
  if (typeof v === 'string') return [v.trim()]
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string').map((s) => s.trim())
  return []
}

function splitMime(text: string): {type: string; body: string}[] {
  const [head = '', ...rest] = text.split(/\r?\n\r?\n/)
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(head)?.[1]
  if (!boundary) return []
  const body = rest.join('\n\n')
  const out: {type: string; body: string}[] = []
  for (const chunk of body.split(`--${boundary}`)) {
    if (chunk.trim() === '' || chunk.trim() === '--' || chunk.startsWith('--')) continue
    const sep = /\r?\n\r?\n/.exec(chunk.replace(/^\r?\n/, ''))
    const c = chunk.replace(/^\r?\n/, '')
    if (!sep) continue
    const headers = c.slice(0, sep.index)
    let partBody = c.slice(sep.index + sep[0].length).replace(/\r?\n$/, '')
    const type = (/^Content-Type:\s*([^;\r\n]+)/im.exec(headers)?.[1] ?? 'text/plain').trim().toLowerCase()
    if (/^Content-Transfer-Encoding:\s*base64/im.test(headers)) partBody = Buffer.from(partBody.replace(/\s+/g, ''), 'base64').toString('utf8')
    out.push({type, body: partBody})
  }
  return out
}
