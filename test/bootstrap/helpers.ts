/**
 * Shared rig for the bootstrap, ssh-provider and ssh e2e tests: a throwaway sshd "VM" (in its own
 * network namespace where the machine allows it, else on loopback — test titles say which), a
 * temp prefix standing in for /etc, /var/lib, /var/log and /mnt on the machine, spec builders for
 * the rclone remotes of each storage, and the greps the secret checks need.
 */
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {BootstrapSpec, BucketMount, RcloneRemoteSpec} from '../../src/bootstrap/types.js'
import {DEFAULT_ROOTS} from '../../src/bootstrap/types.js'
import type {BucketRole} from '../../src/model/resources.js'
import {connectSsh, type SshRunner} from '../../src/remote/ssh-runner.js'
import {forwardPortIntoNamespace, netnsAvailable, startSshd, type NamespaceForward, type SshdOptions, type SshdRig} from '../helpers/sshd/index.js'
import {processArgs} from './processes.js'

export {nudgeUploads, processArgs, until, untilUploaded} from './processes.js'

/** Where the test VMs run on this machine, decided once (titles name it; nothing is skipped silently). */
export const PLACEMENT: {netns: boolean; title: string} = await (async () => {
  const s = await netnsAvailable()
  return s.available
    ? {netns: true, title: 'on a separate host (network namespace)'}
    : {netns: false, title: `on loopback (network namespaces unavailable here: ${s.reason ?? 'unknown'})`}
})()

/** A VM: sshd in a namespace (or on loopback), the remote prefix, forwards of emulator ports. */
export interface Vm {
  readonly sshd: SshdRig
  /** ANYCLOUD_REMOTE_PREFIX: the machine's /etc/anycloud, /var/lib/anycloud, /var/log/anycloud and /mnt live under it. */
  readonly prefix: string
  /** Makes `http://127.0.0.1:PORT` inside the VM reach the host's 127.0.0.1:PORT (netns; nothing to do on loopback). */
  forward(port: number): Promise<void>
  /** A connected runner (pinned host key); closed by stop(). */
  runner(): Promise<SshRunner>
  /** Every process whose command line mentions the prefix (supervisord, programs, workloads). */
  processes(): Array<{pid: number; args: string}>
  stop(): Promise<void>
}

export async function startVm(options: Pick<SshdOptions, 'env' | 'logLevel'> & {netns?: boolean} = {}): Promise<Vm> {
  const sshd = await startSshd({netns: options.netns ?? PLACEMENT.netns, env: options.env, logLevel: options.logLevel})
  const prefix = mkdtempSync(join(tmpdir(), 'anycloud-remote-'))
  const forwards: NamespaceForward[] = []
  const runners: SshRunner[] = []
  return {
    sshd,
    prefix,
    async forward(port) {
      if (sshd.netns) forwards.push(await forwardPortIntoNamespace(sshd.netns, port, port))
    },
    async runner() {
      const r = await connectSsh({host: sshd.host, port: sshd.port, user: 'root', privateKey: sshd.privateKey, hostKey: {kind: 'pinned', keys: [sshd.hostPublicKey]}, waitTimeoutMs: 20_000})
      runners.push(r)
      return r
    },
    processes() {
      return processesMentioning(prefix)
    },
    async stop() {
      await Promise.all(runners.map((r) => r.close().catch(() => undefined)))
      await sshd.stop()
      await Promise.all(forwards.map((f) => f.stop().catch(() => undefined)))
      rmSync(prefix, {recursive: true, force: true})
    },
  }
}

/** Machine roots under a prefix, as the ssh provider makes them from ANYCLOUD_REMOTE_PREFIX. */
export function rootsUnder(prefix: string): {roots: BootstrapSpec['roots']; mountRoot: string} {
  return {roots: {etc: prefix + DEFAULT_ROOTS.etc, lib: prefix + DEFAULT_ROOTS.lib, log: prefix + DEFAULT_ROOTS.log}, mountRoot: prefix + '/mnt'}
}

const REMOTE: Record<BucketRole, string> = {input: 'ACINPUT', output: 'ACOUTPUT', checkpoint: 'ACCHECKPOINT'}

