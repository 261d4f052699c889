import {AnycloudError} from '../errors/index.js'
import type {WorkloadPhase} from '../model/resources.js'
import type {CommandRunner} from '../remote/command-runner.js'
import {shellQuote as q} from '../remote/shell.js'
import {redactSecrets} from '../util/redact.js'
import {optDirOf} from './rclone-release.js'
import {supervisorCommand, supervisorStatesCommand} from './supervisor-rpc.js'
import {renderStartScript, type MachinePaths, type RenderedBootstrap, type RenderedWorkload} from './render.js'

/**
 * What anycloud does on a machine once it can run commands there, whatever the machine is (an ssh
 * host, an EC2 instance…): apply the bootstrap, start/stop the workload, read status, stream logs,
 * remove what it wrote. Each is one command (one SSH round trip).
 */

export interface BootstrapRun {
  /** `install: skipped`, `files: ran:3`… in order. */
  steps: Array<{step: string; outcome: string}>
}

/** Runs the rendered script with `bash -s` (secrets travel on stdin only). */
export async function runBootstrap(runner: CommandRunner, rendered: RenderedBootstrap, progress: (m: string) => void, signal?: AbortSignal): Promise<BootstrapRun> {
  const steps: BootstrapRun['steps'] = []
  let buffer = ''
  const result = await runner.run('bash -s', {
    stdin: rendered.script,
    signal,
    timeoutMs: 60 * 60 * 1000,
    idempotent: true,
    onStdout: (chunk) => {
      buffer += chunk.toString()
      let i
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, i)
        buffer = buffer.slice(i + 1)
        const m = /^anycloud-step (\S+) (.*)$/.exec(line)
        if (m) {
          steps.push({step: m[1], outcome: m[2]})
          if (m[1] !== 'done') progress(`${m[1]}: ${m[2]}`)
        }
      }
    },
  })
  if (result.exitCode !== 0) {
    const last = steps.at(-1)?.step
    const tail = redactSecrets(result.stderr.trim().split('\n').slice(-8).join('\n'))
    throw new AnycloudError(`bootstrap failed on ${runner.description}${last ? ` after step '${last}'` : ''} (exit ${result.exitCode})${tail ? `:\n${tail}` : ''}`, {
      code: 'bootstrap.failed', source: 'cloud',
      suggestions: result.exitCode === 42 ? ['The machine cannot reach a bucket: check the storage credential, the bucket name and the network.']
        : result.exitCode === 41 && rendered.rclonePin ? [`The machine's rclone is too old for its storage and anycloud's pinned rclone could not be installed: let the machine reach ${rendered.rclonePin.baseUrl} over HTTPS (or set ANYCLOUD_RCLONE_BASE_URL to a mirror), or put a recent rclone on the image.`]
        : [],
    })
  }
  return {steps}
}

export interface MachineStatus {
  bootstrapHash?: string
  workload: {phase: WorkloadPhase | 'absent'; exitCode?: number; startedAt?: string; specHash?: string}
  /** supervisorctl states by program (`rclone-output: RUNNING`). */
  programs: Record<string, string>
  /** Whether anycloud's supervisord runs (false after a reboot: the bootstrap must run again). */
  supervisord: boolean
  lastSync: {output?: string; checkpoint?: string}
  /** The interruption notice the machine received (the notice program's JSON), if any. */
  notice?: string
}

