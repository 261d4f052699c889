/**
 * `PROFILE.bootstrap` and `PROFILE.workload` on an EC2 instance: the same machine logic as the
 * ssh provider (src/bootstrap/render.ts renders, src/bootstrap/machine.ts runs), over an SSH
 * runner to the instance's address, logging in with the deployment's key pair and pinning the
 * host key anycloud generated for that very instance (recorded in the vm's outputs). A VM that
 * EC2 reports gone is never dialled: its bootstrap reads as absent and its workload as `lost`.
 *
 * Buckets: those on this credential are reached with the instance role (`env_auth`), those on
 * other credentials (`inputStorageCredentials` / `outputStorageCredentials`) with what that
 * credential's provider hands out (scoped STS credentials, a SAS…), minted at apply time.
 */
import {existsSync, readFileSync} from 'node:fs'

import {renderBootstrap, renderWorkload, type RenderedBootstrap, type RenderedWorkload} from '../../bootstrap/render.js'
import {readMachineStatus, removeDeployment, runBootstrap, startWorkload, stopWorkload, streamLogs, type MachineStatus} from '../../bootstrap/machine.js'
import {noticeFor} from '../../bootstrap/notice.js'
import type {BootstrapSpec} from '../../bootstrap/types.js'
import {bootstrapSpec, bucketRequests, bucketWarnings, layoutPaths, machineLayout, REMOTE_NAMES, workloadSpec, type BucketRequest, type MachineLayout} from '../../bootstrap/spec.js'
import {AnycloudError, ProviderError, UsageError} from '../../errors/index.js'
import {addressOf, type ActualResource, type DeploymentContext, type DesiredResource} from '../../model/resources.js'
import type {CommandRunner} from '../../remote/command-runner.js'
import {SshUnreachableError} from '../../remote/errors.js'
import {registerSecret} from '../../util/redact.js'
import type {Provider, ProviderCallContext, RcloneRequest, ResourceLookup} from '../provider.js'
import {describeInstance, keyPath, recordRegion, type ComputeContext, type InstanceView} from './compute.js'
import {PROVIDER} from './errors.js'


export interface AwsMachineOptions {
  compute: ComputeContext
  env: NodeJS.ProcessEnv
  credential: string
  /** The provider of a storage credential (this one for its own name). */
  storageFor(name: string): Promise<Provider>
  /** The credential whose storage holds a credential's buckets. */
  storageOf(name: string): string
}

export class AwsMachine {
  private readonly runners = new Map<string, Promise<CommandRunner>>()
  /** Machines found unreachable in this run: reads and cleanups fail at once instead of waiting again. */
  private readonly unreachable = new Map<string, Error>()
  private readonly statusCache = new Map<string, Promise<MachineStatus>>()
  private readonly vmCache = new Map<string, Promise<InstanceView | undefined>>()
  /** Providers of the storage credentials seen so far (rcloneRemote is pure and needs them at hand). */
  private readonly storage = new Map<string, Provider>()

  constructor(private readonly o: AwsMachineOptions) {}

  private layout(): MachineLayout {
    return machineLayout(this.o.env)
  }

  /** One request per bucket the machine syncs: which credential serves it, and whether the instance role reaches it. */
  bucketRequests(ctx: DeploymentContext): BucketRequest[] {
    return bucketRequests(ctx, this.o.storageOf(ctx.placement.credential), (credential) => credential === this.o.credential)
  }


