/**
 * The `ssh` provider (SPEC §6): machines the user already has, reached over SSH and bootstrapped
 * exactly like a cloud VM. Buckets live on the credential named by `storage`.
 *
 * - `vm` is the host itself: "create" verifies it answers (recording its host key on first contact
 *   when none is pinned); "delete" leaves the host alone (only anycloud's own supervisord goes, once
 *   no deployment of anycloud is left on it).
 * - `bootstrap` renders src/bootstrap files and runs the one idempotent script; its hash is the
 *   hash of the public rendering, so a changed profile re-runs exactly what changed.
 * - `workload` is a supervisord program (`runtime: process`) or a `docker run -d` container.
 * - Host keys are always verified: pinned in the file, or recorded in state on first contact and
 *   enforced from then on; a mismatch stops everything before authentication.
 *
 * Knobs for tests and unusual hosts (environment): ANYCLOUD_REMOTE_PREFIX puts anycloud's
 * directories and the /mnt mounts under a prefix; ANYCLOUD_STORAGE_CHECK=`retries:sleepSeconds`
 * shortens the storage connectivity check (default 30:15).
 */
import {readFileSync, existsSync} from 'node:fs'
import {homedir} from 'node:os'
import {isAbsolute, join, resolve} from 'node:path'

import type {NamedCredential} from '../../config/types.js'
import type {SshCredential, SshHost} from '../../config/schema-types.js'
import {AnycloudError, AuthError, UsageError} from '../../errors/index.js'
import {addressOf, type ActualResource, type DeploymentContext, type DesiredResource, type ResourceRecord} from '../../model/resources.js'
import type {CommandRunner} from '../../remote/command-runner.js'
import {renderBootstrap, renderWorkload, type MachinePaths, type RenderedBootstrap} from '../../bootstrap/render.js'
import {readMachineStatus, removeDeployment, runBootstrap, startWorkload, stopWorkload, streamLogs, type MachineStatus} from '../../bootstrap/machine.js'
import type {BootstrapSpec} from '../../bootstrap/types.js'
import {bootstrapSpec, bucketRequests, bucketWarnings, layoutPaths, machineLayout, workloadSpec, type BucketRequest, type MachineLayout} from '../../bootstrap/spec.js'
import {bucketSecrets} from '../bucket-secrets.js'
import {cannotUpdate, kindTable, updatableIn, type KindTable, type Provider, type ProviderCallContext, type ResourceLookup} from '../provider.js'
import type {ProviderFactory, ProviderFactoryOptions} from '../provider.js'

const PROVIDER = 'ssh'


export const createSshProvider: ProviderFactory = async (options) => new SshProvider(options)


export class SshProvider implements Provider {
  readonly kind = 'ssh' as const
  readonly credential: NamedCredential
  /** The host is the `vm` (reached, never made); the bootstrap and workload are what anycloud puts on it. */
  readonly compute: KindTable = kindTable([
    {
      kind: 'vm', dependsOn: [], diff: updatableIn(),
      read: async (lookup) => this.readHost(lookup),
      create: (resource, ctx) => this.fresh(ctx, () => this.reachHost(resource, ctx)),
      update: cannotUpdate,
      // The host stays. What anycloud wrote went with the bootstrap.
      delete: async (_record, ctx) => {
        this.statusCache.delete(ctx.deployment.deploymentId)
      },
    },
    {
      kind: 'bootstrap', dependsOn: ['vm'], diff: updatableIn('hash'),
      read: (lookup, ctx) => this.readBootstrap(lookup, ctx),
      create: (resource, ctx) => this.fresh(ctx, () => this.bootstrap(resource, ctx)),
      update: (resource, _record, ctx) => this.fresh(ctx, () => this.bootstrap(resource, ctx)),
      delete: (_record, ctx) => {
        ctx.progress('removing the programs, container and files anycloud wrote')
        return this.onHost(ctx, 'remove the programs and files anycloud wrote', (runner, paths) => removeDeployment(runner, paths, this.layout().roots))
      },
    },
    {
      kind: 'workload', dependsOn: ['bootstrap'], diff: updatableIn(),
      read: (lookup, ctx) => this.readWorkload(lookup, ctx),
      create: (resource, ctx) => this.fresh(ctx, () => this.startOnHost(resource, ctx)),
      update: cannotUpdate,
      delete: (_record, ctx) => {
        ctx.progress('stopping the workload (its final upload runs first)')
        return this.onHost(ctx, 'stop the workload', (runner, paths) => stopWorkload(runner, paths))
      },
    },
  ])
  /** The host is the user's: deleting `vm` leaves it, so the workload and bootstrap deletes must reach it. */
  readonly keepsMachine = true
  private readonly spec: SshCredential
  private readonly storageProviders = new Map<string, Provider>()
  private readonly runners = new Map<string, Promise<CommandRunner>>()
  /** Status reads in flight, by deployment. */
  private readonly statusCache = new Map<string, Promise<MachineStatus>>()
  /** Hosts that did not answer in this run. */
  private readonly unreachable = new Map<string, Error>()
  /** Host keys seen on first contact in this run (also returned in the vm's outputs for state). */
  private readonly recorded = new Map<string, string>()
  /** The host each deployment uses, chosen at plan time among several `hosts` (with what the plan says about it). */
  private readonly chosen = new Map<string, {host: SshHost; note?: string}>()

