/**
 * The `local` provider (SPEC §6): everything on this machine, no account and no Docker needed.
 *
 * - A bucket NAME is the directory `<root>/buckets/NAME/`; anycloud's ownership tags for buckets it
 *   created live outside it, in `<root>/.meta/buckets/NAME.json`, so they are never synced as data.
 * - The "VM" is a workspace `<root>/machines/<deploymentId>/` with `machine.json` (ownership tags).
 * - The bootstrap renders `job.json` (public) and `env` (0600, the only place env values live).
 * - The workload is a detached supervisor process (supervisor.ts) running the command (or an
 *   attached `docker run` when `runtime: docker` and an engine answers), with the bucket syncs.
 *
 * Attributes the engine puts in `DesiredResource.attributes`, and what `read` returns:
 * - `vm`: any public attributes (the engine's region/zone/spot/vmType…); stored in machine.json and
 *   returned unchanged by `read` (`attributes`), with `outputs: {workspace, zone, createdAt}`.
 *   `attributes.zone` (else `placement.zone`) is the zone checked against injected capacity faults.
 * - `bootstrap`: `{hash}` = `renderLocalBootstrap(ctx).hash` (what `desiredAttributes` returns);
 *   `read` → `{attributes: {hash}}` from bootstrap.json (`hash: null` when a rendered file is gone,
 *   so the plan re-renders). Create/update refuse a `hash` that differs from what they render now.
 * - `workload`: any public attributes; `specHash` (string) identifies the spec: a live supervisor
 *   with the same specHash and bootstrap hash is adopted by create. `read` → `attributes` as created,
 *   `phase` (`pending` | `running` | `completed` | `failed` | `lost`), `exitCode`, and `outputs`
 *   `{supervisorPid, pid, startedAt, finishedAt, lastSync: {output, checkpoint}, specHash, …}`.
 */
import {execFile, spawn} from 'node:child_process'
import {closeSync, existsSync, openSync} from 'node:fs'
import {mkdir, open, readdir, readFile, rm, rmdir, stat} from 'node:fs/promises'
import {userInfo} from 'node:os'
import {isAbsolute, join} from 'node:path'
import {StringDecoder} from 'node:string_decoder'
import {createRequire} from 'node:module'
import {fileURLToPath, pathToFileURL} from 'node:url'

import type {NamedCredential} from '../../config/types.js'
import {AuthError, CapacityError, ProviderError, UsageError} from '../../errors/index.js'
import {addressOf, type ActualResource, type BucketRole, type DeploymentContext, type DesiredResource, type ResourceKind, type ResourceRecord} from '../../model/resources.js'
import {LocalRunner} from '../../remote/local-runner.js'
import {writeFileAtomic} from '../../util/atomic-write.js'
import {compact} from '../../util/object.js'
import {sleep} from '../../util/process.js'
import {redactSecrets} from '../../util/redact.js'
import {cannotUpdate, kindTable, ownershipTags, updatableIn, type KindTable, type Provider, type ProviderCallContext, type RcloneRequest} from '../provider.js'
import type {RcloneRemoteSpec} from '../../bootstrap/types.js'
import type {ProviderFactory} from '../provider.js'
import {readFaults} from './faults.js'
import {
  INHERITED_ENV,
  STOP_GRACE_MS,
  deploymentMarker,
  groupAlive,
  isFinished,
  isOurProcess,
  readJson,
  readPid,
  signalGroup,
  signalProcess,
  waitFor,
  type BootstrapRecord,
  type SupervisorStatus,
  type WorkloadRecord,
} from './job.js'
import {bucketDir, bucketMetaPath, machineDir, resolveLocalRoot, WORKSPACE_FILES} from './layout.js'
import {renderLocalBootstrap, type LocalBootstrapRender} from './render.js'
import {isEmptyDir} from './tree-sync.js'

export {renderLocalBootstrap, type LocalBootstrapRender, type LocalBootstrapOptions, type RenderedFile} from './render.js'
export {copyTree, type TreeSyncResult} from './tree-sync.js'
export type {JobSpec, SupervisorStatus} from './job.js'
export type {LocalFaults} from './faults.js'
export {DEFAULT_LOCAL_ROOT, WORKSPACE_FILES} from './layout.js'

const PROVIDER = 'local'
/** The only region; zones exist for capacity fault injection (see faults.ts). */
export const LOCAL_REGION = 'local'
export const LOCAL_ZONES: readonly string[] = ['local-a', 'local-b']

