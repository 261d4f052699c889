/**
 * Host-key rotation of a cloud VM (EC2, Compute Engine, Azure). The VM's first host key comes
 * through user data / custom data, where anyone allowed to read the instance's attributes can read
 * its private half. So after the first verified connection (pinned to that key) the VM makes a
 * fresh key of its own and anycloud pins that one instead, in two steps that never lock us out:
 *
 * 1. `rotate` (over a connection verified with the user-data key): the VM generates an ECDSA
 *    P-256 key (`anycloud_host_ecdsa_key` next to the user-data key) unless it has one, sshd
 *    serves both keys (two types, so each can be asked for), and the new public half is read
 *    back over the verified channel. The caller records it in state (the vm record's `hostKey`,
 *    `hostKeyRotatedAt`). Run again before that is recorded, it finds the same key.
 * 2. `retire` (over a connection verified with the new key, once state pins it): the user-data
 *    key leaves sshd's configuration and its private key file is deleted. From then on the host
 *    can no longer be impersonated with the user-data key.
 *
 * A crash between the steps leaves sshd serving both keys, and state naming one of them: the next
 * run connects with whichever state names and carries on from there.
 *
 * The scripts read sshd's configuration at /etc/ssh/sshd_config (its `HostKey` lines, else the
 * default key files), check it with `sshd -t` before reloading, and reload with SIGHUP to the pid
 * in `PidFile` (default /run/sshd.pid), else `systemctl reload`. Sessions already open survive.
 */
import {AnycloudError} from '../errors/index.js'
import type {CommandRunner} from '../remote/command-runner.js'
import {fingerprintSha256, parsePublicKey, publicKeyLineFromBlob, sameKey} from '../remote/host-keys.js'
import {shellQuote} from '../remote/shell.js'

/** What a rotation adds to the vm record's outputs. */
export interface RotatedHostKey {
  /** The VM's own key: what every later connection pins. */
  hostKey: string
  hostKeyFingerprint: string
  hostKeyRotatedAt: string
  /** The user-data key it replaces (public half), which step 2 removes from sshd. Never pinned again. */
  userDataHostKey: string
}

const COMMON = String.raw`
set -eu
conf=/etc/ssh/sshd_config
sshd_bin=$(command -v sshd 2>/dev/null || echo /usr/sbin/sshd)
[ -f "$conf" ] || { echo "no sshd configuration at $conf" >&2; exit 3; }
hostkeys() {
  awk 'tolower($1)=="hostkey"{print $2}' "$conf"
}
# The key file among sshd's host keys (and the default ones) whose public half is $1.
keyfile_of() {
  for k in $(hostkeys) /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ecdsa_key /etc/ssh/ssh_host_rsa_key; do
    [ -f "$k" ] || continue
    pub=$(ssh-keygen -y -f "$k" 2>/dev/null | awk '{print $1" "$2}') || continue
    if [ "$pub" = "$1" ]; then echo "$k"; return 0; fi
  done
  return 1
}
# Writes the configuration from stdin, after sshd accepts it, keeping the file's mode and owner.
replace_conf() {
  tmp="$conf.anycloud-tmp"
  cp -p "$conf" "$tmp"
  cat > "$tmp"
  if ! "$sshd_bin" -t -f "$tmp" >&2; then rm -f "$tmp"; echo "sshd refused the new configuration" >&2; exit 4; fi
  mv -f "$tmp" "$conf"
}
reload_sshd() {
  pidfile=$(awk 'tolower($1)=="pidfile"{p=$2} END{print p}' "$conf")
  [ -n "$pidfile" ] || pidfile=/run/sshd.pid
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill -HUP "$(cat "$pidfile")"
  elif command -v systemctl >/dev/null 2>&1; then
    systemctl reload ssh 2>/dev/null || systemctl reload sshd
  else
    echo "cannot tell which sshd to reload (no $pidfile, no systemctl)" >&2; exit 5
  fi
}
`

