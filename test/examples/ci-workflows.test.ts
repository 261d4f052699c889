/**
 * Runs the `run:` steps of examples/ci/github-actions.yml (and the `script:` lines of
 * examples/ci/gitlab-ci.yml) in order, as a runner would: each run in a fresh checkout, remote state
 * on the S3 stand-in, the built CLI as `anycloud`, and a small fake of the GitHub / GitLab REST API
 * on loopback that the comment step talks to. `uses:` steps (checkout, setup-node) are the
 * runner's business; `npm install -g anycloud` is answered by a recording stand-in.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {GetObjectCommand, S3Client} from '@aws-sdk/client-s3'
import {parse as parseYaml, stringify as stringifyYaml} from 'yaml'

import {s3ClientConfig, type S3Emulator} from '../helpers/storage/index.js'
import {startBackend, type StateBackendRig} from '../state/backend-rig.js'
import {killLeftovers, machines} from '../e2e/cli.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const BUCKET = 'ci-state'
const MARKER = '<!-- anycloud-plan -->'

interface Comment {
  id: number
  body: string
}

/** The comment endpoints of GitHub (issues/N/comments) and GitLab (merge_requests/N/notes). */
async function startForge(): Promise<{url: string; comments: Comment[]; calls: string[]; stop(): Promise<void>}> {
  const comments: Comment[] = []
  const calls: string[] = []
  let next = 1000
  const server: Server = createServer((req, res) => {
    let data = ''
    req.on('data', (c: Buffer) => (data += c.toString()))
    req.on('end', () => {
      const url = new URL(req.url!, 'http://x')
      calls.push(`${req.method} ${url.pathname}`)
      const authorized = req.headers.authorization === 'Bearer gh-test-token' || req.headers['private-token'] === 'gl-test-token'
      const send = (status: number, body: unknown) => {
        res.writeHead(status, {'content-type': 'application/json'})
        res.end(JSON.stringify(body))
      }
      if (!authorized) return send(401, {message: 'Bad credentials'})
      const list = /^\/repos\/acme\/train\/issues\/7\/comments$|^\/api\/v4\/projects\/42\/merge_requests\/7\/notes$/.test(url.pathname)
      const one = /^\/repos\/acme\/train\/issues\/comments\/(\d+)$|^\/api\/v4\/projects\/42\/merge_requests\/7\/notes\/(\d+)$/.exec(url.pathname)
      if (list && req.method === 'GET') return send(200, comments)
      if (list && req.method === 'POST') {
        const c = {id: next++, body: (JSON.parse(data) as {body: string}).body}
        comments.push(c)
        return send(201, c)
      }
      if (one && (req.method === 'PATCH' || req.method === 'PUT')) {
        const c = comments.find((x) => x.id === Number(one[1] ?? one[2]))
        if (!c) return send(404, {message: 'Not Found'})
        c.body = (JSON.parse(data) as {body: string}).body
        return send(200, c)
      }
      send(404, {message: 'Not Found'})
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const {port} = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    comments,
    calls,
    stop: () => new Promise<void>((r) => {
      server.closeAllConnections()
      server.close(() => r())
    }),
  }
}

/** Resolves `${{ expr }}` from a table of known expressions; an unknown one fails the test. */
function expand(text: string, known: Record<string, string>): string {
  return text.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, expr: string) => {
    if (!(expr in known)) throw new Error(`the example workflow uses \${{ ${expr} }}, which this test does not provide`)
    return known[expr]
  })
}

function runScript(script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise((resolveRun, reject) => {
    // GitHub's default shell for `run:` on Linux.
    const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], {cwd, env, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolveRun({code, stdout, stderr})
    })
  })
}

