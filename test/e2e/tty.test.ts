/**
 * apply and destroy in a real terminal: the CLI runs under `script` (util-linux), which gives it a
 * pseudo-terminal for stdin, stdout and stderr, as a person at a shell has. We answer the
 * confirmation through that terminal.
 */
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'

import {BIN, buckets, configYaml, finished, jobProfile, machines, Project, seedBucket, until} from './cli.js'

const PROMPT = /Only 'yes' will be accepted: /
/** What listr2 draws while it works: spinner frames, tick marks and its progress verbs. */
const PROGRESS = /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✔✖]|: (creating|destroying|created|destroyed)\b/

interface Terminal {
  output(): string
  type(line: string): void
  exit: Promise<number | null>
}

function inTerminal(project: Project, args: string[]): Terminal {
  // The pseudo-terminal `script` allocates has no size; a real one has. 100x40, as a shell would.
  const command = `stty cols 100 rows 40; exec ${process.execPath} ${BIN} ${args.join(' ')}`
  const child = spawn('script', ['-qfec', command, '/dev/null'], {cwd: project.dir, env: project.env({CI: undefined, TERM: 'xterm', NO_COLOR: undefined}), stdio: ['pipe', 'pipe', 'pipe']}) as ReturnType<typeof spawn> & {out: {stdout: string; stderr: string}}
  child.out = {stdout: '', stderr: ''}
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (child.out.stdout += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (child.out.stderr += d))
  return {
    output: () => child.out.stdout,
    type: (line) => child.stdin!.write(line + '\r'),
    exit: finished(child).then((r) => {
      child.stdin!.end()
      return r.code
    }),
  }
}

describe('e2e: confirmation in a terminal (apply, destroy)', function () {
  this.timeout(120_000)
  let project: Project | undefined

  before(function () {
    if (spawnSync('script', ['--version']).status !== 0) throw new Error('`script` (util-linux) is needed: apt-get install bsdutils')
  })

  afterEach(async () => {
    await project?.cleanup()
    project = undefined
  })

  const newProject = () => {
    const p = new Project(configYaml({profiles: {job: jobProfile({spot: false})}}))
    seedBucket(p.path('cloud'), 'e2e-input')
    return p
  }

  /** Runs until the question is on the screen; returns the screen so far. */
  async function untilPrompt(term: Terminal): Promise<string> {
    await until('the confirmation prompt', () => PROMPT.test(term.output()), 60_000)
    return term.output()
  }

  it('apply: the plan, then the question, and no progress drawn before the answer; `no` exits 1 and changes nothing', async () => {
    project = newProject()
    const term = inTerminal(project, ['apply'])
    const screen = await untilPrompt(term)
    assert.match(screen, /Plan: 4 to create, 0 to update, 0 to replace, 0 to delete\./)
    assert.match(screen, /Do you want to perform these actions\?/)
    assert.doesNotMatch(screen, PROGRESS, 'nothing is in progress while the question waits')
    term.type('no')
    const code = await term.exit
    assert.equal(code, 1, term.output())
    const after = term.output().slice(screen.length)
    assert.match(after, /Apply cancelled: nothing was changed\./)
    assert.doesNotMatch(after, PROGRESS)
    assert.deepEqual(machines(project.path('cloud')), [])
    assert.deepEqual(buckets(project.path('cloud')), ['e2e-input'])
    assert.equal(existsSync(project.path('.anycloud', 'state.lock')), false, 'lock released')
  })

  it('apply: `yes` lands on the prompt line, then progress starts and the summary counts what was done', async () => {
    project = newProject()
    const term = inTerminal(project, ['apply'])
    const screen = await untilPrompt(term)
    assert.doesNotMatch(screen, PROGRESS)
    term.type('yes')
    assert.equal(await term.exit, 0, term.output())
    const after = term.output().slice(screen.length)
    // The typed answer is echoed right after the question, on its line.
    assert.match(after, /^yes\r?\r\n/)
    assert.match(after, /job\.vm: created/)
    assert.match(after, /Apply complete: 4 done, 0 kept, 0 failed, 0 skipped\./)
    assert.equal(machines(project.path('cloud')).length, 1)
  })

  it('destroy: the same; `no` exits 1 and keeps everything, `yes` destroys', async () => {
    project = newProject()
    await project.expect(['apply', '-y'], 0)
    // The output bucket then holds data: destroy keeps it, and says so in its count.
    await until('the report in the output bucket', () => existsSync(project!.path('cloud', 'buckets', 'e2e-output', 'report.txt')))
    const before = machines(project.path('cloud'))
    assert.equal(before.length, 1)

    const declined = inTerminal(project, ['destroy'])
    const screen = await untilPrompt(declined)
    assert.match(screen, /Do you really want to destroy these resources\?/)
    assert.doesNotMatch(screen, PROGRESS)
    declined.type('no')
    assert.equal(await declined.exit, 1, declined.output())
    assert.match(declined.output(), /Destroy cancelled: nothing was changed\./)
    assert.deepEqual(machines(project.path('cloud')), before)

    const accepted = inTerminal(project, ['destroy'])
    const shown = await untilPrompt(accepted)
    assert.doesNotMatch(shown, PROGRESS)
    accepted.type('yes')
    assert.equal(await accepted.exit, 0, accepted.output())
    const after = accepted.output().slice(shown.length)
    assert.match(after, /Kept: job\.bucket\.output: kept bucket 'e2e-output'/)
    assert.match(after, /Destroy complete: 3 destroyed, 1 kept, 0 failed, 0 skipped\./)
    assert.deepEqual(machines(project.path('cloud')), [])
    assert.deepEqual(buckets(project.path('cloud')), ['e2e-input', 'e2e-output'])
  })
})
