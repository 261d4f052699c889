import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import {machinePaths, renderWorkload} from '../../src/bootstrap/render.js'
import {specFor, until} from './helpers.js'

/**
 * The process workload's run script (what supervisord runs) stopped with SIGTERM, run here with
 * bash and no supervisord: a job that exits on its own at the signal records its own exit code, a
 * job the signal kills records 143. (The race 6fffce7 closed, a job gone before the script's
 * liveness check leaving the 143 of the interrupted wait, did not show here on bash 5.2: 0 of 20
 * stops with the old script. These stops still run through that path.)
 */
describe('bootstrap: a process workload stopped by SIGTERM records the exit code the job gave', function () {
  this.timeout(60_000)
  const dirs: string[] = []
  after(() => {
    for (const d of dirs) rmSync(d, {recursive: true, force: true})
  })

  /** Writes the workload's files under a fresh prefix, a stub final upload beside them; returns the run script and its paths. */
  function install(command: string[]) {
    const prefix = mkdtempSync(join(tmpdir(), 'anycloud-workload-stop-'))
    dirs.push(prefix)
    const spec = specFor(prefix, {command})
    const p = machinePaths(spec)
    for (const f of renderWorkload(spec).files) {
      mkdirSync(dirname(f.path), {recursive: true})
      writeFileSync(f.path, f.content)
      chmodSync(f.path, f.mode)
    }
    writeFileSync(p.syncScript, '#!/bin/sh\nexit 0\n', {mode: 0o755})
    for (const d of [p.lib, p.log, p.mounts.output]) mkdirSync(d, {recursive: true})
    return p
  }

  /** Starts the run script, waits for the job to be ready, sends SIGTERM; the script's exit code and the recorded one. */
  async function stopOnce(p: ReturnType<typeof install>): Promise<{exit: number | null; recorded: string}> {
    rmSync(join(p.mounts.output, 'ready'), {force: true})
    const run = spawn('bash', [p.runWorkload], {stdio: 'ignore'})
    const exited = new Promise<number | null>((resolve) => run.on('exit', (code) => resolve(code)))
    await until('the job to be ready', () => existsSync(join(p.mounts.output, 'ready')))
    run.kill('SIGTERM')
    const exit = await exited
    return {exit, recorded: readFileSync(join(p.lib, 'workload.exit'), 'utf8').trim()}
  }

  it('a job that exits 0 at once on SIGTERM: 0 recorded, and the script exits 0, on each of 5 stops', async () => {
    // A shell busy in builtins runs its trap the moment the signal comes: the quickest a job can be gone.
    const p = install(['sh', '-c', 'trap "exit 0" TERM; : > ready; while :; do :; done'])
    const outcomes: string[] = []
    for (let i = 0; i < 5; i++) {
      const {exit, recorded} = await stopOnce(p)
      outcomes.push(`${exit}/${recorded}`)
    }
    assert.deepEqual(outcomes, Array.from({length: 5}, () => '0/0'))
  })

  it('a job that exits 3 on SIGTERM records 3; one the signal kills records 143', async () => {
    const graceful = install(['python3', '-c', 'import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(3))\nopen("ready", "w").close()\ntime.sleep(120)'])
    assert.deepEqual(await stopOnce(graceful), {exit: 3, recorded: '3'})
    const killed = install(['python3', '-c', 'import time\nopen("ready", "w").close()\ntime.sleep(120)'])
    assert.deepEqual(await stopOnce(killed), {exit: 143, recorded: '143'})
  })
})
