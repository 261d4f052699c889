/**
 * Plan against a fake provider that adds 50 ms to every call, one region: 10, 100 and 1,000
 * profiles on a converged state (the steady plan every CI run makes). Prints the cloud calls per
 * steady plan and the time. Targets: 100 profiles ≤ 12 calls; 1,000 profiles within 2x of 100.
 * The fake batches like a cloud with list-by-tag APIs (readMany per region, readBuckets = one
 * list): the engine must ask for everything at once for that to pay off.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {silentReporter} from '../src/engine/events.js'
import {planChanges} from '../src/engine/planner.js'
import {ProviderSet} from '../src/providers/registry.js'
import {convergeSteadyCloud, steadyCloud, steadyConfig, useSteadyCloud, type SteadyCloud} from '../test/helpers/steady-cloud.js'

const LATENCY_MS = 50
const KIND = 'steady-cloud'
/** Timed steady plans per size (after one untimed warm-up plan); the median is reported. */
const RUNS = Number(process.env.BENCH_PLAN_RUNS ?? 15)

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

export async function benchPlan(): Promise<void> {
  console.log(`== steady plan against a fake provider (+${LATENCY_MS} ms per call), one region; median of ${RUNS} plans after a warm-up plan, each size alike`)
  console.log('profiles  calls   time      CPU time   peak RSS')
  const times: Record<number, number> = {}
  const cpus: Record<number, number> = {}
  const calls: Record<number, number> = {}
  let cloud: SteadyCloud = steadyCloud(LATENCY_MS)
  const unregister = useSteadyCloud(KIND, () => cloud)
  for (const n of [10, 100, 1000]) {
    const dir = mkdtempSync(join(tmpdir(), 'anycloud-bench-plan-'))
    try {
      cloud = steadyCloud(LATENCY_MS)
      const cfg = steadyConfig(n, {dir, kind: KIND, project: 'bench'})
      const opts = {config: cfg, profiles: Object.values(cfg.profiles), reporter: silentReporter, stateDir: join(dir, '.anycloud')}
      const first = await planChanges({...opts, state: undefined, lineage: 'bench', providers: new ProviderSet({credentials: cfg.credentials, configDir: dir, env: {}})})
      const state = convergeSteadyCloud(first, cloud, 'bench')
      const wall: number[] = []
      const cpu: number[] = []
      // Run 0 warms up (not timed); every plan gets a fresh provider set, as a command would.
      for (let run = 0; run <= RUNS; run++) {
        cloud.calls = 0
        const t = performance.now()
        const used = process.cpuUsage()
        const steady = await planChanges({...opts, state, providers: new ProviderSet({credentials: cfg.credentials, configDir: dir, env: {}})})
        const ms = performance.now() - t
        const u = process.cpuUsage(used)
        if (steady.summary.create + steady.summary.update + steady.summary.replace + steady.summary.delete > 0) throw new Error(`the steady plan of ${n} profiles has changes: ${JSON.stringify(steady.summary)}`)
        if (run > 0 && cloud.calls !== calls[n]) throw new Error(`steady plans of ${n} profiles made ${calls[n]} and ${cloud.calls} calls`)
        calls[n] = cloud.calls
        if (run === 0) continue
        wall.push(ms)
        cpu.push((u.user + u.system) / 1000)
      }
      times[n] = median(wall)
      cpus[n] = median(cpu)
      const rss = process.resourceUsage().maxRSS / 1024
      console.log(`${String(n).padStart(8)}  ${String(calls[n]).padStart(5)}  ${times[n].toFixed(0).padStart(6)} ms  ${cpus[n].toFixed(0).padStart(6)} ms  ${rss.toFixed(0)} MiB`)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  }
  unregister()
  console.log(`calls per steady plan of 100 profiles: ${calls[100]}   (target <= 12)`)
  console.log(`time of 1,000 profiles / time of 100:  ${(times[1000] / times[100]).toFixed(2)}x   (target <= 2x)`)
  console.log(`CPU time of 1,000 / 100:               ${(cpus[1000] / cpus[100]).toFixed(2)}x   (per profile at 1,000: ${((cpus[1000] / 1000) * 1000).toFixed(0)} µs)`)
  console.log('(on a loaded machine wall time includes waiting for a CPU: compare the CPU column too)')
}