  private spec(ctx: DeploymentContext): BootstrapSpec {
    return bootstrapSpec(ctx, this.layout(), this.bucketRequests(ctx), (c) => this.storage.get(c), 'an EC2 instance', {notice: noticeFor('aws', this.o.env)})
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

  /** The recorded VM's EC2 view as a refresh batch saw it (saves this run's own DescribeInstances). */
  seedVm(call: ProviderCallContext, view: InstanceView | undefined): void {
    const record = call.records[addressOf(call.deployment.profile.name, 'vm')]
    if (!record || record.status !== 'created' || !record.id.startsWith('i-')) return
    if (!this.vmCache.has(call.deployment.deploymentId)) this.vmCache.set(call.deployment.deploymentId, Promise.resolve(view?.id === record.id ? view : undefined))
  }

  /** The recorded VM's current EC2 view (once per run), or undefined when there is no VM. */
  private vm(call: ProviderCallContext): Promise<InstanceView | undefined> {
    const record = call.records[addressOf(call.deployment.profile.name, 'vm')]
    if (!record || record.status !== 'created' || !record.id.startsWith('i-')) return Promise.resolve(undefined)
    const key = call.deployment.deploymentId
    let v = this.vmCache.get(key)
    if (!v) {
      v = describeInstance(this.o.compute, recordRegion(record, call.deployment), record.id)
      v.catch(() => this.vmCache.delete(key))
      this.vmCache.set(key, v)
    }
    return v
  }

  private async liveVm(call: ProviderCallContext): Promise<InstanceView | undefined> {
    const v = await this.vm(call)
    return v && (v.state === 'running' || v.state === 'pending') ? v : undefined
  }

  /**
   * An SSH runner on the deployment's instance: its address and host key from the vm record,
   * the key pair's private key from the key file. `mode` bounds how long to wait for SSH.
   */
  connect(call: ProviderCallContext, mode: 'apply' | 'read'): Promise<CommandRunner> {
    const key = call.deployment.deploymentId
    const gone = this.unreachable.get(key)
    if (gone && mode === 'read') return Promise.reject(gone)
    let runner = this.runners.get(key)
    if (!runner) {
      runner = (async () => {
        const p = call.deployment.profile.name
        const vm = call.records[addressOf(p, 'vm')]
        const sshkey = call.records[addressOf(p, 'sshkey')]
        const host = vm?.outputs?.address ?? vm?.outputs?.publicIp
        const hostKey = vm?.outputs?.hostKey
        if (!vm || typeof host !== 'string' || typeof hostKey !== 'string') {
          throw new ProviderError(`${addressOf(p, 'vm')} has no address or host key in state: it must be created first`, 'aws.vm-missing', PROVIDER, this.o.credential)
        }
        const keyFile = typeof sshkey?.outputs?.privateKeyPath === 'string' ? sshkey.outputs.privateKeyPath : keyPath(call.deployment)
        if (!existsSync(keyFile)) {
          throw new ProviderError(`the private key of ${addressOf(p, 'sshkey')} is missing (${keyFile}): it lives only on the machine that created it`, 'aws.sshkey-missing', PROVIDER, this.o.credential, undefined, [
            `Replace the key and the VM: \`anycloud apply --replace ${addressOf(p, 'sshkey')} --replace ${addressOf(p, 'vm')}\`.`,
          ])
        }
        const {connectSsh} = await import('../../remote/ssh-runner.js')
        const user = typeof vm.outputs.sshUser === 'string' ? vm.outputs.sshUser : this.o.compute.sshUser
        call.progress(`connecting to ${user}@${host}`)
        return connectSsh({
          host,
          port: 22,
          user,
          privateKey: readFileSync(keyFile),
          // The key anycloud generated and handed to the instance through cloud-init.
          hostKey: {kind: 'pinned', keys: [hostKey]},
          waitTimeoutMs: mode === 'apply' ? this.o.compute.timing.sshWaitMs : this.o.compute.timing.sshReadWaitMs,
          // A running VM whose SSH drops comes back quickly or not at all (then the cleanup is best effort).
          reconnectTimeoutMs: this.o.compute.timing.sshReadWaitMs,
          // cloud-init installs the login key after sshd starts.
          retryAuthFailures: true,
          signal: call.signal,
          credential: this.o.credential,
        })
      })()
      runner.catch((error: unknown) => {
        this.runners.delete(key)
        if (error instanceof SshUnreachableError) this.unreachable.set(key, error)
      })
      this.runners.set(key, runner)
    }
    return runner
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
    if (!vm || (vm.state !== 'running' && vm.state !== 'pending')) {
      if (!lookup.record || !call.records[addressOf(call.deployment.profile.name, 'vm')]) return null
      return {id: lookup.record.id, attributes: lookup.record.attributes, phase: 'lost', note: `its VM is ${vm ? `${vm.state} (${vm.reason ?? 'no reason given'})` : 'gone'}`}
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
    const secrets: Record<string, Record<string, string>> = {}
    for (const {role, credential, request} of this.bucketRequests(call.deployment)) {
      const provider = this.storage.get(credential)!
      const values = (await provider.rcloneSecrets?.(request)) ?? {}
      for (const v of Object.values(values)) registerSecret(v)
      secrets[REMOTE_NAMES[role]] = values
    }
    // The earliest expiry of minted credentials: `watch` re-mints before it (the plan shows an update).
    const expiries = this.bucketRequests(call.deployment).map(({credential, request}) => this.storage.get(credential)?.rcloneSecretsExpiry?.(request.bucket)).filter((e): e is {expiresAt: string; durationSeconds: number} => Boolean(e))
    const soonest = expiries.sort((a, b) => a.expiresAt.localeCompare(b.expiresAt))[0]
    const rendered = this.render(call.deployment, secrets)
    if (typeof resource.attributes.hash === 'string' && resource.attributes.hash !== rendered.hash) {
      throw new AnycloudError(
        `the bootstrap of ${call.deployment.deploymentId} renders differently than planned (${rendered.hash} ≠ ${resource.attributes.hash}): the profile or its storage changed since the plan; plan again`,
        {code: 'bootstrap.drift', source: 'user'},
      )
    }
    const runner = await this.connect(call, 'apply')
    const run = await runBootstrap(runner, rendered, call.progress, call.signal)
    return {
      id: call.deployment.deploymentId, attributes: {hash: rendered.hash},
      outputs: {steps: run.steps.filter((s) => s.outcome !== 'skipped').map((s) => s.step), ...(soonest ? {credentialsExpireAt: soonest.expiresAt, credentialsLifetimeSeconds: soonest.durationSeconds} : {})},
    }
  }

  async startWorkload(resource: DesiredResource, call: ProviderCallContext): Promise<ActualResource> {
    this.statusCache.delete(call.deployment.deploymentId)
    const runner = await this.connect(call, 'apply')
    call.progress(`starting ${call.deployment.profile.runtime === 'docker' ? 'the container' : 'the process'}`)
    // The workload's own files go with it: a changed command or env re-runs only the workload.
    const how = await startWorkload(runner, this.paths(call.deployment), String(resource.attributes.specHash ?? ''), this.renderWorkload(call.deployment))
    return {id: call.deployment.deploymentId, attributes: resource.attributes, phase: 'running', outputs: {start: how}}
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
    if (!(await this.liveVm(call))) throw new ProviderError(`the VM of ${call.deployment.profile.name} is not running: no logs to read`, 'aws.vm-missing', PROVIDER, this.o.credential)
    const runner = await this.connect(call, 'read')
    await streamLogs(runner, this.paths(call.deployment), options)
  }

  async close(): Promise<void> {
    const all = [...this.runners.values()]
    this.runners.clear()
    await Promise.all(all.map((r) => r.then((x) => x.close()).catch(() => undefined)))
  }
}
