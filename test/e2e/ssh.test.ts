import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {stringify as stringifyYaml} from 'yaml'

import {openSession} from '../../src/engine/session.js'
import {deploymentContext, type DesiredResource} from '../../src/model/resources.js'
import {generateHostKeyPair} from '../../src/remote/host-keys.js'
import {entriesUnder, filesUnder, leaksOf, PLACEMENT, processArgs, startVm, until, untilUploaded} from '../bootstrap/helpers.js'
import {ANSI, seedBucket} from './cli.js'
import {sshProject, type SshProject} from './ssh-rig.js'
import {kindOps} from '../../src/providers/provider.js'

/**
 * The built CLI driving an `ssh` credential (SPEC §5, §6) end to end: a host reached over OpenSSH
 * (in its own network namespace where the machine allows it, else on loopback: the titles say
 * which), bootstrapped with the real supervisord and rclone, buckets on a `local` storage
 * credential (rclone `local` remotes: the VM shares this filesystem). Every command runs with
 * ANYCLOUD_REMOTE_PREFIX, so nothing touches this machine's /etc or /mnt.
 */

const CANARY = 'canary-e2e-ssh-secret-4d2b9f1e'
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')

interface PlanJson {
  profiles: Record<string, {deploymentId: string}>
  changes: Array<{address: string; action: string; reason: string}>
  summary: Record<string, number>
}
interface StatusJson {
  deployments: Array<{
    profile: string
    deploymentId: string
    address?: string
    workload: {phase: string; exitCode?: number; lastSync?: {output?: string; checkpoint?: string}}
    resources: Array<{address: string; exists: boolean | null; outputs: Record<string, unknown>}>
  }>
}

const realChanges = (plan: PlanJson) => plan.changes.filter((c) => c.action !== 'no-op' && c.action !== 'read')