/** One command: bootstrap hash, workload state, program health, last sync times. */
export async function readMachineStatus(runner: CommandRunner, paths: MachinePaths): Promise<MachineStatus> {
  const lib = q(paths.lib)
  const cmd = [
    // Program states first, files after: a run script records its exit code before it exits, so a
    // workload seen EXITED here always has its exit file below (the other order races with its end).
    `if [ -S ${q(paths.supervisorSocket)} ]; then ${supervisorStatesCommand(paths, [paths.group + ':*', paths.workloadGroup + ':*'])} | awk '$2 ~ /^(STOPPED|STARTING|RUNNING|BACKOFF|STOPPING|EXITED|FATAL|UNKNOWN)$/ {printf "program\\t%s %s\\n", $1, $2}'; fi`,
    `sup=$(cat ${q(paths.supervisorPid)} 2>/dev/null || true)`,
    `if [ -n "$sup" ] && tr '\\0' ' ' < "/proc/$sup/cmdline" 2>/dev/null | grep -qF -- ${q(paths.supervisordConf)}; then printf 'supervisord\\tup\\n'; fi`,
    `f() { [ -f "$1" ] && printf '%s\\t%s\\n' "$2" "$(head -c 200 "$1" | tr -d '\\n')"; true; }`,
    `f ${lib}/bootstrap.hash hash`,
    `f ${lib}/workload.exit exit`,
    `f ${lib}/workload.started started`,
    `f ${lib}/workload.spec spec`,
    `f ${lib}/last-sync-output sync-output`,
    `f ${lib}/last-sync-checkpoint sync-checkpoint`,
    `f ${lib}/preempted notice`,
    'true',
  ].join('\n')
  const r = await runner.run(cmd, {timeoutMs: 60_000, idempotent: true})
  if (r.exitCode !== 0) throw new AnycloudError(`cannot read the machine's status on ${runner.description}: ${redactSecrets(r.stderr.trim())}`, {code: 'machine.status', source: 'cloud'})
  const status: MachineStatus = {workload: {phase: 'absent'}, programs: {}, supervisord: false, lastSync: {}}
  let started: string | undefined
  let exit: string | undefined
  for (const line of r.stdout.split('\n')) {
    const [key, value] = line.split('\t')
    if (value === undefined) continue
    if (key === 'hash') status.bootstrapHash = value.trim()
    else if (key === 'supervisord') status.supervisord = value.trim() === 'up'
    else if (key === 'exit') exit = value.trim()
    else if (key === 'started') started = value.trim()
    else if (key === 'spec') status.workload.specHash = value.trim()
    else if (key === 'sync-output') status.lastSync.output = value.trim()
    else if (key === 'sync-checkpoint') status.lastSync.checkpoint = value.trim()
    else if (key === 'notice') status.notice = value.trim()
    else if (key === 'program') {
      const [name, state] = value.split(' ')
      // `anycloud-<id>:<id>-rclone-output` → `rclone-output`: callers see the deployment's own names.
      const program = name.slice(name.indexOf(':') + 1)
      status.programs[program.startsWith(paths.programPrefix) ? program.slice(paths.programPrefix.length) : program] = state
    }
  }
  const running = status.programs.workload === 'RUNNING' || status.programs.workload === 'STARTING'
  if (exit !== undefined && !running) {
    const code = Number(exit)
    status.workload = {...status.workload, phase: code === 0 ? 'completed' : 'failed', exitCode: code, startedAt: started}
  } else if (running) status.workload = {...status.workload, phase: 'running', startedAt: started}
  else if (started) status.workload = {...status.workload, phase: 'lost', startedAt: started}
  return status
}

/**
 * Starts the workload once, in one command. Idempotent: a run of the same spec already going is
 * adopted; a different or finished one is replaced by a fresh run. With `workload`, its files (run
 * script, 0600 env file) are written first; they travel on stdin, never in a command line.
 */
export async function startWorkload(runner: CommandRunner, paths: MachinePaths, specHash: string, workload?: RenderedWorkload): Promise<'started' | 'adopted'> {
  const r = await runner.run('bash -s', {stdin: renderStartScript(paths, specHash, workload), timeoutMs: 120_000, idempotent: true})
  if (r.exitCode !== 0) throw new AnycloudError(`could not start the workload on ${runner.description}: ${redactSecrets((r.stderr || r.stdout).trim())}`, {code: 'workload.start', source: 'cloud'})
  return r.stdout.includes('adopted') ? 'adopted' : 'started'
}

/** Stops the workload (its run script does the final upload on the way out) and its container. */
export async function stopWorkload(runner: CommandRunner, paths: MachinePaths): Promise<void> {
  const sctl = (...args: string[]) => supervisorCommand(paths, args)
  const cmd = [
    `if [ -S ${q(paths.supervisorSocket)} ]; then ${sctl('stop', paths.programs.workload)} >/dev/null 2>&1 || true; fi`,
    `if command -v docker >/dev/null 2>&1; then docker rm -f ${q(paths.container)} >/dev/null 2>&1 || true; fi`,
    `rm -f ${q(paths.lib)}/workload.spec`,
  ].join('\n')
  await runner.run(cmd, {timeoutMs: 120_000, idempotent: true})
}

