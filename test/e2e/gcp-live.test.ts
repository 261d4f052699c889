/**
 * Opt-in suite against REAL Google Cloud: `ANYCLOUD_LIVE_GCP=1` plus a project
 * (ANYCLOUD_LIVE_GCP_PROJECT) and a service-account key allowed to manage Compute Engine, service
 * accounts and GCS (ANYCLOUD_LIVE_GCP_KEY_FILE; ANYCLOUD_LIVE_GCP_REGION, default `us-central1`).
 * It costs money (an e2-small spot VM for a few minutes) and leaves nothing behind: it ends with a
 * label sweep of everything of this run's project name (instances by label, firewall rules and
 * service accounts by anycloud's naming, buckets by label), which deletes what it finds and FAILS
 * if it found anything.
 *
 * The guard sits inside `describe` and registers no test at all when the variable is unset: no
 * hook runs, no Google client is built, and CI reports show no pending live tests. Never in CI.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'

import {stringify} from 'yaml'

import {Project} from './cli.js'

const LIVE = process.env.ANYCLOUD_LIVE_GCP === '1' && !process.env.CI

describe('live GCP (opt-in: ANYCLOUD_LIVE_GCP=1, never in CI)', function () {
  if (!LIVE) return
  this.timeout(30 * 60_000)
  const runId = randomBytes(3).toString('hex')
  const projectName = `live${runId}`
  const gcpProject = process.env.ANYCLOUD_LIVE_GCP_PROJECT ?? ''
  const keyFile = process.env.ANYCLOUD_LIVE_GCP_KEY_FILE ?? ''
  const region = process.env.ANYCLOUD_LIVE_GCP_REGION ?? 'us-central1'
  const output = `anycloud-live-${runId}-out`
  let project: Project | undefined

  after(async () => {
    try {
      await project?.run(['destroy', '-y'], {timeoutMs: 20 * 60_000})
    } finally {
      const leaks = await sweep(projectName, gcpProject, keyFile)
      project?.cleanup([]).catch(() => undefined)
      assert.deepEqual(leaks, [], `label sweep found (and deleted) resources of anycloud project ${projectName}`)
    }
  })

  it('apply a spot job that writes its output, then destroy', async () => {
    assert.ok(gcpProject && keyFile, 'set ANYCLOUD_LIVE_GCP_PROJECT and ANYCLOUD_LIVE_GCP_KEY_FILE')
    project = new Project(
      stringify({
        version: 1,
        project: projectName,
        credentials: {live: {provider: 'gcp', project: gcpProject, keyFile, region}},
        profiles: {
          job: {credentials: 'live', vmType: 'e2-small', spot: true, runtime: 'process', outputBucket: output, command: ['sh', '-c', 'echo hello > "$ANYCLOUD_OUTPUT/hello.txt"']},
        },
      }),
    )
    const applied = await project.run(['apply', '-y', '--wait'], {timeoutMs: 25 * 60_000})
    assert.equal(applied.code, 0, applied.stderr)
    const destroyed = await project.run(['destroy', '-y'], {timeoutMs: 20 * 60_000})
    assert.equal(destroyed.code, 0, destroyed.stderr)
  })
})

/** Deletes everything of anycloud project `project` in the GCP project and returns what it found. */
async function sweep(project: string, gcpProject: string, keyFile: string): Promise<string[]> {
  const {GcpClients} = await import('../../src/providers/gcp/clients.js')
  const compute = await import('../../src/providers/gcp/compute.js')
  const clients = new GcpClients({project: gcpProject, keyFile}, 'live')
  const found: string[] = []
  const ctx = {clients, project: gcpProject, credential: 'live', timing: compute.DEFAULT_TIMING, sshUser: 'anycloud', zones: new Map<string, string[]>()}
  const call = {deployment: {deploymentId: `${project}-sweep`} as never, records: {}, progress: () => undefined}
  try {
    for (const v of await compute.findInstances(ctx, {'anycloud-project': project})) {
      found.push(`instance ${v.zone}/${v.name}`)
      await compute.deleteInstance(ctx, v.zone, v.name, call)
    }
    const c = await clients.compute()
    const [firewalls] = await c.firewalls.list({project: gcpProject}, {autoPaginate: true} as never)
    for (const f of (firewalls as Array<{name?: string}>) ?? []) {
      if (!f.name?.startsWith(`anycloud-${project}-`)) continue
      found.push(`firewall ${f.name}`)
      await c.firewalls.delete({project: gcpProject, firewall: f.name})
    }
    const iam = await clients.iam()
    const {data} = await iam.projects.serviceAccounts.list({name: `projects/${gcpProject}`, pageSize: 100})
    for (const a of data.accounts ?? []) {
      if (!String(a.description ?? '').startsWith(`anycloud-managed deployment=${project}-`)) continue
      found.push(`service account ${String(a.email)}`)
      await iam.projects.serviceAccounts.delete({name: `projects/${gcpProject}/serviceAccounts/${String(a.email)}`})
    }
    const {Storage} = await import('@google-cloud/storage')
    const storage = new Storage({projectId: gcpProject, ...(await clients.storageAuth())})
    const [buckets] = await storage.getBuckets()
    for (const b of buckets) {
      if (b.metadata.labels?.['anycloud-project'] !== project) continue
      found.push(`bucket ${b.name}`)
      await b.deleteFiles({force: true})
      await b.delete()
    }
  } finally {
    await clients.close()
  }
  return found
}
