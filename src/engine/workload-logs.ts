import {UsageError} from '../errors/index.js'
import type {LogsResult} from '../model/results.js'
import {recordedDeploymentContext} from './session.js'
import {redactSecrets} from '../util/redact.js'
import type {CommonOptions, EngineContext} from './context.js'
import {readSavedLog} from './saved-logs.js'

export interface LogsOptions extends CommonOptions {
  profile: string
  /** Follow the output until the workload ends (or `signal` aborts). */
  follow?: boolean
}

/**
 * The workload's output: streamed from its machine to the host (`output` messages, secrets masked),
 * or, when the machine is gone, the output saved when it was torn down (in the result).
 */
export async function workloadLogs(ctx: EngineContext, options: LogsOptions): Promise<LogsResult> {
  const session = await ctx.open({file: options.file, profiles: [options.profile], signal: options.signal})
  try {
    const dep = session.state?.deployments[options.profile]
    // The machine is gone (the job finished and was torn down, or destroyed): its saved output.
    const saved = session.state?.logs?.[options.profile]
    if (saved && (!dep || !Object.values(dep.resources).some((r) => r.kind === 'vm'))) {
      const text = readSavedLog(session.store.localDir, saved)
      if (text === undefined) throw new UsageError(`the saved output of ${saved.deploymentId} (${saved.file} under ${session.store.localDir}) is missing: it is kept on the machine that tore the deployment down`)
      return {source: 'saved', deploymentId: saved.deploymentId, savedAt: saved.savedAt, ...(saved.phase ? {phase: saved.phase} : {}), ...(saved.exitCode !== undefined ? {exitCode: saved.exitCode} : {}), truncated: Boolean(saved.truncated), text}
    }
    if (!dep?.placement) throw new UsageError(`profile '${options.profile}' has no deployment yet: run \`anycloud apply\` first`)
    const provider = await session.providers.get(dep.placement.credential)
    if (!provider.logs) throw new UsageError(`profile '${options.profile}': credential '${dep.placement.credential}' (${provider.kind} provider) cannot show logs`)
    const {signal} = options
    const deployment = recordedDeploymentContext(session, session.config.profiles[options.profile], dep, dep.placement)
    await provider.logs(
      {deployment, records: dep.resources, progress: () => {}, signal},
      {follow: Boolean(options.follow), write: (chunk) => void ctx.io.notify({type: 'output', chunk: redactSecrets(chunk)}), signal},
    )
    return {source: 'machine'}
  } finally {
    // Closes provider connections (an ssh host's SSH session would keep the process alive).
    await session.release()
  }
}
