// The spec reporter, plus one plain closing line CI can read: "N passed, N failed" (always the
// last line), after "N skipped" when some were (pending, or skipped where a rig is unavailable).
'use strict'
const Mocha = require('mocha')
const {EVENT_RUN_END} = Mocha.Runner.constants

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options)
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats || {passes: 0, failures: 0, pending: 0}
      const skipped = s.pending ? `${s.pending} skipped\n` : ''
      process.stdout.write(`\n${skipped}${s.passes} passed, ${s.failures} failed\n`)
    })
  }
}

module.exports = SummaryReporter
