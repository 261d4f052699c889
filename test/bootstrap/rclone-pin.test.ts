import assert from 'node:assert/strict'
import {existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {removeDeployment, runBootstrap} from '../../src/bootstrap/machine.js'
import {PINNED_RCLONE_VERSION} from '../../src/bootstrap/rclone-release.js'
import {renderBootstrap} from '../../src/bootstrap/render.js'
import {machineLayout} from '../../src/bootstrap/spec.js'
import type {BootstrapSpec} from '../../src/bootstrap/types.js'
import {AnycloudError} from '../../src/errors/index.js'
import type {SshRunner} from '../../src/remote/ssh-runner.js'
import {rcloneScript, releaseArch, startReleaseServer, type ReleaseServer} from '../helpers/rclone-release.js'
import {localRemote, modeOf, PLACEMENT, specFor, startVm, until, type Vm} from './helpers.js'

/**
 * SPEC §5: rclone already on a machine is used when recent enough; otherwise the bootstrap
 * installs anycloud's pinned release, checksum-verified. The machine is a real sshd host whose
 * `rclone` (first on its PATH) is a shim reporting whatever version the test writes; the release
 * is a release-shaped zip served from loopback (ANYCLOUD_RCLONE_BASE_URL), never the internet.
 */
describe(`pinned rclone install on a real host ${PLACEMENT.title}`, function () {
  this.timeout(120_000)
  let dir: string
  let vm: Vm
  let runner: SshRunner
  let release: ReleaseServer
  const id = 'bt-pin-cccccc'
  const shimLog = () => join(dir, 'shim.log')
  const pinnedLog = () => join(dir, 'pinned.log')
  const machineVersion = (v: string) => writeFileSync(join(dir, 'machine-rclone-version'), v)
  const invocations = (log: string) => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [])
  const bucket = (name: string) => join(dir, 'buckets', name)

  /** The spec as a provider builds it: layout (and pin) from the environment. */
  const spec = (env: Record<string, string> = {}): BootstrapSpec => {
    const layout = machineLayout({ANYCLOUD_REMOTE_PREFIX: vm.prefix, ANYCLOUD_RCLONE_BASE_URL: release.baseUrl, ANYCLOUD_RCLONE_SHA256: release.sha256, ...env})
    return specFor(vm.prefix, {
      deploymentId: id, rcloneMinVersion: '1.62', rclonePin: layout.rclonePin(),
      remotes: {input: localRemote(bucket('input')), output: localRemote(bucket('output'))},
    })
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anycloud-rclone-pin-'))
    mkdirSync(join(dir, 'bin'))
    // The machine's own rclone: reports the version in a file, logs, runs the real one.
    writeFileSync(join(dir, 'bin', 'rclone'), rcloneScript(`$(cat '${join(dir, 'machine-rclone-version')}')`, shimLog()), {mode: 0o755})
    release = await startReleaseServer(PINNED_RCLONE_VERSION, pinnedLog())
    vm = await startVm({env: {PATH: `${join(dir, 'bin')}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`}})
    await vm.forward(release.port)
    runner = await vm.runner()
  })
  after(async () => {
    await vm?.stop()
    await release?.stop()
    rmSync(dir, {recursive: true, force: true})
  })
  beforeEach(() => {
    for (const b of ['input', 'output']) mkdirSync(bucket(b), {recursive: true})
    writeFileSync(join(bucket('input'), 'data.txt'), 'input data\n')
    for (const log of [shimLog(), pinnedLog()]) rmSync(log, {force: true})
    release.requests.length = 0
    machineVersion('1.60.1')
  })
  afterEach(async () => {
    const s = spec()
    await removeDeployment(runner, renderBootstrap(s).paths, s.roots).catch(() => undefined)
    rmSync(join(vm.prefix, 'opt'), {recursive: true, force: true})
    rmSync(join(dir, 'buckets'), {recursive: true, force: true})
  })

  it('installs the pinned release when the machine\'s rclone is too old, verifies it, and every rclone command of the deployment runs it', async () => {
    const s = spec()
    const pin = s.rclonePin!
    assert.equal(pin.binary, `${vm.prefix}/opt/anycloud/bin/rclone`)
    const rendered = renderBootstrap(s)
    const sync = rendered.files.find((f) => f.path === rendered.paths.syncScript)!
    assert.ok(sync.content.includes(`${pin.binary} copy `), 'the upload script runs anycloud\'s rclone')

    const first = await runBootstrap(runner, rendered, () => undefined)
    assert.deepEqual(first.steps.map((x) => x.step), ['install', 'rclone', 'files', 'supervisord', 'storage-check', 'input-sync', 'programs', 'done'])
    assert.equal(first.steps[1].outcome, `ran:installed ${PINNED_RCLONE_VERSION}`)
    assert.deepEqual(release.requests, [`/v${PINNED_RCLONE_VERSION}/rclone-v${PINNED_RCLONE_VERSION}-linux-${releaseArch()}.zip`])
    assert.equal(modeOf(pin.binary), 0o755)
    assert.ok(lstatSync(pin.binary).isFile(), 'a file of anycloud\'s, not a link to the machine\'s rclone')

    // The input came down through the pinned binary; the machine's rclone was only asked its version.
    assert.equal(readFileSync(join(rendered.paths.mounts.input, 'data.txt'), 'utf8'), 'input data\n')
    assert.ok(invocations(pinnedLog()).some((l) => l.startsWith('lsf ')), 'storage check by the pinned rclone')
    assert.ok(invocations(pinnedLog()).some((l) => l.startsWith('sync ')), 'input sync by the pinned rclone')
    assert.deepEqual([...new Set(invocations(shimLog()))], ['version'])

    // The supervisord upload program uploads with it too.
    writeFileSync(join(rendered.paths.mounts.output, 'result.txt'), 'done\n')
    await until('the output uploaded', () => existsSync(join(bucket('output'), 'result.txt')))
    assert.ok(invocations(pinnedLog()).some((l) => l.startsWith('copy ')), 'upload by the pinned rclone')
    assert.deepEqual([...new Set(invocations(shimLog()))], ['version'])

    // Again: the installed release is recent enough, nothing downloaded.
    const second = await runBootstrap(runner, rendered, () => undefined)
    assert.equal(second.steps.find((x) => x.step === 'rclone')?.outcome, 'skipped')
    assert.equal(release.requests.length, 1)

    // The machine's last deployment removed: anycloud's rclone goes with its other files.
    await removeDeployment(runner, rendered.paths, s.roots)
    assert.equal(existsSync(join(vm.prefix, 'opt/anycloud')), false)
    assert.equal(existsSync(s.roots.etc), false)
  })

  it('refuses a download whose sha256 is not the pinned one: exit 41, a message naming the URL and both sums, nothing installed', async () => {
    const wrong = 'ab'.repeat(32)
    const rendered = renderBootstrap(spec({ANYCLOUD_RCLONE_SHA256: wrong}))
    const error = await runBootstrap(runner, rendered, () => undefined).then(() => undefined, (e: unknown) => e)
    assert.ok(error instanceof AnycloudError, String(error))
    assert.match(error.message, /after step 'install' \(exit 41\)/)
    assert.ok(error.message.includes(`${release.baseUrl}/v${PINNED_RCLONE_VERSION}/`), error.message)
    assert.ok(error.message.includes(`has sha256 ${release.sha256}, not the pinned ${wrong}: refusing to install it`), error.message)
    assert.ok(error.suggestions.some((x) => x.includes(release.baseUrl)), error.suggestions.join('\n'))
    assert.equal(existsSync(rendered.rclonePin!.binary), false)
    assert.equal(existsSync(rendered.paths.syncScript), false, 'nothing of the deployment written')
  })

  it('fails with exit 41 naming the URL when the release cannot be downloaded', async () => {
    const rendered = renderBootstrap(spec({ANYCLOUD_RCLONE_BASE_URL: `${release.baseUrl}/nowhere`}))
    const error = await runBootstrap(runner, rendered, () => undefined).then(() => undefined, (e: unknown) => e)
    assert.ok(error instanceof AnycloudError, String(error))
    assert.match(error.message, /\(exit 41\)/)
    assert.ok(error.message.includes(`older than 1.62, which its storage needs, and downloading rclone ${PINNED_RCLONE_VERSION} from ${release.baseUrl}/nowhere/v${PINNED_RCLONE_VERSION}/`), error.message)
    assert.equal(existsSync(rendered.rclonePin!.binary), false)
  })

  it('uses the machine\'s rclone when it is recent enough: linked, nothing downloaded', async () => {
    machineVersion('1.70.0')
    const rendered = renderBootstrap(spec())
    const run = await runBootstrap(runner, rendered, () => undefined)
    assert.equal(run.steps.find((x) => x.step === 'rclone')?.outcome, `ran:linked ${join(dir, 'bin', 'rclone')}`)
    assert.deepEqual(release.requests, [])
    assert.equal(readlinkSync(rendered.rclonePin!.binary), join(dir, 'bin', 'rclone'))
    assert.ok(invocations(shimLog()).some((l) => l.startsWith('sync ')), 'input sync by the machine\'s rclone')
    assert.equal(readFileSync(join(rendered.paths.mounts.input, 'data.txt'), 'utf8'), 'input data\n')
  })
})
