import {shellQuote} from '../remote/shell.js'
import {hashOf, sensitiveMarker, sha256} from '../util/hash.js'
import {NOTICE_PROGRAM, noticeConfig} from './notice.js'
import type {RclonePin} from './rclone-release.js'
import type {BootstrapSpec, BucketMount} from './types.js'
import {supervisorCommand, supervisorStatesCommand} from './supervisor-rpc.js'

/** One file the bootstrap writes on the machine. */
export interface RenderedFile {
  path: string
  mode: number
  content: string
  /** The content with secret values replaced by markers: what the hash covers. */
  publicContent: string
}

export interface RenderedBootstrap {
  /** The machine's files, then the workload's (see {@link RenderedBootstrap.workload}). */
  files: RenderedFile[]
  /**
   * Hash of the public rendering of the machine's files (not the workload's: a changed command or
   * env re-runs the workload only). Equal inputs give equal hashes; a changed secret changes it
   * via its marker.
   */
  hash: string
  /** The one-shot, idempotent script (check, then act, per step). Contains secrets: send over stdin only. */
  script: string
  paths: MachinePaths
  /**
   * The workload's files (run script, 0600 env file). The bootstrap script writes them too, so a
   * machine is ready to start its workload after it; pass this to `startWorkload` so a changed
   * workload is written when (and only when) the workload is replaced.
   */
  workload: RenderedWorkload
  /** The rclone release the script installs when the machine's rclone is too old (with a minimum only). */
  rclonePin?: RclonePin
}

/** The files of a deployment's workload: `run-workload.sh` and the 0600 `workload.env`. */
export interface RenderedWorkload {
  files: RenderedFile[]
  /** Hash of their public rendering (sensitive env values as markers). */
  hash: string
}

export interface MachinePaths {
  etc: string
  lib: string
  log: string
  supervisordConf: string
  supervisorSocket: string
  supervisorPid: string
  programConf: string
  rcloneEnv: string
  workloadEnv: string
  runWorkload: string
  syncScript: string
  /** The interruption-notice watcher and its config (spot machines on clouds with a notice). */
  noticeScript: string
  noticeConfig: string
  mounts: {input: string; output: string; checkpoint: string}
  /** supervisorctl names (`group:program`). */
  programs: {output: string; checkpoint: string; workload: string; notice: string}
  /**
   * What every program name of this deployment starts with (`<deploymentId>-`): supervisord merges
   * `[program:X]` sections of the same name across the included conf.d files (the file read last
   * wins), so names must be unique per deployment or two deployments on one machine would run
   * each other's scripts.
   */
  programPrefix: string
  /** supervisord group of the upload programs. */
  group: string
  /**
   * supervisord group of the workload, apart from the uploads: `supervisorctl update` restarts a
   * group whose configuration changed, and a changed upload program must never stop the workload.
   */
  workloadGroup: string
  container: string
}

export function machinePaths(spec: Pick<BootstrapSpec, 'deploymentId' | 'roots' | 'mountRoot'>): MachinePaths {
  const id = spec.deploymentId
  const etc = `${spec.roots.etc}/${id}`
  const group = `anycloud-${id}`
  const program = (name: string) => `${id}-${name}`
  return {
    etc,
    lib: `${spec.roots.lib}/${id}`,
    log: `${spec.roots.log}/${id}`,
    supervisordConf: `${spec.roots.etc}/supervisord.conf`,
    supervisorSocket: `${spec.roots.lib}/supervisor.sock`,
    supervisorPid: `${spec.roots.lib}/supervisord.pid`,
    programConf: `${spec.roots.etc}/conf.d/${id}.conf`,
    rcloneEnv: `${etc}/rclone.env`,
    workloadEnv: `${etc}/workload.env`,
    runWorkload: `${etc}/run-workload.sh`,
    syncScript: `${etc}/sync.sh`,
    noticeScript: `${etc}/notice-watch.py`,
    noticeConfig: `${etc}/notice.json`,
    mounts: {input: `${spec.mountRoot}/input`, output: `${spec.mountRoot}/output`, checkpoint: `${spec.mountRoot}/checkpoint`},
    programs: {output: `${group}:${program('rclone-output')}`, checkpoint: `${group}:${program('rclone-checkpoint')}`, workload: `${group}-workload:${program('workload')}`, notice: `${group}:${program('notice')}`},
    programPrefix: program(''),
    group,
    workloadGroup: `${group}-workload`,
    container: group,
  }
}