/** A bootstrap spec for a deployment on a VM whose roots are under `prefix`. */
export function specFor(prefix: string, overrides: Partial<BootstrapSpec> & {remotes?: Partial<Record<BucketRole, RcloneRemoteSpec>>} = {}): BootstrapSpec {
  const {remotes, ...rest} = overrides
  const buckets: BucketMount[] = (['input', 'output', 'checkpoint'] as const).filter((r) => remotes?.[r]).map((role) => ({role, remote: REMOTE[role], spec: remotes![role]!}))
  return {
    deploymentId: 'bt-test-abc123',
    lineage: 'test-lineage',
    runtime: 'process',
    command: ['sh', '-c', 'exec sleep 300'],
    env: {},
    sensitiveEnv: [],
    syncIntervalSeconds: 1,
    buckets,
    storageCheck: {retries: 2, sleepSeconds: 1},
    ...rootsUnder(prefix),
    ...rest,
  }
}

/** rclone `local` remote on a directory (buckets of the `local` provider). */
export function localRemote(dir: string): RcloneRemoteSpec {
  return {type: 'local', options: {}, path: dir, secretOptions: [], secretsFingerprint: ''}
}

/** S3 on the emulator: endpoint + static keys (+ a session token, which s3rver ignores: a place for a canary). */
export function s3Remote(rig: {endpoint: string; region: string}, bucket: string, withSessionToken = false): RcloneRemoteSpec {
  return {
    type: 's3',
    options: {provider: 'Other', env_auth: 'false', endpoint: rig.endpoint, region: rig.region, force_path_style: 'true'},
    path: bucket,
    secretOptions: ['access_key_id', 'secret_access_key', ...(withSessionToken ? ['session_token'] : [])],
    secretsFingerprint: 'fp-s3',
  }
}

/** Azure Blob on azurite: the container SAS URL is the secret. */
export function azureRemote(container: string): RcloneRemoteSpec {
  return {type: 'azureblob', options: {}, path: container, secretOptions: ['sas_url'], secretsFingerprint: 'fp-az'}
}

/** GCS on the fake: anonymous, custom endpoint. */
export function gcsRemote(rig: {apiEndpoint: string; projectNumber: string}, bucket: string): RcloneRemoteSpec {
  return {
    type: 'google cloud storage',
    options: {endpoint: rig.apiEndpoint, anonymous: 'true', project_number: rig.projectNumber, bucket_policy_only: 'true'},
    path: bucket,
    secretOptions: [],
    secretsFingerprint: '',
  }
}

/** Every regular file under `dir` (absolute paths), sockets and the like excluded. */
export function filesUnder(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string) => {
    let entries
    try {
      entries = readdirSync(d, {withFileTypes: true})
    } catch {
      return
    }
    for (const e of entries) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile()) out.push(p)
    }
  }
  walk(dir)
  return out.sort()
}

/** Everything under `dir`, directories included (relative paths), for "nothing left" checks. */
export function entriesUnder(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string, rel: string) => {
    let entries
    try {
      entries = readdirSync(d, {withFileTypes: true})
    } catch {
      return
    }
    for (const e of entries) {
      out.push(join(rel, e.name) + (e.isDirectory() ? '/' : ''))
      if (e.isDirectory()) walk(join(d, e.name), join(rel, e.name))
    }
  }
  walk(dir, '')
  return out.sort()
}

export function modeOf(path: string): number {
  return statSync(path).mode & 0o777
}

export function processesMentioning(text: string): Array<{pid: number; args: string}> {
  return processArgs().filter((p) => p.args.includes(text) && p.pid !== process.pid)
}

/** Where `needle` occurs: file paths (whose content holds it) and labels of texts that hold it. */
export function leaksOf(needle: string, sources: {files?: string[]; texts?: Record<string, string>}): string[] {
  const hits: string[] = []
  for (const f of sources.files ?? []) {
    try {
      if (readFileSync(f).includes(needle)) hits.push(f)
    } catch {
      // vanished
    }
  }
  for (const [label, text] of Object.entries(sources.texts ?? {})) if (text.includes(needle)) hits.push(label)
  return hits
}
