import type {ResolvedConfig} from '../config/types.js'
import {deploymentContext as contextOf, type DeploymentContext, type DesiredResource, type Placement} from '../model/resources.js'
import type {ProviderCallContext} from '../providers/provider.js'
import type {ProviderSet} from '../providers/registry.js'
import type {DeploymentRecord, StateDocument, StateStore} from '../state/types.js'
import type {Reporter} from './events.js'
import type {Change, Plan} from './plan.js'
import {StateWriter} from './state-writer.js'
import {orphanProfile} from './desired.js'

export interface ApplyOptions {
  plan: Plan
  config: ResolvedConfig
  store: StateStore
  state: StateDocument | undefined
  providers: ProviderSet
  reporter: Reporter
  signal?: AbortSignal
  concurrency?: number
  /** Rotate to the next credential on AuthError (fresh applies only; a saved plan is applied exactly). */
  allowRotation?: boolean
  /** Test-only crash point (`after-intent:train.vm`, `after-create:…`): the process kills itself there. */
  crashAt?: string
}

export interface ApplyResult {
  state: StateDocument
  done: string[]
  failed: Array<{address: string; message: string; error: unknown}>
  skipped: Array<{address: string; reason: string}>
  /** Per profile, credentials that failed authentication during this apply. */
  authFailures: Record<string, string[]>
  interrupted: boolean
}

/**
 * What every resource operation of one apply shares: the options, the state being written (one
 * save after every operation), and what the run learns on the way.
 */
export class ApplyRun {
  readonly writer: StateWriter
  readonly result: ApplyResult
  /** Outcomes worth telling apart from the action's usual one (a bucket kept because it holds data). */
  readonly notes = new Map<string, string>()
  /** Profiles whose workload output was already saved before their machine went. */
  readonly captured = new Set<string>()
  /** Profiles rotating away from a credential that failed authentication: their other changes are skipped. */
  readonly rotating = new Set<string>()
  /** When each change started (for its elapsed time). */
  readonly started = new Map<string, number>()
  /** Zones VMs landed in during this apply, by profile (they may differ from the plan's). */
  readonly landedZones = new Map<string, string>()

  constructor(readonly options: ApplyOptions) {
    // A new state takes the lineage the plan was made for (it salted the plan's sensitive values).
    this.writer = new StateWriter(options.store, options.state, options.config.project, options.plan.state.lineage ?? undefined)
    this.result = {state: this.writer.doc, done: [], failed: [], skipped: [], authFailures: {}, interrupted: false}
  }

  get plan(): Plan {
    return this.options.plan
  }

  deploymentContext(profileName: string): DeploymentContext {
    const {config} = this.options
    const pp = this.plan.profiles[profileName]
    const rec = this.writer.doc.deployments[profileName]
    let placement: Placement = pp?.placement ?? rec?.placement
    // The zone a VM landed in (capacity failover) is recorded by its create: later steps keep it,
    // also when this apply re-created it in another zone than the plan's (a replaced VM).
    const landed = this.landedZones.get(profileName)
    if (pp?.placement && landed) placement = {...pp.placement, zone: landed}
    else if (pp?.placement && !pp.placement.zone && rec?.placement?.zone && rec.placement.credential === pp.placement.credential && rec.placement.region === pp.placement.region) {
      placement = {...pp.placement, zone: rec.placement.zone}
    }
    const profile = config.profiles[profileName] ?? orphanProfile(profileName, rec)
    return contextOf({project: config.project, deploymentId: pp?.deploymentId ?? rec!.id, lineage: this.writer.doc.lineage, profile, placement, configDir: config.dir, stateDir: this.options.store.localDir, credentials: config.credentials})
  }

  callContext(change: Change, ctx: DeploymentContext, token?: string): ProviderCallContext {
    return {
      deployment: ctx,
      records: this.writer.doc.deployments[change.profile]?.resources ?? {},
      progress: (message) => this.options.reporter.emit({type: 'change-progress', address: change.address, message}),
      signal: this.options.signal,
      token,
    }
  }

