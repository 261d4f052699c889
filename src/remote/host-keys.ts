import {createHash} from 'node:crypto'
import ssh2 from 'ssh2'

/**
 * Host keys: anycloud generates the host key of every cloud VM it creates and hands it to the VM
 * through cloud-init, so the key it connects to is known before the VM boots (no trust on first
 * use for VMs). For user-owned ssh hosts the key is recorded on first contact and pinned after.
 */

/** A host key pair in OpenSSH formats. `privateKey` is a secret: never log or persist it in state. */
export interface HostKeyPair {
  /** `-----BEGIN OPENSSH PRIVATE KEY-----…`, unencrypted. */
  privateKey: string
  /** `ssh-ed25519 AAAA… comment` */
  publicKey: string
  /** `SHA256:…`, as `ssh-keygen -l` prints it. */
  fingerprint: string
}

/** A parsed OpenSSH public key line. */
export interface PublicKey {
  /** e.g. `ssh-ed25519` */
  type: string
  /** The raw key blob (what the SSH protocol sends and fingerprints hash). */
  blob: Buffer
  comment?: string
}

/** Generates a fresh ed25519 host key pair. */
export function generateHostKeyPair(comment = 'anycloud-host-key'): HostKeyPair {
  if (/[\r\n]/.test(comment)) throw new RangeError('a key comment must be one line')
  const pair = ssh2.utils.generateKeyPairSync('ed25519', {comment})
  const publicKey = pair.public.trim()
  return {privateKey: pair.private.endsWith('\n') ? pair.private : `${pair.private}\n`, publicKey, fingerprint: fingerprintSha256(publicKey)}
}

/**
 * Parses `type base64 [comment]` (an authorized_keys/`.pub` line without options). The blob must
 * decode and name the same type. Throws a `TypeError` naming what is wrong (never echoing the line).
 */
export function parsePublicKey(line: string): PublicKey {
  const fields = line.trim().split(/\s+/)
  const [type, data] = fields
  if (fields.length < 2 || type === undefined || data === undefined) {
    throw new TypeError('not an OpenSSH public key line: expected "TYPE BASE64 [COMMENT]"')
  }
  if (!/^[a-z0-9][\w@.-]*$/i.test(type)) throw new TypeError(`not an OpenSSH public key type: ${JSON.stringify(type.slice(0, 40))}`)
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data)) throw new TypeError(`the ${type} key is not valid base64`)
  const blob = Buffer.from(data, 'base64')
  const embedded = readSshString(blob)
  if (embedded !== type) throw new TypeError(`the key data is not a ${type} key`)
  const comment = fields.slice(2).join(' ')
  return comment === '' ? {type, blob} : {type, blob, comment}
}

/** The `type base64` line of a raw key blob as sent in the SSH handshake. */
export function publicKeyLineFromBlob(blob: Buffer): string {
  const type = readSshString(blob)
  if (type === undefined) throw new TypeError('not an SSH public key blob')
  return `${type} ${blob.toString('base64')}`
}

/**
 * OpenSSH's fingerprint: `SHA256:` + unpadded base64 of SHA-256 over the key blob.
 * Takes a public key line or a raw blob.
 */
export function fingerprintSha256(key: string | Buffer): string {
  const blob = typeof key === 'string' ? parsePublicKey(key).blob : key
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

/** Whether two public key lines (or blobs) are the same key; comments are ignored. */
export function sameKey(a: string | Buffer, b: string | Buffer): boolean {
  const blobA = typeof a === 'string' ? parsePublicKey(a).blob : a
  const blobB = typeof b === 'string' ? parsePublicKey(b).blob : b
  return blobA.equals(blobB)
}

/**
 * The cloud-config keys that make a VM use anycloud's ed25519 host key: `ssh_deletekeys: true`
 * removes any image-baked or generated host keys, `ssh_genkeytypes: []` generates none, and
 * `ssh_keys` installs ours, so sshd only ever presents the pinned key. Returns YAML lines to merge
 * into the top level of a `#cloud-config` document (no header). Contains the private key: the
 * result is a secret.
 */
export function renderCloudInitHostKeys(pair: Pick<HostKeyPair, 'privateKey' | 'publicKey'>): string {
  const pub = parsePublicKey(pair.publicKey)
  if (pub.type !== 'ssh-ed25519') throw new TypeError(`the host key must be ssh-ed25519, not ${pub.type}`)
  const privateLines = pair.privateKey.replaceAll('\r\n', '\n').trim().split('\n')
  if (privateLines[0] !== '-----BEGIN OPENSSH PRIVATE KEY-----' || privateLines.at(-1) !== '-----END OPENSSH PRIVATE KEY-----') {
    throw new TypeError('the host private key must be in OpenSSH format')
  }
  if (privateLines.some((line) => !/^[-A-Za-z0-9+/= ]*$/.test(line))) {
    throw new TypeError('the host private key contains unexpected characters')
  }
  return [
    'ssh_deletekeys: true',
    'ssh_genkeytypes: []',
    'ssh_keys:',
    '  ed25519_private: |',
    ...privateLines.map((line) => `    ${line}`),
    `  ed25519_public: ${JSON.stringify(publicKeyLineFromBlob(pub.blob))}`,
    '',
  ].join('\n')
}

function readSshString(buffer: Buffer): string | undefined {
  if (buffer.length < 4) return undefined
  const length = buffer.readUInt32BE(0)
  if (length === 0 || length > 64 || 4 + length > buffer.length) return undefined
  return buffer.subarray(4, 4 + length).toString('latin1')
}
