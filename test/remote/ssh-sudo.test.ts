import assert from 'node:assert/strict'

import {connectSsh} from '../../src/remote/ssh-runner.js'
import {startVm, type Vm} from '../bootstrap/helpers.js'
import {ensureSudoUser} from '../helpers/sshd/sudo-user.js'

/**
 * Escalation on a real host with the real `sudo`: a non-root login (a cloud image's `ubuntu`,
 * passwordless sudo) runs privileged work through `sudo -n`; a uid-0 login runs it directly. The
 * runner decides from `id -u` on the host, not from the user's name.
 */
describe('SshRunner: escalation decided by id -u, with the real sudo', function () {
  this.timeout(60_000)
  let vm: Vm
  before(async () => {
    ensureSudoUser('ubuntu')
    vm = await startVm()
  })
  after(async () => {
    await vm?.stop()
  })

  const connect = (user: string) => connectSsh({host: vm.sshd.host, port: vm.sshd.port, user, privateKey: vm.sshd.privateKey, hostKey: {kind: 'pinned', keys: [vm.sshd.hostPublicKey]}, waitTimeoutMs: 15_000})

  it('a non-root login escalates with sudo -n: commands, uploads and reads run as root', async () => {
    const runner = await connect('ubuntu')
    try {
      assert.equal(runner.sudo, true)
      const r = await runner.run('id -u; echo "$SUDO_USER"')
      assert.deepEqual(r.stdout.trim().split('\n'), ['0', 'ubuntu'])
      const path = `${vm.prefix}/escalated.txt`
      await runner.upload(path, 'root-owned\n', 0o600)
      const {statSync} = await import('node:fs')
      assert.equal(statSync(path).uid, 0)
      assert.equal((await runner.readFile(path))?.toString(), 'root-owned\n')
    } finally {
      await runner.close()
    }
  })

  it('a uid-0 login runs commands directly (no sudo in the way)', async () => {
    const runner = await connect('root')
    try {
      assert.equal(runner.sudo, false)
      const r = await runner.run('id -u; echo "${SUDO_USER:-none}"')
      assert.deepEqual(r.stdout.trim().split('\n'), ['0', 'none'])
    } finally {
      await runner.close()
    }
  })

  it('an explicit sudo setting is kept as given', async () => {
    const runner = await connectSsh({host: vm.sshd.host, port: vm.sshd.port, user: 'ubuntu', privateKey: vm.sshd.privateKey, hostKey: {kind: 'pinned', keys: [vm.sshd.hostPublicKey]}, waitTimeoutMs: 15_000, sudo: false})
    try {
      assert.equal(runner.sudo, false)
      assert.equal((await runner.run('id -u')).stdout.trim(), String(Number((await import('node:child_process')).execFileSync('id', ['-u', 'ubuntu']).toString().trim())))
    } finally {
      await runner.close()
    }
  })
})
