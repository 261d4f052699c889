/**
 * The built CLI against an `ssh` credential: a throwaway sshd VM (test/bootstrap/helpers.ts), a
 * temp project whose every command runs with ANYCLOUD_REMOTE_PREFIX (so nothing touches the real
 * /etc or /mnt), ANYCLOUD_STORAGE_CHECK=2:1 and CI=true, a `local` storage credential, and
 * snapshots of the process list taken after each command for the secret checks.
 */
import {writeFileSync} from 'node:fs'

import {stringify as stringifyYaml} from 'yaml'

import {processArgs, startVm, until, type Vm} from '../bootstrap/helpers.js'
import {ensureSudoUser} from '../helpers/sshd/sudo-user.js'
import {finished, Project, type RunOptions, type RunResult} from './cli.js'

export class SshProject extends Project {
  /** Every CLI output so far (stdout and stderr of every command), for the secret checks. */
  readonly outputs: string[] = []
  /** `ps -eo args` snapshots taken after each command. */
  readonly processLists: string[] = []

  constructor(
    yaml: string,
    readonly vm: Vm,
    private readonly fixedEnv: Record<string, string>,
  ) {
    super(yaml)
  }

  override env(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    return super.env({...this.fixedEnv, ...extra})
  }

  override async run(args: string[], options: RunOptions = {}): Promise<RunResult> {
    const r = await super.run(args, {timeoutMs: 120_000, ...options})
    this.outputs.push(r.stdout, r.stderr)
    this.snapshot()
    return r
  }

  /**
   * Runs a command and asserts its exit code while sampling the process list every ~20 ms until it
   * ends (for the "no secret in any command line, during and after" checks).
   */
  async expectSampled(args: string[], code: number, options: RunOptions = {}): Promise<RunResult> {
    const child = this.start(args, options)
    await until(`anycloud ${args.join(' ')} to end`, () => {
      this.snapshot()
      return child.exitCode !== null || child.signalCode !== null
    }, options.timeoutMs ?? 120_000, 20)
    const r = await finished(child)
    this.outputs.push(r.stdout, r.stderr)
    this.snapshot()
    if (r.code !== code) throw new Error(`anycloud ${args.join(' ')}: expected exit ${code}, got ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`)
    return r
  }

  snapshot(): void {
    this.processLists.push(processArgs().map((p) => p.args).join('\n'))
  }

  /** destroy -y with the same environment, then the VM goes (and every process it started with it). */
  async stopAll(): Promise<void> {
    try {
      await this.cleanup()
    } finally {
      await this.vm.stop()
    }
  }
}

export interface SshProjectOptions {
  vm?: Vm
  /** sshd SetEnv for a fresh VM (e.g. a docker stand-in's PATH). */
  vmEnv?: Record<string, string>
  /** Pin this host key (`true`: the VM's real one); default: recorded on first contact. */
  hostKey?: string | true
  profiles: Record<string, Record<string, unknown>>
  env?: Record<string, string>
  project?: string
  /** Another storage credential for the host's buckets (default: `store`, local, root `cloud`). */
  storage?: {name: string; credential: Record<string, unknown>}
  /** Login user (default root); a non-root one gets passwordless sudo (ensureSudoUser), as on cloud images. */
  user?: string
}

/** A VM (unless given) and a project whose `box` ssh credential reaches it, storage on `store` (local, root `cloud`). */
export async function sshProject(options: SshProjectOptions): Promise<SshProject> {
  const vm = options.vm ?? (await startVm({env: options.vmEnv}))
  const user = options.user && options.user !== 'root' ? ensureSudoUser(options.user) : 'root'
  const host: Record<string, unknown> = {host: vm.sshd.host, port: vm.sshd.port, user, identityFile: './id_ed25519'}
  if (options.hostKey) host.hostKey = options.hostKey === true ? vm.sshd.hostPublicKey : options.hostKey
  const yaml = stringifyYaml({
    version: 1,
    project: options.project ?? 'sshe2e',
    credentials: {
      box: {provider: 'ssh', hosts: [host], storage: options.storage?.name ?? 'store'},
      store: {provider: 'local', root: 'cloud'},
      ...(options.storage ? {[options.storage.name]: options.storage.credential} : {}),
    },
    profiles: options.profiles,
  })
  const project = new SshProject(yaml, vm, {
    ANYCLOUD_REMOTE_PREFIX: vm.prefix,
    ANYCLOUD_STORAGE_CHECK: '2:1',
    ANYCLOUD_SSH_WAIT_MS: '15000',
    ...(options.env ?? {}),
  })
  writeFileSync(project.path('id_ed25519'), vm.sshd.privateKey, {mode: 0o600})
  return project
}
