import type {UploadOptions} from './command-runner.js'

/**
 * Shell command lines shared by the SSH and local runners. Everything here is a pure function of
 * its arguments so the exact text sent to a machine can be tested. No function here ever takes
 * file content or stdin: secrets travel over stdin only.
 */

/** Quotes `value` as one POSIX shell word (single quotes; `'` becomes `'\''`). */
export function shellQuote(value: string): string {
  if (value === '') return "''"
  if (/^[\w@%+=:,./-]+$/.test(value)) return value
  return `'${value.replaceAll("'", `'\\''`)}'`
}

/** Octal text of a file mode, e.g. `0o600` → `0600`. Rejects anything that is not a permission mode. */
export function modeString(mode: number): string {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new RangeError(`not a file mode: ${mode}`)
  return mode.toString(8).padStart(4, '0')
}

/** How a composed line escalates: `sudo -n` (never prompts) when the runner is not root. */
export interface PrivilegeOptions {
  sudo: boolean
}

/**
 * Runs the user's command in a child `bash -c` and, on SIGTERM/SIGINT/SIGHUP (what a timeout or an
 * abort sends), stops the whole process group: TERM, up to 3 s grace, then KILL. Without this, a
 * signal to the session's shell would leave its children running.
 * `<&0` keeps stdin: bash gives background jobs /dev/null otherwise.
 */
const RUN_WRAPPER = [
  'c=',
  'stop() { trap "" TERM INT HUP; kill -TERM 0 2>/dev/null; n=0',
  '  while [ -n "$c" ] && kill -0 "$c" 2>/dev/null && [ "$n" -lt 30 ]; do sleep 0.1; n=$((n+1)); done',
  '  kill -KILL 0 2>/dev/null; exit 143; }',
  'trap stop TERM INT HUP',
  'bash --norc -c "$1" bash <&0 &',
  'c=$!',
  'wait "$c"',
].join('\n')

/**
 * The exec line for `run()`: `exec [sudo -n] bash --norc -c WRAPPER anycloud-run-TOKEN COMMAND`. The
 * command is one quoted argument, so the remote login shell never interprets it. `token` (random,
 * not secret) names the run so {@link composeStop} can find it.
 */
export function composeRun(command: string, token: string, privilege: PrivilegeOptions): string {
  return composeScript(RUN_WRAPPER, `anycloud-run-${checkToken(token)}`, [command], privilege)
}

/**
 * Finds the process whose argv holds `anycloud-run-TOKEN` and sends SIGTERM to its process group
 * (the wrapper then escalates to SIGKILL). The token itself is passed alone, so this script never
 * matches itself. Used on timeout/abort: sshd refuses SSH "signal" requests for root sessions
 * (they have no privilege-separated child), so a second exec is the one way that always works.
 */
const STOP_SCRIPT = [
  'want="anycloud-run-$1"',
  'for p in /proc/[0-9]*; do',
  '  if tr "\\0" "\\n" < "$p/cmdline" 2>/dev/null | grep -qxF -- "$want"; then',
  '    s=$(cat "$p/stat" 2>/dev/null) || continue',
  '    s=${s##*) }; set -- $s',
  '    kill -TERM -- "-$3" 2>/dev/null || kill -TERM "${p#/proc/}" 2>/dev/null || true',
  '  fi',
  'done',
].join('\n')

/** The exec line that stops the run started with `token` (see {@link composeRun}). */
export function composeStop(token: string, privilege: PrivilegeOptions): string {
  return composeScript(STOP_SCRIPT, 'anycloud-stop', [checkToken(token)], privilege)
}

/**
 * Atomic write, content on stdin: parent directories are made (with the normal umask, so e.g.
 * `/opt/x` stays traversable), then a `mktemp` file (0600 from creation, umask 077) in the same
 * directory is filled, chmod-ed/chown-ed, synced and renamed over the target with `mv -fT` (which
 * replaces a symlink instead of following it and refuses a directory in the way).
 */
const UPLOAD_SCRIPT = [
  'set -eu',
  'p=$1 mode=$2 owner=$3 dirmode=$4',
  'd=$(dirname -- "$p")',
  'if [ -n "$dirmode" ]; then',
  '  if [ ! -d "$d" ]; then mkdir -p -- "$(dirname -- "$d")"; mkdir -m "$dirmode" -- "$d" 2>/dev/null || [ -d "$d" ]; fi',
  '  chmod "$dirmode" -- "$d"',
  '  if [ -n "$owner" ]; then chown -- "$owner" "$d"; fi',
  'else mkdir -p -- "$d"; fi',
  'umask 077',
  'tmp=$(mktemp -- "$d/.anycloud-upload.XXXXXXXX")',
  'trap \'rm -f -- "$tmp"\' EXIT',
  'cat > "$tmp"',
  'chmod "$mode" -- "$tmp"',
  'if [ -n "$owner" ]; then chown -- "$owner" "$tmp"; fi',
  'sync -- "$tmp" 2>/dev/null || true',
  'mv -fT -- "$tmp" "$p"',
  'trap - EXIT',
].join('\n')

/** The exec line for `upload()`; the content goes to its stdin. */
export function composeUpload(
  path: string,
  mode: number,
  options: UploadOptions | undefined,
  privilege: PrivilegeOptions,
): string {
  checkPath(path)
  const owner = options?.owner ?? ''
  if (owner !== '' && !/^[a-z_][\w.-]*(:[a-z_][\w.-]*)?$/i.test(owner) && !/^\d+(:\d+)?$/.test(owner)) {
    throw new RangeError(`not a user or user:group: ${owner}`)
  }
  const dirMode = options?.dirMode === undefined ? '' : modeString(options.dirMode)
  return composeScript(UPLOAD_SCRIPT, 'anycloud-upload', [path, modeString(mode), owner, dirMode], privilege)
}

/** Exit status `readFile` uses for "no such file" (anything else non-zero is an error). */
export const READ_FILE_MISSING = 44

const READ_FILE_SCRIPT = `[ -e "$1" ] || [ -L "$1" ] || exit ${READ_FILE_MISSING}\nexec cat -- "$1"`

/** The exec line for `readFile()`: the file's bytes on stdout, or exit {@link READ_FILE_MISSING}. */
export function composeReadFile(path: string, privilege: PrivilegeOptions): string {
  checkPath(path)
  return composeScript(READ_FILE_SCRIPT, 'anycloud-read', [path], privilege)
}

/**
 * `exec [sudo -n] bash --norc -c SCRIPT NAME ARGS…`. The login shell sshd starts has already read
 * the user's startup files (and exported their environment); `--norc` stops this bash, which bash
 * would otherwise treat as "run by sshd" too, from reading `~/.bashrc` a second time.
 */
function composeScript(script: string, name: string, args: string[], privilege: PrivilegeOptions): string {
  const prefix = privilege.sudo ? 'exec sudo -n bash --norc -c' : 'exec bash --norc -c'
  return [prefix, shellQuote(script), name, ...args.map(shellQuote)].join(' ')
}

function checkToken(token: string): string {
  if (!/^[a-z0-9]{8,64}$/.test(token)) throw new RangeError('a run token is 8-64 lowercase letters and digits')
  return token
}

function checkPath(path: string): void {
  if (path === '' || path.includes('\0')) throw new RangeError('a remote path must be non-empty and contain no NUL')
}
