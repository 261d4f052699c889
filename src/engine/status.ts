import type {DeploymentRecord} from '../state/types.js'
import {addressOf, type ResourceRecord} from '../model/resources.js'
import {parseNotice} from '../model/notice.js'
import type {DeploymentStatus, ResourceStatus, SpotStatus} from '../model/status.js'
import {kindOf} from '../providers/provider.js'
import {recordedDeploymentContext, type Session} from './session.js'

export type {DeploymentStatus, ResourceStatus, SpotStatus} from '../model/status.js'

/** What runs where, read live (read-only) from the providers; falls back to state when unreachable. */
export async function collectStatus(session: Session): Promise<DeploymentStatus[]> {
  const out: DeploymentStatus[] = []
  const names = new Set([...session.profiles.map((p) => p.name), ...(session.profiles.length === Object.keys(session.config.profiles).length ? Object.keys(session.state?.deployments ?? {}) : [])])
  for (const name of [...names].sort()) {
    const dep = session.state?.deployments[name]
    if (!dep) {
      out.push({profile: name, deploymentId: '', workload: {phase: 'not applied'}, resources: [], applied: false})
      continue
    }
    const profile = session.config.profiles[name]
    const resources = await Promise.all(Object.values(dep.resources).map(async (r: ResourceRecord): Promise<ResourceStatus> => {
      let exists: boolean | null = null
      let outputs = r.outputs
      try {
        const provider = await session.providers.get(r.credential)
        const actual = r.kind === 'bucket'
          ? await provider.readBucket(r.name)
          : profile && dep.placement
            ? await kindOf(provider, r.kind).read({address: r.address, kind: r.kind, name: r.name, record: r}, {deployment: recordedDeploymentContext(session, profile, dep, dep.placement), records: dep.resources, progress: () => {}})
            : null
        exists = Boolean(actual)
        if (actual) outputs = {...r.outputs, ...(actual.outputs ?? {}), ...(actual.phase ? {phase: actual.phase} : {}), ...(actual.exitCode !== undefined ? {exitCode: actual.exitCode} : {})}
      } catch {
        exists = null
      }
      return {address: r.address, kind: r.kind, name: r.name, id: r.id, credential: r.credential, exists, outputs}
    }))
    const w = resources.find((r) => r.address === addressOf(name, 'workload'))
    const vm = resources.find((r) => r.address === addressOf(name, 'vm'))
    const phase = w?.exists ? String(w.outputs.phase ?? 'running') : dep.workload?.phase ?? (w ? 'unknown' : 'none')
    out.push({
      profile: name,
      deploymentId: dep.id,
      ...(dep.placement ? {placement: {credential: dep.placement.credential, provider: dep.placement.provider, region: dep.placement.region, ...(dep.placement.zone ? {zone: dep.placement.zone} : {})}} : {}),
      workload: {phase, ...(w?.outputs.exitCode !== undefined ? {exitCode: Number(w.outputs.exitCode)} : dep.workload?.exitCode !== undefined ? {exitCode: dep.workload.exitCode} : {}), ...(w?.outputs.lastSync ? {lastSync: w.outputs.lastSync} : {})},
      ...(machineAddress(vm) ? {address: machineAddress(vm)} : {}),
      resources: resources.sort((a, b) => a.address.localeCompare(b.address)),
      applied: true,
      ...(profile?.spot || dep.spot ? {spot: {...(await spotStatus(session, dep)), ...noticeOf(w)}} : {}),
    })
  }
  return out
}

/** Where the machine is reached: a cloud VM's address, an ssh host, or a local workspace directory. */
function machineAddress(vm: ResourceStatus | undefined): string | undefined {
  if (!vm || vm.exists === false) return undefined
  const o = vm.outputs
  const a = o.address ?? o.publicIp ?? o.host ?? o.workspace ?? o.path
  return typeof a === 'string' && a !== '' ? a : undefined
}

/** The interruption notice the machine's workload read shows (a VM the cloud is taking back), if any. */
function noticeOf(w: ResourceStatus | undefined): {notice?: Record<string, unknown>} {
  const parsed = parseNotice(w?.exists ? w.outputs.notice : undefined)
  if (!parsed) return {}
  // A record cut short: what it says is still worth showing.
  return {notice: 'fields' in parsed ? parsed.fields : {record: parsed.cut}}
}

/** Preemptions and fallback from state; the checkpoint bucket's newest object read live (read-only). */
async function spotStatus(session: Session, dep: DeploymentRecord): Promise<SpotStatus> {
  let newest: SpotStatus['newestCheckpoint'] = null
  const bucket = dep.resources[addressOf(dep.profile, 'bucket', 'checkpoint')]
  if (bucket) {
    try {
      const provider = await session.providers.get(bucket.credential)
      const o = await provider.newestObject?.(bucket.name)
      if (o) newest = {...o, ageSeconds: Math.max(0, Math.round((Date.now() - Date.parse(o.modified)) / 1000))}
    } catch {
      newest = null
    }
  }
  return {
    preemptions: dep.spot?.preemptions ?? 0,
    ...(dep.spot?.lastPreemptedAt ? {lastPreemptedAt: dep.spot.lastPreemptedAt} : {}),
    ...(dep.spot?.onDemand ? {onDemand: dep.spot.onDemand.reason} : {}),
    newestCheckpoint: newest,
  }
}