/** The pinned release a spec with a minimum rclone installs. */
function pinOf(spec: BootstrapSpec): RclonePin | undefined {
  if (!spec.rcloneMinVersion) return undefined
  if (!spec.rclonePin) throw new Error(`bootstrap spec for ${spec.deploymentId} names rclone ${spec.rcloneMinVersion} but no rclone pin to install`)
  return spec.rclonePin
}

/** The rclone command of the deployment's scripts: anycloud's own binary when the storage needs a minimum version. */
function rcloneCommand(spec: BootstrapSpec): string {
  const pin = pinOf(spec)
  return pin ? shellQuote(pin.binary) : 'rclone'
}

const RCLONE_SYNC_FLAGS = '--fast-list --no-update-modtime --modify-window 1s --verbose'

function envLine(key: string, value: string): string {
  if (/[\n\r\0]/.test(value)) throw new Error(`environment value of ${key} contains a newline, which env files cannot carry`)
  return `${key}=${value}`
}

/** A line of a file that bash sources (`set -a; . file`): the value shell-quoted (`&`, spaces, quotes survive). */
function sourcedLine(key: string, value: string): string {
  if (/[\n\r\0]/.test(value)) throw new Error(`value of ${key} contains a newline`)
  return `${key}=${shellQuote(value)}`
}

/** `RCLONE_CONFIG_<REMOTE>_<OPTION>` lines; secret values from `secrets` (keyed by remote). */
function rcloneEnv(buckets: BucketMount[], secrets: Record<string, Record<string, string>>, publicOnly: boolean, lineage: string): string {
  // An empty RCLONE_CONFIG keeps rclone's config in memory: everything comes from these variables.
  const lines = ['# rclone remotes for anycloud (mode 0600). Written by anycloud; do not edit.', 'RCLONE_CONFIG=']
  const seen = new Set<string>()
  for (const b of buckets) {
    if (seen.has(b.remote)) continue
    seen.add(b.remote)
    const prefix = `RCLONE_CONFIG_${b.remote}_`
    lines.push(sourcedLine(`${prefix}TYPE`, b.spec.type))
    for (const [k, v] of Object.entries(b.spec.options).sort()) lines.push(sourcedLine(prefix + k.toUpperCase(), v))
    for (const k of [...b.spec.secretOptions].sort()) {
      const v = secrets[b.remote]?.[k] ?? ''
      lines.push(sourcedLine(prefix + k.toUpperCase(), publicOnly ? (b.spec.secretsFingerprint ? sensitiveMarker(b.spec.secretsFingerprint, lineage) : '(sensitive):') : v))
    }
  }
  return lines.join('\n') + '\n'
}

function commandWords(command: string[] | string | undefined): string[] {
  if (command === undefined) return []
  return typeof command === 'string' ? ['sh', '-c', command] : command
}


/** The roles that upload (periodically and once more at the end), in a fixed order. */
const UPLOAD_ROLES = ['output', 'checkpoint'] as const

function byRoleOf(spec: BootstrapSpec): Partial<Record<'input' | 'output' | 'checkpoint', BucketMount>> {
  return Object.fromEntries(spec.buckets.map((b) => [b.role, b])) as Partial<Record<'input' | 'output' | 'checkpoint', BucketMount>>
}

/**
 * The workload's files: its run script and its 0600 env file. They depend on the workload only
 * (command, image, env, GPUs, shm) and on fixed paths, never on the buckets: the final upload
 * goes through `sync.sh all`, which knows the deployment's buckets.
 */
