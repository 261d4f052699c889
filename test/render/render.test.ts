import assert from 'node:assert/strict'

import type {Change, Plan} from '../../src/engine/plan.js'
import {sortChanges, summarize} from '../../src/engine/plan.js'
import type {EngineEvent} from '../../src/engine/events.js'
import {ACTION_STYLE, isPlainSession, useColor} from '../../src/render/actions.js'
import {MARKDOWN_LIMIT, renderPlanMarkdown} from '../../src/render/markdown.js'
import {renderPlanText, summaryLine, visibleChanges} from '../../src/render/plan-text.js'
import {plainLine, PlainReporter} from '../../src/render/reporters.js'
import {CliIoHost} from '../../src/cli/io-host.js'
import {clearSecrets, registerSecret} from '../../src/util/redact.js'
import {change, fixedPlan} from './fixture-plan.js'

const GRAMMAR = /^(Plan: (0|[1-9]\d*) to create, (0|[1-9]\d*) to update, (0|[1-9]\d*) to replace, (0|[1-9]\d*) to delete\.|No changes\.)$/

describe('render: summary line', () => {
  it('one grammar for every count, destroy plans included', () => {
    assert.equal(summaryLine({create: 0, update: 0, replace: 0, delete: 0}), 'No changes.')
    assert.equal(summaryLine({create: 3, update: 0, replace: 1, delete: 0}), 'Plan: 3 to create, 0 to update, 1 to replace, 0 to delete.')
    assert.equal(summaryLine({create: 0, update: 0, replace: 0, delete: 1}), 'Plan: 0 to create, 0 to update, 0 to replace, 1 to delete.')
    assert.equal(summaryLine({create: 1, update: 12, replace: 0, delete: 100}), 'Plan: 1 to create, 12 to update, 0 to replace, 100 to delete.')
    for (let i = 0; i < 200; i++) {
      const s = {create: i % 3, update: i % 5, replace: i % 7, delete: i % 2}
      assert.match(summaryLine(s), GRAMMAR)
    }
  })

  it('the human plan ends with exactly one summary line, matching the JSON counts', () => {
    for (const plan of [fixedPlan(), {...fixedPlan(), destroy: true}]) {
      const text = renderPlanText(plan)
      const lines = text.trimEnd().split('\n')
      assert.equal(lines.filter((l) => GRAMMAR.test(l)).length, 1)
      assert.match(lines.at(-1)!, GRAMMAR)
      assert.equal(lines.at(-1), summaryLine(summarize(plan.changes)))
    }
  })

  it('summarize counts only the four actions that change something', () => {
    assert.deepEqual(fixedPlan().summary, {create: 2, update: 1, replace: 3, delete: 2})
    assert.equal(visibleChanges(fixedPlan()).length, 8)
  })
})

describe('render: actions and output discipline', () => {
  it('one table drives glyph, colour and verbs for every action', () => {
    for (const a of ['create', 'update', 'replace', 'delete', 'read', 'no-op'] as const) {
      const s = ACTION_STYLE[a]
      assert.ok(s.glyph !== undefined && s.plan && s.doing && s.done, a)
    }
    const events: EngineEvent[] = [
      {type: 'change-start', address: 'a.vm', action: 'create'},
      {type: 'change-done', address: 'a.vm', action: 'replace', elapsedMs: 1500},
    ]
    assert.deepEqual(events.map((e) => plainLine(e)), ['a.vm: creating...', 'a.vm: replaced (1.5s)'])
  })

  it('no colour and plain progress in CI, on pipes, with TERM=dumb or NO_COLOR', () => {
    const tty = {isTTY: true} as NodeJS.WriteStream
    const pipe = {isTTY: false} as NodeJS.WriteStream
    assert.equal(useColor(tty, {}), true)
    assert.equal(useColor(tty, {CI: 'true'}), false)
    assert.equal(useColor(tty, {TERM: 'dumb'}), false)
    assert.equal(useColor(tty, {NO_COLOR: ''}), false)
    assert.equal(useColor(pipe, {}), false)
    assert.equal(isPlainSession(tty, {}), false)
    assert.equal(isPlainSession(tty, {CI: '1'}), true)
    assert.equal(isPlainSession(pipe, {}), true)
    assert.doesNotMatch(renderPlanText(fixedPlan(), {color: false}), /\u001B/)
  })

  it('plain progress lines are redacted', () => {
    registerSecret('canary-secret-123456')
    try {
      const lines: string[] = []
      new PlainReporter((l) => lines.push(l)).emit({type: 'change-progress', address: 'a.workload', message: 'token canary-secret-123456 used'})
      assert.deepEqual(lines, ['a.workload: token (sensitive) used'])
    } finally {
      clearSecrets()
    }
  })
})

