import {createHash, generateKeyPairSync, randomBytes} from 'node:crypto'

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

/**
 * Generates a fresh ed25519 key pair (node:crypto) in OpenSSH formats. Used for VM host keys and
 * for test client keys. (ssh2's `generateKeyPairSync('ed25519')` is not used: it drops a leading
 * zero byte of the public key, about one key in 256, and sshd then rejects the key.)
 */
export function generateHostKeyPair(comment = 'anycloud-host-key'): HostKeyPair {
  if (/[\r\n]/.test(comment)) throw new RangeError('a key comment must be one line')
  const {publicKey, privateKey} = generateKeyPairSync('ed25519')
  // Raw keys are the last 32 bytes of the DER encodings (SPKI and PKCS#8 prefixes are fixed for ed25519).
  const pub = publicKey.export({format: 'der', type: 'spki'}).subarray(-32)
  const seed = privateKey.export({format: 'der', type: 'pkcs8'}).subarray(-32)
  const type = 'ssh-ed25519'
  const blob = Buffer.concat([sshString(type), sshString(pub)])
  const check = randomBytes(4)
  const secret = Buffer.concat([check, check, sshString(type), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)])
  const padding = Buffer.from(Array.from({length: (8 - (secret.length % 8)) % 8}, (_, i) => i + 1))
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    uint32(1),
    sshString(blob),
    sshString(Buffer.concat([secret, padding])),
  ])
  const lines = body.toString('base64').match(/.{1,70}/g) ?? []
  const publicLine = `${type} ${blob.toString('base64')}${comment ? ` ${comment}` : ''}`
  return {
    privateKey: ['-----BEGIN OPENSSH PRIVATE KEY-----', ...lines, '-----END OPENSSH PRIVATE KEY-----', ''].join('\n'),
    publicKey: publicLine,
    fingerprint: fingerprintSha256(blob),
  }
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
  if (blob.toString('base64') !== data) throw new TypeError(`the ${type} key is not canonical base64`)
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

function sshString(value: string | Buffer): Buffer {
  const data = typeof value === 'string' ? Buffer.from(value, 'utf8') : value
  return Buffer.concat([uint32(data.length), data])
}

function uint32(value: number): Buffer {
  const buffer = Buffer.alloc(4)
  buffer.writeUInt32BE(value)
  return buffer
}

function readSshString(buffer: Buffer): string | undefined {
  if (buffer.length < 4) return undefined
  const length = buffer.readUInt32BE(0)
  if (length === 0 || length > 64 || 4 + length > buffer.length) return undefined
  return buffer.subarray(4, 4 + length).toString('latin1')
}