export function renderWorkload(spec: BootstrapSpec): RenderedWorkload {
  const p = machinePaths(spec)
  const files: RenderedFile[] = []
  const add = (path: string, mode: number, content: string, publicContent = content) => files.push({path, mode, content, publicContent})
  const q = shellQuote

  // The mount paths as the workload sees them: the container's /mnt/… under Docker, the machine's for a process.
  const seen = spec.runtime === 'docker' ? {input: '/mnt/input', output: '/mnt/output', checkpoint: '/mnt/checkpoint'} : p.mounts
  const anycloudEnv: Record<string, string> = {
    ANYCLOUD_INPUT: seen.input, ANYCLOUD_OUTPUT: seen.output, ANYCLOUD_CHECKPOINT: seen.checkpoint, ANYCLOUD_DEPLOYMENT_ID: spec.deploymentId,
  }
  const envEntries = Object.entries({...spec.env, ...anycloudEnv}).sort(([a], [b]) => a.localeCompare(b))
  add(
    p.workloadEnv, 0o600,
    envEntries.map(([k, v]) => envLine(k, v)).join('\n') + '\n',
    envEntries.map(([k, v]) => envLine(k, spec.sensitiveEnv.includes(k) ? sensitiveMarker(v, spec.lineage) : v)).join('\n') + '\n',
  )

  // The workload: runs once; on exit, a final upload, then the exit code recorded where refresh reads it.
  const words = commandWords(spec.command)
  const log = q(`${p.log}/workload.log`)
  const record = [
    // Stopped on an interruption notice: the notice program does the final upload, and the run
    // records no exit code (the job did not end; the machine is being taken back).
    `if [ -f ${q(p.lib)}/preempted ]; then echo "stopped on an interruption notice" >&2; exit "$code"; fi`,
    `${q(p.syncScript)} all || echo "final upload failed" >&2`,
    `echo "$code" > ${q(p.lib)}/workload.exit.tmp && mv -f ${q(p.lib)}/workload.exit.tmp ${q(p.lib)}/workload.exit`,
    'exit "$code"',
  ]
  let runBody: string[]
  if (spec.runtime === 'docker') {
    const gpus = spec.gpus !== undefined && spec.gpus !== 0 ? ['--gpus', spec.gpus === 'all' ? 'all' : String(spec.gpus)] : []
    const shm = spec.shmSize !== undefined ? ['--shm-size', String(spec.shmSize)] : []
    const mounts = [
      '-v', `${p.mounts.input}:/mnt/input:ro`, '-v', `${p.mounts.output}:/mnt/output`, '-v', `${p.mounts.checkpoint}:/mnt/checkpoint`,
    ]
    const run = ['docker', 'run', '-d', '--name', p.container, '--label', `anycloud-deployment=${spec.deploymentId}`, '--label', 'anycloud-managed=true',
      ...mounts, '--env-file', p.workloadEnv, ...gpus, ...shm, spec.image ?? '', ...words]
    runBody = [
      `if ! docker inspect --format '{{.Id}}' ${q(p.container)} >/dev/null 2>&1; then`,
      `  ${run.map(q).join(' ')} >/dev/null || { code=125; echo "docker run failed" >&2; ${record.join('; ')}; }`,
      'fi',
      // The container's output, as it comes (docker logs -f replays from the start and ends with the container).
      `docker logs -f ${q(p.container)} > ${log} 2>&1 & logger=$!`,
      // On stop (SIGTERM from supervisord), stop the container; the script goes on to the final upload.
      `trap 'docker stop ${q(p.container)} >/dev/null 2>&1' TERM INT`,
      `docker wait ${q(p.container)} > ${q(p.lib)}/workload.code & waiter=$!`,
      'while :; do wait "$waiter"; kill -0 "$waiter" 2>/dev/null || break; done',
      `code=$(cat ${q(p.lib)}/workload.code 2>/dev/null || echo 137); code=\${code:-137}`,
      'for i in $(seq 1 50); do kill -0 "$logger" 2>/dev/null || break; sleep 0.1; done; kill "$logger" 2>/dev/null || true',
    ]
  } else {
    runBody = [
      `while IFS= read -r line; do [ -n "$line" ] && export "$line"; done < ${q(p.workloadEnv)}`,
      `cd ${q(p.mounts.output)}`,
      'set +e',
      `${words.map(q).join(' ')} >> ${log} 2>&1 & child=$!`,
      // On stop (SIGTERM from supervisord), pass it on and go on to the final upload.
      `trap 'stopping=1; kill -TERM "$child" 2>/dev/null' TERM INT`,
      'while :; do wait "$child"; code=$?; kill -0 "$child" 2>/dev/null || break; done',
      // A wait the signal interrupted returns 128+n, not the child's code: a child that exits between
      // that and the check above has its own code collected here (bash keeps it for this wait; 127
      // is an older bash saying the code was collected already).
      'if [ -n "${stopping:-}" ]; then wait "$child"; c=$?; [ "$c" -ne 127 ] && code=$c; fi',
    ]
  }
  add(p.runWorkload, 0o755, [
    '#!/bin/bash',
    `# The workload of ${spec.deploymentId} (${spec.runtime}). Started once by supervisord; never restarted.`,
    'set -uo pipefail',
    `rm -f ${q(p.lib)}/workload.exit ${q(p.lib)}/workload.code`,
    `date -u +%Y-%m-%dT%H:%M:%SZ > ${q(p.lib)}/workload.started`,
    ...runBody,
    ...record,
    '',
  ].join('\n'))
  return {files, hash: hashOf(files.map((f) => [f.path, f.mode, sha256(f.publicContent)]), 16)}
}

