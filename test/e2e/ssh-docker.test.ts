import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {entriesUnder, filesUnder, leaksOf, PLACEMENT, startVm, until, untilUploaded} from '../bootstrap/helpers.js'
import {installFakeDocker, type FakeDocker} from '../bootstrap/fake-docker.js'
import {seedBucket} from './cli.js'
import {sshProject, type SshProject} from './ssh-rig.js'

/**
 * `runtime: docker` on an ssh host without a Docker engine: a recording `docker` stand-in is first
 * on the host's PATH (sshd SetEnv), so the exact `docker run` anycloud issues is checked, and its
 * emulated container (the command run on the host with the env file, mounts mapped) lets sync,
 * logs and status work end to end. The host key is pinned in the file.
 */

const CANARY = 'canary-docker-env-secret-8a1c3e5f'

interface StatusJson {
  deployments: Array<{workload: {phase: string; exitCode?: number}}>
}

describe(`ssh provider, runtime docker with a recording docker stand-in (host ${PLACEMENT.title})`, function () {
  this.timeout(180_000)
  let dockerRoot: string
  let docker: FakeDocker
  let project: SshProject

  before(async () => {
    dockerRoot = mkdtempSync(join(tmpdir(), 'anycloud-fake-docker-'))
    docker = installFakeDocker(dockerRoot)
    const vm = await startVm({env: docker.env})
    project = await sshProject({
      vm,
      hostKey: true,
      env: {DOCKER_E2E_TOKEN: CANARY},
      profiles: {
        train: {
          credentials: 'box', image: 'ghcr.io/acme/train:1', gpuType: 'a100:1', shmSize: '2g', spot: true,
          inputBucket: 'd-input', outputBucket: 'd-output', syncIntervalSeconds: 60,
          env: {TOKEN: '${env:DOCKER_E2E_TOKEN}'},
          command: ['sh', '-c', 'cat "$ANYCLOUD_INPUT/data.txt" > "$ANYCLOUD_OUTPUT/copy.txt"; echo container says hi; while [ ! -f "$ANYCLOUD_OUTPUT/go" ]; do sleep 0.1; done; echo bye'],
        },
      },
    })
    seedBucket(project.path('cloud'), 'd-input', {'data.txt': 'data for the container\n'})
  })
  after(async () => {
    await project?.stopAll()
    if (dockerRoot) rmSync(dockerRoot, {recursive: true, force: true})
  })

  it('runs the container with the exact mounts, labels, 0600 env file, --gpus all and --shm-size; sync, logs -f and status follow it', async () => {
    const r = await project.expectSampled(['apply', '-y'], 0)
    assert.match(r.stderr, /train\.bootstrap: install: skipped/, 'docker is on the PATH: nothing to install')
    assert.match(r.stderr, /train\.workload: starting the container/)
    const id = project.state()!.deployments.train.id
    const prefix = project.vm.prefix
    const envFile = `${prefix}/etc/anycloud/${id}/workload.env`

    // The run script (a supervisord program) issues `docker run` right after the start.
    const run = await until('docker run', () => docker.calls().find((c) => c.argv[0] === 'run'))
    assert.deepEqual(run.argv, [
      'run', '-d', '--name', `anycloud-${id}`,
      '--label', `anycloud-deployment=${id}`, '--label', 'anycloud-managed=true',
      '-v', `${prefix}/mnt/input:/mnt/input:ro`, '-v', `${prefix}/mnt/output:/mnt/output`, '-v', `${prefix}/mnt/checkpoint:/mnt/checkpoint`,
      '--env-file', envFile, '--gpus', 'all', '--shm-size', '2g',
      'ghcr.io/acme/train:1', 'sh', '-c', 'cat "$ANYCLOUD_INPUT/data.txt" > "$ANYCLOUD_OUTPUT/copy.txt"; echo container says hi; while [ ! -f "$ANYCLOUD_OUTPUT/go" ]; do sleep 0.1; done; echo bye',
    ])
    assert.equal(run.envFile, envFile)
    assert.equal(run.envFileMode, 0o600, 'the env file was 0600 when docker read it')
    const env = readFileSync(envFile, 'utf8')
    assert.match(env, /^ANYCLOUD_INPUT=\/mnt\/input$/m, 'the container sees its own mount paths')
    assert.match(env, /^ANYCLOUD_OUTPUT=\/mnt\/output$/m)
    assert.match(env, new RegExp(`^ANYCLOUD_DEPLOYMENT_ID=${id}$`, 'm'))
    assert.ok(env.includes(`TOKEN=${CANARY}`))

    // The container's output reaches the bucket through the bind mount and the upload program (its next run started early).
    await untilUploaded('copy.txt in the output bucket', prefix, () => existsSync(project.path('cloud', 'buckets', 'd-output', 'copy.txt')), 15_000)
    assert.equal(readFileSync(project.path('cloud', 'buckets', 'd-output', 'copy.txt'), 'utf8'), 'data for the container\n')

    const follow = project.start(['logs', 'train', '-F'])
    await until('logs -f to show the container output', () => follow.out.stdout.includes('container says hi'))
    writeFileSync(join(prefix, 'mnt', 'output', 'go'), '')
    await until('logs -f to end with the container', () => follow.exitCode !== null, 20_000)
    assert.equal(follow.exitCode, 0)
    assert.match(follow.out.stdout, /container says hi\nbye\n/)
    project.outputs.push(follow.out.stdout, follow.out.stderr)
    const s = JSON.parse((await project.expect(['status', '--json'], 0)).stdout) as StatusJson
    assert.deepEqual(s.deployments[0].workload.phase, 'completed')
    assert.equal(s.deployments[0].workload.exitCode, 0)
    assert.ok(docker.calls().some((c) => c.argv[0] === 'wait') && docker.calls().some((c) => c.argv[0] === 'logs'))
  })

  it('the secret stays in the 0600 env file: not in docker\'s argv, other files, logs, CLI output or state', () => {
    const id = project.state()!.deployments.train.id
    const prefix = project.vm.prefix
    const envFiles = [`${prefix}/etc/anycloud/${id}/workload.env`, `${prefix}/etc/anycloud/${id}/rclone.env`]
    const leaks = leaksOf(CANARY, {
      files: [...filesUnder(prefix).filter((f) => !envFiles.includes(f)), ...filesUnder(docker.stateDir), project.path('.anycloud', 'state.json')],
      texts: Object.fromEntries([...project.outputs.map((o, i) => [`CLI output #${i}`, o]), ...project.processLists.map((l, i) => [`process list #${i}`, l])]),
    })
    assert.deepEqual(leaks, [])
  })

  it('destroy removes the container and everything anycloud wrote', async () => {
    const id = project.state()!.deployments.train.id
    await project.expect(['destroy', '-y'], 0)
    assert.ok(docker.calls().some((c) => c.argv.join(' ') === `rm -f anycloud-${id}`), 'docker rm -f of the container')
    assert.deepEqual(docker.containers(), [])
    assert.deepEqual(entriesUnder(project.vm.prefix), ['etc/', 'mnt/', 'var/', 'var/lib/', 'var/log/'])
    await until('no process of anycloud left on the host', () => project.vm.processes().length === 0)
  })
})
