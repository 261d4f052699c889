/**
 * `PROFILE.bootstrap` and `PROFILE.workload` on a cloud VM (EC2, Compute Engine, Azure): the same
 * machine logic as the ssh provider (src/bootstrap/render.ts renders, src/bootstrap/machine.ts
 * runs), over an SSH runner to the VM's address, logging in with the deployment's key and pinning
 * the host key anycloud generated for that very VM (recorded in the vm's outputs). A VM that the
 * cloud reports gone or stopped is never dialled: its bootstrap reads as absent and its workload
 * as `lost`. Each cloud supplies a {@link CloudVm}: how to look its VM up and read its state.
 *
 * Buckets: those on this credential are reached with the VM's own identity (instance role, service
 * account, managed identity) where the cloud says so, those on other credentials
 * (`inputStorageCredentials` / `outputStorageCredentials`) with what that credential's provider
 * hands out (scoped STS credentials, a SAS…), minted at apply time.
 */
import {existsSync, readFileSync} from 'node:fs'

import {renderBootstrap, renderWorkload, type RenderedBootstrap, type RenderedWorkload} from '../bootstrap/render.js'
import {readMachineStatus, removeDeployment, runBootstrap, startWorkload, stopWorkload, streamLogs, type MachineStatus} from '../bootstrap/machine.js'
import {noticeFor, type NoticeCloud} from '../bootstrap/notice.js'
import type {BootstrapSpec} from '../bootstrap/types.js'
import {bootstrapSpec, bucketRequests, bucketWarnings, layoutPaths, machineLayout, workloadSpec, type BucketRequest, type MachineLayout} from '../bootstrap/spec.js'
import {AnycloudError, ProviderError} from '../errors/index.js'
import {addressOf, type ActualResource, type DeploymentContext, type DesiredResource, type ResourceRecord} from '../model/resources.js'
import type {CommandRunner} from '../remote/command-runner.js'
import {SshUnreachableError} from '../remote/errors.js'
import {fingerprintSha256, sameKey} from '../remote/host-keys.js'
import {bucketSecrets} from './bucket-secrets.js'
import {retireUserDataKey, rotateHostKey} from './host-key-rotation.js'
import {VM_MISSING, type Provider, type ProviderCallContext, type ResourceLookup} from './provider.js'
import {keyPath} from './vm-keys.js'

/** What differs between clouds: finding the recorded VM and reading its state. */
export interface CloudVm<V> {
  /** The cloud, for notices and error codes (`aws.sshkey-missing`). */
  cloud: NoticeCloud
  /** How the plan names such a machine ("an EC2 instance"). */
  label: string
  /** Extra settings of the interruption-notice program (e.g. the VM's own name on Azure). */
  noticeOptions?(ctx: DeploymentContext): {resourceName?: string}
  /**
   * How to read the cloud's current view of the VM a (created) record names (undefined when it is
   * gone); null when the record names no VM this cloud can look up (then there is no VM). Pure.
   */
  lookup(record: ResourceRecord, deployment: DeploymentContext): (() => Promise<V | undefined>) | null
  /** The view belongs to the recorded VM (a refresh batch may have seen another one). */
  matches?(record: ResourceRecord, view: V): boolean
  /** The VM runs (or is starting): SSH may be tried. */
  live(view: V): boolean
  /** How a VM that is not live reads in a `lost` workload's note ("stopped (Server.SpotInstanceTermination)"). */
  state(view: V | undefined): string
  /** The login user when the vm record names none. */
  sshUser: string
  timing: {sshWaitMs: number; sshReadWaitMs: number}
}

export interface CloudMachineOptions<V> {
  vm: CloudVm<V>
  env: NodeJS.ProcessEnv
  credential: string
  /** The provider of a storage credential (this one for its own name). */
  storageFor(name: string): Promise<Provider>
  /** The credential whose storage holds a credential's buckets. */
  storageOf(name: string): string
  /** Buckets on this credential are reached with the VM's own identity (default: yes). */
  instanceIdentity?: boolean
}

