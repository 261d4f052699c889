/**
 * GCP plan start-up: `anycloud plan` of a one-profile GCP project against the fake GCE/IAM (GCS
 * fake behind it), cold, next to `anycloud validate` of the same file (no Google library loaded),
 * and what loading the compute client costs by deep import vs the package index (notes §1.2).
 */
import {spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {startFakeGcp} from '../test/helpers/fake-gcp/index.js'
import {startGcsFake} from '../test/helpers/storage/index.js'
import {repoRoot} from './root.js'

const root = repoRoot()

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** Runs asynchronously (the fake answers from this process). */
function timed(args: string[], cwd: string, env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = process.hrtime.bigint()
    const child = spawn(process.execPath, args, {cwd, env: {...process.env, CI: 'true', ANYCLOUD_HOME: cwd, ...env}, stdio: 'ignore'})
    child.on('close', (code) => (code === 0 || code === 2 ? resolve(Number(process.hrtime.bigint() - t) / 1e6) : reject(new Error(`${args.join(' ')} exited ${code}`))))
  })
}

function importCost(code: string, runs: number): number {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint()
    spawnSync(process.execPath, ['-e', code], {cwd: root, stdio: 'ignore'})
    times.push(Number(process.hrtime.bigint() - t) / 1e6)
  }
  return median(times)
}

export async function benchGcp(): Promise<void> {
  const runs = Number(process.env.BENCH_RUNS ?? 5)
  const gcs = await startGcsFake()
  const fake = await startFakeGcp({storage: gcs.apiEndpoint})
  const dir = mkdtempSync(join(tmpdir(), 'anycloud-bench-gcp-'))
  try {
    const token = fake.issueToken('bench')
    writeFileSync(
      join(dir, 'anycloud.yaml'),
      [
        'version: 1',
        'project: benchgcp',
        'credentials:',
        `  g: {provider: gcp, project: ${fake.project}, region: us-central1, apiEndpoint: "${fake.url}", accessToken: "\${env:BENCH_GCP_TOKEN}"}`,
        'profiles:',
        '  job: {credentials: g, vmType: e2-small, spot: true, runtime: process, command: [sleep, "1"], outputBucket: bench-gcp-out}',
        '',
      ].join('\n'),
    )
    const env = {BENCH_GCP_TOKEN: token, GCE_METADATA_HOST: '127.0.0.1:9', METADATA_SERVER_DETECTION: 'none'}
    const bin = join(root, 'bin/run.js')
    await timed([bin, 'validate'], dir, env)
    const validate: number[] = []
    const plan: number[] = []
    for (let i = 0; i < runs; i++) {
      validate.push(await timed([bin, 'validate'], dir, env))
      plan.push(await timed([bin, 'plan', '--detailed-exitcode'], dir, env))
    }
    console.log('== GCP plan start-up (median of %d runs, fake GCE/IAM on loopback)', runs)
    console.log(`anycloud validate (1 gcp profile):   ${median(validate).toFixed(1)} ms`)
    console.log(`anycloud plan (1 gcp profile):       ${median(plan).toFixed(1)} ms`)
    const bare = importCost('0', runs)
    const deep = importCost("require('@google-cloud/compute/build/src/v1/instances_client.js'); require('@google-cloud/compute/build/src/v1/zone_operations_client.js'); require('@google-cloud/compute/build/src/v1/firewalls_client.js'); require('@google-cloud/compute/build/src/v1/global_operations_client.js'); require('@google-cloud/compute/build/src/v1/images_client.js'); require('@google-cloud/compute/build/src/v1/regions_client.js')", runs)
    const index = importCost("require('@google-cloud/compute')", runs)
    console.log(`node -e 0:                           ${bare.toFixed(1)} ms`)
    console.log(`6 compute clients by deep import:    ${deep.toFixed(1)} ms   (what the gcp provider loads)`)
    console.log(`@google-cloud/compute (index):       ${index.toFixed(1)} ms`)
  } finally {
    await fake.close()
    await gcs.stop()
    rmSync(dir, {recursive: true, force: true})
  }
}
