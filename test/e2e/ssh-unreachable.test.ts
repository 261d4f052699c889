/**
 * The ssh provider's machine stays after a destroy, so removing what anycloud put on it IS the
 * delete (issue 13, item 6): an unreachable host never stops a plan (the on-host resources show as
 * unknown, with a warning), and a destroy that cannot reach it fails at once with a clear error
 * that offers `anycloud state rm` for the records; after those, nothing is left in state.
 */
import assert from 'node:assert/strict'

import {sshProject, type SshProject} from './ssh-rig.js'

describe('e2e: ssh host unreachable at refresh and destroy', function () {
  this.timeout(240_000)
  let project: SshProject | undefined

  after(async () => {
    await project?.vm.stop()
    await project?.cleanup().catch(() => undefined)
  })

  it('apply --wait: a failed job\'s output is shown and kept before the teardown; logs prints it afterwards', async () => {
    const p = await sshProject({profiles: {job: {credentials: 'box', runtime: 'process', command: ['sh', '-c', 'echo ssh-job-says-hi; echo ssh-job-broke >&2; exit 4']}}})
    try {
      const r = await p.run(['apply', '-y', '--wait'])
      assert.equal(r.code, 1, r.stderr)
      assert.match(r.stdout + r.stderr, /workload's output \(failed, exit 4\); saved to .*\.anycloud\/logs\//)
      assert.match(r.stdout + r.stderr, /\| ssh-job-broke/)
      const logs = await p.expect(['logs', 'job'], 0)
      assert.match(logs.stdout, /ssh-job-says-hi[\s\S]*ssh-job-broke/)
    } finally {
      await p.stopAll()
    }
  })

  it('plan warns and plans; destroy exits 1 offering state rm, without waiting again; state rm then clears it', async () => {
    project = await sshProject({profiles: {job: {credentials: 'box', runtime: 'process', command: ['sleep', '600']}}, env: {ANYCLOUD_SSH_WAIT_MS: '4000'}})
    await project.expect(['apply', '-y'], 0)
    await project.vm.sshd.stopDaemon()

    const planned = await project.expect(['plan', '--detailed-exitcode'], 0)
    assert.match(planned.stdout + planned.stderr, /job\.(workload|bootstrap): could not read it on the machine, so it is shown as state recorded it \(actual state unknown\): Could not connect to root@/)

    const destroyed = await project.expect(['destroy', '-y'], 1)
    assert.match(destroyed.stdout + destroyed.stderr, /job\.workload: cannot stop the workload on root@[^ ]+ \(credential 'box'\): /)
    assert.match(destroyed.stdout + destroyed.stderr, /anycloud state rm job\.workload && anycloud state rm job\.bootstrap && anycloud state rm job\.vm/)
    // One wait for the host in the whole run (the refresh's): the delete did not wait again.
    assert.equal((destroyed.stderr.match(/Could not connect to root@/g) ?? []).length >= 1, true)
    assert.ok(project.state()!.deployments.job.resources['job.workload'], 'the records stay until the user says otherwise')

    for (const address of ['job.workload', 'job.bootstrap', 'job.vm']) await project.expect(['state', 'rm', address], 0)
    assert.deepEqual(Object.keys(project.state()?.deployments.job?.resources ?? {}), [])
  })
})