/**
 * Renders the files of one deployment's bootstrap and the script that applies them.
 * Pure: the same spec and secrets give the same output.
 */
export function renderBootstrap(spec: BootstrapSpec, secrets: Record<string, Record<string, string>> = {}): RenderedBootstrap {
  const p = machinePaths(spec)
  const files: RenderedFile[] = []
  const add = (path: string, mode: number, content: string, publicContent = content) => files.push({path, mode, content, publicContent})
  const byRole = byRoleOf(spec)
  const uploads = UPLOAD_ROLES.filter((r) => byRole[r])

  // Shared per machine: anycloud's own supervisord (its own socket, so it never touches a distro one).
  add(p.supervisordConf, 0o644, [
    '; anycloud supervisord: one per machine, programs per deployment in conf.d/.',
    '[unix_http_server]', `file=${p.supervisorSocket}`, 'chmod=0700', '',
    '[supervisord]', `logfile=${spec.roots.log}/supervisord.log`, `pidfile=${p.supervisorPid}`, `childlogdir=${spec.roots.log}`, '',
    '[rpcinterface:supervisor]', 'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface', '',
    '[supervisorctl]', `serverurl=unix://${p.supervisorSocket}`, '',
    '[include]', `files = ${spec.roots.etc}/conf.d/*.conf`, '',
  ].join('\n'))

  add(p.rcloneEnv, 0o600, rcloneEnv(spec.buckets, secrets, false, spec.lineage), rcloneEnv(spec.buckets, secrets, true, spec.lineage))

  // sync.sh ROLE|all: one upload of a mount to its bucket (copy, never sync: nothing in the bucket is deleted).
  const syncCases = uploads.map((r) => {
    const b = byRole[r]!
    return `    ${r}) src=${shellQuote(p.mounts[r])}; dst=${shellQuote(`${b.remote}:${b.spec.path}`)} ;;`
  })
  add(p.syncScript, 0o755, [
    '#!/bin/bash',
    '# Uploads /mnt/ROLE to its bucket with rclone copy (never sync) and records the time of the last success.',
    '# `sync.sh all` uploads every bucket of the deployment (the final upload).',
    'set -euo pipefail',
    'upload() {',
    '  local role="$1" src dst',
    '  case "$role" in',
    ...syncCases,
    '    *) echo "sync.sh: unknown role $role" >&2; return 2 ;;',
    '  esac',
    `  ${rcloneCommand(spec)} copy "$src" "$dst" ${RCLONE_SYNC_FLAGS} --log-file=${shellQuote(p.log)}/rclone-"$role".log`,
    `  date -u +%Y-%m-%dT%H:%M:%SZ > ${shellQuote(p.lib)}/last-sync-"$role".tmp && mv -f ${shellQuote(p.lib)}/last-sync-"$role".tmp ${shellQuote(p.lib)}/last-sync-"$role"`,
    '}',
    `set -a; . ${shellQuote(p.rcloneEnv)}; set +a`,
    'if [ "$1" = all ]; then',
    '  rc=0',
    `  for r in ${uploads.join(' ')}; do upload "$r" || { echo "upload of $r failed" >&2; rc=1; }; done`,
    '  exit "$rc"',
    'fi',
    'upload "$1"',
    '',
  ].join('\n'))

  // The interruption-notice watcher (spot machines on a cloud with a notice).
  if (spec.notice) {
    add(p.noticeScript, 0o755, NOTICE_PROGRAM)
    const config = noticeConfig(spec.notice, {supervisordConf: p.supervisordConf, workloadProgram: p.programs.workload, syncScript: p.syncScript, lib: p.lib})
    add(p.noticeConfig, 0o644, JSON.stringify(config, null, 2) + '\n')
  }

  // supervisord programs: the periodic uploads (autostart) in one group, the workload (started
  // explicitly) in its own, so a changed upload program never restarts the workload.
  // Section names carry the deployment (see MachinePaths.programPrefix); status reads strip it again.
  const name = (base: string) => p.programPrefix + base
  const program = (base: string, command: string, extra: string[]) => [`[program:${name(base)}]`, `command=${command}`, ...extra, '']
  const uploadPrograms = uploads.flatMap((r) =>
    program(`rclone-${r}`, `/bin/bash -c "while true; do ${p.syncScript} ${r} && sleep ${spec.syncIntervalSeconds}; done"`, [
      'autostart=true', 'autorestart=true', 'startsecs=5', 'startretries=999', `stdout_logfile=${p.log}/rclone-${r}.out`, 'redirect_stderr=true',
    ]))
  const noticePrograms = spec.notice
    ? program('notice', `/bin/sh -c "exec python3 ${p.noticeScript} ${p.noticeConfig}"`, [
        'autostart=true', 'autorestart=true', 'startsecs=0', 'startretries=999', `stdout_logfile=${p.log}/notice.out`, 'redirect_stderr=true',
      ])
    : []
  const groupMembers = [...uploads.map((r) => `rclone-${r}`), ...(spec.notice ? ['notice'] : [])]
  add(p.programConf, 0o644, [
    `; ${spec.deploymentId}: written by anycloud. Secrets are in ${p.rcloneEnv} and ${p.workloadEnv}, never here.`,
    ...(groupMembers.length > 0 ? [`[group:${p.group}]`, `programs=${groupMembers.map(name).join(',')}`, '', ...uploadPrograms, ...noticePrograms] : []),
    `[group:${p.workloadGroup}]`, `programs=${name('workload')}`, '',
    // On stop the run script passes SIGTERM on; the grace is the notice program's where there is one.
    ...program('workload', p.runWorkload, ['autostart=false', 'autorestart=false', 'startsecs=0', 'startretries=0', `stdout_logfile=${p.log}/workload.out`, 'redirect_stderr=true', `stopwaitsecs=${spec.notice?.graceSeconds ?? 30}`]),
  ].join('\n'))

  const hash = hashOf({
    files: files.map((f) => [f.path, f.mode, sha256(f.publicContent)]), check: spec.storageCheck, runtime: spec.runtime, rclone: spec.rcloneMinVersion ?? null, pin: pinOf(spec) ?? null,
    mounts: spec.buckets.map((b) => [b.role, b.remote, b.spec.path]),
  }, 16)
  const workload = renderWorkload(spec)
  const pin = pinOf(spec)
  return {files: [...files, ...workload.files], hash, script: renderScript(spec, p, [...files, ...workload.files], hash), paths: p, workload, ...(pin ? {rclonePin: pin} : {})}
}

