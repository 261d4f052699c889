/**
 * Waiting and machine processes for the bootstrap, ssh and e2e tests, without a top-level await
 * (helpers.ts has one, for PLACEMENT): a test file loaded through require, as mocha first tries,
 * can import this module and is loaded once. A file importing helpers.ts that way is loaded again
 * through import after the require fails, with its own second copy of every module it reached
 * (the e2e golden-plan recorder among them: azure.test then "printed 0 plans").
 */
import {readdirSync, readFileSync} from 'node:fs'

/** Polls `check` until truthy or the deadline (then throws naming `what`). Never a bare sleep. */
export async function until<T>(what: string, check: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 100): Promise<Exclude<T, undefined | null | false | '' | 0>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v) return v as Exclude<T, undefined | null | false | '' | 0>
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** `ps -eo args` equivalent, read from /proc (every PID namespace is visible from here). */
export function processArgs(): Array<{pid: number; args: string}> {
  const out: Array<{pid: number; args: string}> = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ')
      if (args) out.push({pid: Number(entry), args})
    } catch {
      // gone
    }
  }
  return out
}

/** Fields of /proc/PID/stat after the command name (index 0 is field 3, the state). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/**
 * Starts the next run of every periodic upload program of the machines under `prefix` now rather
 * than at the end of its sync interval: each program is a loop (`sync.sh ROLE && sleep N`, over and
 * over, SPEC §5), and ending its `sleep` makes the loop go on with its next upload at once. The
 * upload is still the program's own (a broken loop uploads nothing, however often it is nudged);
 * only the wait is cut short. A sleep younger than `minSleptMs` is left alone, so a test polling
 * with nudges starts an upload at most about once a second. Returns how many loops it woke.
 *
 * For tests that wait, while the job runs, for a file the workload wrote to reach its bucket:
 * their profiles keep the default-like long interval (no upload every second for the whole
 * scenario) and nudge while they wait. That the interval itself is honoured is machine.test.ts's.
 */
export function nudgeUploads(prefix: string, minSleptMs = 1000): number {
  const ticks = 100 // USER_HZ: /proc's starttime unit on Linux
  const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0])
  let woken = 0
  for (const p of processArgs()) {
    if (!/^sleep \d+$/.test(p.args)) continue
    const fields = statFields(p.pid)
    if (!fields) continue
    const parent = Number(fields[1])
    const slept = (uptime - Number(fields[19]) / ticks) * 1000
    if (slept < minSleptMs) continue
    let loop = ''
    try {
      loop = readFileSync(`/proc/${parent}/cmdline`, 'utf8').split('\0').join(' ')
    } catch {
      continue
    }
    if (!loop.includes(`${prefix}/`) || !/\/sync\.sh \S+ && sleep \d+;/.test(loop)) continue
    try {
      process.kill(p.pid, 'SIGTERM')
      woken++
    } catch {
      // it ended by itself
    }
  }
  return woken
}

/** {@link until}, nudging the uploads under `prefix` ({@link nudgeUploads}) before each check. */
export function untilUploaded<T>(what: string, prefix: string, check: () => T | Promise<T>, timeoutMs = 60_000, everyMs = 250): Promise<Exclude<T, undefined | null | false | '' | 0>> {
  return until(what, () => {
    nudgeUploads(prefix)
    return check()
  }, timeoutMs, everyMs)
}
