// The spec reporter, plus one plain closing line CI can read: "N passed, N failed".
'use strict'
const Mocha = require('mocha')
const {EVENT_RUN_END} = Mocha.Runner.constants

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options)
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats || {passes: 0, failures: 0}
      process.stdout.write(`\n${s.passes} passed, ${s.failures} failed\n`)
    })
  }
}

module.exports = SummaryReporter
