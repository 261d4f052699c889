/**
 * Bootstrap over a 50 ms link: a throwaway sshd behind a proxy that delays every chunk 25 ms each
 * way. anycloud's bootstrap (connect + `runBootstrap`, ssh2) is timed next to the very same
 * rendered script run in one OpenSSH call (`ssh … host bash -s < script`, host key verified), each
 * from a clean host (the deployment is removed between runs, over a direct connection that is not
 * timed). Also: the idempotent re-run (every step skipped) both ways, and the SSH round trips
 * (exec channels) and connections anycloud used. Target: within 1.5x of the one-shot script.
 */
import {spawn} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {removeDeployment, runBootstrap} from '../src/bootstrap/machine.js'
import {renderBootstrap, type RenderedBootstrap} from '../src/bootstrap/render.js'
import {DEFAULT_ROOTS, type BootstrapSpec} from '../src/bootstrap/types.js'
import {connectSsh, type SshRunnerStats} from '../src/remote/ssh-runner.js'
import {startDelayProxy, startSshd} from '../test/helpers/sshd/index.js'

const DELAY_MS = 25
const RUNS = Number(process.env.BENCH_BOOTSTRAP_RUNS ?? 5)

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

/** `ssh -i key -p port root@host bash -s < script` with the host key pinned in a known_hosts file. */
function openSshOneShot(o: {host: string; port: number; key: string; knownHosts: string; script: string}): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn('ssh', [
      '-F', '/dev/null', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${o.knownHosts}`, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes',
      '-i', o.key, '-p', String(o.port), `root@${o.host}`, 'bash -s',
    ], {stdio: ['pipe', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0 || !out.includes('anycloud-step done ok')) reject(new Error(`ssh bash -s exited ${code}: ${err.trim()}`))
      else resolve(performance.now() - started)
    })
    child.stdin.end(o.script)
  })
}

export async function benchBootstrap(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'anycloud-bench-boot-'))
  const sshd = await startSshd()
  const proxy = await startDelayProxy({target: {host: sshd.host, port: sshd.port}, delayMs: DELAY_MS})
  const direct = await connectSsh({host: sshd.host, port: sshd.port, user: 'root', privateKey: sshd.privateKey, hostKey: {kind: 'pinned', keys: [sshd.hostPublicKey]}})
  try {
    const key = join(work, 'id_ed25519')
    writeFileSync(key, sshd.privateKey, {mode: 0o600})
    const knownHosts = join(work, 'known_hosts')
    writeFileSync(knownHosts, `[${proxy.host}]:${proxy.port} ${sshd.hostPublicKey.split(' ').slice(0, 2).join(' ')}\n`)
    const prefix = join(work, 'remote')
    const buckets = join(work, 'buckets')
    for (const b of ['input', 'output', 'checkpoint']) mkdirSync(join(buckets, b), {recursive: true})
    for (let i = 0; i < 20; i++) writeFileSync(join(buckets, 'input', `part-${i}.txt`), `data ${i}\n`)
    writeFileSync(join(buckets, 'checkpoint', 'state.json'), '{"epoch":3}\n')
    const local = (dir: string) => ({type: 'local', options: {}, path: join(buckets, dir), secretOptions: [], secretsFingerprint: ''})
    const spec: BootstrapSpec = {
      deploymentId: 'bench-boot-a1b2c3', runtime: 'process', command: ['sh', '-c', 'exec sleep 600'], env: {}, sensitiveEnv: [], lineage: 'bench-lineage', syncIntervalSeconds: 60,
      buckets: [{role: 'input', remote: 'ACINPUT', spec: local('input')}, {role: 'output', remote: 'ACOUTPUT', spec: local('output')}, {role: 'checkpoint', remote: 'ACCHECKPOINT', spec: local('checkpoint')}],
      storageCheck: {retries: 2, sleepSeconds: 1}, mountRoot: `${prefix}/mnt`,
      roots: {etc: prefix + DEFAULT_ROOTS.etc, lib: prefix + DEFAULT_ROOTS.lib, log: prefix + DEFAULT_ROOTS.log},
    }
    const rendered: RenderedBootstrap = renderBootstrap(spec)
    const clean = () => removeDeployment(direct, rendered.paths, spec.roots)

    const anycloudRun = async (): Promise<{ms: number; stats: SshRunnerStats; skipped: boolean}> => {
      const started = performance.now()
      const runner = await connectSsh({host: proxy.host, port: proxy.port, user: 'root', privateKey: sshd.privateKey, hostKey: {kind: 'pinned', keys: [sshd.hostPublicKey]}})
      try {
        const run = await runBootstrap(runner, rendered, () => {})
        return {ms: performance.now() - started, stats: {...runner.stats}, skipped: run.steps.every((s) => s.outcome === 'skipped' || s.step === 'done')}
      } finally {
        await runner.close()
      }
    }
    const oneShot = () => openSshOneShot({host: proxy.host, port: proxy.port, key, knownHosts, script: rendered.script})

    const fresh = {anycloud: [] as number[], ssh: [] as number[]}
    const again = {anycloud: [] as number[], ssh: [] as number[]}
    let stats: SshRunnerStats | undefined
    await clean()
    for (let i = 0; i < RUNS; i++) {
      // Alternate who goes first so neither always meets a warmer host.
      const order = i % 2 === 0 ? (['anycloud', 'ssh'] as const) : (['ssh', 'anycloud'] as const)
      for (const who of order) {
        if (who === 'anycloud') {
          const a = await anycloudRun()
          fresh.anycloud.push(a.ms)
          stats = a.stats
          const b = await anycloudRun()
          if (!b.skipped) throw new Error('the re-run did not skip every step')
          again.anycloud.push(b.ms)
        } else {
          fresh.ssh.push(await oneShot())
          again.ssh.push(await oneShot())
        }
        await clean()
      }
    }
    const line = (label: string, a: number[], s: number[]) =>
      console.log(`${label.padEnd(30)} ${median(a).toFixed(0).padStart(7)} ms  ${median(s).toFixed(0).padStart(7)} ms   ${(median(a) / median(s)).toFixed(2)}x   (target <= 1.5x)`)
    console.log(`== bootstrap over SSH with ${2 * DELAY_MS} ms RTT (delay proxy ${DELAY_MS} ms each way), median of ${RUNS} runs, connect included`)
    console.log(`${''.padEnd(30)} ${'anycloud'.padStart(10)}  ${'ssh bash -s'.padStart(10)}   ratio`)
    line('fresh host (every step runs)', fresh.anycloud, fresh.ssh)
    line('re-run (every step skipped)', again.anycloud, again.ssh)
    console.log(`SSH round trips per bootstrap: ${stats?.roundTrips ?? '?'} (exec channels: ${stats?.execs ?? '?'}, sftp: ${stats?.sftp ?? '?'}), connections: ${stats?.connects ?? '?'}, connect time: ${stats?.lastConnectMs ?? '?'} ms`)
  } finally {
    await direct.close().catch(() => undefined)
    await proxy.stop()
    await sshd.stop()
    rmSync(work, {recursive: true, force: true})
  }
}

// `node --import tsx bench/bootstrap.ts` runs this section alone.
if (import.meta.url === `file://${process.argv[1]}`) await benchBootstrap()