/** A heredoc delimiter that cannot occur in base64. */
const EOF_MARK = 'ANYCLOUD_EOF_7f3a'

/**
 * `put PATH MODE SHA256 <<heredoc` (base64 content): writes a file atomically (0600 temp file,
 * chmod, rename) unless it already has that content and mode; counts changes in `$changed`.
 */
const PUT_FUNCTION = [
  'changed=0',
  'put() {',
  '  local path="$1" mode="$2" want="$3" tmp',
  '  tmp="$path.anycloud.$$"',
  '  ( umask 077; base64 -d > "$tmp" )',
  '  if [ -f "$path" ] && [ ! -L "$path" ] && [ "$(sha256sum < "$path" | cut -d" " -f1)" = "$want" ] && [ "$(stat -c %a "$path")" = "${mode#0}" ]; then rm -f "$tmp"; return 0; fi',
  '  chmod "$mode" "$tmp" && mv -f "$tmp" "$path"',
  '  changed=$((changed + 1))',
  '}',
]

function putFile(f: RenderedFile): string[] {
  const b64 = Buffer.from(f.content).toString('base64').replace(/(.{76})/g, '$1\n')
  return [`put ${shellQuote(f.path)} ${f.mode.toString(8).padStart(4, '0')} ${sha256(f.content)} <<'${EOF_MARK}'`, b64, EOF_MARK]
}

