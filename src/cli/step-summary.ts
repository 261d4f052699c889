import {appendFileSync} from 'node:fs'

/**
 * GitHub Actions' job summary: when `GITHUB_STEP_SUMMARY` names a file, `plan` and `apply` append
 * their Markdown to it (SPEC §8). A summary that cannot be written never fails the command.
 */
export function appendStepSummary(markdown: string, env: NodeJS.ProcessEnv = process.env): void {
  const path = env.GITHUB_STEP_SUMMARY
  if (!path) return
  try {
    appendFileSync(path, markdown.endsWith('\n') ? `${markdown}\n` : `${markdown}\n\n`)
  } catch (error) {
    process.stderr.write(`Warning: could not append to GITHUB_STEP_SUMMARY (${path}): ${(error as Error).message}\n`)
  }
}