/** How long workload create waits for the supervisor to report `running` (downloads included). */
const START_WAIT_MS = 120_000
/** How long a stop waits for the supervisor's own shutdown (command grace + final sync) before SIGKILL. */
const SUPERVISOR_STOP_WAIT_MS = STOP_GRACE_MS + 20_000
/** Poll period of `logs --follow`. */
const FOLLOW_POLL_MS = 200

/** `<root>/.meta/buckets/NAME.json`. */
interface BucketMeta {
  name: string
  tags: Record<string, string>
  createdAt: string
  /** The desired attributes the bucket was created with (public). */
  attributes: Record<string, unknown>
}

/** `machine.json`. */
interface MachineMeta {
  name: string
  tags: Record<string, string>
  createdAt: string
  zone?: string
  attributes: Record<string, unknown>
}

/** Bootstrap files removed by a bootstrap delete. */
const BOOTSTRAP_FILES = [WORKSPACE_FILES.job, WORKSPACE_FILES.env, WORKSPACE_FILES.bootstrap]
/** Workload bookkeeping removed by a workload delete (the log stays until the machine goes). */
const WORKLOAD_FILES = [WORKSPACE_FILES.status, WORKSPACE_FILES.supervisorPid, WORKSPACE_FILES.commandPid, WORKSPACE_FILES.workload]

/**
 * The `local` provider for one credential. Buckets, machines and workloads are files and processes
 * under {@link root}; every object it deletes must carry its ownership tags.
 */
export class LocalProvider implements Provider {
  readonly kind = 'local' as const
  /** A machine is a directory; its bootstrap, files in it; its workload, a supervised process. */
  readonly compute: KindTable = kindTable([
    {
      kind: 'vm', dependsOn: [], diff: updatableIn(),
      read: (lookup, ctx) => this.readMachine(machineDir(this.root, lookup.record?.name ?? lookup.name), ctx.deployment),
      create: (resource, ctx) => this.createMachine(resource, ctx),
      update: cannotUpdate,
      delete: (record, ctx) => this.deleteMachine(machineDir(this.root, record.name), ctx),
    },
    {
      kind: 'bootstrap', dependsOn: ['vm'], diff: updatableIn('hash'),
      read: (_lookup, ctx) => this.readBootstrap(this.workspaceOf(ctx)),
      create: (resource, ctx) => this.renderBootstrap(resource, ctx),
      update: (resource, _record, ctx) => this.renderBootstrap(resource, ctx),
      delete: (_record, ctx) => this.removeFiles(ctx, BOOTSTRAP_FILES),
    },
    {
      kind: 'workload', dependsOn: ['bootstrap'], diff: updatableIn(),
      read: (_lookup, ctx) => this.readWorkload(this.workspaceOf(ctx)),
      create: (resource, ctx) => this.startWorkload(resource, ctx),
      update: cannotUpdate,
      delete: (_record, ctx) => this.removeFiles(ctx, WORKLOAD_FILES, async (workspace) => {
        ctx.progress('stopping the workload (final sync)')
        await stopWorkload(workspace, ctx.deployment.deploymentId)
      }),
    },
  ])

