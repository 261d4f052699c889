/**
 * A recording `docker` stand-in for hosts without a Docker engine (TESTING.md): put its `bin`
 * first on the VM's PATH (sshd `SetEnv PATH=…`) and `ANYCLOUD_FAKE_DOCKER` on its state dir.
 *
 * Every call appends `{argv, envFile?, envFileMode?}` to `calls.jsonl` (the env file's path and
 * mode only, never its content). It emulates what anycloud uses:
 * - `run -d [--name N] [--label k=v] [-v host:ctr[:ro]] [--env-file F] [--gpus G] [--shm-size S] IMAGE CMD…`:
 *   a "container" is the command run on the host (the image is ignored) with the env file's
 *   variables, where a value naming a container mount path (`/mnt/output`) is mapped to its host
 *   path, so a workload writing "$ANYCLOUD_OUTPUT/x" writes into the bind-mounted directory;
 * - `inspect`, `wait`, `logs [-f]`, `stop`, `rm [-f]`.
 */
import {chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

export interface DockerCall {
  argv: string[]
  envFile?: string
  envFileMode?: number
}

export interface FakeDocker {
  /** Directory to put first on PATH. */
  binDir: string
  /** ANYCLOUD_FAKE_DOCKER. */
  stateDir: string
  /** The environment for sshd's SetEnv. */
  env: Record<string, string>
  calls(): DockerCall[]
  /** Names of containers that exist now. */
  containers(): string[]
}

const SCRIPT = String.raw`
'use strict'
const fs = require('node:fs')
const path = require('node:path')
const {spawn} = require('node:child_process')
const state = process.env.ANYCLOUD_FAKE_DOCKER
if (!state) { process.stderr.write('ANYCLOUD_FAKE_DOCKER is not set\n'); process.exit(2) }
const containers = path.join(state, 'containers')
fs.mkdirSync(containers, {recursive: true})
const argv = process.argv.slice(2)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const dir = (name) => path.join(containers, name)
const alive = (pid) => { try { process.kill(pid, 0); return true } catch { return false } }
const readPid = (name) => { try { return Number(fs.readFileSync(path.join(dir(name), 'pid'), 'utf8')) } catch { return 0 } }
const exitCode = (name) => { try { return fs.readFileSync(path.join(dir(name), 'exit'), 'utf8').trim() } catch { return undefined } }

async function main() {
  if (argv[0] === '__container') return container(argv[1])
  const record = {argv}
  if (argv[0] === 'run') {
    const i = argv.indexOf('--env-file')
    if (i >= 0) {
      record.envFile = argv[i + 1]
      try { record.envFileMode = fs.statSync(argv[i + 1]).mode & 0o777 } catch { record.envFileMode = -1 }
    }
  }
  fs.appendFileSync(path.join(state, 'calls.jsonl'), JSON.stringify(record) + '\n')
  const [cmd, ...rest] = argv
  const name = rest.filter((a) => !a.startsWith('-')).at(-1)
  switch (cmd) {
    case 'run': return run(rest)
    case 'inspect':
      if (name && fs.existsSync(dir(name))) { process.stdout.write(fs.readFileSync(path.join(dir(name), 'id'), 'utf8') + '\n'); return 0 }
      process.stderr.write('Error: No such object: ' + name + '\n'); return 1
    case 'wait':
      if (!name || !fs.existsSync(dir(name))) { process.stderr.write('Error: No such container: ' + name + '\n'); return 1 }
      for (;;) {
        const code = exitCode(name)
        if (code !== undefined) { process.stdout.write(code + '\n'); return 0 }
        if (!fs.existsSync(dir(name))) return 1
        await sleep(50)
      }
    case 'logs': {
      if (!name || !fs.existsSync(dir(name))) { process.stderr.write('Error: No such container: ' + name + '\n'); return 1 }
      const log = path.join(dir(name), 'log')
      let offset = 0
      const flush = () => {
        let buf
        try { buf = fs.readFileSync(log) } catch { return }
        if (buf.length > offset) { process.stdout.write(buf.subarray(offset)); offset = buf.length }
      }
      flush()
      if (!rest.includes('-f') && !rest.includes('--follow')) return 0
      while (exitCode(name) === undefined && fs.existsSync(dir(name))) { await sleep(50); flush() }
      flush()
      return 0
    }
    case 'stop': {
      const pid = readPid(name)
      if (pid && alive(pid)) {
        process.kill(pid, 'SIGTERM')
        for (let i = 0; i < 200 && exitCode(name) === undefined; i++) await sleep(50)
        if (alive(pid)) process.kill(pid, 'SIGKILL')
      }
      process.stdout.write(name + '\n')
      return 0
    }
    case 'rm': {
      if (!name || !fs.existsSync(dir(name))) { process.stderr.write('Error: No such container: ' + name + '\n'); return 1 }
      const pid = readPid(name)
      if (pid && alive(pid)) { try { process.kill(pid, 'SIGKILL') } catch {} }
      fs.rmSync(dir(name), {recursive: true, force: true})
      process.stdout.write(name + '\n')
      return 0
    }
    default:
      return 0
  }
}

function run(args) {
  const withValue = new Set(['--name', '--label', '-v', '--volume', '--env-file', '--gpus', '--shm-size', '-e', '--env', '--network', '--entrypoint', '-w', '--user'])
  const spec = {name: '', labels: {}, volumes: [], envFile: '', gpus: '', shmSize: '', image: '', command: []}
  let i = 0
  for (; i < args.length; i++) {
    const a = args[i]
    if (!a.startsWith('-')) break
    if (!withValue.has(a)) continue
    const v = args[++i]
    if (a === '--name') spec.name = v
    else if (a === '--label') { const k = v.split('=')[0]; spec.labels[k] = v.slice(k.length + 1) }
    else if (a === '-v' || a === '--volume') spec.volumes.push(v)
    else if (a === '--env-file') spec.envFile = v
    else if (a === '--gpus') spec.gpus = v
    else if (a === '--shm-size') spec.shmSize = v
  }
  spec.image = args[i] || ''
  spec.command = args.slice(i + 1)
  if (!spec.name) spec.name = 'c' + Date.now()
  if (fs.existsSync(dir(spec.name))) { process.stderr.write('Conflict. The container name "' + spec.name + '" is already in use\n'); return 125 }
  if (spec.envFile && !fs.existsSync(spec.envFile)) { process.stderr.write('open ' + spec.envFile + ': no such file or directory\n'); return 125 }
  fs.mkdirSync(dir(spec.name))
  const id = require('node:crypto').randomBytes(32).toString('hex')
  fs.writeFileSync(path.join(dir(spec.name), 'id'), id)
  fs.writeFileSync(path.join(dir(spec.name), 'spec.json'), JSON.stringify(spec))
  const child = spawn(process.execPath, [__filename, '__container', spec.name], {detached: true, stdio: 'ignore', env: process.env})
  fs.writeFileSync(path.join(dir(spec.name), 'pid'), String(child.pid))
  child.unref()
  process.stdout.write(id + '\n')
  return 0
}

function container(name) {
  const spec = JSON.parse(fs.readFileSync(path.join(dir(name), 'spec.json'), 'utf8'))
  const mounts = spec.volumes.map((v) => v.split(':')).map(([host, ctr]) => ({host, ctr}))
  const env = {PATH: process.env.PATH || '/usr/bin:/bin'}
  if (spec.envFile) {
    for (const line of fs.readFileSync(spec.envFile, 'utf8').split('\n')) {
      const eq = line.indexOf('=')
      if (eq <= 0 || line.startsWith('#')) continue
      let value = line.slice(eq + 1)
      for (const m of mounts) if (value === m.ctr || value.startsWith(m.ctr + '/')) value = m.host + value.slice(m.ctr.length)
      env[line.slice(0, eq)] = value
    }
  }
  const out = fs.openSync(path.join(dir(name), 'log'), 'a')
  const cwd = (mounts.find((m) => m.ctr === '/mnt/output') || {}).host
  const child = spawn(spec.command[0] || 'true', spec.command.slice(1), {env, stdio: ['ignore', out, out], cwd: cwd && fs.existsSync(cwd) ? cwd : undefined})
  const forward = (sig) => () => { try { child.kill(sig) } catch {} }
  process.on('SIGTERM', forward('SIGTERM'))
  process.on('SIGINT', forward('SIGINT'))
  child.on('exit', (code, signal) => {
    const c = code !== null ? code : 128 + (require('node:os').constants.signals[signal] || 0)
    try { fs.writeFileSync(path.join(dir(name), 'exit'), String(c)) } catch {}
    process.exit(0)
  })
  child.on('error', () => { try { fs.writeFileSync(path.join(dir(name), 'exit'), '127') } catch {}; process.exit(0) })
}

Promise.resolve(main()).then((code) => { if (typeof code === 'number') process.exitCode = code }, (e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exitCode = 1 })
`

/** Writes the stand-in into `root/bin/docker` and its state dir `root/state`. */
export function installFakeDocker(root: string): FakeDocker {
  const binDir = join(root, 'bin')
  const stateDir = join(root, 'state')
  mkdirSync(binDir, {recursive: true})
  mkdirSync(join(stateDir, 'containers'), {recursive: true})
  const file = join(binDir, 'docker')
  writeFileSync(file, `#!${process.execPath}\n${SCRIPT}`)
  chmodSync(file, 0o755)
  return {
    binDir,
    stateDir,
    env: {PATH: `${binDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, ANYCLOUD_FAKE_DOCKER: stateDir},
    calls() {
      const p = join(stateDir, 'calls.jsonl')
      if (!existsSync(p)) return []
      return readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as DockerCall)
    },
    containers() {
      const d = join(stateDir, 'containers')
      return existsSync(d) ? readdirSync(d).sort() : []
    },
  }
}
