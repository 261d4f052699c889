import type {LogsResult} from '../model/results.js'
import type {Sink} from './sink.js'

/** `logs` of a machine that is gone: a note on stderr, the saved output on stdout (live output was streamed already). */
export function showLogs(r: LogsResult, sink: Sink): void {
  if (r.source !== 'saved') return
  const how = r.phase ? `, workload ${r.phase}${r.exitCode !== undefined ? ` (exit ${r.exitCode})` : ''}` : ''
  sink.stderr(`(the machine of ${r.deploymentId} is gone: its output as saved at ${r.savedAt}${how}${r.truncated ? '; only the last MiB was kept' : ''})`)
  sink.stdout(r.text)
}