export class CloudMachine<V> {
  private readonly runners = new Map<string, Promise<CommandRunner>>()
  /** Machines found unreachable in this run: reads and cleanups fail at once instead of waiting again. */
  private readonly unreachable = new Map<string, Error>()
  private readonly statusCache = new Map<string, Promise<MachineStatus>>()
  private readonly vmCache = new Map<string, Promise<V | undefined>>()
  /** Providers of the storage credentials seen so far (rcloneRemote is pure and needs them at hand). */
  private readonly storage = new Map<string, Provider>()
  /** Deployments whose VM no longer serves its user-data host key (checked once per run). */
  private readonly retired = new Set<string>()

  constructor(private readonly o: CloudMachineOptions<V>) {}

  private layout(): MachineLayout {
    return machineLayout(this.o.env)
  }

  /** One request per bucket the machine syncs: which credential serves it, and whether the VM's identity reaches it. */
  bucketRequests(ctx: DeploymentContext): BucketRequest[] {
    const own = this.o.instanceIdentity ?? true
    return bucketRequests(ctx, this.o.storageOf(ctx.placement.credential), (credential) => own && credential === this.o.credential)
  }

  private spec(ctx: DeploymentContext): BootstrapSpec {
    const {vm} = this.o
    return bootstrapSpec(ctx, this.layout(), this.bucketRequests(ctx), (c) => this.storage.get(c), vm.label, {notice: noticeFor(vm.cloud, this.o.env, vm.noticeOptions?.(ctx))})
  }

  /** The workload's own files (run script, 0600 env file): they depend on the workload only, not on the buckets. */
  renderWorkload(ctx: DeploymentContext): RenderedWorkload {
    return renderWorkload(workloadSpec(ctx, this.layout()))
  }

  /** Pure once {@link loadStorage} ran (the provider's prepare does). `secrets` empty at plan time. */
  render(ctx: DeploymentContext, secrets: Record<string, Record<string, string>>): RenderedBootstrap {
    return renderBootstrap(this.spec(ctx), secrets)
  }

  /** Makes the storage providers of a deployment's buckets available to {@link render}. */
  async loadStorage(ctx: DeploymentContext): Promise<void> {
    for (const {credential} of this.bucketRequests(ctx)) if (!this.storage.has(credential)) this.storage.set(credential, await this.o.storageFor(credential))
  }

  /**
   * The provider's prepare of a deployment on this credential: {@link loadStorage}, then the other
   * credentials' storage providers prepare for it (this credential's own is the caller).
   */
  async prepareStorage(ctx: DeploymentContext): Promise<void> {
    await this.loadStorage(ctx)
    for (const {credential} of this.bucketRequests(ctx)) if (credential !== this.o.credential) await this.storage.get(credential)!.prepare?.(ctx)
  }

  warnings(ctx: DeploymentContext): string[] {
    try {
      return bucketWarnings(this.spec(ctx))
    } catch {
      return []
    }
  }

  private paths(ctx: DeploymentContext) {
    return layoutPaths(this.layout(), ctx.deploymentId)
  }

  /** Drops what this run remembers about a deployment's machine (before its VM is created or deleted). */
  forget(ctx: DeploymentContext): void {
    this.statusCache.delete(ctx.deploymentId)
    this.vmCache.delete(ctx.deploymentId)
    this.unreachable.delete(ctx.deploymentId)
    const runner = this.runners.get(ctx.deploymentId)
    this.runners.delete(ctx.deploymentId)
    runner?.then((r) => r.close()).catch(() => undefined)
  }

  private vmRecord(call: ProviderCallContext): ResourceRecord | undefined {
    const record = call.records[addressOf(call.deployment.spec.name, 'vm')]
    return record?.status === 'created' ? record : undefined
  }

  /** The recorded VM's view as a refresh batch saw it (saves this run's own look-up). */
  seedVm(call: ProviderCallContext, view: V | undefined): void {
    const record = this.vmRecord(call)
    if (!record || !this.o.vm.lookup(record, call.deployment) || this.vmCache.has(call.deployment.deploymentId)) return
    const same = view !== undefined && (this.o.vm.matches?.(record, view) ?? true)
    this.vmCache.set(call.deployment.deploymentId, Promise.resolve(same ? view : undefined))
  }