  constructor(private readonly options: ProviderFactoryOptions) {
    this.credential = options.credential
    this.spec = options.credential.spec as SshCredential
  }

  // ---- storage: delegated to the `storage` credential ----------------------------------------

  private async storage(name = this.spec.storage): Promise<Provider> {
    if (!name) throw new UsageError(`ssh credential '${this.credential.name}' has no storage: set credentials.${this.credential.name}.storage to the credential that holds its buckets`)
    let p = this.storageProviders.get(name)
    if (!p) {
      p = await this.options.providerFor(name)
      this.storageProviders.set(name, p)
    }
    return p
  }

  async readBucket(name: string): Promise<ActualResource | null> {
    return (await this.storage()).readBucket(name)
  }

  async createBucket(resource: DesiredResource, ctx: {region: string; tags: Record<string, string>}): Promise<ActualResource> {
    return (await this.storage()).createBucket(resource, ctx)
  }

  async deleteBucket(record: ResourceRecord, options: {force: boolean}): Promise<{deleted: boolean; reason?: string}> {
    return (await this.storage()).deleteBucket(record, options)
  }

  // ---- identity --------------------------------------------------------------------------------

  async checkAuth(): Promise<{account?: string}> {
    for (const h of this.spec.hosts) {
      const key = this.identityFile(h)
      if (key && !existsSync(key)) throw new AuthError(`ssh credential '${this.credential.name}': identity file ${key} for ${h.user}@${h.host} does not exist`, PROVIDER, this.credential.name)
    }
    return {}
  }

  defaultRegion(): string {
    return 'ssh'
  }

  zones(): string[] {
    return []
  }

  async prepare(ctx: DeploymentContext, records: Readonly<Record<string, ResourceRecord>> = {}): Promise<void> {
    for (const name of [this.spec.storage, ...ctx.spec.buckets.filter((b) => b.explicitCredential).map((b) => b.credential)]) if (name) await this.storage(name)
    if (this.spec.hosts.length > 1 && !this.chosen.has(ctx.deploymentId)) {
      // A deployment stays on the host it runs on; a new one goes to the first host that answers.
      const vm = records[addressOf(ctx.spec.name, 'vm')]
      const recorded = this.hostByAddress(vm?.outputs.address) ?? this.hostByAddress(vm?.attributes.host)
      this.chosen.set(ctx.deploymentId, recorded ? {host: recorded} : await this.chooseHost(ctx, records))
    }
  }

  /**
   * `hosts` in order of preference: the first that accepts a connection and presents the host key
   * it must (pinned in the file, or recorded earlier) is the deployment's. Each host gets
   * ANYCLOUD_SSH_PROBE_MS (default 10 s) to answer.
   */
  private async chooseHost(ctx: DeploymentContext, records: Readonly<Record<string, ResourceRecord>>): Promise<{host: SshHost; note: string}> {
    const skipped: string[] = []
    const waitMs = Number(this.options.env.ANYCLOUD_SSH_PROBE_MS ?? 10_000)
    for (const h of this.spec.hosts) {
      try {
        await this.connectHost(h, records, ctx.spec.name, undefined, waitMs)
        const rest = skipped.length > 0 ? `; skipped ${skipped.join('; ')}` : ''
        return {host: h, note: `host ${this.address(h)} chosen: the first of ${this.spec.hosts.length} hosts of credential '${this.credential.name}' that answered with its host key${rest}`}
      } catch (error) {
        if (error instanceof UsageError) throw error
        skipped.push(`${this.address(h)} (${(error as Error).message})`)
      }
    }
    throw new AnycloudError(`no host of ssh credential '${this.credential.name}' could be used for profile '${ctx.spec.name}': ${skipped.join('; ')}`, {
      code: 'ssh.no-host', source: 'cloud',
      suggestions: ['Check that one of the hosts is up, reachable on its SSH port, and presents the host key pinned for it.'],
    })
  }