/**
 * The script `startWorkload` runs with `bash -s` (secrets of the env file on stdin only): writes
 * the workload's files when given, then starts the workload unless a run of the same spec is
 * going (adopted). Prints `adopted` or `started`.
 */
export function renderStartScript(paths: MachinePaths, specHash: string, workload?: RenderedWorkload): string {
  const q = shellQuote
  const sctl = `supervisorctl -c ${q(paths.supervisordConf)}`
  const lib = q(paths.lib)
  return [
    'main() {',
    'set -euo pipefail',
    'umask 022',
    ...(workload ? [`mkdir -p ${q(paths.etc)} ${q(paths.lib)} ${q(paths.log)}`, `chmod 0700 ${q(paths.etc)}`, ...PUT_FUNCTION, ...workload.files.flatMap(putFile)] : []),
    `state=$(${supervisorStatesCommand(paths, [paths.programs.workload])} | awk '{print $2}' || true)`,
    `if [ "$state" = RUNNING ] && [ "$(cat ${lib}/workload.spec 2>/dev/null)" = ${q(specHash)} ]; then echo adopted; return 0; fi`,
    `${supervisorCommand(paths, ['stop', paths.programs.workload])} >/dev/null 2>&1 || true`,
    `if command -v docker >/dev/null 2>&1; then docker rm -f ${q(paths.container)} >/dev/null 2>&1 || true; fi`,
    `rm -f ${lib}/workload.exit ${lib}/workload.started`,
    `echo ${q(specHash)} > ${lib}/workload.spec`,
    `${sctl} start ${q(paths.programs.workload)} >/dev/null`,
    'echo started',
    '}',
    'main </dev/null',
    '',
  ].join('\n')
}

