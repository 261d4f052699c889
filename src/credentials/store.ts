import {existsSync, readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'

import type {Credential} from '../config/schema-types.js'
import {AnycloudError, UsageError} from '../errors/index.js'
import {writeFileAtomic} from '../util/atomic-write.js'

/** Field names whose values are secrets wherever they appear in a credential. */
export const SECRET_FIELDS = new Set(['accessKeyId', 'secretAccessKey', 'sessionToken', 'clientSecret'])

export interface StoreFile {
  version: 1
  credentials: Record<string, Credential>
}

/** `$ANYCLOUD_HOME`, default `~/.anycloud`: the per-user home of the credential store. */
export function anycloudHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.ANYCLOUD_HOME || join(homedir(), '.anycloud')
}

/**
 * The local credential store: `credentials.json` under $ANYCLOUD_HOME, always written atomically
 * with mode 0600 (also when an older file had a looser mode), its directory 0700.
 */
export class CredentialStore {
  readonly path: string

  constructor(home: string = anycloudHome()) {
    this.path = join(home, 'credentials.json')
  }

  read(): StoreFile {
    if (!existsSync(this.path)) return {version: 1, credentials: {}}
    let parsed: unknown
    try {
      parsed = JSON.parse(readFileSync(this.path, 'utf8'))
    } catch (error) {
      throw new AnycloudError(`${this.path}: not valid JSON (${(error as Error).message})`, {code: 'credentials.corrupt', source: 'user', suggestions: ['Fix or remove the file, then add the credentials again.']})
    }
    const file = parsed as StoreFile
    const isMap = (v: unknown) => Boolean(v) && typeof v === 'object' && !Array.isArray(v)
    if (!isMap(file) || !isMap(file.credentials)) {
      throw new AnycloudError(`${this.path}: not an anycloud credential store (expected {"version": 1, "credentials": {…}})`, {code: 'credentials.corrupt', source: 'user', suggestions: ['Fix or remove the file, then add the credentials again.']})
    }
    return file
  }

  list(): Record<string, Credential> {
    return this.read().credentials
  }

  get(name: string): Credential | undefined {
    return this.list()[name]
  }

  add(name: string, credential: Credential, options: {overwrite?: boolean} = {}): void {
    const file = this.read()
    if (file.credentials[name] && !options.overwrite) {
      throw new UsageError(`credential '${name}' already exists in ${this.path}`, ['Pass --force to replace it, or remove it first with `anycloud credentials remove`.'])
    }
    file.credentials[name] = credential
    this.write(file)
  }

  remove(name: string): boolean {
    const file = this.read()
    if (!file.credentials[name]) return false
    delete file.credentials[name]
    this.write(file)
    return true
  }

  private write(file: StoreFile): void {
    writeFileAtomic(this.path, JSON.stringify(file, null, 2) + '\n', {mode: 0o600, dirMode: 0o700})
  }
}

/** A credential safe to print: secret values replaced by `(sensitive)`. */
/** One credential field as a person reads it (no JSON): hosts as `user@host:port`, lists comma-separated. */
export function credentialFieldText(value: unknown): string {
  if (Array.isArray(value)) return value.map(credentialFieldText).join(', ')
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>
    if (typeof o.host === 'string') return `${o.user ? `${String(o.user)}@` : ''}${o.host}${o.port ? `:${String(o.port)}` : ''}${o.identityFile ? ` (key ${String(o.identityFile)})` : ''}`
    return Object.entries(o).map(([k, v]) => `${k}=${credentialFieldText(v)}`).join(' ')
  }
  return String(value)
}

export function redactCredential(credential: Credential): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(credential)) out[k] = SECRET_FIELDS.has(k) && v !== undefined ? '(sensitive)' : v
  return out
}
