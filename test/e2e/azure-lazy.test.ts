/**
 * `anycloud validate` and an AWS-only profile never load an `@azure/arm-*` package (nor
 * `@azure/identity`): the built CLI runs with a module resolve hook that records every `@azure/`
 * specifier it is asked for or required. Control runs prove the hook sees an import and a require of
 * arm-compute.
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

describe('e2e: Azure SDKs are loaded only when an azure credential is used', function () {
  this.timeout(180_000)
  let dir = ''
  let hook = ''
  let log = ''
  let fake: FakeAws | undefined

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anycloud-lazy-'))
    log = join(dir, 'azure-modules.log')
    const hooks = join(dir, 'hooks.mjs')
    writeFileSync(
      hooks,
      `import {appendFileSync} from 'node:fs'\nexport async function resolve(specifier, context, next) {\n  if (specifier.startsWith('@azure/')) appendFileSync(${JSON.stringify(log)}, specifier + '\\n')\n  return next(specifier, context)\n}\n`,
    )
    hook = join(dir, 'register.mjs')
    // ESM imports through the resolve hook; CommonJS requires (the SDKs load that way) through Module._load.
    writeFileSync(
      hook,
      `import {appendFileSync} from 'node:fs'\nimport {createRequire, register} from 'node:module'\nregister(${JSON.stringify(pathToFileURL(hooks).href)})\n` +
        `const Module = createRequire(import.meta.url)('node:module')\nconst load = Module._load\n` +
        `Module._load = function (request, ...rest) {\n  if (request.startsWith('@azure/')) appendFileSync(${JSON.stringify(log)}, request + '\\n')\n  return load.call(this, request, ...rest)\n}\n`,
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

  it('control: the hook records an import of @azure/arm-compute', async () => {
    const r = await runNode(['--import', hook, '--input-type=module', '-e', "await import('@azure/arm-compute')"], REPO, {})
    assert.equal(r.code, 0, r.stderr)
    assert.ok(loaded().includes('@azure/arm-compute'), loaded().join(','))
  })

  it('control: the hook records a require of @azure/arm-compute', async () => {
    const r = await runNode(['--import', hook, '-e', "require('@azure/arm-compute')"], REPO, {})
    assert.equal(r.code, 0, r.stderr)
    assert.ok(loaded().includes('@azure/arm-compute'), loaded().join(','))
  })

  it('validate of the azure example loads no @azure package', async () => {
    const project = join(dir, 'azure-example')
    copyExample('azure', project)
    const r = await runNode(['--import', hook, BIN, 'validate'], project, {AZURE_CLIENT_SECRET: 'x', ANYCLOUD_HOME: join(dir, 'home')})
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(loaded().filter((s) => /^@azure\/(arm-|identity)/.test(s)), [])
  })

  it('plan of an AWS-only profile loads no @azure/arm-* package', async () => {
    const project = join(dir, 'aws-only')
    copyExample('quickstart', project)
    const url = fake!.url
    writeFileSync(
      join(project, 'anycloud.yaml'),
      stringify({
        version: 1,
        project: 'awsonly',
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
    assert.deepEqual(loaded().filter((s) => /^@azure\/arm-/.test(s) || s === '@azure/identity'), [])
  })
})
