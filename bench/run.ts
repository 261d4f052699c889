/**
 * `npm run bench`: numbers, not pass/fail. Each section prints its measurement next to its target.
 * It runs the code `npm run build` ships, compiled by tsc (tsconfig.bench.json, to dist-bench/), not
 * through tsx, whose transform wraps every named closure in a `__name` call the shipped code lacks.
 *   1. CLI cold start: `anycloud validate` on a 50-profile file vs bare `node -e 0` (target < 3x).
 *   2. Steady plans of 10, 100 and 1,000 profiles in one region against a fake provider adding 50 ms
 *      to every call (bench/plan.ts): cloud calls per plan (target: 100 profiles <= 12), the median
 *      time and CPU time of several plans after a warm-up (target: 1,000 within 2x of 100), and
 *      peak memory.
 *   4. GCP plan start-up (bench/gcp.ts): `anycloud plan` of a GCP profile against the fake GCE/IAM, and
 *      the cost of the compute client by deep import vs the package index.
 *   3. Bootstrap over a 50 ms link (bench/bootstrap.ts): anycloud's one-exec bootstrap vs the same
 *      script in one `ssh host bash -s` (target within 1.5x), and the SSH round trips it used.
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {repoRoot} from './root.js'

const root = repoRoot()

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function timeCommand(args: string[], cwd: string, runs: number): number {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint()
    const r = spawnSync(process.execPath, args, {cwd, env: {...process.env, CI: 'true', ANYCLOUD_HOME: cwd}, stdio: 'ignore'})
    if (r.status !== 0 && args.includes('validate')) throw new Error(`validate failed with ${r.status}`)
    times.push(Number(process.hrtime.bigint() - t) / 1e6)
  }
  return median(times)
}

function fiftyProfiles(): string {
  const lines = ['version: 1', 'project: bench', 'credentials:', '  a: {provider: aws, profile: prod, region: us-east-1}', '  g: {provider: gcp, project: acme-ml, region: us-central1}', 'profiles:']
  for (let i = 0; i < 50; i++) {
    lines.push(`  p${i}:`, '    credentials: [a, g]', '    image: ghcr.io/acme/train:latest', '    command: [python, train.py]', `    gpuType: a100:${(i % 8) + 1}`, '    spot: true', `    inputBucket: data-${i}`, `    outputBucket: results-${i}`)
  }
  return lines.join('\n') + '\n'
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'anycloud-bench-'))
  try {
    writeFileSync(join(dir, 'anycloud.yaml'), fiftyProfiles())
    const runs = Number(process.env.BENCH_RUNS ?? 15)
    timeCommand([join(root, 'bin/run.js'), 'validate'], dir, 2) // warm the file cache
    const bare = timeCommand(['-e', '0'], dir, runs)
    const validate = timeCommand([join(root, 'bin/run.js'), 'validate'], dir, runs)
    console.log('== CLI cold start (median of %d runs)', runs)
    console.log(`node -e 0:                     ${bare.toFixed(1)} ms`)
    console.log(`anycloud validate (50 prof.):  ${validate.toFixed(1)} ms`)
    console.log(`ratio:                         ${(validate / bare).toFixed(2)}x   (target < 3x)`)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
  // Each section loads its modules when it starts: the plan section's heap holds only what a plan uses, as in a CLI run.
  console.log('')
  await (await import('./plan.js')).benchPlan()
  console.log('')
  await (await import('./bootstrap.js')).benchBootstrap()
  console.log('')
  await (await import('./gcp.js')).benchGcp()
}

await main()
