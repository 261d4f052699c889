import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import ssh2 from 'ssh2'
import {parse} from 'yaml'
import {
  fingerprintSha256,
  generateHostKeyPair,
  parsePublicKey,
  publicKeyLineFromBlob,
  renderCloudInitHostKeys,
  sameKey,
} from '../../src/remote/host-keys.js'
import {connectSsh} from '../../src/remote/ssh-runner.js'
import {startSshd} from '../helpers/sshd/index.js'

describe('host keys', () => {
  it('generates ed25519 pairs whose fingerprint matches ssh-keygen -l', async () => {
    const pair = generateHostKeyPair('vm-1')
    assert.match(pair.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+-----END OPENSSH PRIVATE KEY-----\n$/)
    assert.match(pair.publicKey, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\S+ vm-1$/)
    const dir = await mkdtemp(join(tmpdir(), 'anycloud-hostkey-'))
    try {
      await writeFile(join(dir, 'key.pub'), `${pair.publicKey}\n`)
      await writeFile(join(dir, 'key'), pair.privateKey, {mode: 0o600})
      const listed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'key.pub')], {encoding: 'utf8'})
      assert.equal(listed.split(' ')[1], pair.fingerprint)
      // ssh-keygen derives the same public key from the private one: the pair is consistent.
      const derived = execFileSync('ssh-keygen', ['-y', '-f', join(dir, 'key')], {encoding: 'utf8'})
      assert.ok(sameKey(derived.trim(), pair.publicKey))
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
    assert.notEqual(generateHostKeyPair().fingerprint, pair.fingerprint)
  })

  it('every generated key is well-formed (ssh2 drops a leading zero byte in ~1/256 of its own ed25519 keys)', () => {
    for (let i = 0; i < 1_000; i++) {
      const pair = generateHostKeyPair(`k${i}`)
      const blob = parsePublicKey(pair.publicKey).blob
      assert.equal(blob.length, 51, pair.publicKey)
      const parsed = ssh2.utils.parseKey(pair.privateKey)
      assert.ok(!(parsed instanceof Error) && !Array.isArray(parsed), `ssh2 cannot parse key ${i}`)
      assert.ok(parsed.getPublicSSH().equals(blob), `key ${i}: private and public halves differ`)
    }
  })

  it('parses public key lines and refuses malformed ones without echoing them', () => {
    const {publicKey} = generateHostKeyPair('a comment with spaces')
    const parsed = parsePublicKey(`  ${publicKey}  `)
    assert.equal(parsed.type, 'ssh-ed25519')
    assert.equal(parsed.comment, 'a comment with spaces')
    assert.equal(publicKeyLineFromBlob(parsed.blob), publicKey.split(' ').slice(0, 2).join(' '))
    assert.equal(fingerprintSha256(parsed.blob), fingerprintSha256(publicKey))
    assert.match(fingerprintSha256(publicKey), /^SHA256:[A-Za-z0-9+/]{43}$/)
    const [, data] = publicKey.split(' ')
    for (const bad of ['', 'ssh-ed25519', `ssh-rsa ${data}`, 'ssh-ed25519 !!!!', 'ssh-ed25519 AAAA', `ssh-ed25519 ${data}x`]) {
      assert.throws(() => parsePublicKey(bad), TypeError, bad)
    }
    assert.ok(sameKey(publicKey, `${publicKey.split(' ').slice(0, 2).join(' ')} other-comment`))
    assert.ok(!sameKey(publicKey, generateHostKeyPair().publicKey))
  })

  it('renders cloud-init keys that install exactly this host key', () => {
    const pair = generateHostKeyPair('anycloud vm: "quoted" # not a comment')
    const snippet = renderCloudInitHostKeys(pair)
    const parsed = parse(`#cloud-config\n${snippet}`) as Record<string, unknown>
    assert.deepEqual(Object.keys(parsed).sort(), ['ssh_deletekeys', 'ssh_genkeytypes', 'ssh_keys'])
    assert.equal(parsed.ssh_deletekeys, true)
    assert.deepEqual(parsed.ssh_genkeytypes, [])
    const keys = parsed.ssh_keys as Record<string, string>
    assert.equal(keys.ed25519_private, pair.privateKey)
    assert.ok(sameKey(keys.ed25519_public!, pair.publicKey))
    assert.equal(renderCloudInitHostKeys(pair), snippet, 'pure: same input, same text')
    assert.throws(() => renderCloudInitHostKeys({...pair, privateKey: 'not a key'}), TypeError)
  })

  it('a rendered host key serves a real sshd, and a client pinned to it connects', async () => {
    const pair = generateHostKeyPair('from-cloud-init')
    const keys = (parse(renderCloudInitHostKeys(pair)) as {ssh_keys: {ed25519_private: string; ed25519_public: string}}).ssh_keys
    const rig = await startSshd({hostKey: {privateKey: keys.ed25519_private, publicKey: keys.ed25519_public, fingerprint: pair.fingerprint}})
    try {
      const runner = await connectSsh({
        host: rig.host,
        port: rig.port,
        user: rig.user,
        privateKey: rig.privateKey,
        hostKey: {kind: 'pinned', keys: [pair.publicKey]},
      })
      assert.equal((await runner.run('echo pinned')).stdout, 'pinned\n')
      assert.ok(sameKey(runner.hostKey, pair.publicKey))
      await runner.close()
    } finally {
      await rig.stop()
    }
  })
})