  /** The recorded VM's current view (once per run), or undefined when there is no VM. */
  private vm(call: ProviderCallContext): Promise<V | undefined> {
    const record = this.vmRecord(call)
    if (!record) return Promise.resolve(undefined)
    const key = call.deployment.deploymentId
    let v = this.vmCache.get(key)
    if (!v) {
      const read = this.o.vm.lookup(record, call.deployment)
      if (!read) return Promise.resolve(undefined)
      v = read().then((view) => (view !== undefined && (this.o.vm.matches?.(record, view) ?? true) ? view : undefined))
      v.catch(() => this.vmCache.delete(key))
      this.vmCache.set(key, v)
    }
    return v
  }

  private async liveVm(call: ProviderCallContext): Promise<V | undefined> {
    const v = await this.vm(call)
    return v !== undefined && this.o.vm.live(v) ? v : undefined
  }

  private missing(code: string, message: string, suggestions?: string[]): ProviderError {
    return new ProviderError(message, code, this.o.vm.cloud, this.o.credential, undefined, suggestions)
  }

  /**
   * An SSH runner on the deployment's VM: its address and host key from the vm record, the
   * private key from the key file. `mode` bounds how long to wait for SSH.
   */
  connect(call: ProviderCallContext, mode: 'apply' | 'read'): Promise<CommandRunner> {
    const key = call.deployment.deploymentId
    const gone = this.unreachable.get(key)
    if (gone && mode === 'read') return Promise.reject(gone)
    let runner = this.runners.get(key)
    if (!runner) {
      runner = (async () => {
        const p = call.deployment.spec.name
        const vm = call.records[addressOf(p, 'vm')]
        const sshkey = call.records[addressOf(p, 'sshkey')]
        const host = vm?.outputs?.address ?? vm?.outputs?.publicIp
        const hostKey = vm?.outputs?.hostKey
        if (!vm || typeof host !== 'string' || typeof hostKey !== 'string') {
          throw this.missing(VM_MISSING, `${addressOf(p, 'vm')} has no address or host key in state: it must be created first`)
        }
        const keyFile = typeof sshkey?.outputs?.privateKeyPath === 'string' ? sshkey.outputs.privateKeyPath : keyPath(call.deployment)
        if (!existsSync(keyFile)) {
          throw this.missing(`${this.o.vm.cloud}.sshkey-missing`, `the private key of ${addressOf(p, 'sshkey')} is missing (${keyFile}): it lives only on the machine that created it`, [
            `Replace the key and the VM: \`anycloud apply --replace ${addressOf(p, 'sshkey')} --replace ${addressOf(p, 'vm')}\`.`,
          ])
        }
        const {connectSsh} = await import('../remote/ssh-runner.js')
        const user = typeof vm.outputs.sshUser === 'string' ? vm.outputs.sshUser : this.o.vm.sshUser
        const {timing} = this.o.vm
        call.progress(`connecting to ${user}@${host}`)
        const connected = await connectSsh({
          host,
          port: 22,
          user,
          privateKey: readFileSync(keyFile),
          // The key anycloud generated and handed to the VM through cloud-init.
          hostKey: {kind: 'pinned', keys: [hostKey]},
          waitTimeoutMs: mode === 'apply' ? timing.sshWaitMs : timing.sshReadWaitMs,
          // A running VM whose SSH drops comes back quickly or not at all (then the cleanup is best effort).
          reconnectTimeoutMs: timing.sshReadWaitMs,
          // cloud-init (or the guest agent) installs the login key after sshd starts.
          retryAuthFailures: true,
          signal: call.signal,
          credential: this.o.credential,
        })
        await this.retireUserDataKey(connected, call)
        return connected
      })()
      runner.catch((error: unknown) => {
        this.runners.delete(key)
        if (error instanceof SshUnreachableError) this.unreachable.set(key, error)
      })
      this.runners.set(key, runner)
    }
    return runner
  }

  /** Closes the deployment's connection: the next one dials again and verifies the host key state pins now. */
  private redial(key: string): void {
    const runner = this.runners.get(key)
    this.runners.delete(key)
    this.statusCache.delete(key)
    runner?.then((r) => r.close()).catch(() => undefined)
  }

