/**
 * Where a view writes: results on stdout, diagnostics and notes on stderr (SPEC §3). The CLI's
 * sink is the process's streams; a test's collects the text.
 */
export interface Sink {
  /** Text as is (a view adds its own newlines). */
  stdout(text: string): void
  /** One line; the newline is added. */
  stderr(line: string): void
}

/** The one JSON document of a `--json` run. */
export function writeJson(sink: Sink, value: unknown): void {
  sink.stdout(JSON.stringify(value, null, 2) + '\n')
}
