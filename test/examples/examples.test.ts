import assert from 'node:assert/strict'
import {mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {loadConfig} from '../../src/config/index.js'
import {CredentialStore} from '../../src/credentials/store.js'
import {RecordingReporter} from '../../src/engine/events.js'
import {planChanges} from '../../src/engine/planner.js'
import {ProviderSet} from '../../src/providers/registry.js'
import {copyExample as copyCheckedIn, EXAMPLES_DIR} from '../helpers/examples.js'

/** What the examples reference with ${env:…}: present in a real user's CI, set here. */
const env = {GCP_KEY_FILE: '/dev/null', WANDB_API_KEY: 'test-wandb-key', AZURE_CLIENT_SECRET: 'test-azure-secret'}

describe('examples/', () => {
  let home: string
  before(() => {
    home = mkdtempSync(join(tmpdir(), 'anycloud-examples-home-'))
  })
  after(() => rmSync(home, {recursive: true, force: true}))

  const names = readdirSync(EXAMPLES_DIR).sort()
  it('has a quickstart, aws, azure, gcp, multi-cloud and ssh example', () => {
    for (const n of ['quickstart', 'aws', 'azure', 'gcp', 'multi-cloud', 'ssh']) assert.ok(names.includes(n), `examples/${n} is missing`)
  })

  /** A private copy of an example, without what a user's run left next to it. */
  const copyExample = (name: string): string => {
    const dir = mkdtempSync(join(tmpdir(), `anycloud-example-${name}-`))
    copyCheckedIn(name, dir)
    return dir
  }

  for (const name of names) {
    it(`examples/${name}/anycloud.yaml validates with no errors or warnings`, () => {
      const dir = copyExample(name)
      const result = loadConfig({file: join(dir, 'anycloud.yaml'), env, store: new CredentialStore(home)})
      rmSync(dir, {recursive: true, force: true})
      assert.deepEqual(result.errors, [])
      assert.deepEqual(result.warnings, [])
      assert.ok(result.config && Object.keys(result.config.profiles).length > 0)
    })
  }

  it('the quickstart plans on the local provider: buckets, machine, bootstrap and workload to create', async () => {
    const dir = copyExample('quickstart')
    try {
      const {config} = loadConfig({file: join(dir, 'anycloud.yaml'), env, store: new CredentialStore(home)})
      assert.ok(config)
      const plan = await planChanges({
        config, profiles: Object.values(config.profiles), state: undefined, reporter: new RecordingReporter(), stateDir: join(dir, '.anycloud'),
        providers: new ProviderSet({credentials: config.credentials, configDir: config.dir, env: {}}),
      })
      assert.deepEqual(plan.changes.map((c) => `${c.action} ${c.address}`), [
        'read wordcount.bucket.input',
        'create wordcount.bucket.output',
        'create wordcount.bucket.checkpoint',
        'create wordcount.vm',
        'create wordcount.bootstrap',
        'create wordcount.workload',
      ])
      assert.deepEqual(plan.summary, {create: 5, update: 0, replace: 0, delete: 0})
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