describe('cli: the io host\'s problems mode (watch without --progress)', () => {
  it('prints only warnings and errors, as plain lines, redacted', () => {
    registerSecret('canary-secret-123456')
    const lines: string[] = []
    const write = process.stderr.write
    process.stderr.write = ((chunk: string) => lines.push(chunk) > 0) as typeof process.stderr.write
    try {
      const host = new CliIoHost({progress: 'problems'})
      host.emit({type: 'diagnostic', severity: 'info', profile: 'a', message: 'fine'})
      host.emit({type: 'change-progress', address: 'a.workload', message: 'working'})
      host.emit({type: 'diagnostic', severity: 'warning', profile: 'a', message: 'token canary-secret-123456 leaked'})
    } finally {
      process.stderr.write = write
      clearSecrets()
    }
    assert.deepEqual(lines, ['warning: a: token (sensitive) leaked\n'])
  })
})

/** ~400 profiles of 5 resources each: a plan far over a PR comment's limit. */
function hugePlan(profiles = 400): Plan {
  const changes: Change[] = []
  for (let i = 0; i < profiles; i++) {
    const p = `profile-${String(i).padStart(3, '0')}`
    for (const [suffix, kind] of [['bucket.output', 'bucket'], ['vm', 'vm'], ['bootstrap', 'bootstrap'], ['workload', 'workload']] as const) {
      changes.push(change({address: `${p}.${suffix}`, kind, action: 'create', reason: 'new deployment', before: null, after: {name: `${p}-${suffix}`, region: 'us-east-1', command: ['python', 'train.py', '--profile', p]}}))
    }
  }
  const sorted = sortChanges(changes)
  return {
    formatVersion: '1',
    state: {lineage: null, serial: 0},
    profiles: Object.fromEntries(Array.from({length: profiles}, (_, i) => [`profile-${String(i).padStart(3, '0')}`, {deploymentId: `acme-profile-${String(i).padStart(3, '0')}-abc123`, placement: {credential: 'aws-prod', provider: 'aws' as const, region: 'us-east-1', spot: false}, phase: 'run' as const}])),
    changes: sorted,
    summary: summarize(sorted),
    diagnostics: [],
    scope: [],
  }
}