  /**
   * @param credential the `local` credential
   * @param root its resolved root directory (absolute)
   * @param env the caller's environment; only {@link INHERITED_ENV} names reach a supervisor
   */
  constructor(
    readonly credential: NamedCredential,
    readonly root: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** For the bootstrap: `{hash}` of the files {@link renderLocalBootstrap} will write (pure). */
  desiredAttributes(resource: DesiredResource, ctx: DeploymentContext): Record<string, unknown> {
    if (resource.kind !== 'bootstrap') return {}
    return {hash: renderLocalBootstrap(ctx, {root: this.root}).hash}
  }

  /**
   * Storage side for machines that share this filesystem (ssh hosts on this machine, test VMs in
   * network namespaces): rclone's `local` backend on the bucket directory. No secrets.
   */
  rcloneRemote(request: RcloneRequest): RcloneRemoteSpec {
    return {type: 'local', options: {}, path: bucketDir(this.root, request.bucket), secretOptions: [], secretsFingerprint: ''}
  }

  async rcloneSecrets(): Promise<Record<string, string>> {
    return {}
  }

  /** Always succeeds, except under an injected `auth` fault (tests; see faults.ts). */
  async checkAuth(): Promise<{account?: string}> {
    const faults = readFaults(this.root)
    if (faults.auth) {
      throw new AuthError(
        `local credential '${this.credential.name}': authentication ${faults.auth} (fault injected by ${join(this.root, '.anycloud-fault.json')})`,
        PROVIDER,
        this.credential.name,
      )
    }
    let user = 'local'
    try {
      user = userInfo().username
    } catch {
      // no passwd entry (containers): keep the generic name
    }
    return {account: `${user}@local`}
  }

  defaultRegion(): string {
    return LOCAL_REGION
  }

  /** `['local-a', 'local-b']` for region `local`: they only matter for capacity fault injection in tests. */
  zones(region: string): string[] {
    return region === LOCAL_REGION ? [...LOCAL_ZONES] : []
  }

  // ---------------------------------------------------------------------------------------------
  // Buckets

  /** null when `<root>/buckets/NAME/` is missing; `owned` when anycloud's meta says it created it. */
  async readBucket(name: string): Promise<ActualResource | null> {
    const dir = bucketDir(this.root, name)
    if (!(await isDirectory(dir))) return null
    const meta = await readJson<BucketMeta>(bucketMetaPath(this.root, name))
    const owned = meta?.tags['anycloud-managed'] === 'true'
    return {
      id: dir,
      attributes: {...(meta?.attributes ?? {}), name},
      region: LOCAL_REGION,
      empty: await isEmptyDir(dir),
      owned,
      outputs: compact({path: dir, deployment: owned ? meta?.tags['anycloud-deployment'] : undefined}),
    }
  }

  /**
   * Idempotent: the ownership meta is written first, then the directory, so a create interrupted in
   * between is completed by the next one. A directory that already exists without meta was made by
   * the user: it is used but never claimed (owned: false), so anycloud will never delete it.
   */
  async createBucket(resource: DesiredResource, ctx: {region: string; tags: Record<string, string>}): Promise<ActualResource> {
    const name = resource.name
    const dir = bucketDir(this.root, name)
    const metaPath = bucketMetaPath(this.root, name)
    const meta = await readJson<BucketMeta>(metaPath)
    if (!meta && (await isDirectory(dir))) {
      const existing = await this.readBucket(name)
      if (existing) return existing
    }
    if (!meta) {
      const record: BucketMeta = {name, tags: {...ctx.tags}, createdAt: new Date().toISOString(), attributes: resource.attributes}
      writeFileAtomic(metaPath, JSON.stringify(record, null, 2) + '\n', {mode: 0o644, dirMode: 0o755})
    }
    await mkdir(dir, {recursive: true, mode: 0o755})
    const actual = await this.readBucket(name)
    if (!actual) throw new ProviderError(`could not create the local bucket directory ${dir}`, 'local.bucket-create', PROVIDER, this.credential.name)
    return actual
  }

  /**
   * Deletes only a bucket whose meta carries anycloud's tags and, when the record names its
   * deployment (`outputs.deployment`, or the checkpoint bucket's name), that deployment.
   * `force` removes the contents first (checkpoint buckets); otherwise a non-empty bucket is kept
   * (`{deleted: false, reason: 'holds data'}`). A missing bucket is success.
   */
  /** The most recently modified file under the bucket's directory. */
  async newestObject(name: string): Promise<{key: string; modified: string} | null> {
    const dir = bucketDir(this.root, name)
    if (!(await isDirectory(dir))) return null
    let newest: {key: string; modified: string} | null = null
    for (const entry of await readdir(dir, {recursive: true, withFileTypes: true})) {
      if (!entry.isFile()) continue
      const path = join(entry.parentPath ?? entry.path, entry.name)
      const modified = (await stat(path)).mtime.toISOString()
      if (!newest || modified > newest.modified) newest = {key: path.slice(dir.length + 1), modified}
    }
    return newest
  }

  async deleteBucket(record: ResourceRecord, options: {force: boolean}): Promise<{deleted: boolean; reason?: string}> {
    const name = record.name
    const dir = bucketDir(this.root, name)
    const metaPath = bucketMetaPath(this.root, name)
    const meta = await readJson<BucketMeta>(metaPath)
    const exists = await isDirectory(dir)
    if (!meta || meta.tags['anycloud-managed'] !== 'true') {
      if (!exists) return {deleted: true}
      return {deleted: false, reason: 'not created by anycloud (no ownership tags)'}
    }
    const expected = recordDeployment(record)
    if (expected !== undefined && meta.tags['anycloud-deployment'] !== expected) {
      return {deleted: false, reason: `owned by deployment '${meta.tags['anycloud-deployment']}', not '${expected}'`}
    }
    if (exists) {
      if (options.force) {
        await rm(dir, {recursive: true, force: true})
      } else {
        if (!(await isEmptyDir(dir))) return {deleted: false, reason: 'holds data'}
        try {
          await rmdir(dir)
        } catch (error) {
          // A file arrived between the check and the rmdir: keep the bucket.
          if ((error as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (error as NodeJS.ErrnoException).code === 'EEXIST') return {deleted: false, reason: 'holds data'}
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
        }
      }
    }
    await rm(metaPath, {force: true})
    return {deleted: true}
  }

  // ---------------------------------------------------------------------------------------------
  // vm, bootstrap, workload

  private async removeFiles(ctx: ProviderCallContext, files: readonly string[], before?: (workspace: string) => Promise<void>): Promise<void> {
    const workspace = this.workspaceOf(ctx)
    if (!(await isDirectory(workspace))) return
    await this.assertNotForeign(workspace, ctx.deployment)
    await before?.(workspace)
    for (const f of files) await rm(join(workspace, f), {force: true})
  }

  /** A {@link LocalRunner} in the deployment's workspace; undefined when there is no workspace. */
  async connect(ctx: ProviderCallContext): Promise<LocalRunner | undefined> {
    const workspace = this.workspaceOf(ctx)
    if (!(await isDirectory(workspace))) return undefined
    return new LocalRunner({cwd: workspace, description: `local:${ctx.deployment.deploymentId}`})
  }

  /**
   * Writes `workload.log` through `write` (secrets registered with redact.ts are masked). With
   * `follow`, polls for new output every 200 ms until the workload has ended (completed, failed,
   * lost or gone) and the log is drained, or until `signal` aborts.
   */
  async logs(ctx: ProviderCallContext, options: {follow: boolean; write: (chunk: string) => void; signal?: AbortSignal}): Promise<void> {
    const workspace = this.workspaceOf(ctx)
    if (!(await isDirectory(workspace))) {
      throw new ProviderError(`no local machine for deployment ${ctx.deployment.deploymentId} (${workspace})`, 'cloud.not-found', PROVIDER, this.credential.name)
    }
    const path = join(workspace, WORKSPACE_FILES.workloadLog)
    const decoder = new StringDecoder('utf8')
    let offset = 0
    const drain = async (): Promise<void> => {
      let handle
      try {
        handle = await open(path, 'r')
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
        throw error
      }
      try {
        const buffer = Buffer.alloc(64 * 1024)
        for (;;) {
          const {bytesRead} = await handle.read(buffer, 0, buffer.length, offset)
          if (bytesRead === 0) break
          offset += bytesRead
          const text = decoder.write(buffer.subarray(0, bytesRead))
          if (text) options.write(redactSecrets(text))
        }
      } finally {
        await handle.close()
      }
    }
    await drain()
    if (!options.follow) {
      const rest = decoder.end()
      if (rest) options.write(redactSecrets(rest))
      return
    }
    const signal = options.signal ?? ctx.signal
    while (!signal?.aborted) {
      const actual = await this.readWorkload(workspace)
      // Decide "ended" before the last drain, so output written just before the end is not lost.
      const ended = !actual || actual.phase === 'lost' || (actual.phase !== undefined && isFinished(actual.phase))
      await drain()
      if (ended) break
      await sleep(FOLLOW_POLL_MS, signal)
    }
    const rest = decoder.end()
    if (rest) options.write(redactSecrets(rest))
  }

  // ---------------------------------------------------------------------------------------------
  // internals

  noKind(kind: ResourceKind): Error {
    return new ProviderError(`the local provider does not manage '${kind}' resources`, 'local.unsupported-kind', PROVIDER, this.credential.name)
  }

  /** The deployment's workspace: named after the VM record when state has one, else the deployment id. */
  private workspaceOf(ctx: ProviderCallContext): string {
    const vm = ctx.records[addressOf(ctx.deployment.spec.name, 'vm')]
    return machineDir(this.root, vm?.provider === PROVIDER ? vm.name : ctx.deployment.deploymentId)
  }

  private async readMachineMeta(dir: string): Promise<MachineMeta | undefined> {
    return readJson<MachineMeta>(join(dir, WORKSPACE_FILES.machine))
  }

  /** The machine meta when it exists and is this deployment's (anycloud's tags); undefined when missing; throws when foreign. */
  private async ownMachine(dir: string, deployment: DeploymentContext): Promise<MachineMeta | undefined> {
    const meta = await this.readMachineMeta(dir)
    if (!meta) return undefined
    if (meta.tags['anycloud-managed'] !== 'true' || meta.tags['anycloud-deployment'] !== deployment.deploymentId) {
      throw new ProviderError(
        `local machine ${dir} belongs to ${meta.tags['anycloud-deployment'] ? `deployment '${meta.tags['anycloud-deployment']}'` : 'something else'}, not '${deployment.deploymentId}'`,
        'local.machine-foreign',
        PROVIDER,
        this.credential.name,
      )
    }
    return meta
  }

  private async assertNotForeign(workspace: string, deployment: DeploymentContext): Promise<void> {
    await this.ownMachine(workspace, deployment)
  }

  private machineActual(dir: string, meta: MachineMeta): ActualResource {
    return {id: dir, attributes: meta.attributes, outputs: compact({workspace: dir, zone: meta.zone, createdAt: meta.createdAt})}
  }

  private async readMachine(dir: string, deployment: DeploymentContext): Promise<ActualResource | null> {
    const meta = await this.readMachineMeta(dir)
    if (!meta || meta.tags['anycloud-deployment'] !== deployment.deploymentId) return null
    return this.machineActual(dir, meta)
  }

  private async createMachine(resource: DesiredResource, ctx: ProviderCallContext): Promise<ActualResource> {
    const {deployment} = ctx
    const zone = typeof resource.attributes.zone === 'string' ? resource.attributes.zone : deployment.placement.zone
    const faults = readFaults(this.root)
    const region = deployment.placement.region || LOCAL_REGION
    if (faults.capacity?.some((z) => z === '*' || z === region || (zone !== undefined && z === zone))) {
      throw new CapacityError(`no local capacity in ${zone ?? region} (fault injected by ${join(this.root, '.anycloud-fault.json')})`, PROVIDER, zone ?? region)
    }
    const dir = machineDir(this.root, resource.name)
    const existing = await this.ownMachine(dir, deployment)
    if (existing) return this.machineActual(dir, existing) // idempotent: a replayed create adopts
    if ((await isDirectory(dir)) && !(await isEmptyDir(dir))) {
      throw new ProviderError(`${dir} exists and was not made by anycloud (no machine.json): refusing to use it`, 'local.machine-foreign', PROVIDER, this.credential.name)
    }
    await mkdir(dir, {recursive: true, mode: 0o700})
    const meta: MachineMeta = {
      name: resource.name,
      tags: ownershipTags(deployment.project, deployment.deploymentId, resource.address),
      createdAt: new Date().toISOString(),
      zone,
      attributes: resource.attributes,
    }
    writeFileAtomic(join(dir, WORKSPACE_FILES.machine), JSON.stringify(meta, null, 2) + '\n', {mode: 0o644})
    return this.machineActual(dir, meta)
  }

  /** Stops the workload first (never leak a process), then removes the workspace if anycloud's tags are on it. */
  private async deleteMachine(dir: string, ctx: ProviderCallContext): Promise<void> {
    if (!(await isDirectory(dir))) return
    const meta = await this.ownMachine(dir, ctx.deployment)
    if (!meta) {
      // A create interrupted between mkdir and machine.json leaves an empty dir: harmless to remove.
      if (await isEmptyDir(dir)) {
        await rmdir(dir).catch(() => {})
        return
      }
      throw new ProviderError(`${dir} has no machine.json with anycloud's tags: not deleting it`, 'local.machine-foreign', PROVIDER, this.credential.name)
    }
    ctx.progress('stopping the workload before removing the machine')
    await stopWorkload(dir, ctx.deployment.deploymentId)
    await rm(dir, {recursive: true, force: true})
  }

  private async readBootstrap(workspace: string): Promise<ActualResource | null> {
    const record = await readJson<BootstrapRecord>(join(workspace, WORKSPACE_FILES.bootstrap))
    if (!record) return null
    const complete = [WORKSPACE_FILES.job, WORKSPACE_FILES.env].every((f) => existsSync(join(workspace, f)))
    return {id: workspace, attributes: {hash: complete ? record.hash : null}, outputs: {workspace, renderedAt: record.renderedAt}}
  }

  /** Bucket directories of the deployment, from the bucket records in state when present (their id is the path). */
  private bucketDirs(ctx: ProviderCallContext): Partial<Record<BucketRole, string>> {
    const dirs: Partial<Record<BucketRole, string>> = {}
    for (const role of ['input', 'output', 'checkpoint'] as const) {
      const record = ctx.records[addressOf(ctx.deployment.spec.name, 'bucket', role)]
      if (!record) continue
      if (record.provider !== PROVIDER) {
        throw new ProviderError(
          `the local provider can only sync buckets on local storage; the ${role} bucket '${record.name}' is on ${record.provider} (credential '${record.credential}')`,
          'local.remote-bucket',
          PROVIDER,
          this.credential.name,
          undefined,
          ['Use a local credential for the bucket, or run the profile on a cloud or ssh credential.'],
        )
      }
      if (isAbsolute(record.id)) dirs[role] = record.id
    }
    return dirs
  }

  private async renderBootstrap(resource: DesiredResource, ctx: ProviderCallContext): Promise<ActualResource> {
    const workspace = this.workspaceOf(ctx)
    const meta = await this.ownMachine(workspace, ctx.deployment)
    if (!meta) throw new ProviderError(`local machine ${workspace} does not exist: create ${addressOf(ctx.deployment.spec.name, 'vm')} first`, 'local.machine-missing', PROVIDER, this.credential.name)
    const render: LocalBootstrapRender = renderLocalBootstrap(ctx, {root: this.root, workspace, bucketDirs: this.bucketDirs(ctx)})
    const planned = resource.attributes.hash
    if (typeof planned === 'string' && planned !== render.hash) {
      // A saved plan is applied exactly as planned: an env value or the profile changed since.
      throw new ProviderError(
        `the bootstrap of ${ctx.deployment.deploymentId} renders to ${render.hash}, not the planned ${planned}: the profile or an env value changed since the plan`,
        'local.bootstrap-drift',
        PROVIDER,
        this.credential.name,
        undefined,
        ['Run `anycloud plan` again.'],
      )
    }
    for (const d of [WORKSPACE_FILES.input, WORKSPACE_FILES.output, WORKSPACE_FILES.checkpoint]) await mkdir(join(workspace, d), {recursive: true, mode: 0o755})
    for (const [name, file] of Object.entries(render.files)) writeFileAtomic(join(workspace, name), file.content, {mode: file.mode})
    const record: BootstrapRecord = {hash: render.hash, files: Object.keys(render.files).sort(), renderedAt: new Date().toISOString()}
    writeFileAtomic(join(workspace, WORKSPACE_FILES.bootstrap), JSON.stringify(record, null, 2) + '\n', {mode: 0o644})
    return {id: workspace, attributes: {hash: render.hash}, outputs: {workspace, renderedAt: record.renderedAt}}
  }

  private async readWorkload(workspace: string): Promise<ActualResource | null> {
    if (!(await isDirectory(workspace))) return null
    const status = await readJson<SupervisorStatus>(join(workspace, WORKSPACE_FILES.status))
    const record = await readJson<WorkloadRecord>(join(workspace, WORKSPACE_FILES.workload))
    const supervisorPid = status?.supervisorPid ?? (await readPid(join(workspace, WORKSPACE_FILES.supervisorPid)))
    const alive = isOurProcess(supervisorPid, workspace)
    if (!status) {
      if (record && alive) return {id: `supervisor:${supervisorPid}`, attributes: record.attributes, phase: 'pending', outputs: compact({supervisorPid, specHash: record.specHash})}
      return null
    }
    const phase = !isFinished(status.phase) && !alive ? 'lost' : status.phase
    return {
      id: `supervisor:${status.supervisorPid}`,
      attributes: record?.attributes ?? {specHash: status.specHash},
      phase,
      exitCode: status.exitCode,
      note: phase === 'lost' ? 'the workload supervisor is gone (machine preempted?)' : undefined,
      outputs: compact({
        supervisorPid: status.supervisorPid,
        pid: status.pid,
        startedAt: status.startedAt,
        finishedAt: status.finishedAt,
        lastSync: status.lastSync,
        specHash: status.specHash,
        bootstrapHash: status.bootstrapHash,
        stopped: status.stopped,
        signal: status.signal,
        error: status.error,
        syncErrors: status.syncErrors,
      }),
    }
  }

  private async startWorkload(resource: DesiredResource, ctx: ProviderCallContext): Promise<ActualResource> {
    const workspace = this.workspaceOf(ctx)
    const {deploymentId} = ctx.deployment
    if (!(await this.ownMachine(workspace, ctx.deployment))) {
      throw new ProviderError(`local machine ${workspace} does not exist: create ${addressOf(ctx.deployment.spec.name, 'vm')} first`, 'local.machine-missing', PROVIDER, this.credential.name)
    }
    const bootstrap = await readJson<BootstrapRecord>(join(workspace, WORKSPACE_FILES.bootstrap))
    if (!bootstrap || !existsSync(join(workspace, WORKSPACE_FILES.job)) || !existsSync(join(workspace, WORKSPACE_FILES.env))) {
      throw new ProviderError(`the job files of ${deploymentId} are not rendered: apply ${addressOf(ctx.deployment.spec.name, 'bootstrap')} first`, 'local.bootstrap-missing', PROVIDER, this.credential.name)
    }
    const specHash = typeof resource.attributes.specHash === 'string' ? resource.attributes.specHash : bootstrap.hash

    // Adopt a live supervisor running this very spec (a replayed create); stop one running another.
    const status = await readJson<SupervisorStatus>(join(workspace, WORKSPACE_FILES.status))
    const livePid = status?.supervisorPid ?? (await readPid(join(workspace, WORKSPACE_FILES.supervisorPid)))
    if (isOurProcess(livePid, workspace)) {
      if (status && status.specHash === specHash && status.bootstrapHash === bootstrap.hash) {
        ctx.progress(`adopting the running supervisor (pid ${livePid})`)
        const record = await readJson<WorkloadRecord>(join(workspace, WORKSPACE_FILES.workload))
        if (record) writeFileAtomic(join(workspace, WORKSPACE_FILES.workload), JSON.stringify({...record, attributes: resource.attributes}, null, 2) + '\n', {mode: 0o644})
        return this.waitStarted(workspace, livePid as number, ctx)
      }
      ctx.progress('stopping the workload of a previous spec')
    }
    // Also reaps the command of a lost supervisor: one workload per machine, never two.
    await stopWorkload(workspace, deploymentId)

    if (ctx.deployment.spec.workload.runtime === 'docker') {
      ctx.progress('checking the Docker engine')
      const problem = await dockerProblem()
      if (problem) {
        throw new ProviderError(
          `runtime docker: no Docker engine answers on this machine (docker info: ${problem})`,
          'local.docker-unavailable',
          PROVIDER,
          this.credential.name,
          undefined,
          ['Start Docker, or set `runtime: process` in the profile to run the command directly on this machine.'],
        )
      }
    }

    for (const f of WORKLOAD_FILES) await rm(join(workspace, f), {force: true})
    // The job files as this workload wants them (command, image, env): a changed command or env
    // value replaces the workload only, never the bootstrap.
    const render = renderLocalBootstrap(ctx, {root: this.root, workspace, bucketDirs: this.bucketDirs(ctx)})
    for (const name of [WORKSPACE_FILES.job, WORKSPACE_FILES.env]) writeFileAtomic(join(workspace, name), render.files[name].content, {mode: render.files[name].mode})
    const record: WorkloadRecord = {attributes: resource.attributes, specHash, bootstrapHash: bootstrap.hash, createdAt: new Date().toISOString(), token: ctx.token}
    writeFileAtomic(join(workspace, WORKSPACE_FILES.workload), JSON.stringify(record, null, 2) + '\n', {mode: 0o644})

    const {file, args} = supervisorCommand()
    const env: NodeJS.ProcessEnv = {}
    for (const k of INHERITED_ENV) if (this.env[k] !== undefined) env[k] = this.env[k]
    ctx.progress('starting the supervisor')
    const logFd = openSync(join(workspace, WORKSPACE_FILES.supervisorLog), 'a', 0o600)
    let child
    try {
      // Only the workspace path on the command line; env values stay in the 0600 env file.
      child = spawn(file, [...args, workspace], {cwd: workspace, env, detached: true, stdio: ['ignore', logFd, logFd]})
    } finally {
      closeSync(logFd)
    }
    let exited = false
    child.once('exit', () => (exited = true))
    child.once('error', () => (exited = true))
    child.unref()
    const pid = child.pid
    if (pid === undefined) throw new ProviderError(`could not start the local supervisor (${file})`, 'local.supervisor-spawn', PROVIDER, this.credential.name)
    return this.waitStarted(workspace, pid, ctx, () => exited)
  }

  /**
   * Polls status.json until the supervisor `pid` reports running (or already finished), bounded by
   * START_WAIT_MS; still `pending` then (a long input download) is returned as such. A supervisor
   * that failed before starting the command, or died without a word, makes the create fail.
   */
  private async waitStarted(workspace: string, pid: number, ctx: ProviderCallContext, exited: () => boolean = () => !isOurProcess(pid, workspace)): Promise<ActualResource> {
    let status: SupervisorStatus | undefined
    await waitFor(async () => {
      if (ctx.signal?.aborted) return true
      status = await readJson<SupervisorStatus>(join(workspace, WORKSPACE_FILES.status)).catch(() => undefined)
      if (status?.supervisorPid === pid && status.phase !== 'pending') return true
      return exited()
    }, START_WAIT_MS)
    status = await readJson<SupervisorStatus>(join(workspace, WORKSPACE_FILES.status)).catch(() => undefined)
    if (status?.supervisorPid === pid && status.phase === 'failed' && status.exitCode === undefined) {
      throw new ProviderError(`the workload of ${ctx.deployment.deploymentId} did not start: ${status.error ?? 'unknown error'}`, 'local.workload-start', PROVIDER, this.credential.name)
    }
    if (status?.supervisorPid !== pid && exited()) {
      const tail = await logTail(join(workspace, WORKSPACE_FILES.supervisorLog))
      throw new ProviderError(`the local supervisor exited before reporting a status${tail ? `: ${tail}` : ''}`, 'local.supervisor-died', PROVIDER, this.credential.name)
    }
    const actual = await this.readWorkload(workspace)
    if (!actual) throw new ProviderError(`the workload of ${ctx.deployment.deploymentId} vanished while starting`, 'local.workload-start', PROVIDER, this.credential.name)
    return actual
  }
}

/**
 * Stops a workspace's workload: SIGTERM to the supervisor (it stops the command, syncs one last
 * time and records the exit), SIGKILL after SUPERVISOR_STOP_WAIT_MS; then makes sure the command's
 * process group is gone too (a supervisor killed with SIGKILL leaves it orphaned). Every pid is
 * checked to still be ours before it is signalled.
 */
async function stopWorkload(workspace: string, deploymentId: string): Promise<void> {
  const status = await readJson<SupervisorStatus>(join(workspace, WORKSPACE_FILES.status)).catch(() => undefined)
  const supervisorPid = status?.supervisorPid ?? (await readPid(join(workspace, WORKSPACE_FILES.supervisorPid)))
  if (isOurProcess(supervisorPid, workspace)) {
    const pid = supervisorPid as number
    signalProcess(pid, 'SIGTERM')
    if (!(await waitFor(() => !isOurProcess(pid, workspace), SUPERVISOR_STOP_WAIT_MS))) {
      signalProcess(pid, 'SIGKILL')
      await waitFor(() => !isOurProcess(pid, workspace), 5_000)
    }
  }
  const after = await readJson<SupervisorStatus>(join(workspace, WORKSPACE_FILES.status)).catch(() => undefined)
  const commandPid = after?.pid ?? (await readPid(join(workspace, WORKSPACE_FILES.commandPid)))
  const marker = deploymentMarker(deploymentId)
  if (groupAlive(commandPid, marker)) {
    const pgid = commandPid as number
    signalGroup(pgid, 'SIGTERM')
    if (!(await waitFor(() => !groupAlive(pgid, marker), 5_000))) {
      signalGroup(pgid, 'SIGKILL')
      await waitFor(() => !groupAlive(pgid, marker), 5_000)
    }
  }
}

/**
 * How to run supervisor.ts: the compiled `supervisor.js` next to this module, or, when this module
 * itself runs from TypeScript under tsx (tests, `node --import tsx`), the `.ts` file with tsx.
 */
function supervisorCommand(): {file: string; args: string[]} {
  const here = import.meta.url
  if (here.endsWith('.ts')) {
    // createRequire works whether tsx runs this file as ESM or as CJS (where import.meta.resolve is missing).
    let tsx = 'tsx'
    try {
      tsx = pathToFileURL(createRequire(here).resolve('tsx')).href
    } catch {
      // left to node, resolved from the cwd
    }
    return {file: process.execPath, args: ['--import', tsx, fileURLToPath(new URL('./supervisor.ts', here))]}
  }
  return {file: process.execPath, args: [fileURLToPath(new URL('./supervisor.js', here))]}
}

/** undefined when `docker info` answers, else why not (short). */
function dockerProblem(): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('docker', ['info', '--format', '{{.ServerVersion}}'], {timeout: 15_000}, (error, _stdout, stderr) => {
      if (!error) return resolve(undefined)
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return resolve('the docker command is not installed')
      resolve(String(stderr).trim().split('\n').at(-1) || error.message)
    })
  })
}

function recordDeployment(record: ResourceRecord): string | undefined {
  const fromOutputs = record.outputs?.deployment
  if (typeof fromOutputs === 'string') return fromOutputs
  if (record.role === 'checkpoint') return record.name
  return undefined
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}

async function logTail(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '')
  return text.trim().split('\n').slice(-3).join(' | ')
}

/** {@link ProviderFactory} of the `local` provider (registry.ts imports it lazily). */
export const createLocalProvider: ProviderFactory = async (options) => {
  const spec = options.credential.spec
  if (spec.provider !== 'local') {
    throw new UsageError(`credential '${options.credential.name}' is a ${spec.provider} credential, not a local one`, [], 'provider.mismatch')
  }
  return new LocalProvider(options.credential, resolveLocalRoot(options.configDir, spec.root), options.env)
}