  desiredAttributes(resource: DesiredResource, ctx: DeploymentContext): Record<string, unknown> {
    if (resource.kind === 'vm') return {host: this.address(this.hostFor(ctx.deploymentId)), region: undefined, spot: undefined}
    if (resource.kind === 'bootstrap') return {hash: this.render(ctx, {}).hash}
    return {}
  }

  // ---- machine ---------------------------------------------------------------------------------

  /**
   * The deployment's host: the one planned for its vm (`planned`), chosen in this run, named by its
   * vm record, else the first listed.
   */
  private hostFor(deploymentId: string, records?: Readonly<Record<string, ResourceRecord>>, profile?: string, planned?: unknown): SshHost {
    const vm = profile && records ? records[addressOf(profile, 'vm')] : undefined
    return this.hostByAddress(planned) ?? this.chosen.get(deploymentId)?.host ?? this.hostByAddress(vm?.outputs.address) ?? this.hostByAddress(vm?.attributes.host) ?? this.spec.hosts[0]
  }

  private hostByAddress(address: unknown): SshHost | undefined {
    return typeof address === 'string' ? this.spec.hosts.find((h) => this.address(h) === address) : undefined
  }

  /** `user@host:port`, as the plan and state show it. */
  private address(h: SshHost): string {
    return `${h.user}@${this.hostLabel(h)}`
  }

  private identityFile(h: SshHost): string | undefined {
    if (!h.identityFile) return undefined
    const p = h.identityFile.startsWith('~/') ? join(homedir(), h.identityFile.slice(2)) : h.identityFile
    return isAbsolute(p) ? p : resolve(this.options.configDir, p)
  }

