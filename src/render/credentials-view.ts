import {ExitCode} from '../errors/exit-codes.js'
import type {CredentialsTestResult} from '../model/results.js'
import {writeJson, type Sink} from './sink.js'

/** `credentials test`: one verdict a line, or JSON; exit 1 when one failed. */
export function showCredentialsTest(r: CredentialsTestResult, options: {json: boolean}, sink: Sink): ExitCode {
  if (options.json) writeJson(sink, {credentials: r.credentials})
  else for (const c of r.credentials) sink.stdout(`${c.name} (${c.provider}): ${c.ok ? `ok${c.account !== undefined ? ` (account ${c.account})` : ''}` : `FAILED: ${c.message ?? ''}`}\n`)
  return r.credentials.some((c) => !c.ok) ? ExitCode.Failed : ExitCode.Ok
}