/**
 * Removes everything anycloud wrote for one deployment: its programs, container, files, logs and
 * mount directories (after a final upload); anycloud's supervisord goes when no deployment is left.
 * The machine itself is left alone.
 */
export async function removeDeployment(runner: CommandRunner, paths: MachinePaths, roots: {etc: string; lib: string; log: string}): Promise<void> {
  const sctl = `supervisorctl -c ${q(paths.supervisordConf)}`
  const rpc = (...args: string[]) => supervisorCommand(paths, args)
  const optDir = optDirOf(roots)
  const cmd = [
    `if [ -S ${q(paths.supervisorSocket)} ]; then`,
    `  ${rpc('stop', paths.workloadGroup + ':*', paths.group + ':*')} >/dev/null 2>&1 || true`,
    'fi',
    // A last upload of what is on the machine before it goes (copy: never deletes in the bucket).
    `if [ -x ${q(paths.syncScript)} ]; then ${q(paths.syncScript)} all >/dev/null 2>&1 || true; fi`,
    `rm -f ${q(paths.programConf)}`,
    `if [ -S ${q(paths.supervisorSocket)} ]; then ${sctl} update >/dev/null 2>&1 || true; fi`,
    `if command -v docker >/dev/null 2>&1; then docker rm -f ${q(paths.container)} >/dev/null 2>&1 || true; fi`,
    `rm -rf ${q(paths.etc)} ${q(paths.lib)} ${q(paths.log)} ${q(paths.mounts.input)} ${q(paths.mounts.output)} ${q(paths.mounts.checkpoint)}`,
    // Say so when something stayed (a refused rm, an immutable file): the caller decides what that means.
    `for d in ${q(paths.etc)} ${q(paths.lib)} ${q(paths.log)}; do if [ -e "$d" ]; then echo "could not remove $d" >&2; exit 1; fi; done`,
    `if [ -z "$(ls -A ${q(roots.etc + '/conf.d')} 2>/dev/null)" ]; then`,
    `  if [ -S ${q(paths.supervisorSocket)} ]; then ${rpc('shutdown')} >/dev/null 2>&1 || true; fi`,
    `  for i in $(seq 1 50); do [ -S ${q(paths.supervisorSocket)} ] || break; sleep 0.1; done`,
    // The last deployment gone: anycloud's own files go too, its pinned rclone included (a host is left as found).
    `  rm -rf ${[roots.etc, roots.lib, roots.log, optDir].filter((d): d is string => Boolean(d)).map(q).join(' ')}`,
    'fi',
  ].join('\n')
  const r = await runner.run(cmd, {timeoutMs: 300_000, idempotent: true})
  if (r.exitCode !== 0) throw new AnycloudError(`could not clean up ${paths.group} on ${runner.description}: ${redactSecrets(r.stderr.trim())}`, {code: 'machine.cleanup', source: 'cloud'})
}

/** Streams the workload log; with `follow`, until the workload stops or `signal` aborts. */
export async function streamLogs(runner: CommandRunner, paths: MachinePaths, options: {follow: boolean; write: (chunk: string) => void; signal?: AbortSignal}): Promise<void> {
  const log = q(`${paths.log}/workload.log`)
  const out = q(`${paths.log}/workload.out`)
  const cmd = options.follow
    ? [
        `pid=$(${supervisorCommand(paths, ['pid', paths.programs.workload])} 2>/dev/null | tr -dc 0-9)`,
        `touch ${log}`,
        `if [ -n "$pid" ] && [ "$pid" != 0 ]; then tail -n +1 -F --pid="$pid" ${log} 2>/dev/null; else cat ${log}; fi`,
      ].join('\n')
    : `cat ${log} 2>/dev/null; cat ${out} 2>/dev/null; true`
  await runner.run(cmd, {signal: options.signal, onStdout: (c) => options.write(c.toString()), timeoutMs: options.follow ? 7 * 24 * 3600 * 1000 : 120_000}).catch((error) => {
    if (!options.signal?.aborted) throw error
  })
}