  /**
   * Step 2 of the host-key rotation (src/providers/host-key-rotation.ts), on every connection (a
   * plan's too) until an apply records it done: once state pins the VM's own key and this
   * connection verified it, the user-data key leaves sshd. A failure leaves both keys served
   * (nothing is locked out) and is retried by the next run.
   */
  private async retireUserDataKey(runner: CommandRunner, call: ProviderCallContext): Promise<void> {
    const vm = call.records[addressOf(call.deployment.spec.name, 'vm')]
    const pinned = vm?.outputs?.hostKey
    const userData = vm?.outputs?.userDataHostKey
    const key = call.deployment.deploymentId
    if (typeof pinned !== 'string' || typeof userData !== 'string' || vm.outputs.hostKeyRetiredAt || this.retired.has(key)) return
    const seen = (runner as {hostKey?: string}).hostKey
    if (!seen || !sameKey(seen, pinned)) return
    try {
      if (await retireUserDataKey(runner, userData, pinned, call.signal)) call.progress(`host key: the user-data key ${fingerprintSha256(userData)} is no longer served`)
      this.retired.add(key)
    } catch (error) {
      call.progress(`host key: the user-data key is still served (${(error as Error).message}); the next run retries`)
    }
  }

  /**
   * Step 1 of the host-key rotation, on a connection made for an apply: while the vm record pins
   * the user-data key, the VM makes its own key, served next to the old one, and the returned
   * outputs (for the vm record, written with this operation's) pin it. Once step 2 ran, the
   * returned outputs record that.
   */
  private async hostKeyStep(runner: CommandRunner, call: ProviderCallContext): Promise<{related?: Record<string, Record<string, unknown>>; rotated: boolean}> {
    const address = addressOf(call.deployment.spec.name, 'vm')
    const vm = call.records[address]
    const pinned = vm?.outputs?.hostKey
    if (typeof pinned !== 'string') return {rotated: false}
    if (typeof vm.outputs.userDataHostKey === 'string') {
      const done = this.retired.has(call.deployment.deploymentId) && !vm.outputs.hostKeyRetiredAt
      return done ? {related: {[address]: {hostKeyRetiredAt: new Date().toISOString()}}, rotated: false} : {rotated: false}
    }
    const rotated = await rotateHostKey(runner, pinned, call.signal)
    if ('skipped' in rotated) {
      call.progress(`host key not rotated: ${rotated.skipped}`)
      return {rotated: false}
    }
    call.progress(`host key rotated: ${rotated.hostKeyFingerprint} (made on the VM) replaces the user-data key`)
    return {related: {[address]: {...rotated}}, rotated: true}
  }

  private status(call: ProviderCallContext): Promise<MachineStatus> {
    const key = call.deployment.deploymentId
    let s = this.statusCache.get(key)
    if (!s) {
      s = this.connect(call, 'read').then((runner) => readMachineStatus(runner, this.paths(call.deployment)))
      s.catch(() => this.statusCache.delete(key))
      this.statusCache.set(key, s)
    }
    return s
  }

  async readBootstrap(_lookup: ResourceLookup, call: ProviderCallContext): Promise<ActualResource | null> {
    if (!(await this.liveVm(call))) return null
    const s = await this.status(call)
    return s.bootstrapHash ? {id: call.deployment.deploymentId, attributes: {hash: s.bootstrapHash}, outputs: {programs: s.programs}} : null
  }

  async readWorkload(lookup: ResourceLookup, call: ProviderCallContext): Promise<ActualResource | null> {
    const vm = await this.vm(call)
    if (vm === undefined || !this.o.vm.live(vm)) {
      if (!lookup.record || !call.records[addressOf(call.deployment.spec.name, 'vm')]) return null
      return {id: lookup.record.id, attributes: lookup.record.attributes, phase: 'lost', note: `its VM is ${this.o.vm.state(vm)}`}
    }
    const s = await this.status(call)
    if (s.workload.phase === 'absent') return null
    return {
      id: call.deployment.deploymentId,
      attributes: lookup.record?.attributes ?? {},
      phase: s.workload.phase,
      ...(s.workload.exitCode !== undefined ? {exitCode: s.workload.exitCode} : {}),
      outputs: {startedAt: s.workload.startedAt, lastSync: s.lastSync, programs: s.programs, ...(s.notice ? {notice: s.notice} : {})},
    }
  }

