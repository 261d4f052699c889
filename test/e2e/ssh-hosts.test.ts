import assert from 'node:assert/strict'

import {stringify as stringifyYaml} from 'yaml'

import {generateHostKeyPair} from '../../src/remote/host-keys.js'
import {PLACEMENT} from '../bootstrap/helpers.js'
import {freePort} from '../helpers/sshd/index.js'
import {sshProject, type SshProject} from './ssh-rig.js'

/**
 * An ssh credential's `hosts` are used in order of preference: the first that answers and presents
 * the host key it must is the deployment's, the plan says which and why the others were passed
 * over, and the deployment stays there.
 */
describe(`ssh provider: hosts in order of preference ${PLACEMENT.title}`, function () {
  this.timeout(180_000)
  let project: SshProject
  let good: string

  before(async () => {
    project = await sshProject({project: 'hostpick', profiles: {job: {credentials: 'box', runtime: 'process', command: ['sh', '-c', 'exec sleep 4771']}}, env: {ANYCLOUD_SSH_PROBE_MS: '1500'}})
    const vm = project.vm.sshd
    const closed = await freePort()
    const wrongKey = (await generateHostKeyPair()).publicKey
    good = `root@${vm.host}:${vm.port}`
    project.write(stringifyYaml({
      version: 1, project: 'hostpick',
      credentials: {
        box: {provider: 'ssh', storage: 'store', hosts: [
          {host: '127.0.0.1', port: closed, user: 'root', identityFile: './id_ed25519'},
          {host: vm.host, port: vm.port, user: 'operator', identityFile: './id_ed25519', hostKey: wrongKey},
          {host: vm.host, port: vm.port, user: 'root', identityFile: './id_ed25519'},
        ]},
        store: {provider: 'local', root: 'cloud'},
      },
      profiles: {job: {credentials: 'box', runtime: 'process', command: ['sh', '-c', 'exec sleep 4771']}},
    }))
  })
  after(async () => {
    await project?.stopAll()
  })

  it('plans the first host that answers with its host key, says so, applies there and stays there', async () => {
    const r = await project.expect(['plan', '--json'], 0)
    const plan = JSON.parse(r.stdout) as {changes: Array<{address: string; after?: Record<string, unknown>}>}
    assert.equal(plan.changes.find((c) => c.address === 'job.vm')?.after?.host, good)
    const text = r.stdout + r.stderr
    assert.match(text, new RegExp(`host ${good.replace(/\./g, '\\.')} chosen: the first of 3 hosts`))
    assert.match(text, /skipped root@127\.0\.0\.1:\d+ \(/, 'the unreachable host is named')
    assert.match(text, /skipped root@127\.0\.0\.1:\d+ \(.*\); operator@[^ ]+ \(Host key mismatch/, 'the host with the wrong key is passed over for its key')

    const human = await project.expect(['plan'], 0)
    assert.ok((human.stdout + human.stderr).includes(good), 'the human plan names the chosen host')

    await project.expect(['apply', '-y'], 0)
    const vm = project.state()!.deployments.job.resources['job.vm'] as unknown as {outputs: {address: string}}
    assert.equal(vm.outputs.address, good)
    // Settled: the next plan keeps the deployment where it runs, with nothing to change.
    await project.expect(['plan', '--detailed-exitcode'], 0)
  })
})