  private privateKey(h: SshHost): Buffer {
    const explicit = this.identityFile(h)
    const candidates = explicit ? [explicit] : ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => join(homedir(), '.ssh', f))
    for (const c of candidates) if (existsSync(c)) return readFileSync(c)
    throw new AuthError(`ssh credential '${this.credential.name}': no private key for ${h.user}@${h.host} (${explicit ? `${explicit} is missing` : 'set identityFile'})`, PROVIDER, this.credential.name)
  }

  private hostLabel(h: SshHost): string {
    return `${h.host}:${h.port ?? 22}`
  }

  /** One connection per host per run; the host key pinned, recorded in state, or recorded now. */
  private connectHost(h: SshHost, records: Readonly<Record<string, ResourceRecord>>, profile: string, signal?: AbortSignal, waitMs?: number): Promise<CommandRunner> {
    const label = this.hostLabel(h)
    // By user too: two entries for one address may log in (and pin keys) differently.
    // A host that did not answer earlier in this run fails at once (a refresh already waited for it).
    const gone = this.unreachable.get(this.address(h))
    if (gone) return Promise.reject(gone)
    let runner = this.runners.get(this.address(h))
    if (!runner) {
      const vm = records[addressOf(profile, 'vm')]
      // State's key binds the host the vm record names; a record naming no listed host (older state,
      // or a host since renamed) still binds: failing closed on a mismatch beats trusting a new key.
      const recordHost = vm ? this.hostByAddress(vm.outputs.address) ?? this.hostByAddress(vm.attributes.host) : undefined
      const recordedKey = (vm && (recordHost === undefined || recordHost === h) ? (vm.outputs.hostKey as string | undefined) : undefined) ?? this.recorded.get(label)
      const pinned = h.hostKey ?? recordedKey
      runner = import('../../remote/ssh-runner.js').then(({connectSsh}) =>
        connectSsh({
          host: h.host, port: h.port ?? 22, user: h.user, privateKey: this.privateKey(h),
          hostKey: pinned ? {kind: 'pinned', keys: [pinned]} : {kind: 'record-first', onRecord: async (key) => void this.recorded.set(label, key)},
          waitTimeoutMs: waitMs ?? Number(this.options.env.ANYCLOUD_SSH_WAIT_MS ?? 60_000), signal, credential: this.credential.name,
        }),
      )
      runner.catch((error: unknown) => {
        this.runners.delete(this.address(h))
        if ((error as {code?: string})?.code === 'ssh.unreachable') this.unreachable.set(this.address(h), error as Error)
      })
      this.runners.set(this.address(h), runner)
    }
    return runner
  }

  async connect(ctx: ProviderCallContext): Promise<CommandRunner | undefined> {
    const {deployment} = ctx
    return this.connectHost(this.hostFor(deployment.deploymentId, ctx.records, deployment.spec.name), ctx.records, deployment.spec.name, ctx.signal)
  }

  private layout(): MachineLayout {
    return machineLayout(this.options.env)
  }

  /** Where a deployment's files live on the host (no rendering, no storage provider needed). */
  private paths(deploymentId: string): MachinePaths {
    return layoutPaths(this.layout(), deploymentId)
  }

  /** The bootstrap spec of a deployment; `secrets` empty at plan time (the hash ignores values). */
  private render(ctx: DeploymentContext, secrets: Record<string, Record<string, string>>): RenderedBootstrap {
    return renderBootstrap(this.bootstrapSpec(ctx), secrets)
  }

  private bucketRequests(ctx: DeploymentContext): BucketRequest[] {
    // An ssh host has no instance identity: every bucket is reached with what its storage hands out.
    return bucketRequests(ctx, this.spec.storage ?? '', () => false)
  }

  /** What the workload's files depend on (no buckets: those are the bootstrap's). */
  private workloadSpec(ctx: DeploymentContext): BootstrapSpec {
    return workloadSpec(ctx, this.layout())
  }

  private bootstrapSpec(ctx: DeploymentContext): BootstrapSpec {
    return bootstrapSpec(ctx, this.layout(), this.bucketRequests(ctx), (c) => this.storageProviders.get(c), 'an ssh host')
  }

  /** Warnings the plan should carry (e.g. long-lived keys written to the host). */
  warnings(ctx: DeploymentContext): string[] {
    const note = this.chosen.get(ctx.deploymentId)?.note
    return [...(note ? [note] : []), ...bucketWarnings(this.bootstrapSpec(ctx))]
  }

  private status(ctx: ProviderCallContext): Promise<MachineStatus> {
    const key = ctx.deployment.deploymentId
    let s = this.statusCache.get(key)
    if (!s) {
      // Paths only: no storage provider needed (destroy and status never prepare() them).
      s = this.connect(ctx).then((runner) => readMachineStatus(runner!, this.paths(key)))
      // Shared by the reads in flight together (a refresh reads bootstrap and workload at once:
      // one SSH command); a later read (apply --wait polling) asks the machine again.
      const settled = s
      settled.then(() => undefined, () => undefined).finally(() => {
        if (this.statusCache.get(key) === settled) this.statusCache.delete(key)
      })
      this.statusCache.set(key, s)
    }
    return s
  }

  /** The host is the user's: it "exists" once anycloud reached it; no SSH needed to say so. */
  private readHost(lookup: ResourceLookup): ActualResource | null {
    const r = lookup.record
    return r && r.status === 'created' ? {id: r.id, attributes: r.attributes, outputs: r.outputs} : null
  }

  private async readBootstrap(lookup: ResourceLookup, ctx: ProviderCallContext): Promise<ActualResource | null> {
    if (!ctx.records[addressOf(ctx.deployment.spec.name, 'vm')]) return null
    const s = await this.status(ctx)
    if (!s.bootstrapHash) return null
    // Files in place but anycloud's supervisord gone (the host rebooted): the bootstrap must
    // run again (it restarts supervisord, every other step is skipped); the plan says why.
    return {id: lookup.name, attributes: {hash: s.supervisord ? s.bootstrapHash : '(supervisord is not running)'}, outputs: {programs: s.programs}}
  }

  private async readWorkload(lookup: ResourceLookup, ctx: ProviderCallContext): Promise<ActualResource | null> {
    if (!ctx.records[addressOf(ctx.deployment.spec.name, 'vm')]) return null
    const s = await this.status(ctx)
    if (s.workload.phase === 'absent') return null
    return {
      id: lookup.name, attributes: lookup.record?.attributes ?? {}, phase: s.workload.phase, ...(s.workload.exitCode !== undefined ? {exitCode: s.workload.exitCode} : {}),
      outputs: {startedAt: s.workload.startedAt, lastSync: s.lastSync, programs: s.programs},
    }
  }

  /** What anycloud does on the host changes what it reads there: the run's status read goes first. */
  private fresh<T>(ctx: ProviderCallContext, fn: () => Promise<T>): Promise<T> {
    this.statusCache.delete(ctx.deployment.deploymentId)
    return fn()
  }

  private async reachHost(resource: DesiredResource, ctx: ProviderCallContext): Promise<ActualResource> {
    const h = this.hostFor(ctx.deployment.deploymentId, ctx.records, ctx.deployment.spec.name, resource.attributes.host)
    this.chosen.set(ctx.deployment.deploymentId, {host: h})
    ctx.progress(`connecting to ${this.address(h)}`)
    const runner = await this.connectHost(h, ctx.records, ctx.deployment.spec.name, ctx.signal)
    const r = await runner.run('uname -sm', {timeoutMs: 30_000, idempotent: true})
    const hostKey = h.hostKey ?? (ctx.records[resource.address]?.outputs.hostKey as string | undefined) ?? this.recorded.get(this.hostLabel(h))
    return {id: this.address(h), attributes: {...resource.attributes, host: this.address(h)}, outputs: {address: this.address(h), hostKey, system: r.stdout.trim()}}
  }

  private async startOnHost(resource: DesiredResource, ctx: ProviderCallContext): Promise<ActualResource> {
    const runner = await this.connect(ctx)
    const paths = this.paths(ctx.deployment.deploymentId)
    ctx.progress(`starting ${ctx.deployment.spec.workload.runtime === 'docker' ? 'the container' : 'the process'}`)
    // The workload's own files go with it: a changed command or env re-runs only the workload.
    await startWorkload(runner!, paths, String(resource.attributes.specHash ?? ''), renderWorkload(this.workloadSpec(ctx.deployment)))
    return {id: resource.name, attributes: resource.attributes, phase: 'running', outputs: {}}
  }

  private async bootstrap(resource: DesiredResource, ctx: ProviderCallContext): Promise<ActualResource> {
    const runner = await this.connect(ctx)
    // Minted credentials (STS for an aws storage, SAS for azure) expire: `watch` re-mints before the recorded time.
    const {secrets, outputs: expiry} = await bucketSecrets(this.bucketRequests(ctx.deployment), (c) => this.storage(c))
    const rendered = this.render(ctx.deployment, secrets)
    if (resource.attributes.hash && resource.attributes.hash !== rendered.hash) {
      throw new AnycloudError(`the bootstrap of ${ctx.deployment.deploymentId} renders differently than planned (${rendered.hash} ≠ ${String(resource.attributes.hash)}): the profile or its storage changed since the plan; plan again`, {code: 'bootstrap.drift', source: 'user'})
    }
    const run = await runBootstrap(runner!, rendered, ctx.progress, ctx.signal)
    return {id: resource.name, attributes: {hash: rendered.hash}, outputs: {steps: run.steps.filter((s) => s.outcome !== 'skipped').map((s) => s.step), ...expiry}}
  }

  /**
   * The host stays (it is the user's), so removing the workload and anycloud's files IS the
   * delete: it must reach the host. When it cannot, the error says so at once (the host already
   * failed to answer in this run, or within ANYCLOUD_SSH_WAIT_MS) and offers `state rm`.
   */
  private async onHost(ctx: ProviderCallContext, what: string, fn: (runner: CommandRunner, paths: MachinePaths) => Promise<void>): Promise<void> {
    this.statusCache.delete(ctx.deployment.deploymentId)
    const paths = this.paths(ctx.deployment.deploymentId)
    try {
      await fn((await this.connect(ctx))!, paths)
    } catch (error) {
      if (!(error instanceof AnycloudError) || !['ssh.unreachable', 'ssh.connection-lost', 'remote.timeout', 'timeout', 'ssh.auth-failed'].includes(error.code)) throw error
      const p = ctx.deployment.spec.name
      const forget = `anycloud state rm ${p}.workload && anycloud state rm ${p}.bootstrap && anycloud state rm ${p}.vm`
      throw new AnycloudError(
        `cannot ${what} on ${this.address(this.hostFor(ctx.deployment.deploymentId, ctx.records, p))} (credential '${this.credential.name}'): ${error.message}. ` +
          'The host stays after a destroy, so anycloud must reach it to remove what it put there: bring it back and run the command again, ' +
          `or, if it is gone for good (or you will clean it by hand), forget the records: ${forget}`,
        {code: 'ssh.cleanup-unreachable', source: 'cloud', cause: error, suggestions: [`To forget the records: ${forget}`]},
      )
    }
  }

  async logs(ctx: ProviderCallContext, options: {follow: boolean; write: (chunk: string) => void; signal?: AbortSignal}): Promise<void> {
    const runner = await this.connect(ctx)
    await streamLogs(runner!, this.paths(ctx.deployment.deploymentId), options)
  }

  async close(): Promise<void> {
    const all = [...this.runners.values()]
    this.runners.clear()
    await Promise.all(all.map((r) => r.then((x) => x.close()).catch(() => undefined)))
  }
}
