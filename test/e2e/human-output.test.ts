/**
 * Human output (issue 13, items 10 and 11): results on stdout so `anycloud status | grep` works,
 * and never raw JSON — no `{"…"}` maps, no `["…"]` command arrays, no `\n` inside a string.
 */
import assert from 'node:assert/strict'

import {configYaml, jobProfile, Project, seedBucket, until} from './cli.js'

const RAW_JSON = /\{"|\["|\\n/

describe('e2e: human output', function () {
  this.timeout(120_000)
  let project: Project | undefined

  afterEach(async () => {
    await project?.cleanup()
    project = undefined
  })

  it('status on stdout: a finished workload is `completed (exit 0)`, last sync as words, no JSON', async () => {
    project = new Project(configYaml({profiles: {job: jobProfile({spot: false, env: {GREETING: 'hello'}, command: ['sh', '-c', 'echo done > "$ANYCLOUD_OUTPUT/report.txt"\nsleep 2']})}}), {noAnsi: true})
    seedBucket(project.path('cloud'), 'e2e-input')
    const plan = await project.expect(['plan'], 0)
    assert.doesNotMatch(plan.stdout, RAW_JSON, `the plan shows no raw JSON:\n${plan.stdout}`)
    assert.match(plan.stdout, /command = \[\n\s+"sh",\n\s+"-c",\n\s+<<-EOT\n\s+echo done > "\$ANYCLOUD_OUTPUT\/report\.txt"\n\s+sleep 2\n\s+EOT,\n\s+\]/)
    assert.match(plan.stdout, /env {5}= \{\n\s+GREETING = "hello"\n\s+\}/)

    await project.expect(['apply', '-y'], 0)
    await until('the workload to complete', async () => {
      const s = JSON.parse((await project!.expect(['status', '--json'], 0)).stdout) as {deployments: Array<{workload: {phase: string; lastSync?: unknown}}>}
      return s.deployments[0].workload.phase === 'completed' && s.deployments[0].workload.lastSync
    }, 60_000, 250)

    const r = await project.expect(['status'], 0)
    assert.doesNotMatch(r.stdout, RAW_JSON, r.stdout)
    assert.match(r.stdout, /^job: e2e-job-[a-z0-9]{6} on laptop \(local, local/m)
    assert.match(r.stdout, /^ {2}workload: completed \(exit 0\)$/m)
    assert.match(r.stdout, /^ {2}last sync: output \d{4}-\d\d-\d\dT[\d:.]+Z$/m)
    assert.match(r.stdout, /^ {2}job\.workload +completed \(exit 0\) +supervisor:\d+$/m)
    assert.doesNotMatch(r.stdout, /missing +supervisor/)
    assert.doesNotMatch(r.stderr, /workload:|job\.workload/, 'the result is not on stderr')
  })
})