  /** The deployment's record in `doc`, made on its first resource; the machine's changes move its placement. */
  ensureDeployment(doc: StateDocument, change: Change, ctx: DeploymentContext): DeploymentRecord {
    doc.deployments[change.profile] ??= {id: ctx.deploymentId, profile: change.profile, placement: ctx.placement, createdAt: new Date().toISOString(), resources: {}}
    const d = doc.deployments[change.profile]
    if (change.kind !== 'bucket') d.placement = ctx.placement
    return d
  }

  /** A deployment left with no resources goes from state when it is being destroyed (or its profile left the file). */
  dropIfEmpty(doc: StateDocument, profile: string): void {
    const d = doc.deployments[profile]
    if (d && Object.keys(d.resources).length === 0 && (this.plan.destroy || !this.options.config.profiles[profile])) delete doc.deployments[profile]
  }

  desiredOf(change: Change): DesiredResource {
    return {
      address: change.address, profile: change.profile, kind: change.kind, ...(change.role ? {role: change.role} : {}), credential: change.credential, provider: change.provider,
      name: change.name, dependsOn: change.dependsOn, attributes: change.after ?? {},
    }
  }

  /** Whether this apply deletes (or replaces, deleting the old one) the profile's machine. */
  machineGoes(profile: string): boolean {
    return this.plan.changes.some((c) => c.profile === profile && c.kind === 'vm' && (c.action === 'delete' || c.action === 'replace'))
  }

  /** Test-only crash points, injected through {@link ApplyOptions.crashAt}: the process kills itself. */
  crashPoint(step: string, address: string): void {
    if (this.options.crashAt && this.options.crashAt === `${step}:${address}`) process.kill(process.pid, 'SIGKILL')
  }

  /** Spot bookkeeping the plan carries (preemptions counted, the on-demand fallback). */
  async recordSpot(): Promise<void> {
    const spotUpdates = Object.entries(this.plan.profiles).filter(([name, pp]) => pp.spot && this.writer.doc.deployments[name])
    if (spotUpdates.length === 0) return
    await this.writer.update((doc) => {
      for (const [name, pp] of spotUpdates) {
        const d = doc.deployments[name]
        if (d) d.spot = {...pp.spot!, ...(d.spot?.noCapacitySince && !pp.spot!.onDemand ? {noCapacitySince: d.spot.noCapacitySince} : {})}
      }
    })
  }

  /** State-only changes, before any operation: what refresh observed (workload outcomes, adopted resources, forgotten ones). */
  async recordObservations(): Promise<void> {
    const observations = this.plan.changes.filter((c) => c.action === 'no-op' || c.action === 'read')
    if (!observations.some((c) => c.observed || c.after === null)) return
    await this.writer.update((doc) => {
      for (const c of observations) {
        if (c.after === null) {
          const d = doc.deployments[c.profile]
          if (d) delete d.resources[c.address]
          this.dropIfEmpty(doc, c.profile)
        } else if (c.observed) this.observe(doc, c)
      }
    })
  }

  private observe(doc: StateDocument, c: Change): void {
    const observed = c.observed!
    const after = c.after!
    const dep = this.ensureDeployment(doc, c, this.deploymentContext(c.profile))
    const rec = dep.resources[c.address]
    if (!rec || rec.status === 'pending') {
      dep.resources[c.address] = {
        address: c.address, kind: c.kind, ...(c.role ? {role: c.role} : {}), credential: c.credential, provider: c.provider, name: c.name,
        id: observed.id ?? c.name, status: 'created', attributes: after, outputs: observed.outputs ?? {}, ...(rec?.token ? {token: rec.token} : {}), updatedAt: new Date().toISOString(),
      }
    }
    if (c.kind === 'workload' && observed.phase) {
      const r = dep.resources[c.address]
      const exit = observed.exitCode !== undefined ? {exitCode: observed.exitCode} : {}
      r.outputs = {...r.outputs, phase: observed.phase, ...exit}
      const finished = observed.phase === 'completed' || observed.phase === 'failed'
      dep.workload = {phase: observed.phase, ...exit, specHash: String(after.specHash ?? ''), ...(finished ? {finishedAt: dep.workload?.finishedAt ?? new Date().toISOString()} : {})}
    }
  }
}
