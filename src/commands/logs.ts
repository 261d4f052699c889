import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {budgetFlags} from '../cli/budget-flags.js'
import {lockFlags} from '../cli/lock-flags.js'
import {interruptController} from '../cli/interaction.js'
import {readSavedLog} from '../engine/saved-logs.js'
import {openSession} from '../engine/session.js'
import {UsageError} from '../errors/index.js'
import {redactSecrets} from '../util/redact.js'

export default class Logs extends BaseCommand<typeof Logs> {
  static override description = 'Print the workload\'s output; -F/--follow follows it until the workload ends or Ctrl-C.'
  static override examples = ['<%= config.bin %> logs train', '<%= config.bin %> logs train --follow', '<%= config.bin %> logs train -F -f ci/anycloud.yaml']
  static override args = {profile: Args.string({description: 'The profile.', required: true})}
  // -f is --file, as for every command; follow is -F/--follow only.
  static override flags = {...budgetFlags, ...lockFlags, follow: Flags.boolean({char: 'F', description: 'Follow the output until the workload ends (or Ctrl-C).', default: false})}

  public async run(): Promise<void> {
    const {args, flags} = await this.parse(Logs)
    const session = await openSession({file: flags.file, profiles: [args.profile]})
    const dep = session.state?.deployments[args.profile]
    // The machine is gone (the job finished and was torn down, or destroyed): its saved output.
    const saved = session.state?.logs?.[args.profile]
    if (saved && (!dep || !Object.values(dep.resources).some((r) => r.kind === 'vm'))) {
      await session.release()
      const text = readSavedLog(session.store.localDir, saved)
      if (text === undefined) throw new UsageError(`the saved output of ${saved.deploymentId} (${saved.file} under ${session.store.localDir}) is missing: it is kept on the machine that tore the deployment down`)
      const how = saved.phase ? `, workload ${saved.phase}${saved.exitCode !== undefined ? ` (exit ${saved.exitCode})` : ''}` : ''
      this.say(`(the machine of ${saved.deploymentId} is gone: its output as saved at ${saved.savedAt}${how}${saved.truncated ? '; only the last MiB was kept' : ''})`)
      process.stdout.write(text)
      return
    }
    if (!dep?.placement) throw new UsageError(`profile '${args.profile}' has no deployment yet: run \`anycloud apply\` first`)
    const provider = await session.providers.get(dep.placement.credential).catch(async (error) => {
      await session.release()
      throw error
    })
    if (!provider.logs) throw new UsageError(`the ${provider.kind} provider cannot show logs`)
    const interrupt = interruptController(() => {})
    try {
      await provider.logs(
        {deployment: {project: session.config.project, deploymentId: dep.id, lineage: session.state!.lineage, profile: session.config.profiles[args.profile], placement: dep.placement, configDir: session.config.dir, stateDir: session.store.localDir}, records: dep.resources, progress: () => {}, signal: interrupt.signal},
        {follow: flags.follow, write: (chunk) => process.stdout.write(redactSecrets(chunk)), signal: interrupt.signal},
      )
    } finally {
      interrupt.dispose()
      // Closes provider connections (an ssh host's SSH session would keep the process alive).
      await session.release()
    }
  }
}