describe(`ssh provider end to end: the CLI against a host ${PLACEMENT.title}, local storage`, function () {
  this.timeout(180_000)
  let project: SshProject
  const command = (sleep: number) => ['sh', '-c', `wc -w < "$ANYCLOUD_INPUT/data.txt" > "$ANYCLOUD_OUTPUT/report.txt"; printf %s "$TOKEN" | sha256sum | cut -d" " -f1 > "$ANYCLOUD_OUTPUT/token.sha"; echo "job started ($MODE)"; exec sleep ${sleep}`]
  const profile = (overrides: Record<string, unknown> = {}) => ({
    credentials: 'box', runtime: 'process', spot: true, inputBucket: 'e2e-input', outputBucket: 'e2e-output', syncIntervalSeconds: 60,
    env: {TOKEN: '${env:SSH_E2E_TOKEN}', MODE: 'plain'}, command: command(4801), ...overrides,
  })
  const writeProfile = (overrides: Record<string, unknown>) =>
    project.write(readFileSync(project.path('anycloud.yaml'), 'utf8').replace(/profiles:[\s\S]*$/, stringifyYaml({profiles: {job: profile(overrides)}})))
  const state = () => project.state()!
  const deploymentId = () => state().deployments.job.id
  const paths = () => ({
    mnt: join(project.vm.prefix, 'mnt'),
    lib: join(project.vm.prefix, 'var/lib/anycloud', deploymentId()),
    etc: join(project.vm.prefix, 'etc/anycloud', deploymentId()),
    bucket: (name: string) => project.path('cloud', 'buckets', name),
  })
  const status = async (): Promise<StatusJson> => JSON.parse((await project.expect(['status', '--json'], 0)).stdout) as StatusJson

  before(async () => {
    // Logged in as a non-root user with passwordless sudo, as on a cloud image.
    project = await sshProject({profiles: {job: profile()}, env: {SSH_E2E_TOKEN: CANARY}, user: 'ubuntu'})
    seedBucket(project.path('cloud'), 'e2e-input', {'data.txt': 'one two three\n'})
  })
  after(async () => {
    await project?.stopAll()
  })

  it('apply: the input appears under /mnt/input, the workload\'s output in the output bucket by the periodic upload (the profile\'s interval); the host key is recorded', async () => {
    const r = await project.expectSampled(['apply', '-y'], 0)
    assert.doesNotMatch(r.stderr + r.stdout, ANSI)
    assert.match(r.stdout, /Plan: 5 to create, 0 to update, 0 to replace, 0 to delete\./)
    assert.match(r.stderr, /job\.bootstrap: input-sync: ran/)
    const p = paths()
    assert.equal(readFileSync(join(p.mnt, 'input', 'data.txt'), 'utf8'), 'one two three\n')
    await until('report.txt in /mnt/output', () => existsSync(join(p.mnt, 'output', 'report.txt')))
    // The upload programs loop with the profile's interval (that it is honoured is machine.test.ts's).
    // (By role: a loop forking its next command shows twice for a moment.)
    const loops = Object.fromEntries(project.vm.processes().flatMap((x) => {
      const m = /\/sync\.sh (\S+) && sleep (\d+);/.exec(x.args)
      return m ? [[m[1], m[2]]] : []
    }))
    assert.deepEqual(loops, {output: '60', checkpoint: '60'}, 'an upload loop per bucket, with the profile\'s syncIntervalSeconds')
    // The periodic upload brings the report while the job runs; its next run is started early (untilUploaded).
    // rclone's local backend writes the object in place, so an upload under way shows as a short file:
    // wait for the whole report, not for the name.
    const uploaded = (): string => (existsSync(join(p.bucket('e2e-output'), 'report.txt')) ? readFileSync(join(p.bucket('e2e-output'), 'report.txt'), 'utf8').trim() : '')
    await untilUploaded('report.txt (3 words) in the output bucket', project.vm.prefix, () => uploaded() === '3', 20_000, 25)
    // The ${env:…} value reached the workload (only its hash is written out here).
    assert.equal(readFileSync(join(p.mnt, 'output', 'token.sha'), 'utf8').trim(), sha256(CANARY))
    const vm = state().deployments.job.resources['job.vm'] as unknown as {outputs: {hostKey: string; address: string}}
    assert.equal(vm.outputs.hostKey, project.vm.sshd.hostPublicKey.split(' ').slice(0, 2).join(' '), 'recorded on first contact')
    assert.equal(vm.outputs.address, `ubuntu@${project.vm.sshd.host}:${project.vm.sshd.port}`)
    // The work ran as root through sudo (escalation decided by `id -u`): its files are root's.
    const {statSync} = await import('node:fs')
    assert.equal(statSync(join(p.mnt, 'output', 'report.txt')).uid, 0)
    assert.equal(statSync(p.etc).uid, 0)
  })

  it('a second apply changes nothing and runs no install step; the bootstrap re-run by hand says skipped for every step', async () => {
    await project.expect(['plan', '--detailed-exitcode'], 0)
    const r = await project.expect(['apply', '-y'], 0)
    assert.match(r.stdout, /No changes\./)
    assert.doesNotMatch(r.stderr, /job\.(bootstrap|workload|vm):/)

    // By hand: the provider's own bootstrap, re-run on the machine (what `update` of the bootstrap does).
    const session = await openSession({file: project.path('anycloud.yaml'), env: project.env()})
    try {
      const dep = session.state!.deployments.job
      const provider = await session.providers.get('box')
      const ctx = deploymentContext({project: session.config.project, deploymentId: dep.id, lineage: session.state!.lineage, profile: session.config.profiles.job, placement: dep.placement!, configDir: session.config.dir, stateDir: session.store.localDir, credentials: session.config.credentials})
      await provider.prepare!(ctx)
      const record = dep.resources['job.bootstrap']
      const desired: DesiredResource = {address: 'job.bootstrap', profile: 'job', kind: 'bootstrap', credential: 'box', provider: 'ssh', name: dep.id, dependsOn: [], attributes: {hash: record.attributes.hash}}
      const lines: string[] = []
      const out = await kindOps(provider).update(desired, record, {deployment: ctx, records: dep.resources, progress: (m) => lines.push(m)})
      assert.deepEqual(lines, ['install: skipped', 'files: skipped', 'supervisord: skipped', 'storage-check: skipped', 'input-sync: skipped', 'checkpoint-restore: skipped', 'programs: skipped'])
      assert.deepEqual(out.outputs?.steps, ['done'])
      assert.equal(out.attributes.hash, record.attributes.hash)
    } finally {
      await session.release()
    }
  })

  it('a changed command re-runs only the workload: exactly one change, workload replace', async () => {
    const before = processArgs().find((p) => p.args === 'sleep 4801')
    assert.ok(before, 'the first run is going')
    writeProfile({command: command(4802), env: {TOKEN: '${env:SSH_E2E_TOKEN}', MODE: 'second'}})
    const plan = JSON.parse((await project.expect(['plan', '--json'], 0)).stdout) as PlanJson
    assert.deepEqual(realChanges(plan).map((c) => [c.address, c.action]), [['job.workload', 'replace']])
    assert.deepEqual(plan.summary, {create: 0, update: 0, replace: 1, delete: 0})
    const r = await project.expect(['apply', '-y'], 0)
    assert.doesNotMatch(r.stderr, /job\.bootstrap/)
    await until('the new run', () => processArgs().some((p) => p.args === 'sleep 4802'))
    assert.ok(!processArgs().some((p) => p.args === 'sleep 4801'), 'the old run is gone')
    await project.expect(['plan', '--detailed-exitcode'], 0)
  })

  it('status --json over SSH: workload running, the bootstrap, upload program health and the last successful sync', async () => {
    const s = await until('the uploads to be RUNNING', async () => {
      const st = await status()
      const boot = st.deployments[0].resources.find((x) => x.address === 'job.bootstrap')
      const programs = boot?.outputs.programs as Record<string, string> | undefined
      return programs?.['rclone-output'] === 'RUNNING' && programs['rclone-checkpoint'] === 'RUNNING' ? st : undefined
    }, 20_000, 500)
    const d = s.deployments[0]
    assert.equal(d.workload.phase, 'running')
    assert.match(d.workload.lastSync?.output ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    assert.match(d.workload.lastSync?.checkpoint ?? '', /^\d{4}-\d\d-\d\dT/)
    assert.equal(d.address, `ubuntu@${project.vm.sshd.host}:${project.vm.sshd.port}`)
    const boot = d.resources.find((x) => x.address === 'job.bootstrap')!
    assert.equal(boot.exists, true)
    assert.equal((boot.outputs.programs as Record<string, string>).workload, 'RUNNING')
    const human = await project.expect(['status'], 0)
    assert.match(human.stdout, /workload: running\n\s+last sync: /)
  })

  it('after a host reboot (every process gone, files kept) the plan re-runs the bootstrap and restarts the workload', async () => {
    await project.vm.sshd.restart()
    assert.equal(project.vm.processes().length, 0, 'the reboot took supervisord and the programs along')
    const plan = JSON.parse((await project.expect(['plan', '--json'], 0)).stdout) as PlanJson
    const changes = realChanges(plan)
    assert.deepEqual(changes.map((c) => [c.address, c.action]), [['job.bootstrap', 'update'], ['job.workload', 'replace']])
    assert.match(changes[1].reason, /lost/)
    const r = await project.expect(['apply', '-y'], 0)
    assert.match(r.stderr, /job\.bootstrap: supervisord: ran/)
    assert.match(r.stderr, /job\.bootstrap: input-sync: skipped/, 'what is on the disk is kept')
    await until('the workload to run again', () => processArgs().some((p) => p.args === 'sleep 4802'))
    await project.expect(['plan', '--detailed-exitcode'], 0)
  })

  it('logs prints the workload output and -f follows it until it ends; status then shows the exit code', async () => {
    const r = await project.expect(['logs', 'job'], 0)
    assert.match(r.stdout, /job started \(second\)/)
    writeProfile({command: ['sh', '-c', 'echo step one; while [ ! -f "$ANYCLOUD_OUTPUT/go" ]; do sleep 0.1; done; echo step two; exit 3']})
    await project.expect(['apply', '-y'], 0)
    const follow = project.start(['logs', 'job', '-F'])
    await until('logs -f to print the first line', () => follow.out.stdout.includes('step one'))
    assert.equal(follow.exitCode, null, 'still following')
    writeFileSync(join(paths().mnt, 'output', 'go'), '')
    const done = await until('logs -f to end with the workload', () => (follow.exitCode !== null ? follow : undefined), 20_000)
    assert.equal(done.exitCode, 0)
    assert.match(follow.out.stdout, /step one\nstep two\n/)
    project.outputs.push(follow.out.stdout, follow.out.stderr)
    const s = await status()
    assert.deepEqual({phase: s.deployments[0].workload.phase, exitCode: s.deployments[0].workload.exitCode}, {phase: 'failed', exitCode: 3})
  })

  it('no secret in any command line, file under the prefix (but the two 0600 env files), log, CLI output or state', async () => {
    const p = paths()
    const envFiles = [join(p.etc, 'rclone.env'), join(p.etc, 'workload.env')]
    assert.ok(readFileSync(envFiles[1], 'utf8').includes(`TOKEN=${CANARY}`), 'the canary is really used')
    for (const f of envFiles) assert.equal((await import('node:fs')).statSync(f).mode & 0o777, 0o600)
    assert.ok(project.processLists.length > 20, 'the process list was sampled during the apply')
    const files = filesUnder(project.vm.prefix).filter((f) => !envFiles.includes(f))
    assert.ok(files.some((f) => f.endsWith('supervisord.log')) && files.some((f) => /rclone-output\.log$/.test(f)) && files.some((f) => f.endsWith('workload.log')))
    const leaks = leaksOf(CANARY, {
      files: [...files, project.path('.anycloud', 'state.json'), ...filesUnder(project.path('cloud'))],
      texts: Object.fromEntries([
        ...project.outputs.map((o, i) => [`CLI output #${i}`, o]),
        ...project.processLists.map((l, i) => [`process list #${i}`, l]),
        ['process list now', processArgs().map((x) => x.args).join('\n')],
      ]),
    })
    assert.deepEqual(leaks, [])
    assert.match(readFileSync(project.path('.anycloud', 'state.json'), 'utf8'), /"TOKEN": "\(sensitive\):[0-9a-f]{12}"/)
  })

  it('destroy stops the programs and the workload, removes what anycloud wrote and leaves the host alone', async () => {
    const r = await project.expect(['destroy', '-y'], 0)
    assert.match(r.stderr, /job\.bootstrap: destroyed/)
    assert.deepEqual(entriesUnder(project.vm.prefix), ['etc/', 'mnt/', 'var/', 'var/lib/', 'var/log/'])
    await until('no process of anycloud left on the host', () => project.vm.processes().length === 0)
    assert.deepEqual(state().deployments, {})
    // The host is still there, reachable as before; the input bucket untouched, the output kept with its data.
    const runner = await project.vm.runner()
    assert.equal((await runner.run('echo alive')).stdout, 'alive\n')
    assert.ok(project.vm.sshd.running)
    assert.equal(readFileSync(join(project.path('cloud', 'buckets', 'e2e-input'), 'data.txt'), 'utf8'), 'one two three\n')
    assert.ok(existsSync(join(project.path('cloud', 'buckets', 'e2e-output'), 'report.txt')))
  })
})

describe(`ssh host keys through the CLI (${PLACEMENT.title})`, function () {
  this.timeout(120_000)

  it('a wrong pinned host key stops everything before authentication: nothing runs on the host', async () => {
    const project = await sshProject({hostKey: generateHostKeyPair('someone-else').publicKey, profiles: {job: {credentials: 'box', runtime: 'process', outputBucket: 'hk-output', command: ['sh', '-c', 'touch /tmp/should-never-run']}}})
    try {
      const logFrom = project.vm.sshd.log().length
      const r = await project.run(['apply', '-y'])
      assert.equal(r.code, 1, r.stderr)
      assert.match(r.stderr, /Host key mismatch for .*: expected SHA256:.* the host presented SHA256:/)
      assert.match(r.stderr, /no credential was sent and nothing ran/)
      assert.deepEqual(entriesUnder(project.vm.prefix), [], 'nothing was written on the host')
      const log = project.vm.sshd.log().slice(logFrom)
      assert.match(log, /Connection from /, 'anycloud did reach sshd')
      assert.doesNotMatch(log, /publickey|Accepted|Postponed|session opened|Starting session/i, `sshd saw an authentication attempt:\n${log}`)
      // At most the engine's intent to create the vm (pending): no host key was recorded.
      const vmRecord = stateOf(project)?.deployments.job?.resources['job.vm'] as unknown as {status: string; outputs: Record<string, unknown>} | undefined
      assert.ok(!vmRecord || (vmRecord.status === 'pending' && vmRecord.outputs.hostKey === undefined), JSON.stringify(vmRecord))
    } finally {
      await project.stopAll()
    }
  })

  it('a host key recorded on first contact is enforced from then on: a changed key fails plan and destroy before authentication', async () => {
    const project = await sshProject({profiles: {job: {credentials: 'box', runtime: 'process', command: ['sh', '-c', 'exec sleep 4803']}}})
    try {
      await project.expect(['apply', '-y'], 0)
      const recorded = (stateOf(project)!.deployments.job.resources['job.vm'] as unknown as {outputs: {hostKey: string}}).outputs.hostKey
      assert.ok(project.vm.sshd.hostPublicKey.startsWith(recorded))
      await project.vm.sshd.restart({rotateHostKey: true})
      const logFrom = project.vm.sshd.log().length
      const plan = await project.run(['plan'])
      assert.equal(plan.code, 1)
      assert.match(plan.stderr, /Host key mismatch/)
      const destroy = await project.run(['destroy', '-y'])
      assert.equal(destroy.code, 1)
      assert.match(destroy.stderr, /Host key mismatch/)
      assert.doesNotMatch(project.vm.sshd.log().slice(logFrom), /publickey|Accepted|session opened/i)
      // Pinning the new key (verified out of band) lets destroy through.
      project.write(readFileSync(project.path('anycloud.yaml'), 'utf8').replace('identityFile: ./id_ed25519', `identityFile: ./id_ed25519\n        hostKey: ${project.vm.sshd.hostPublicKey}`))
      await project.expect(['destroy', '-y'], 0)
      assert.deepEqual(filesUnder(project.vm.prefix), [])
    } finally {
      await project.stopAll()
    }
  })
})

describe(`checkpoint restore across deployments through the CLI (${PLACEMENT.title})`, function () {
  this.timeout(180_000)

  it('a checkpoint written by a first run (spot, persistBucket) is restored into a second, fresh deployment', async () => {
    const writer = ['sh', '-c', 'echo 41 > "$ANYCLOUD_CHECKPOINT/epoch"; echo saved']
    const reader = ['sh', '-c', 'e=$(cat "$ANYCLOUD_CHECKPOINT/epoch"); echo "resumed from $e" > "$ANYCLOUD_OUTPUT/resume.txt"']
    const vm = await startVm()
    const project = await sshProject({vm, profiles: {first: {credentials: 'box', runtime: 'process', spot: true, persistBucket: true, syncIntervalSeconds: 60, command: writer}}})
    try {
      await project.expect(['apply', '-y', '--wait'], 0)
      const id1 = stateOf(project)!.deployments.first?.id
      // --wait tore the machine down (persist is off) but kept the checkpoint bucket (persistBucket).
      assert.ok(id1 === undefined || !stateOf(project)!.deployments.first.resources['first.vm'])
      const firstBucket = readdirSync(project.path('cloud', 'buckets')).find((b) => b.startsWith('sshe2e-first-'))
      assert.ok(firstBucket, 'the checkpoint bucket was kept')
      assert.equal(readFileSync(project.path('cloud', 'buckets', firstBucket, 'epoch'), 'utf8'), '41\n')
      await project.expect(['destroy', '-y'], 0)
      assert.ok(existsSync(project.path('cloud', 'buckets', firstBucket, 'epoch')), 'destroy keeps a persistBucket checkpoint')

      // A second, fresh deployment: its id is known from the saved plan, its checkpoint bucket seeded from the first.
      project.write(readFileSync(project.path('anycloud.yaml'), 'utf8').replace(/profiles:[\s\S]*$/, stringifyYaml({profiles: {second: {credentials: 'box', runtime: 'process', spot: true, outputBucket: 'resume-out', syncIntervalSeconds: 60, command: reader}}})))
      const plan = JSON.parse((await project.expect(['plan', '--out', 'plan.json', '--json'], 0)).stdout) as PlanJson
      const id2 = plan.profiles.second.deploymentId
      assert.notEqual(id2, firstBucket)
      mkdirSync(project.path('cloud', 'buckets', id2), {recursive: true})
      cpSync(project.path('cloud', 'buckets', firstBucket), project.path('cloud', 'buckets', id2), {recursive: true})
      await project.expect(['apply', 'plan.json'], 0)
      // rclone's local backend writes the file in place: wait for a whole line, not for the name.
      const resume = project.path('cloud', 'buckets', 'resume-out', 'resume.txt')
      const line = await until('a whole line in resume.txt in the output bucket', () => {
        const text = existsSync(resume) ? readFileSync(resume, 'utf8') : ''
        return text.endsWith('\n') ? text : undefined
      }, 20_000)
      assert.equal(line, 'resumed from 41\n')
    } finally {
      await project.stopAll()
    }
  })
})

function stateOf(project: SshProject) {
  return project.state()
}