function renderScript(spec: BootstrapSpec, p: MachinePaths, files: RenderedFile[], hash: string): string {
  const q = shellQuote
  // With a minimum rclone, no distribution rclone: too old on today's images; the pinned release comes instead.
  const needs = ['supervisor', ...(spec.rcloneMinVersion ? [] : ['rclone']), ...(spec.runtime === 'docker' ? ['docker.io'] : [])]
  const commands: Record<string, string> = {supervisor: 'supervisord', rclone: 'rclone', 'docker.io': 'docker'}
  const out: string[] = [
    '#!/bin/bash',
    `# anycloud bootstrap of ${spec.deploymentId} (${hash}). Every step checks, then acts: re-running is safe.`,
    // Everything is inside main(): bash parses the whole function (heredocs included) before running
    // it with stdin from /dev/null, so no command can swallow the rest of a script sent over stdin.
    'main() {',
    'set -euo pipefail',
    'umask 022',
    'step() { echo "anycloud-step $1 $2"; }',
    'wait_for_apt() {',
    '  if command -v cloud-init >/dev/null 2>&1; then cloud-init status --wait >/dev/null 2>&1 || true; fi',
    '  for i in $(seq 1 120); do',
    '    if command -v fuser >/dev/null 2>&1 && fuser /var/lib/dpkg/lock-frontend /var/lib/apt/lists/lock >/dev/null 2>&1; then sleep 5; else return 0; fi',
    '  done',
    '}',
    // 1. Packages.
    'missing=""',
    ...needs.map((pkg) => `command -v ${commands[pkg]} >/dev/null 2>&1 || missing="$missing ${pkg}"`),
    'if [ -n "$missing" ]; then',
    '  wait_for_apt',
    '  export DEBIAN_FRONTEND=noninteractive',
    '  apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null',
    '  step install "ran:$missing"',
    'else step install skipped; fi',
  ]
  const pin = pinOf(spec)
  if (spec.rcloneMinVersion && pin) out.push(...rcloneInstall(spec.rcloneMinVersion, pin))
  // 2. Directories and files (written only when their content differs; secrets never in argv).
  out.push(
    `mkdir -p ${q(`${spec.roots.etc}/conf.d`)} ${q(p.etc)} ${q(p.lib)} ${q(p.log)} ${q(p.mounts.input)} ${q(p.mounts.output)} ${q(p.mounts.checkpoint)}`,
    `chmod 0700 ${q(p.etc)}`,
    ...PUT_FUNCTION,
  )
  for (const f of files) out.push(...putFile(f))
  out.push(
    'if [ "$changed" -gt 0 ]; then step files "ran:$changed"; else step files skipped; fi',
    // 3. anycloud's supervisord.
    `sctl() { supervisorctl -c ${q(p.supervisordConf)} "$@"; }`,
    // Alive = its pidfile names a live supervisord of this configuration and its socket exists
    // (no supervisorctl here: each call is a Python start-up, ~0.3 s).
    // Several deployments may bootstrap one machine at once: one of them starts supervisord, under a lock.
    `machine_lock() { exec 9>${q(`${spec.roots.lib}/.machine.lock`)}; flock -w 600 9 || { echo "another bootstrap holds ${spec.roots.lib}/.machine.lock" >&2; exit 44; }; }`,
    'machine_lock',
    'started_supervisord=0',
    `sup=$(cat ${q(p.supervisorPid)} 2>/dev/null || true)`,
    `if [ -n "$sup" ] && [ -S ${q(p.supervisorSocket)} ] && tr '\0' ' ' < "/proc/$sup/cmdline" 2>/dev/null | grep -qF -- ${q(p.supervisordConf)}; then step supervisord skipped`,
    `else supervisord -c ${q(p.supervisordConf)}; for i in $(seq 1 100); do ${supervisorCommand(p, ['pid'])} >/dev/null 2>&1 && break; sleep 0.1; done; started_supervisord=1; step supervisord ran; fi`,
    'flock -u 9',
  )
  // 4. Storage reachable (retries cover identity propagation on real clouds), once per bootstrap hash.
  const marker = (name: string) => q(`${p.lib}/.${name}-${hash}`)
  out.push(`if [ ! -f ${marker('storage-ok')} ]; then`, `  set -a; . ${q(p.rcloneEnv)}; set +a`)
  for (const b of spec.buckets) {
    out.push(`  ${rcloneCommand(spec)} lsf ${q(`${b.remote}:${b.spec.path}`)} --max-depth 1 --retries ${spec.storageCheck.retries} --retries-sleep ${spec.storageCheck.sleepSeconds}s --low-level-retries 3 >/dev/null || { echo "cannot reach the ${b.role} bucket ${b.spec.path} (${b.spec.type})" >&2; exit 42; }`)
  }
  out.push(`  rm -f ${q(p.lib)}/.storage-ok-*; touch ${marker('storage-ok')}; step storage-check ran`, 'else step storage-check skipped; fi')
  // 5. Input once (sync: a mirror), checkpoint once (copy: restore what a previous run saved).
  //    The markers name the bucket they were made from: another input bucket is downloaded again.
  const once = (role: 'input' | 'checkpoint', verb: 'sync' | 'copy', stepName: string, logName: string) => {
    const b = byRoleOf(spec)[role]
    if (!b) return
    const m = q(`${p.lib}/.${stepName}-${hashOf([b.spec.type, b.spec.options, b.spec.path], 12)}`)
    out.push(`if [ ! -f ${m} ]; then (set -a; . ${q(p.rcloneEnv)}; set +a; ${rcloneCommand(spec)} ${verb} ${q(`${b.remote}:${b.spec.path}`)} ${q(p.mounts[role])} ${RCLONE_SYNC_FLAGS} --log-file=${q(`${p.log}/${logName}`)}) && touch ${m}; step ${stepName} ran; else step ${stepName} skipped; fi`)
  }
  once('input', 'sync', 'input-sync', 'rclone-input.log')
  once('checkpoint', 'copy', 'checkpoint-restore', 'rclone-checkpoint-restore.log')
  // 6. Upload programs running: a supervisord started above loaded them itself; otherwise
  //    `supervisorctl update` (new or changed groups only) once per bootstrap hash.
  out.push(
    `if [ "$started_supervisord" = 1 ] || [ ! -f ${marker('programs')} ]; then`,
    '  if [ "$started_supervisord" = 0 ]; then machine_lock; sctl update >/dev/null || { echo "supervisorctl update failed" >&2; exit 43; }; flock -u 9; fi',
    `  rm -f ${q(p.lib)}/.programs-*; touch ${marker('programs')}; step programs ran`,
    'else step programs skipped; fi',
    `echo ${q(hash)} > ${q(`${p.lib}/bootstrap.hash`)}`,
    'step done ok',
    '}',
    'main </dev/null',
    '',
  )
  return out.join('\n')
}

