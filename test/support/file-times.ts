/**
 * A root-hook plugin (loaded through .mocharc `require`, in every parallel worker): with
 * ANYCLOUD_TEST_TIMES=/path set, appends one JSON line per test file to that path: the file, the
 * worker's pid, its wall time from the previous file's end in the same worker (so loading and
 * transpiling the file count), and the CPU seconds the worker and its reaped children spent on it.
 * Unset (the default), it does nothing. For finding where the suite's time goes; never asserted on.
 */
import {appendFileSync, readFileSync} from 'node:fs'
import type {Context, Suite} from 'mocha'

const out = process.env.ANYCLOUD_TEST_TIMES

/** CPU seconds of this process and of its children it has reaped (from /proc/self/stat). */
function cpu(): {self: number; children: number} {
  const usage = process.cpuUsage()
  let children = 0
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state): cutime and cstime are fields 16 and 17.
    children = (Number(fields[13]) + Number(fields[14])) / 100
  } catch {
    // not Linux: children unknown
  }
  return {self: (usage.user + usage.system) / 1e6, children}
}

let lastEnd = {wall: performance.timeOrigin + performance.now(), ...cpu()}
let start = lastEnd

function fileOf(suite: Suite | undefined): string {
  if (!suite) return '?'
  if (suite.file) return suite.file
  for (const child of suite.suites) {
    const file = fileOf(child)
    if (file !== '?') return file
  }
  return '?'
}

export const mochaHooks = out
  ? {
      beforeAll(this: Context) {
        start = {wall: performance.timeOrigin + performance.now(), ...cpu()}
      },
      afterAll(this: Context) {
        const end = {wall: performance.timeOrigin + performance.now(), ...cpu()}
        const file = fileOf(this.test?.parent).replace(`${process.cwd()}/`, '')
        const line = {
          file,
          pid: process.pid,
          endedAt: Math.round(end.wall),
          wall: (end.wall - lastEnd.wall) / 1000,
          run: (end.wall - start.wall) / 1000,
          cpuSelf: end.self - lastEnd.self,
          cpuChildren: end.children - lastEnd.children,
        }
        lastEnd = end
        appendFileSync(out, `${JSON.stringify(line)}\n`)
      },
    }
  : {}
