import {join} from 'node:path'

import {UsageError} from '../../errors/index.js'
import {bucketNamesOf} from '../../model/deployment-spec.js'
import type {BucketRole, DeploymentContext} from '../../model/resources.js'
import {hashOf} from '../../util/hash.js'
import type {ProviderCallContext} from '../provider.js'
import {bucketDir, machineDir, resolveLocalRoot, WORKSPACE_FILES} from './layout.js'
import {formatEnvFile, type JobSpec} from './job.js'

/** One rendered file of a local bootstrap. */
export interface RenderedFile {
  content: string
  mode: number
}

/** What {@link renderLocalBootstrap} produces. */
export interface LocalBootstrapRender {
  /** By name relative to the workspace: `job.json` (0644) and `env` (0600). */
  files: Record<string, RenderedFile>
  /**
   * 16 hex chars over the machine's part of the job (deployment, runtime, buckets, sync interval):
   * the same profile gives the same hash; a changed command, image or env value does not change it
   * (those replace the workload, which writes the files again). It does not depend on where the root
   * or the workspace is (paths are derived, not chosen), so the engine can compute it at plan time
   * without the credential.
   */
  hash: string
  workspace: string
}

export interface LocalBootstrapOptions {
  /** The credential's resolved root; default `<configDir>/.anycloud/local`. */
  root?: string
  /** The workspace; default `<root>/machines/<deploymentId>`. */
  workspace?: string
  /** Bucket directories by role when known (a local bucket record's id); default `<root>/buckets/NAME`. */
  bucketDirs?: Partial<Record<BucketRole, string>>
}

/** Bumped when the rendered format changes, so existing workspaces get re-rendered. */
const RENDER_VERSION = 2

/**
 * Renders the files the `local` bootstrap writes into a workspace. Pure: no I/O, the same input gives
 * the same output. Env values appear only in the `env` file (mode 0600); `job.json` carries their
 * names. The ANYCLOUD_* variables point at the workspace directories for `runtime: process` and at
 * the `/mnt/…` mount points for `runtime: docker` (SPEC §5).
 *
 * @param ctx the deployment (or a provider call context holding one)
 * @throws UsageError when an env value cannot be carried by an env file (it spans lines)
 */
export function renderLocalBootstrap(ctx: DeploymentContext | Pick<ProviderCallContext, 'deployment'>, options: LocalBootstrapOptions = {}): LocalBootstrapRender {
  const d: DeploymentContext = 'deployment' in ctx ? ctx.deployment : ctx
  const w = d.spec.workload
  const root = options.root ?? resolveLocalRoot(d.configDir, undefined)
  const workspace = options.workspace ?? machineDir(root, d.deploymentId)
  const names = bucketNamesOf(d.spec)

  const buckets: JobSpec['buckets'] = {}
  for (const role of ['input', 'output', 'checkpoint'] as const) {
    const name = names[role]
    if (name) buckets[role] = {name, dir: options.bucketDirs?.[role] ?? bucketDir(root, name)}
  }

  const docker = w.runtime === 'docker'
  const anycloudEnv: Array<[string, string]> = [
    ['ANYCLOUD_DEPLOYMENT_ID', d.deploymentId],
    ['ANYCLOUD_INPUT', docker ? '/mnt/input' : join(workspace, WORKSPACE_FILES.input)],
    ['ANYCLOUD_OUTPUT', docker ? '/mnt/output' : join(workspace, WORKSPACE_FILES.output)],
    ['ANYCLOUD_CHECKPOINT', docker ? '/mnt/checkpoint' : join(workspace, WORKSPACE_FILES.checkpoint)],
  ]
  // The ANYCLOUD_* values are anycloud's contract: a user entry of the same name does not override them.
  const userEnv = Object.entries(w.env)
    .filter(([k]) => !anycloudEnv.some(([a]) => a === k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

  // The machine's part only (public, root-independent): which buckets, how often they sync, the
  // runtime. What the workload runs (image, command, env, GPUs, shm) is the workload's: a changed
  // command re-runs the workload alone, which writes these files again before it starts (the rule
  // the ssh and cloud providers follow too).
  const hash = hashOf({
    v: RENDER_VERSION,
    deploymentId: d.deploymentId,
    runtime: w.runtime,
    buckets: names,
    syncIntervalSeconds: w.syncIntervalSeconds,
  })

  let envText: string
  try {
    envText = formatEnvFile([...userEnv, ...anycloudEnv])
  } catch (error) {
    throw new UsageError(`profile '${d.spec.name}': ${(error as Error).message}`, [], 'local.env-invalid')
  }

  const job: JobSpec = {
    formatVersion: 1,
    project: d.project,
    profile: d.spec.name,
    deploymentId: d.deploymentId,
    runtime: w.runtime,
    image: w.image,
    command: w.command,
    shmSize: w.shmSize,
    gpus: d.spec.hardware.gpus,
    buckets,
    syncIntervalSeconds: w.syncIntervalSeconds,
    envNames: [...userEnv.map(([k]) => k), ...anycloudEnv.map(([k]) => k)],
    specHash: hash,
  }
  return {
    hash,
    workspace,
    files: {
      [WORKSPACE_FILES.job]: {content: JSON.stringify(job, null, 2) + '\n', mode: 0o644},
      [WORKSPACE_FILES.env]: {content: envText, mode: 0o600},
    },
  }
}
