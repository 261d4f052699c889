import assert from 'node:assert/strict'
import {gzipSync} from 'node:zlib'
import {generateHostKeyPair, renderCloudInitHostKeys} from '../../src/remote/host-keys.js'
import {decodeUserData, parseCloudInit} from '../helpers/fake-aws/index.js'

describe('fake EC2: reading cloud-init user data', () => {
  const host = generateHostKeyPair()
  const config = [
    '#cloud-config',
    renderCloudInitHostKeys(host),
    'ssh_authorized_keys:',
    '  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA0000000000000000000000000000000000000000 top',
    'users:',
    '  - default',
    '  - name: anycloud',
    '    sudo: ALL=(ALL) NOPASSWD:ALL',
    '    ssh_authorized_keys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA1111111111111111111111111111111111111111 user]',
    '',
  ].join('\n')

  it('finds the ed25519 host key, the authorized keys and the users of a #cloud-config', () => {
    const s = parseCloudInit(config)
    assert.equal(s.format, 'cloud-config')
    assert.equal(s.hostKeys.ed25519?.privateKey.trim(), host.privateKey.trim())
    assert.equal(s.hostKeys.ed25519?.publicKey, host.publicKey.split(' ').slice(0, 2).join(' '))
    assert.equal(s.authorizedKeys.length, 1)
    assert.deepEqual(
      s.users.map((u) => [u.name, u.authorizedKeys.length]),
      [
        ['ubuntu', 1],
        ['anycloud', 1],
      ],
    )
    assert.equal(s.config.ssh_deletekeys, true)
  })

  it('reads MIME multipart (base64 parts) and gzip, and keeps shell scripts', () => {
    const mime = [
      'Content-Type: multipart/mixed; boundary="==BOUNDARY=="',
      'MIME-Version: 1.0',
      '',
      '--==BOUNDARY==',
      'Content-Type: text/cloud-config; charset="us-ascii"',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from(config).toString('base64'),
      '--==BOUNDARY==',
      'Content-Type: text/x-shellscript',
      '',
      '#!/bin/bash\necho hi',
      '--==BOUNDARY==--',
      '',
    ].join('\n')
    const decoded = decodeUserData(gzipSync(Buffer.from(mime)).toString('base64'))
    assert.equal(decoded, mime)
    const s = parseCloudInit(decoded!)
    assert.equal(s.format, 'multipart')
    assert.equal(s.hostKeys.ed25519?.privateKey.trim(), host.privateKey.trim())
    assert.deepEqual(s.scripts, ['#!/bin/bash\necho hi'])
  })

  it('treats empty and script-only user data as having no keys; rejects non-base64', () => {
    assert.equal(parseCloudInit('').format, 'empty')
    const script = parseCloudInit('#!/bin/sh\ntrue\n')
    assert.deepEqual([script.format, Object.keys(script.hostKeys).length, script.authorizedKeys.length], ['script', 0, 0])
    assert.deepEqual(script.users, [{name: 'ubuntu', authorizedKeys: []}], "the image's default user, without keys")
    assert.equal(decodeUserData('%%%'), undefined)
  })
})
