/**
 * A root-hook plugin (loaded through .mocharc `require`, in every parallel worker): remembers which
 * test is running, so helpers can key their golden files by it (test/e2e/plan-golden.ts).
 */
import type {Context} from 'mocha'

export interface CurrentTest {
  file: string
  title: string
}

let current: CurrentTest | undefined
const endHooks: Array<(test: CurrentTest) => void> = []

export function currentTest(): CurrentTest | undefined {
  return current
}

/** Runs `hook` after every test (e.g. to check a golden file's count). */
export function onTestEnd(hook: (test: CurrentTest) => void): void {
  if (!endHooks.includes(hook)) endHooks.push(hook)
}

export const mochaHooks = {
  beforeEach(this: Context) {
    const t = this.currentTest
    current = t ? {file: t.file ?? '', title: t.fullTitle()} : undefined
  },
  afterEach(this: Context) {
    const done = current
    current = undefined
    if (done && this.currentTest?.state === 'passed') for (const hook of endHooks) hook(done)
  },
}
