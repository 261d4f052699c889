/**
 * The interruption-notice scenario shared by notice-gce.test.ts (Compute Engine
 * `instance/preempted`) and notice-azure.test.ts (Azure Scheduled Events `Preempt`), end to end on
 * the BUILT CLI: the fake GCE / fake ARM with real sshd "VMs" in network namespaces, the GCS fake /
 * azurite, and a notice endpoint of the test forwarded into each VM (ANYCLOUD_NOTICE_BASE; the
 * metadata address is never used). The providers hand the notice program their cloud's adapter
 * through the shared cloud machine.
 *
 * The job writes checkpoint n at start; the periodic upload is a minute away, so the checkpoint the
 * first run wrote (seconds before the notice) reaches the bucket only through the flush on the
 * notice. Then, with the VM noticed but still up, `watch` waits (one `wait` decision, the workload
 * not restarted there); the fake cloud takes the VM back; the plan shows `replace` with the
 * provider's reason; `watch` replaces it (on GCE in another zone: the VM's zone is stocked out
 * first) and run 2 resumes from checkpoint 1 and completes.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {startNoticeEndpoint, type NoticeEndpoint} from '../helpers/notice-endpoint.js'
import {requireNetns, stopAllSshd} from '../helpers/sshd/index.js'
import {type Project, until} from './cli.js'
import type {Decision} from './spot-job.js'

/**
 * Registers the hooks of a notice file's top describe: the notice endpoint and the VMs' private
 * remote prefix before, every sshd VM and the prefix gone after.
 */
export function useNoticeRig(): {readonly notice: NoticeEndpoint; readonly prefix: string} {
  let notice: NoticeEndpoint | undefined
  let prefix = ''
  before(async function () {
    await requireNetns(this)
    notice = await startNoticeEndpoint()
    prefix = mkdtempSync(join(tmpdir(), 'anycloud-notice-vm-'))
  })
  after(async () => {
    await notice?.close()
    await stopAllSshd()
    if (prefix) rmSync(prefix, {recursive: true, force: true})
  })
  return {
    get notice() {
      return notice!
    },
    get prefix() {
      return prefix
    },
  }
}

interface JsonChange {
  address: string
  action: string
  reason: string
}

/** What each cloud's test supplies to the shared scenario. */
export interface Cloud {
  project: Project
  env: Record<string, string>
  outputBucket: string
  objects(bucket: string): Promise<string[]>
  text(bucket: string, key: string): Promise<string>
  /** The VM's name in the fake (from state). */
  vmName(): string
  /** Arms the notice as this cloud shows it. */
  arm(vmName: string): void
  /** The fake cloud takes the VM back. */
  takeBack(vmName: string): Promise<void>
  /** The plan's reason for replacing the VM the cloud took. */
  reason: RegExp
  liveVms(): number
  /** How the notice program records this cloud's notice. */
  noticed: {cloud: string; event: string}
  /**
   * Clouds with zones: stocks out the zone the VM is in (before watch's recovery) and says where the
   * live VM is; the recovery must land in another zone.
   */
  zones?: {stockOutLanded(): string; liveZones(): string[]}
}

export async function noticeScenario(notice: NoticeEndpoint, c: Cloud): Promise<void> {
  const run = (args: string[], code: number) => c.project.expect(args, code, {env: c.env, timeoutMs: 300_000})
  const logs = async () => (await c.project.run(['logs', 'job'], {env: c.env, timeoutMs: 60_000})).stdout
  const decisionsOf = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Decision)

  // 1. Run 1 writes checkpoint 1 on the VM; the next periodic upload is a minute away.
  await run(['apply', '-y'], 0)
  const id = c.project.state()!.deployments.job.id
  const vm = c.vmName()
  await until('run 1 started', async () => /run 1 started/.test(await logs()), 90_000, 500)
  const polls = notice.polls
  await until('the VM polling the notice endpoint', () => notice.polls > polls, 60_000, 100)
  assert.deepEqual(await c.objects(id), [], 'checkpoint 1 is not in the bucket before the notice')

  // 2. The notice: the workload is stopped with SIGTERM and checkpoint 1 flushed.
  c.arm(vm)
  await until('checkpoint 1 flushed to the bucket', async () => (await c.objects(id)).includes('count') && (await c.text(id, 'count')) === '1', 60_000, 200)
  assert.ok((await c.objects(c.outputBucket)).includes('run-1.txt'), 'the output was flushed too')
  await until('the workload stopped by the notice', async () => /run 1 stopped by SIGTERM/.test(await logs()), 60_000, 500)

  // 3. Noticed but still up: watch waits (one line), nothing is restarted on the doomed VM.
  const waiting = decisionsOf((await run(['watch', '--once', '--json'], 0)).stdout)
  assert.deepEqual(waiting.map((d) => [d.action, d.address, d.outcome]), [['wait', 'job.workload', 'skipped']], JSON.stringify(waiting))
  assert.match(waiting[0].reason, /interruption notice .*waiting for the cloud to take the VM back/)
  assert.ok(!/run 2 started/.test(await logs()), 'the workload was not restarted on the noticed VM')
  assert.equal(c.liveVms(), 1)
  const status = JSON.parse((await run(['status', '--json'], 0)).stdout) as {deployments: Array<{spot?: {notice?: {cloud?: string; event?: string; noticedAt?: string}}}>}
  const seen = status.deployments[0].spot?.notice
  assert.deepEqual([seen?.cloud, seen?.event], [c.noticed.cloud, c.noticed.event], JSON.stringify(status.deployments[0].spot))
  assert.match((await run(['status'], 0)).stdout, new RegExp(`interruption notice \\(${c.noticed.cloud} ${c.noticed.event}\\) at ${seen!.noticedAt}: workload stopped, checkpoint flushed; the cloud is taking the VM back`))

  // 4. The cloud takes the VM back: the plan replaces it with the provider's reason.
  await c.takeBack(vm)
  notice.clear()
  const plan = JSON.parse((await run(['plan', '--json', '--detailed-exitcode'], 2)).stdout) as {changes: JsonChange[]}
  const vmChange = plan.changes.find((x) => x.address === 'job.vm')!
  assert.equal(vmChange.action, 'replace')
  assert.match(vmChange.reason, c.reason)
  assert.equal(plan.changes.find((x) => x.address === 'job.workload')!.action, 'replace')

  // 5. watch replaces it (in the next zone when the VM's zone has no capacity left); run 2 resumes
  //    from the flushed checkpoint 1 and completes.
  const stockedOut = c.zones?.stockOutLanded()
  const replaced = decisionsOf((await run(['watch', '--once', '--json'], 0)).stdout)
  assert.equal(replaced.find((d) => d.address === 'job.vm')?.outcome, 'done', JSON.stringify(replaced))
  if (c.zones) {
    const [zone] = c.zones.liveZones()
    assert.ok(zone && zone !== stockedOut, `the recovery landed in ${zone}, not the stocked-out ${stockedOut}`)
    assert.equal(c.project.state()!.deployments.job.placement?.zone, zone, 'the zone it landed in is recorded')
  }
  await until('run-2.txt in the output bucket', async () => (await c.objects(c.outputBucket)).includes('run-2.txt'), 120_000, 250)
  assert.equal(await c.text(c.outputBucket, 'run-2.txt'), 'run 2 saw checkpoint 1', 'the new VM restored the checkpoint the old one flushed on its notice')
  assert.equal((c.project.state()!.deployments.job as {spot?: {preemptions: number}}).spot?.preemptions, 1)

  await run(['destroy', '-y'], 0)
  assert.equal(c.liveVms(), 0)
}
