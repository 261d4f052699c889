import {readFileSync} from 'node:fs'
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {NamedCredential, ResolvedProfile} from '../../../src/config/types.js'
import {addressOf, deploymentContext, type DeploymentContext, type DesiredResource, type ResourceKind, type ResourceRecord} from '../../../src/model/resources.js'
import {createLocalProvider, type LocalProvider} from '../../../src/providers/local/index.js'
import type {ProviderCallContext} from '../../../src/providers/provider.js'

/** A temp dir holding an anycloud.yaml's directory and a local root, plus a provider on it. */
export interface Rig {
  dir: string
  root: string
  provider: LocalProvider
  cleanup(): Promise<void>
}

export async function makeRig(credentialSpec: {root?: string} = {}): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'anycloud-local-'))
  const credential: NamedCredential = {name: 'laptop', origin: 'file', spec: {provider: 'local', ...credentialSpec}}
  const provider = (await createLocalProvider({
    credential,
    configDir: dir,
    credentials: {laptop: credential},
    providerFor: () => Promise.reject(new Error('not in this test')),
    env: process.env,
  })) as LocalProvider
  const root = provider.root
  return {
    dir,
    root,
    provider,
    async cleanup() {
      await killEverything(root)
      await rm(dir, {recursive: true, force: true})
    },
  }
}

/** Last line of defence in after hooks: SIGKILL every supervisor and command group under the root. */
export async function killEverything(root: string): Promise<void> {
  const machines = await readdir(join(root, 'machines')).catch(() => [] as string[])
  for (const m of machines) {
    for (const f of ['supervisor.pid', 'command.pid']) {
      const pid = Number.parseInt(await readFile(join(root, 'machines', m, f), 'utf8').catch(() => ''), 10)
      if (!Number.isInteger(pid) || pid <= 1) continue
      // Only processes that still belong to this test (their cmdline/environ names the machine).
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
      const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '')
      if (!cmdline.includes(m) && !environ.includes(`ANYCLOUD_DEPLOYMENT_ID=${m}`)) continue
      for (const target of f === 'command.pid' ? [-pid, pid] : [pid]) {
        try {
          process.kill(target, 'SIGKILL')
        } catch {
          // gone
        }
      }
    }
  }
}

export function profile(overrides: Partial<ResolvedProfile> = {}): ResolvedProfile {
  return {
    name: 'train',
    credentials: ['laptop'],
    hardware: {kind: 'default'},
    spot: false,
    env: {},
    sensitiveEnv: [],
    runtime: 'process',
    persistBucket: false,
    persist: false,
    syncIntervalSeconds: 1,
    extendsChain: [],
    ...overrides,
  }
}

export function deployment(rig: Rig, p: ResolvedProfile, deploymentId = 'proj-train-abc123'): DeploymentContext {
  return deploymentContext({
    project: 'proj',
    deploymentId,
    lineage: 'test-lineage',
    profile: p,
    placement: {credential: 'laptop', provider: 'local', region: 'local', spot: p.spot},
    configDir: rig.dir,
    stateDir: join(rig.dir, '.anycloud'),
  })
}

export function callContext(d: DeploymentContext, records: Record<string, ResourceRecord> = {}, progress: string[] = []): ProviderCallContext {
  return {deployment: d, records, progress: (m) => progress.push(m)}
}

export function desired(d: DeploymentContext, kind: ResourceKind, attributes: Record<string, unknown> = {}): DesiredResource {
  return {
    address: addressOf(d.spec.name, kind),
    profile: d.spec.name,
    kind,
    credential: 'laptop',
    provider: 'local',
    name: d.deploymentId,
    dependsOn: [],
    attributes,
  }
}

export function recordOf(r: DesiredResource, id: string, outputs: Record<string, unknown> = {}): ResourceRecord {
  return {address: r.address, kind: r.kind, role: r.role, credential: r.credential, provider: r.provider, name: r.name, id, status: 'created', attributes: r.attributes, outputs, updatedAt: new Date().toISOString()}
}

/** Polls `check` until it returns a truthy value or the deadline passes (then throws with `what`). */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 10_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

export function alive(pid: number | undefined): boolean {
  if (!pid) return false
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  // A zombie (exited, not yet reaped) is not alive.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}