describe('render: markdown for pull-request comments', () => {
  it('a heading with the project, the summary line, then the changes in a diff block GitHub colours (+ green, - red, ! changed)', () => {
    const md = renderPlanMarkdown(fixedPlan(), {project: 'acme'})
    const lines = md.split('\n')
    assert.equal(lines[0], '### anycloud plan: acme')
    assert.equal(lines[2], '**Plan: 2 to create, 1 to update, 3 to replace, 2 to delete.**')
    assert.doesNotMatch(md, /<details>/, 'not collapsed at 8 changes')
    const block = md.slice(md.indexOf('```diff\n') + 8, md.lastIndexOf('```'))
    assert.ok(block.split('\n').includes('+ train.bucket.output'), 'a create starts with + in column 0')
    assert.ok(block.split('\n').includes('- eval.vm'), 'a delete starts with -')
    assert.ok(block.split('\n').includes('! ~ train.identity'), 'an update is a changed (!) line showing ~')
    assert.ok(block.split('\n').includes('! -/+ train.vm'), 'a replace is a changed (!) line, not a red one')
    assert.ok(block.split('\n').includes('+     region = "us-east-1"') || block.split('\n').some((l) => /^\+ {5}region = /.test(l)), 'attributes carry their change\'s marker')
    for (const line of block.split('\n').filter((l) => l !== '')) assert.match(line, /^[-+!#]/, `every line is marked or a comment: ${line}`)
    assert.doesNotMatch(md, /\u001B/)
    assert.doesNotMatch(md, /eval\.workload/, 'no-ops are not listed')
  })

  it('past 20 changes the diff is collapsed in a details section', () => {
    const plan = hugePlan(6)
    const md = renderPlanMarkdown(plan, {project: 'acme'})
    assert.match(md, /<details><summary>Show all 24 changes<\/summary>\n\n```diff\n[\s\S]*\n```\n\n<\/details>\n$/)
    assert.doesNotMatch(renderPlanMarkdown(hugePlan(5)), /<details>/, '20 changes stay open')
  })

  it('a huge plan is cut to at most 65,000 characters, on a line boundary, with a note', () => {
    const plan = hugePlan(400)
    const full = renderPlanText(plan)
    assert.ok(full.length > 2 * MARKDOWN_LIMIT, `the test plan is big enough (${full.length})`)
    const md = renderPlanMarkdown(plan, {project: 'acme'})
    assert.ok(md.length <= 65_000, `${md.length} characters`)
    assert.ok(md.length > 60_000, 'the budget is used, not wasted')
    assert.equal(md.split('\n')[2], '**Plan: 1600 to create, 0 to update, 0 to replace, 0 to delete.**')
    assert.match(md, /cut here to fit a pull-request comment/)
    assert.match(md, /```\n\n<\/details>\n$/, 'the code block and the section are closed')
    const body = md.slice(md.indexOf('```diff\n') + 8, md.indexOf('# … cut here'))
    assert.equal(body.at(-1), '\n', 'cut on a line boundary')
    assert.ok(renderPlanMarkdown(plan, {limit: 10_000_000}).includes(body), 'the kept lines are the start of the whole diff')
  })

  it('a smaller limit is honoured too, and a code fence in a reason cannot break out of the block', () => {
    const plan = fixedPlan()
    plan.changes[1] = {...plan.changes[1], action: 'create', reason: 'evil ``` </details> reason'}
    const md = renderPlanMarkdown(plan, {limit: 900})
    assert.ok(md.length <= 900, String(md.length))
    assert.equal(md.match(/```/g)!.length, 2)
  })

  it('a never-applied profile shows its deployment id as (known after apply) in text and markdown; JSON keeps the id', () => {
    const plan = fixedPlan()
    const serve = plan.profiles.serve!
    serve.newDeployment = true
    const id = serve.deploymentId
    for (const out of [renderPlanText(plan), renderPlanMarkdown(plan, {project: 'acme'})]) {
      assert.ok(!out.includes(id), 'the minted id is not shown')
      assert.match(out, /serve.*deployment `?\(known after apply\)`?/)
    }
    assert.ok(renderPlanText(plan).includes(plan.profiles.train!.deploymentId), 'an applied deployment keeps its id')
    assert.ok(JSON.stringify(plan).includes(id))
    // Two plans minting different ids render the same.
    const other = structuredClone(plan)
    other.profiles.serve!.deploymentId = 'acme-serve-zzzzzz'
    other.changes = other.changes.map((c) => (c.profile === 'serve' ? {...c, name: c.name.replace(id, 'acme-serve-zzzzzz')} : c))
    assert.equal(renderPlanMarkdown(other, {project: 'acme'}), renderPlanMarkdown(plan, {project: 'acme'}))
  })
})

describe('render: values in the human plan (never raw JSON)', () => {
  const planOf = (...changes: Change[]): Plan => ({...fixedPlan(), profiles: {}, changes, summary: summarize(changes), diagnostics: []})

  it('a created workload: command list one element per line, a multi-line string as a heredoc, env as a map', () => {
    const text = renderPlanText(planOf(change({
      address: 'job.workload', action: 'create', reason: 'new deployment', before: null,
      after: {command: ['sh', '-c', 'set -e\nruns=$(cat runs || echo 0)\necho "$runs"\n'], env: {GREETING: 'hello', TOKEN: '(sensitive):0123abcd', 'odd.key': 'x'}, runtime: 'process'},
    })))
    assert.equal(text.split('\n').slice(2, 22).join('\n'), [
      '  # job.workload will be created: new deployment',
      '  + job.workload',
      '        command = [',
      '            "sh",',
      '            "-c",',
      '            <<-EOT',
      '                set -e',
      '                runs=$(cat runs || echo 0)',
      '                echo "$runs"',
      '            EOT,',
      '        ]',
      '        env     = {',
      '            GREETING  = "hello"',
      '            "odd.key" = "x"',
      '            TOKEN     = (sensitive)',
      '        }',
      '        runtime = "process"',
      '',
      'Plan: 1 to create, 0 to update, 0 to replace, 0 to delete.',
      '',
    ].join('\n'))
    assert.doesNotMatch(text, /\{"|\["|0123abcd|\\n/)
  })

  it('an update: maps key by key, lists before -> after as blocks, a changed secret says so without a value', () => {
    const text = renderPlanText(planOf(change({
      address: 'job.workload', action: 'replace', reason: 'command changed',
      before: {command: ['python', 'a.py'], env: {A: '1', TOKEN: '(sensitive):aaaa'}},
      after: {command: ['python', 'b.py'], env: {A: '1', B: '2', TOKEN: '(sensitive):bbbb'}},
    })))
    const body = text.split('\n').slice(4, 14)
    assert.deepEqual(body, [
      '        command: [',
      '            "python",',
      '            "a.py",',
      '        ] -> [',
      '            "python",',
      '            "b.py",',
      '        ]',
      '        env.B: (none) -> "2"',
      '        env.TOKEN: (sensitive value changed)',
      '',
    ])
    assert.doesNotMatch(text, /\{"|\["|aaaa|bbbb/)
  })
})