describe('examples/ci: the pull-request workflow, run step by step against the emulators', function () {
  this.timeout(600_000)
  let rig: StateBackendRig
  let s3: S3Emulator
  let forge: Awaited<ReturnType<typeof startForge>>
  let work: string
  let root: string
  let bin: string

  before(async () => {
    rig = await startBackend('s3')
    s3 = rig.s3!
  })
  after(async () => {
    await rig?.stop()
  })
  beforeEach(async () => {
    await s3.reset()
    await rig.prepare(BUCKET)
    forge = await startForge()
    work = mkdtempSync(join(tmpdir(), 'anycloud-ci-'))
    root = join(work, 'cloud')
    bin = join(work, 'bin')
    mkdirSync(bin)
    // `anycloud` is the built CLI; `npm install -g anycloud` is recorded and answered with success.
    writeFileSync(join(bin, 'anycloud'), `#!/bin/sh\nexec "${process.execPath}" "${join(REPO, 'bin', 'run.js')}" "$@"\n`)
    writeFileSync(join(bin, 'npm'), `#!/bin/sh\necho "$*" >> "${join(work, 'npm-calls')}"\n[ "$*" = "install -g anycloud" ] || { echo "unexpected npm $*" >&2; exit 1; }\n`)
    chmodSync(join(bin, 'anycloud'), 0o755)
    chmodSync(join(bin, 'npm'), 0o755)
  })
  afterEach(async () => {
    // Tear down what the merge applied, from one more fresh checkout.
    if (existsSync(work)) {
      const dir = checkout('teardown')
      await runScript('anycloud destroy -y --lock-timeout 60s', dir, baseEnv({})).catch(() => undefined)
      killLeftovers(root)
    }
    await forge?.stop()
    rmSync(work, {recursive: true, force: true})
  })

  /** The repository a runner checks out: anycloud.yaml with remote state on the S3 stand-in. */
  function checkout(name: string): string {
    const dir = join(work, `checkout-${name}`)
    mkdirSync(dir)
    writeFileSync(join(dir, 'anycloud.yaml'), stringifyYaml({
      version: 1,
      project: 'ci',
      state: {backend: 's3', bucket: BUCKET, credentials: 'aws-prod'},
      credentials: {
        'aws-prod': {provider: 'aws', region: 'us-east-1', accessKeyId: '${env:AWS_ACCESS_KEY_ID}', secretAccessKey: '${env:AWS_SECRET_ACCESS_KEY}', endpoints: {s3: s3.endpoint}},
        laptop: {provider: 'local', root},
      },
      profiles: {
        train: {credentials: 'laptop', runtime: 'process', command: ['sh', '-c', 'exec sleep 300']},
        evaluate: {credentials: 'laptop', runtime: 'process', command: ['sh', '-c', 'exec sleep 300']},
      },
    }))
    return dir
  }

  function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
    return {
      PATH: `${bin}:${process.env.PATH}`,
      HOME: work,
      ANYCLOUD_HOME: join(work, 'anycloud-home'),
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...extra,
    }
  }

  async function remoteState(): Promise<{serial: number; deployments: Record<string, {id: string}>} | undefined> {
    const client = new S3Client(s3ClientConfig(s3))
    try {
      const out = await client.send(new GetObjectCommand({Bucket: BUCKET, Key: 'anycloud/ci.json'}))
      return JSON.parse(await out.Body!.transformToString()) as {serial: number; deployments: Record<string, {id: string}>}
    } catch {
      return undefined
    } finally {
      client.destroy()
    }
  }

  /** Runs one job of the GitHub workflow: its `run:` steps in order, with workflow, job and step env. */
  async function runGithubJob(jobName: string, event: 'pull_request' | 'push', runName: string): Promise<{dir: string; summary: string}> {
    const workflow = parseYaml(readFileSync(join(REPO, 'examples/ci/github-actions.yml'), 'utf8')) as {
      env?: Record<string, string>
      jobs: Record<string, {if?: string; env?: Record<string, string>; steps: Array<{name?: string; run?: string; uses?: string; env?: Record<string, string>}>}>
    }
    const job = workflow.jobs[jobName]
    assert.ok(job, `the workflow has a ${jobName} job`)
    const known: Record<string, string> = {
      'secrets.AWS_ACCESS_KEY_ID': 'S3RVER',
      'secrets.AWS_SECRET_ACCESS_KEY': 'S3RVER',
      'secrets.GITHUB_TOKEN': 'gh-test-token',
      'github.event.pull_request.number': '7',
    }
    const dir = checkout(runName)
    const summaryFile = join(work, `summary-${runName}.md`)
    writeFileSync(summaryFile, '')
    const env: Record<string, string> = {
      GITHUB_ACTIONS: 'true',
      GITHUB_API_URL: forge.url,
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_REPOSITORY: 'acme/train',
      GITHUB_RUN_ID: String(Date.now()),
      GITHUB_EVENT_NAME: event,
      GITHUB_REF: event === 'push' ? 'refs/heads/main' : 'refs/pull/7/merge',
      GITHUB_STEP_SUMMARY: summaryFile,
    }
    for (const [k, v] of Object.entries({...workflow.env, ...job.env})) env[k] = expand(String(v), known)
    let ran = 0
    for (const step of job.steps) {
      if (!step.run) {
        assert.ok(step.uses, 'a step either runs or uses an action')
        continue
      }
      const stepEnv = {...env}
      for (const [k, v] of Object.entries(step.env ?? {})) stepEnv[k] = expand(String(v), known)
      const r = await runScript(expand(step.run, known), dir, baseEnv(stepEnv))
      assert.equal(r.code, 0, `${jobName} step "${step.name ?? step.run}" failed (${r.code}):\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`)
      ran++
    }
    assert.ok(ran >= 2)
    return {dir, summary: readFileSync(summaryFile, 'utf8')}
  }

  it('GitHub Actions: PR plan posts one comment, a second push updates it unchanged, merge applies the saved plan, the next PR run shows no changes', async () => {
    const first = await runGithubJob('plan', 'pull_request', 'pr-1')
    assert.equal(forge.comments.length, 1)
    const body1 = forge.comments[0].body
    assert.ok(body1.startsWith(`${MARKER}\n### anycloud plan: ci\n`), body1.slice(0, 200))
    assert.match(body1, /\*\*Plan: \d+ to create, 0 to update, 0 to replace, 0 to delete\.\*\*/)
    assert.match(body1, /```diff\n/)
    assert.match(body1, /^\+ train\.workload$/m)
    assert.match(body1, /deployment `\(known after apply\)`/)
    assert.match(first.summary, /### anycloud plan: ci/, 'plan appended to the job summary')
    const saved = JSON.parse(readFileSync(join(first.dir, 'plan.json'), 'utf8')) as {profiles: Record<string, {deploymentId: string}>}
    assert.match(saved.profiles.train.deploymentId, /^ci-train-[a-z0-9]{6}$/, 'the saved plan pins a real id')
    assert.equal(machines(root).length, 0, 'a pull request changes nothing')

    await runGithubJob('plan', 'pull_request', 'pr-2')
    assert.equal(forge.comments.length, 1, 'the same comment is updated, not a new one')
    assert.equal(forge.comments[0].body, body1, 'the comment does not churn between pushes')
    assert.ok(forge.calls.includes(`PATCH /repos/acme/train/issues/comments/${forge.comments[0].id}`))

    const merge = await runGithubJob('apply', 'push', 'merge')
    assert.match(merge.summary, /### anycloud apply: ci/)
    assert.match(merge.summary, /Apply complete/)
    const state = await remoteState()
    assert.deepEqual(Object.keys(state?.deployments ?? {}).sort(), ['evaluate', 'train'])
    assert.equal(machines(root).length, 2)

    await runGithubJob('plan', 'pull_request', 'pr-3')
    assert.equal(forge.comments.length, 1)
    assert.match(forge.comments[0].body, /\*\*No changes\.\*\*/)
    assert.equal((await remoteState())?.serial, state?.serial, 'a plan writes no state')
    assert.deepEqual(readFileSync(join(work, 'npm-calls'), 'utf8').trim().split('\n'), Array(4).fill('install -g anycloud'))
  })

  it('GitLab CI: MR plan posts one note and updates it; merge applies the saved plan; the next MR shows no changes', async () => {
    const pipeline = parseYaml(readFileSync(join(REPO, 'examples/ci/gitlab-ci.yml'), 'utf8')) as Record<string, {script?: string[]; before_script?: string[]; variables?: Record<string, string>}> & {variables?: Record<string, string>}
    const runJob = async (name: string, runName: string) => {
      const job = pipeline[name]
      assert.ok(job?.script, `the pipeline has a ${name} job`)
      const dir = checkout(runName)
      const env = baseEnv({
        ...pipeline.variables,
        ...job.variables,
        GITLAB_CI: 'true',
        CI_API_V4_URL: `${forge.url}/api/v4`,
        CI_PROJECT_ID: '42',
        CI_MERGE_REQUEST_IID: '7',
        CI_JOB_URL: 'https://gitlab.example/acme/train/-/jobs/1',
        GITLAB_TOKEN: 'gl-test-token',
      })
      for (const line of [...(job.before_script ?? []), ...job.script]) {
        const r = await runScript(line, dir, env)
        assert.equal(r.code, 0, `${name}: "${line.slice(0, 80)}" failed (${r.code}):\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`)
      }
      return dir
    }
    await runJob('anycloud-plan', 'mr-1')
    assert.equal(forge.comments.length, 1)
    const body1 = forge.comments[0].body
    assert.ok(body1.startsWith(`${MARKER}\n### anycloud plan: ci\n`))
    await runJob('anycloud-plan', 'mr-2')
    assert.equal(forge.comments.length, 1)
    assert.equal(forge.comments[0].body, body1)
    assert.ok(forge.calls.some((c) => c.startsWith('PUT /api/v4/projects/42/merge_requests/7/notes/')))
    await runJob('anycloud-apply', 'merge')
    assert.equal(machines(root).length, 2)
    await runJob('anycloud-plan', 'mr-3')
    assert.equal(forge.comments.length, 1)
    assert.match(forge.comments[0].body, /\*\*No changes\.\*\*/)
  })
})
