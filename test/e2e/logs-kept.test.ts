/**
 * A finished job's output is kept (issue 13, item 5): before `apply --wait`, `watch` or `destroy`
 * tear the machine down, the tail of the workload's stdout+stderr is shown and saved under the
 * state directory (0600, secrets masked), state points at it, and `anycloud logs PROFILE` prints it
 * after the machine is gone. The local provider here; test/e2e/destroy-unreachable.test.ts (aws)
 * and test/e2e/ssh-unreachable.test.ts (ssh) check the same on their machines.
 */
import assert from 'node:assert/strict'
import {existsSync, readFileSync, statSync} from 'node:fs'

import {configYaml, Project, until} from './cli.js'

const SECRET = 'canary-logs-kept-secret-7f3a91'

describe('e2e: the workload output outlives the machine (local provider)', function () {
  this.timeout(120_000)
  let project: Project | undefined
  afterEach(async () => {
    await project?.cleanup()
    project = undefined
  })

  it('apply --wait on a failing job shows the tail, saves it, and `logs` prints it after teardown', async () => {
    project = new Project(
      configYaml({
        profiles: {
          job: {
            credentials: 'laptop', runtime: 'process', env: {TOKEN: '${env:E2E_TOKEN}'},
            command: ['sh', '-c', 'for i in $(seq 1 30); do echo "out line $i"; done; echo "token is $TOKEN"; echo "something broke" >&2; exit 3'],
          },
        },
      }),
    )
    const env = {E2E_TOKEN: SECRET}
    const r = await project.run(['apply', '-y', '--wait'], {env, timeoutMs: 90_000})
    assert.equal(r.code, 1, r.stderr)
    // The tail is shown before the machine goes: the last lines, stderr included, the secret masked.
    assert.match(r.stdout + r.stderr, /last 20 lines of the workload's output \(failed, exit 3\); saved to .*\.anycloud\/logs\/e2e-job-[a-z0-9]{6}\.log/)
    assert.match(r.stdout + r.stderr, /\| something broke/)
    assert.match(r.stdout + r.stderr, /\| out line 30/)
    assert.doesNotMatch(r.stdout + r.stderr, /\| out line 1\n/)
    assert.ok(!r.stderr.includes(SECRET))

    const state = project.state() as unknown as {deployments: Record<string, {resources: Record<string, unknown>}>; logs: Record<string, {file: string; deploymentId: string; phase: string; exitCode: number}>}
    assert.equal(state.deployments.job?.resources['job.vm'], undefined, 'the machine was torn down')
    const saved = state.logs.job
    assert.equal(saved.phase, 'failed')
    assert.equal(saved.exitCode, 3)
    const file = project.path('.anycloud', saved.file)
    assert.ok(existsSync(file))
    assert.equal(statSync(file).mode & 0o777, 0o600)
    const text = readFileSync(file, 'utf8')
    assert.match(text, /out line 1\n[\s\S]*out line 30\n[\s\S]*something broke/)
    assert.ok(!text.includes(SECRET), 'the secret is masked in the saved file')
    assert.ok(!JSON.stringify(state).includes(SECRET))

    const logs = await project.expect(['logs', 'job'], 0, {env})
    assert.equal(logs.stdout, text)
    assert.match(logs.stderr, /the machine of e2e-job-[a-z0-9]{6} is gone: its output as saved at .*, workload failed \(exit 3\)/)

    // destroy forgets the deployment; the output stays readable.
    await project.expect(['destroy', '-y'], 0, {env})
    assert.equal((await project.expect(['logs', 'job'], 0, {env})).stdout, text)
  })

  it('destroy of a running job saves what it printed so far', async () => {
    project = new Project(configYaml({profiles: {job: {credentials: 'laptop', runtime: 'process', command: ['sh', '-c', 'echo started-and-waiting; exec sleep 300']}}}))
    await project.expect(['apply', '-y'], 0)
    await until('the job printed', async () => (await project!.expect(['logs', 'job'], 0)).stdout.includes('started-and-waiting'), 60_000, 200)
    const destroyed = await project.expect(['destroy', '-y'], 0)
    assert.match(destroyed.stdout + destroyed.stderr, /\| started-and-waiting/)
    assert.match((await project.expect(['logs', 'job'], 0)).stdout, /started-and-waiting/)
  })
})
