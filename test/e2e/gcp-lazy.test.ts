/**
 * `anycloud validate` (of the gcp example) and an AWS-only plan never load a Google library
 * (`@google-cloud/*`, `@googleapis/*`, `google-auth-library`, `google-gax`): the built CLI runs with
 * module hooks that record every such specifier it imports or requires. Control runs prove the hooks
 * see the deep import and the require of the compute client the gcp provider uses.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {stringify} from 'yaml'

import {disableSdkAmbientConfig, startFakeAws, type FakeAws} from '../helpers/fake-aws/index.js'
import {copyExample} from '../helpers/examples.js'
import {BIN, REPO} from './cli.js'

function runNode(args: string[], cwd: string, env: Record<string, string>): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {cwd, env: {...process.env, CI: 'true', ...env}})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c) => (stdout += c))
    child.stderr.on('data', (c) => (stderr += c))
    child.on('close', (code) => resolve({code, stdout, stderr}))
  })
}

describe('e2e: Google libraries are loaded only when a gcp credential is used', function () {
  this.timeout(180_000)
  let dir = ''
  let hook = ''
  let log = ''
  let fake: FakeAws | undefined

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anycloud-gcp-lazy-'))
    log = join(dir, 'google-modules.log')
    const hooks = join(dir, 'hooks.mjs')
    writeFileSync(
      hooks,
      `import {appendFileSync} from 'node:fs'\nexport async function resolve(specifier, context, next) {\n  if (/^(@google-cloud\\/|@googleapis\\/|google-auth-library|google-gax)/.test(specifier)) appendFileSync(${JSON.stringify(log)}, specifier + '\\n')\n  return next(specifier, context)\n}\n`,
    )
    hook = join(dir, 'register.mjs')
    // ESM imports through the resolve hook; CommonJS requires (the libraries load that way) through Module._load.
    writeFileSync(
      hook,
      `import {appendFileSync} from 'node:fs'\nimport {createRequire, register} from 'node:module'\nregister(${JSON.stringify(pathToFileURL(hooks).href)})\n` +
        `const Module = createRequire(import.meta.url)('node:module')\nconst load = Module._load\n` +
        `Module._load = function (request, ...rest) {\n  if (/^(@google-cloud\\/|@googleapis\\/|google-auth-library|google-gax)/.test(request)) appendFileSync(${JSON.stringify(log)}, request + '\\n')\n  return load.call(this, request, ...rest)\n}\n`,
    )
    disableSdkAmbientConfig()
    fake = await startFakeAws()
  })
  after(async () => {
    await fake?.close()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })
  beforeEach(() => rmSync(log, {force: true}))

  const loaded = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [])

  it('control: the hook records the deep import of the compute client', async () => {
    const r = await runNode(['--import', hook, '--input-type=module', '-e', "await import('@google-cloud/compute/build/src/v1/instances_client.js')"], REPO, {})
    assert.equal(r.code, 0, r.stderr)
    assert.ok(loaded().includes('@google-cloud/compute/build/src/v1/instances_client.js'), loaded().join(','))
  })

  it('control: the hook records a require of the compute client', async () => {
    const r = await runNode(['--import', hook, '-e', "require('@google-cloud/compute/build/src/v1/instances_client.js')"], REPO, {})
    assert.equal(r.code, 0, r.stderr)
    assert.ok(loaded().includes('@google-cloud/compute/build/src/v1/instances_client.js'), loaded().join(','))
  })

  it('validate of the gcp example loads no Google library', async () => {
    const project = join(dir, 'gcp-example')
    copyExample('gcp', project)
    const r = await runNode(['--import', hook, BIN, 'validate'], project, {GCP_KEY_FILE: '/dev/null', ANYCLOUD_HOME: join(dir, 'home')})
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(loaded(), [])
  })

  it('plan of an AWS-only profile loads no Google library', async () => {
    const project = join(dir, 'aws-only')
    copyExample('quickstart', project)
    const url = fake!.url
    writeFileSync(
      join(project, 'anycloud.yaml'),
      stringify({
        version: 1,
        project: 'awsonlyg',
        credentials: {aws: {provider: 'aws', region: 'us-east-1', accessKeyId: '${env:K}', secretAccessKey: '${env:S}', endpoints: {ec2: url, iam: url, sts: url}}},
        profiles: {job: {credentials: 'aws', vmType: 't3.micro', runtime: 'process', command: ['true']}},
      }),
    )
    const r = await runNode(['--import', hook, BIN, 'plan', '--detailed-exitcode'], project, {
      K: fake!.credentials.accessKeyId,
      S: fake!.credentials.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: '/nonexistent',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      ANYCLOUD_HOME: join(dir, 'home'),
    })
    assert.equal(r.code, 2, r.stderr)
    assert.deepEqual(loaded(), [])
  })
})
