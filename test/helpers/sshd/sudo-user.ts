import {execFileSync} from 'node:child_process'
import {existsSync, writeFileSync, chmodSync, renameSync} from 'node:fs'

/**
 * A non-root login like a cloud image's (`ubuntu`, passwordless sudo), so the escalation path
 * (`sudo -n`, decided by `id -u`) runs for real. Adds the user when absent and a 0440
 * `/etc/sudoers.d/` entry; both stay (idempotent, shared by every test on this machine).
 * Needs root and the `sudo` package (.ci/run installs it).
 */
export function ensureSudoUser(name = 'ubuntu'): string {
  if (process.getuid?.() !== 0) throw new Error('ensureSudoUser needs root (the test rig adds a user)')
  if (!existsSync('/usr/bin/sudo')) throw new Error('sudo is not installed: apt-get install -y sudo (see .ci/run)')
  try {
    execFileSync('id', ['-u', name], {stdio: 'ignore'})
  } catch {
    execFileSync('useradd', ['-m', '-s', '/bin/bash', name], {stdio: 'ignore'})
  }
  // useradd leaves the password `!` (locked), and sshd without PAM refuses locked accounts even
  // for key logins; `*` is "no password", as on cloud images.
  execFileSync('usermod', ['-p', '*', name], {stdio: 'ignore'})
  const entry = `/etc/sudoers.d/anycloud-test-${name}`
  if (!existsSync(entry)) {
    const tmp = `${entry}.tmp`
    writeFileSync(tmp, `${name} ALL=(ALL) NOPASSWD:ALL\n`, {mode: 0o440})
    chmodSync(tmp, 0o440)
    execFileSync('visudo', ['-cf', tmp], {stdio: 'ignore'})
    renameSync(tmp, entry)
  }
  return name
}