  /** Renders with freshly fetched (or minted) bucket secrets and runs the idempotent script. */
  async bootstrap(resource: DesiredResource, call: ProviderCallContext): Promise<ActualResource> {
    this.statusCache.delete(call.deployment.deploymentId)
    await this.loadStorage(call.deployment)
    // Minted credentials' earliest expiry goes in the outputs: `watch` re-mints before it (the plan shows an update).
    const {secrets, outputs: expiry} = await bucketSecrets(this.bucketRequests(call.deployment), async (c) => this.storage.get(c)!)
    const rendered = this.render(call.deployment, secrets)
    if (typeof resource.attributes.hash === 'string' && resource.attributes.hash !== rendered.hash) {
      throw new AnycloudError(
        `the bootstrap of ${call.deployment.deploymentId} renders differently than planned (${rendered.hash} ≠ ${resource.attributes.hash}): the profile or its storage changed since the plan; plan again`,
        {code: 'bootstrap.drift', source: 'user'},
      )
    }
    const runner = await this.connect(call, 'apply')
    const {related, rotated} = await this.hostKeyStep(runner, call)
    const run = await runBootstrap(runner, rendered, call.progress, call.signal)
    // A rotated key is pinned once this operation's state write lands: the next connection verifies it.
    if (rotated) this.redial(call.deployment.deploymentId)
    return {
      id: call.deployment.deploymentId, attributes: {hash: rendered.hash},
      outputs: {steps: run.steps.filter((s) => s.outcome !== 'skipped').map((s) => s.step), ...expiry},
      ...(related ? {related} : {}),
    }
  }

  async startWorkload(resource: DesiredResource, call: ProviderCallContext): Promise<ActualResource> {
    this.statusCache.delete(call.deployment.deploymentId)
    const runner = await this.connect(call, 'apply')
    const {related, rotated} = await this.hostKeyStep(runner, call)
    call.progress(`starting ${call.deployment.spec.workload.runtime === 'docker' ? 'the container' : 'the process'}`)
    // The workload's own files go with it: a changed command or env re-runs only the workload.
    const how = await startWorkload(runner, this.paths(call.deployment), String(resource.attributes.specHash ?? ''), this.renderWorkload(call.deployment))
    if (rotated) this.redial(call.deployment.deploymentId)
    return {id: call.deployment.deploymentId, attributes: resource.attributes, phase: 'running', outputs: {start: how}, ...(related ? {related} : {})}
  }

  /** Stops the workload (its final upload runs first). Nothing to do when the VM is gone. */
  async stopWorkload(call: ProviderCallContext): Promise<void> {
    this.statusCache.delete(call.deployment.deploymentId)
    if (!(await this.liveVm(call))) return
    // The VM runs already: waiting as for a booting one (sshWaitMs) would only hold up a destroy.
    const runner = await this.connect(call, 'read')
    call.progress('stopping the workload (its final upload runs first)')
    await stopWorkload(runner, this.paths(call.deployment))
  }

  /** Removes what anycloud wrote on the machine (the VM itself goes with `vm`). */
  async removeBootstrap(call: ProviderCallContext): Promise<void> {
    this.statusCache.delete(call.deployment.deploymentId)
    if (!(await this.liveVm(call))) return
    const runner = await this.connect(call, 'read')
    call.progress('removing the programs, container and files anycloud wrote')
    await removeDeployment(runner, this.paths(call.deployment), this.layout().roots)
  }

  async logs(call: ProviderCallContext, options: {follow: boolean; write: (chunk: string) => void; signal?: AbortSignal}): Promise<void> {
    if (!(await this.liveVm(call))) throw this.missing(VM_MISSING, `the VM of ${call.deployment.spec.name} is not running: no logs to read`)
    const runner = await this.connect(call, 'read')
    await streamLogs(runner, this.paths(call.deployment), options)
  }

  async close(): Promise<void> {
    const all = [...this.runners.values()]
    this.runners.clear()
    await Promise.all(all.map((r) => r.then((x) => x.close()).catch(() => undefined)))
  }
}
