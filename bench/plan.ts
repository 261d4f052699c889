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

export async function benchPlan(): Promise<void> {
  console.log(`== steady plan against a fake provider (+${LATENCY_MS} ms per call), one region`)
  console.log('profiles  calls   time      CPU time   peak RSS')
  const times: Record<number, number> = {}
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
      cloud.calls = 0
      const t = performance.now()
      const cpu = process.cpuUsage()
      const steady = await planChanges({...opts, state, providers: new ProviderSet({credentials: cfg.credentials, configDir: dir, env: {}})})
      times[n] = performance.now() - t
      const used = process.cpuUsage(cpu)
      const cpuMs = (used.user + used.system) / 1000
      calls[n] = cloud.calls
      if (steady.summary.create + steady.summary.update + steady.summary.replace + steady.summary.delete > 0) throw new Error(`the steady plan of ${n} profiles has changes: ${JSON.stringify(steady.summary)}`)
      const rss = process.resourceUsage().maxRSS / 1024
      console.log(`${String(n).padStart(8)}  ${String(calls[n]).padStart(5)}  ${times[n].toFixed(0).padStart(6)} ms  ${cpuMs.toFixed(0).padStart(6)} ms  ${rss.toFixed(0)} MiB`)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  }
  unregister()
  console.log(`target: 100 profiles ≤ 12 calls (${calls[100]}); 1,000 profiles within 2x the time of 100 (${(times[1000] / times[100]).toFixed(2)}x)`)
  console.log('(on a loaded machine wall time includes waiting for a CPU: compare the CPU column too)')
}