/** Step 1: make (or find) the VM's own key and have sshd serve it next to `userDataKey`. */
export function rotateScript(userDataKey: string): string {
  return `${COMMON}
old=$(keyfile_of ${shellQuote(keyLine(userDataKey))}) || { echo "sshd serves no key file with the user-data key" >&2; exit 6; }
new="$(dirname "$old")/anycloud_host_ecdsa_key"
if [ ! -s "$new" ] || [ ! -s "$new.pub" ]; then
  rm -f "$new" "$new.pub"
  ssh-keygen -q -t ecdsa -b 256 -N '' -C anycloud-host-key -f "$new" >/dev/null
fi
if ! hostkeys | grep -qxF "$new"; then
  # HostKey lines go first (before any Match block); once there is one, sshd serves only those listed.
  { if [ -z "$(hostkeys)" ]; then echo "HostKey $old"; fi; echo "HostKey $new"; cat "$conf"; } > "$conf.anycloud-new"
  replace_conf < "$conf.anycloud-new"
  rm -f "$conf.anycloud-new"
  reload_sshd
fi
echo "NEWKEY $(awk '{print $1" "$2}' "$new.pub")"
`
}

/** Step 2: sshd stops serving `userDataKey` and its private key file goes; `newKey` must be served. */
export function retireScript(userDataKey: string, newKey: string): string {
  return `${COMMON}
new=$(keyfile_of ${shellQuote(keyLine(newKey))}) || { echo "sshd serves no key file with the pinned key" >&2; exit 6; }
hostkeys | grep -qxF "$new" || { echo "the pinned key $new is not in $conf" >&2; exit 6; }
if old=$(keyfile_of ${shellQuote(keyLine(userDataKey))}); then
  if hostkeys | grep -qxF "$old"; then
    awk -v old="$old" '!(tolower($1)=="hostkey" && $2==old)' "$conf" > "$conf.anycloud-new"
    replace_conf < "$conf.anycloud-new"
    rm -f "$conf.anycloud-new"
    reload_sshd
  fi
  rm -f "$old" "$old.pub"
  echo RETIRED
else
  echo ALREADY
fi
`
}

function keyLine(key: string): string {
  return publicKeyLineFromBlob(parsePublicKey(key).blob)
}

function failure(runner: CommandRunner, what: string, r: {exitCode: number | null; stderr: string; stdout: string}): AnycloudError {
  const detail = (r.stderr || r.stdout).trim().split('\n').slice(-3).join('; ') || `exit ${r.exitCode}`
  return new AnycloudError(`could not ${what} on ${runner.description}: ${detail}`, {
    code: 'vm.host-key-rotation',
    source: 'cloud',
    suggestions: ['The VM keeps serving the key state pins, so nothing is locked out; re-run `anycloud apply` to finish the rotation.'],
  })
}

/**
 * Step 1 over a connection verified with `userDataKey`: the VM's new public key, to be pinned; or
 * why this VM cannot rotate (its sshd is not configured from /etc/ssh, or not with that key).
 */
export async function rotateHostKey(runner: CommandRunner, userDataKey: string, signal?: AbortSignal): Promise<RotatedHostKey | {skipped: string}> {
  const r = await runner.run('bash -s', {stdin: rotateScript(userDataKey), timeoutMs: 60_000, idempotent: true, signal})
  if (r.exitCode === 3 || r.exitCode === 6) return {skipped: r.stderr.trim().split('\n').at(-1) ?? `exit ${r.exitCode}`}
  const line = /^NEWKEY (.+)$/m.exec(r.stdout)?.[1]
  if (r.exitCode !== 0 || !line) throw failure(runner, 'rotate the host key', r)
  const key = parsePublicKey(line)
  if (key.type !== 'ecdsa-sha2-nistp256' || sameKey(key.blob, userDataKey)) throw failure(runner, 'rotate the host key', {exitCode: r.exitCode, stderr: `unexpected new key (${key.type})`, stdout: ''})
  const hostKey = publicKeyLineFromBlob(key.blob)
  return {hostKey, hostKeyFingerprint: fingerprintSha256(hostKey), hostKeyRotatedAt: new Date().toISOString(), userDataHostKey: keyLine(userDataKey)}
}

/** Step 2 over a connection verified with `newKey`: whether the user-data key was removed just now. */
export async function retireUserDataKey(runner: CommandRunner, userDataKey: string, newKey: string, signal?: AbortSignal): Promise<boolean> {
  const r = await runner.run('bash -s', {stdin: retireScript(userDataKey, newKey), timeoutMs: 60_000, idempotent: true, signal})
  if (r.exitCode !== 0 || !/^(RETIRED|ALREADY)$/m.test(r.stdout)) throw failure(runner, 'remove the user-data host key', r)
  return /^RETIRED$/m.test(r.stdout)
}