/**
 * The `rclone` step: anycloud's rclone (the pin's binary) must be at least `min`. Already so:
 * skipped. The machine's own rclone is recent enough: linked there. Otherwise the pinned release
 * is downloaded, its sha256 checked against the pin, and installed; any failure exits 41 with a
 * message naming the URL (and the sums, on a mismatch).
 */
function rcloneInstall(min: string, pin: RclonePin): string[] {
  const q = shellQuote
  const bin = q(pin.binary)
  const dir = q(pin.binary.replace(/\/[^/]*$/, '') || '/')
  const v = pin.version
  const url = `${pin.baseUrl}/v${v}/rclone-v${v}-linux-$arch.zip`
  const fail = (message: string) => `{ echo "${message}" >&2; rm -rf "$tmp"; exit 41; }`
  return [
    // The version an rclone binary reports (empty when it is missing or does not run).
    `rclone_version() { [ -n "$1" ] && "$1" version 2>/dev/null | sed -n 's/^rclone v\\([0-9.]*\\).*/\\1/p' | head -1; }`,
    `rclone_at_least() { local have; have=$(rclone_version "$1" || true); [ -n "$have" ] && [ "$(printf '%s\\n%s\\n' ${q(min)} "$have" | sort -V | head -1)" = ${q(min)} ]; }`,
    `if rclone_at_least ${bin}; then step rclone skipped`,
    'else',
    '  system_rclone=$(command -v rclone 2>/dev/null || true)',
    `  if [ -n "$system_rclone" ] && [ "$system_rclone" != ${bin} ] && rclone_at_least "$system_rclone"; then`,
    `    mkdir -p ${dir} && ln -sfn "$system_rclone" ${bin}.anycloud.$$ && mv -Tf ${bin}.anycloud.$$ ${bin}`,
    '    step rclone "ran:linked $system_rclone"',
    '  else',
    '    case "$(uname -m)" in',
    `      x86_64|amd64) arch=amd64; want=${q(pin.sha256.amd64)} ;;`,
    `      aarch64|arm64) arch=arm64; want=${q(pin.sha256.arm64)} ;;`,
    `      *) echo "rclone $(rclone_version "$system_rclone" || true) on this machine is older than ${min}, which its storage needs, and anycloud has no rclone ${v} build for $(uname -m)" >&2; exit 41 ;;`,
    '    esac',
    `    url="${url}"`,
    '    tmp=$(mktemp -d)',
    '    if command -v curl >/dev/null 2>&1; then fetch() { curl -fsSL --retry 3 --connect-timeout 20 -o "$2" "$1"; }',
    '    elif command -v wget >/dev/null 2>&1; then fetch() { wget -q -T 20 -t 3 -O "$2" "$1"; }',
    `    else fetch() { python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$1" "$2"; }; fi`,
    `    fetch "$url" "$tmp/rclone.zip" || ${fail(`the machine's rclone is older than ${min}, which its storage needs, and downloading rclone ${v} from $url failed`)}`,
    '    got=$(sha256sum < "$tmp/rclone.zip" | cut -d" " -f1)',
    `    [ "$got" = "$want" ] || ${fail(`rclone ${v} downloaded from $url has sha256 $got, not the pinned $want: refusing to install it`)}`,
    '    if command -v unzip >/dev/null 2>&1; then unzip -q -o "$tmp/rclone.zip" -d "$tmp/x"; else python3 -m zipfile -e "$tmp/rclone.zip" "$tmp/x"; fi ||',
    `      ${fail(`cannot unpack rclone ${v} from $url`)}`,
    `    src="$tmp/x/rclone-v${v}-linux-$arch/rclone"`,
    `    [ -f "$src" ] || ${fail(`rclone ${v} from $url has no rclone-v${v}-linux-$arch/rclone`)}`,
    `    mkdir -p ${dir} && install -m 0755 "$src" ${bin}.anycloud.$$ && mv -Tf ${bin}.anycloud.$$ ${bin} || ${fail(`cannot install rclone ${v} at ${pin.binary}`)}`,
    '    rm -rf "$tmp"',
    `    rclone_at_least ${bin} || { echo "rclone installed at ${pin.binary} from $url reports version '$(rclone_version ${bin} || true)', not ${min} or later" >&2; exit 41; }`,
    `    step rclone "ran:installed ${v}"`,
    '  fi',
    'fi',
  ]
}
