import assert from 'node:assert/strict'
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {PLACEMENT, processArgs, until, untilUploaded} from '../bootstrap/helpers.js'
import {seedBucket} from './cli.js'
import {sshProject, type SshProject} from './ssh-rig.js'

/**
 * Two deployments on one ssh host (real sshd and supervisord): each deployment's conf.d file names
 * its own programs, so each deployment's uploads run its own script against its own bucket
 * (supervisord merges same-named `[program:…]` sections across included files, the last read
 * winning, so shared names would make one deployment run the other's uploads).
 */
describe(`ssh provider: two deployments on one host ${PLACEMENT.title}`, function () {
  this.timeout(240_000)
  let project: SshProject
  const profile = (name: string) => ({
    credentials: 'box', runtime: 'process', inputBucket: 'two-input', outputBucket: `two-output-${name}`, syncIntervalSeconds: 60,
    command: ['sh', '-c', `echo "$ANYCLOUD_DEPLOYMENT_ID" > "$ANYCLOUD_OUTPUT/from-${name}.txt"; exec sleep 4761`],
  })

  before(async () => {
    project = await sshProject({project: 'twodeps', profiles: {alpha: profile('alpha'), beta: profile('beta')}})
    seedBucket(project.path('cloud'), 'two-input', {'data.txt': 'shared input\n'})
  })
  after(async () => {
    await project?.stopAll()
  })

  it('each deployment\'s periodic upload lands its output in its own bucket while both workloads run', async () => {
    await project.expect(['apply', '-y'], 0)
    const ids = {alpha: project.state()!.deployments.alpha.id, beta: project.state()!.deployments.beta.id}
    await until('both workloads', () => processArgs().filter((p) => p.args === 'sleep 4761').length === 2)
    const bucket = (name: string) => project.path('cloud', 'buckets', `two-output-${name}`)
    // The workloads keep running (no final upload yet): only the periodic uploads can bring these
    // (their next run started early: untilUploaded).
    for (const name of ['alpha', 'beta'] as const) {
      const file = join(bucket(name), `from-${name}.txt`)
      await untilUploaded(`from-${name}.txt in its own bucket`, project.vm.prefix, () => existsSync(file), 20_000, 50)
      assert.equal(readFileSync(file, 'utf8').trim(), ids[name])
    }
    // Every program of both deployments is there, under names of its own.
    const status = JSON.parse((await project.expect(['status', '--json'], 0)).stdout) as {deployments: Array<{profile: string; resources: Array<{address: string; outputs: Record<string, unknown>}>}>}
    for (const d of status.deployments) {
      const programs = d.resources.find((r) => r.address === `${d.profile}.bootstrap`)?.outputs.programs as Record<string, string>
      assert.deepEqual(Object.keys(programs).sort(), ['rclone-output', 'workload'], d.profile)
      assert.equal(programs.workload, 'RUNNING', d.profile)
    }
    const conf = (id: string) => readFileSync(join(project.vm.prefix, 'etc/anycloud/conf.d', `${id}.conf`), 'utf8')
    const sections = (id: string) => [...conf(id).matchAll(/^\[program:([^\]]+)\]$/gm)].map((m) => m[1])
    assert.deepEqual(sections(ids.alpha).filter((s) => sections(ids.beta).includes(s)), [], 'no program name shared by the two deployments')

    // Removing one deployment leaves the other running.
    await project.expect(['destroy', '-y', 'alpha'], 0)
    await until('alpha\'s workload gone', () => processArgs().filter((p) => p.args === 'sleep 4761').length === 1)
    const after = JSON.parse((await project.expect(['status', '--json'], 0)).stdout) as {deployments: Array<{profile: string; workload: {phase: string}}>}
    assert.equal(after.deployments.find((d) => d.profile === 'beta')?.workload.phase, 'running')
  })
})
