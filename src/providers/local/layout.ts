import {isAbsolute, join, resolve} from 'node:path'

import {bucketNameProblems} from '../../model/bucket-names.js'
import {UsageError} from '../../errors/index.js'

/**
 * On-disk layout of the `local` provider (SPEC §6). Everything lives under one root directory, the
 * credential's `root` (default `.anycloud/local`, relative to the anycloud.yaml):
 *
 * ```
 * <root>/buckets/NAME/                 a bucket: only user data, never anycloud metadata
 * <root>/.meta/buckets/NAME.json       ownership tags of buckets anycloud created (outside the bucket)
 * <root>/machines/<deploymentId>/      a "VM": the deployment's workspace (see WORKSPACE_FILES)
 * <root>/.anycloud-fault.json          test fault injection (see faults.ts)
 * ```
 */
export const DEFAULT_LOCAL_ROOT = '.anycloud/local'

/** Files and directories inside a machine workspace. */
export const WORKSPACE_FILES = {
  /** Ownership tags, creation time and attributes of the "VM". Its presence makes the workspace anycloud's. */
  machine: 'machine.json',
  /** The job spec rendered by the bootstrap: public values only (env NAMES, never values). */
  job: 'job.json',
  /** `NAME=VALUE` lines (docker `--env-file` format), mode 0600: the only place env values live. */
  env: 'env',
  /** What the bootstrap rendered: `{hash, files, renderedAt}`. */
  bootstrap: 'bootstrap.json',
  /** What the workload was created with: `{attributes, specHash, bootstrapHash, createdAt}`. */
  workload: 'workload.json',
  /** Written atomically by the supervisor: see `SupervisorStatus`. */
  status: 'status.json',
  /** The supervisor's pid, written by the supervisor when it starts. */
  supervisorPid: 'supervisor.pid',
  /** The command's pid (= its process group id), written as soon as it is spawned. */
  commandPid: 'command.pid',
  /** The command's stdout and stderr, appended. */
  workloadLog: 'workload.log',
  /** The supervisor's own diagnostics (sync errors, start failures). Never secrets. */
  supervisorLog: 'supervisor.log',
  input: 'input',
  output: 'output',
  checkpoint: 'checkpoint',
} as const

/** Prefix of the temp files a sync writes before renaming them into place; never synced as data. */
export const PARTIAL_PREFIX = '.anycloud-partial-'

/** Resolves the credential's root against the anycloud.yaml's directory. */
export function resolveLocalRoot(configDir: string, root: string | undefined): string {
  const r = root ?? DEFAULT_LOCAL_ROOT
  return isAbsolute(r) ? resolve(r) : resolve(configDir, r)
}

/**
 * Rejects names that are not one plain path segment: bucket and machine names become directory
 * names, so `..` or `a/b` must never reach a path join (it could point anywhere on the disk).
 */
export function assertBucketName(name: string): void {
  const problems = bucketNameProblems(name, 'local')
  if (problems.length > 0) throw new UsageError(`'${name}' cannot be a local bucket: ${problems.join('; ')}`, [], 'local.bucket-name')
}

/** Same rule for machine (workspace) names, which are deployment ids. */
export function assertMachineName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(name)) {
    throw new UsageError(`'${name}' cannot name a local machine workspace: use letters, digits, '.', '_' and '-' only`, [], 'local.machine-name')
  }
}

export function bucketDir(root: string, name: string): string {
  assertBucketName(name)
  return join(root, 'buckets', name)
}

export function bucketMetaPath(root: string, name: string): string {
  assertBucketName(name)
  return join(root, '.meta', 'buckets', `${name}.json`)
}

export function machineDir(root: string, name: string): string {
  assertMachineName(name)
  return join(root, 'machines', name)
}

export function faultPath(root: string): string {
  return join(root, '.anycloud-fault.json')
}
