import {randomBytes} from 'node:crypto'

import type {ResolvedConfig, ResolvedProfile} from '../config/types.js'
import {AnycloudError, AuthError, isAnycloudError} from '../errors/index.js'
import {continentMismatchMessage, continentOf, type Continent} from '../model/continents.js'
import {bucketNameProblems} from '../model/bucket-names.js'
import {addressOf, parseAddress, type ActualResource, type DeploymentContext, type DesiredResource, type Placement, type ResourceRecord} from '../model/resources.js'
import type {Provider, ProviderCallContext} from '../providers/provider.js'
import type {ProviderSet} from '../providers/registry.js'
import type {DeploymentRecord, StateDocument} from '../state/types.js'
import {isMachineUnreachable, livesOnMachine, recordedAsActual, unknownWarning} from './machine-reach.js'
import {desiredResources, storageCredentialOf, workloadAttributes} from './desired.js'
import {credentialsRenewal, spotDecision} from './spot.js'
import type {Reporter} from './events.js'
import {createLimiter, memoize} from './limit.js'
import {type Change, diffDeployment, type Plan, type PlanDiagnostic, type ProfilePlan, sortChanges, summarize} from './plan.js'
import {hashOf} from '../util/hash.js'
import {currentBudget, withinBudget} from '../remote/deadline.js'

export interface PlanOptions {
  config: ResolvedConfig
  /** Profiles to plan (the command's arguments, or all). */
  profiles: ResolvedProfile[]
  state: StateDocument | undefined
  providers: ProviderSet
  reporter: Reporter
  stateDir: string
  /** Addresses to force-replace. */
  replace?: string[]
  /** Plan the removal of everything the selected profiles own. */
  destroy?: boolean
  /** Credentials that failed at apply, per profile: placement skips them. */
  excludeCredentials?: Record<string, string[]>
  /** Concurrent cloud reads. */
  readConcurrency?: number
  /** The time the plan is made at (spotFallback's minutes without capacity); tests pass a fake clock. */
  now?: Date
}

/** The plan failed before any change: every problem found, all at once. */
export class PlanError extends AnycloudError {
  constructor(readonly diagnostics: PlanDiagnostic[]) {
    super(diagnostics.filter((d) => d.severity === 'error').map((d) => (d.profile ? `${d.profile}: ${d.message}` : d.message)).join('\n'), {code: 'plan.failed', source: 'cloud'})
  }
}

/** A new deployment id: `<project>-<profile>-<6 [a-z0-9]>`, valid as a bucket name on every cloud. */
export function newDeploymentId(project: string, profile: string): string {
  for (;;) {
    const bytes = randomBytes(6)
    const suffix = [...bytes].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('')
    const id = `${project}-${profile}-${suffix}`
    if (bucketNameProblems(id, 'gcp').length === 0 && bucketNameProblems(id, 'aws').length === 0 && bucketNameProblems(id, 'azure').length === 0) return id
  }
}

/** A refresh's budget when the command has no `--timeout` (SPEC §3: a few minutes, never a hang). */
export const REFRESH_BUDGET_MS = 5 * 60_000

/**
 * Refreshes what the profiles and the state know, then diffs. The cloud is only read. Runs under
 * the command's `--timeout` budget, else under {@link REFRESH_BUDGET_MS}.
 */
export async function planChanges(options: PlanOptions): Promise<Plan> {
  return withinBudget('the refresh\'s default 5m budget (give more with --timeout)', currentBudget() ? undefined : REFRESH_BUDGET_MS, () => refreshAndDiff(options))
}

async function refreshAndDiff(options: PlanOptions): Promise<Plan> {
  const started = Date.now()
  const {config, state, providers, reporter} = options
  // Reads are bounded per credential: each cloud account has its own API rate limits.
  const limiters = new Map<string, ReturnType<typeof createLimiter>>()
  const limitOn = async <T>(credential: string, fn: () => Promise<T>): Promise<T> => {
    let l = limiters.get(credential)
    if (!l) {
      const provider = await providers.get(credential)
      l = limiters.get(credential) ?? createLimiter(options.readConcurrency ?? provider.readConcurrency ?? 64)
      limiters.set(credential, l)
    }
    return l(fn)
  }
  const auth = memoize<{ok: true} | {ok: false; error: Error}>()
  const bucketReads = memoize<ActualResource | null>()
  const replace = new Set(options.replace ?? [])
  const diagnostics: PlanDiagnostic[] = []
  const profiles: Record<string, ProfilePlan> = {}
  const changes: Change[] = []
  reporter.emit({type: 'refresh-start', profiles: options.profiles.length})

  const checkAuth = (name: string) =>
    auth(name, () => limitOn(name, async () => {
      try {
        const p = await providers.get(name)
        await p.checkAuth()
        return {ok: true as const}
      } catch (error) {
        return {ok: false as const, error: error as Error}
      }
    }))
  const readBucket = (credential: string, bucket: string) =>
    bucketReads(`${credential}\u0000${bucket}`, () => limitOn(credential, async () => (await providers.get(credential)).readBucket(bucket)))

  const selected = new Set(options.profiles.map((p) => p.name))
  for (const address of replace) {
    const profile = address.split('.')[0]
    if (!selected.has(profile)) throw new AnycloudError(`--replace ${address}: no profile '${profile}' in this plan`, {code: 'usage.invalid', source: 'user'})
    if (!parseAddress(address)) {
      throw new AnycloudError(`--replace ${address}: not a resource address (PROFILE.vm, PROFILE.bootstrap, PROFILE.workload, PROFILE.bucket.output, …; see \`anycloud state list\`)`, {code: 'usage.invalid', source: 'user'})
    }
  }

  const planOne = async (profile: ResolvedProfile) => {
    const record = state?.deployments[profile.name]
    const fail = (message: string) => diagnostics.push({severity: 'error', message, profile: profile.name})

    // 1. Placement: the recorded one while its credential is still listed, else the first that authenticates.
    const excluded = new Set(options.excludeCredentials?.[profile.name] ?? [])
    let placement: Placement | undefined
    const hasLive = record && Object.values(record.resources).some((r) => r.kind !== 'bucket' && r.kind !== 'workload')
    // A job that finished with the spec the file still has stays where it ran: there is nothing to
    // place, and re-placing would move (re-create elsewhere, delete here) the buckets it left.
    const finishedHere = Boolean(record?.workload && (record.workload.phase === 'completed' || record.workload.phase === 'failed') && record.workload.specHash === hashOf(workloadAttributes(profile)) && !replace.has(addressOf(profile.name, 'workload')))
    // Where the profile wants to run on a credential: region, zone, spot and vmType come from the file
    // (a change there must show in the plan); the zone a VM landed in is kept while the region stays.
    const placementOn = (name: string, kind: Placement['provider'], defaultRegion: string, recorded?: Placement): Placement => {
      const region = profile.region ?? (config.credentials[name].spec as {region?: string}).region ?? defaultRegion
      const zone = profile.zone ?? (recorded && recorded.credential === name && recorded.region === region ? recorded.zone : undefined)
      return {credential: name, provider: kind, region, ...(zone ? {zone} : {}), spot: profile.spot, ...(profile.hardware.kind === 'vm' ? {vmType: profile.hardware.vmType} : {})}
    }
    if (record?.placement && profile.credentials.includes(record.placement.credential) && !excluded.has(record.placement.credential) && (hasLive || finishedHere || options.destroy)) {
      const recorded = record.placement
      placement = options.destroy ? recorded : placementOn(recorded.credential, recorded.provider, (await providers.get(recorded.credential)).defaultRegion(), recorded)
    } else if (!options.destroy) {
      for (const name of profile.credentials) {
        if (excluded.has(name)) continue
        const result = await checkAuth(name)
        const provider = await providers.get(name)
        const region = profile.region ?? (config.credentials[name].spec as {region?: string}).region ?? provider.defaultRegion()
        if (result.ok) {
          reporter.emit({type: 'attempt', profile: profile.name, credential: name, provider: provider.kind, region, outcome: 'ok'})
          placement = placementOn(name, provider.kind, provider.defaultRegion(), record?.placement)
          break
        }
        const outcome = result.error instanceof AuthError ? 'auth-failed' : 'error'
        reporter.emit({type: 'attempt', profile: profile.name, credential: name, provider: provider.kind, region, outcome, message: result.error.message})
        if (!(result.error instanceof AuthError)) throw result.error
      }
      if (!placement) {
        fail(`no listed credential authenticates (${profile.credentials.join(', ')}): ${profile.credentials.length > 1 ? 'each was tried in order' : 'check it with `anycloud credentials test`'}`)
        return
      }
    } else if (record?.placement) {
      placement = record.placement
    }
    if (!placement) {
      // Destroy of something never applied: nothing to do.
      return
    }
    const compute = await providers.get(placement.credential)
    const deploymentId = record?.id ?? newDeploymentId(config.project, profile.name)
    const ctx: DeploymentContext = {project: config.project, deploymentId, profile, placement, configDir: config.dir, stateDir: options.stateDir}

    // 2. Every read at once (one round trip after auth): the bucket checks across all listed
    //    credentials, the workload, and every recorded or possibly desired resource.
    const storageProviders: Record<string, Provider> = {}
    for (const c of new Set([storageCredentialOf(placement.credential, config.credentials), profile.inputStorage?.credential, profile.outputStorage?.credential].filter((c): c is string => Boolean(c)))) {
      storageProviders[c] = await providers.get(c)
    }
    const records = record?.resources ?? {}
    const callCtx = (): ProviderCallContext => ({deployment: ctx, records, progress: () => {}})
    const workloadAddress = addressOf(profile.name, 'workload')
    if (!options.destroy) {
      await compute.prepare?.(ctx, records)
      for (const sp of Object.values(storageProviders)) if (sp !== compute) await sp.prepare?.(ctx)
    }
    let runDesired = options.destroy ? [] : desiredResources({ctx, credentials: config.credentials, compute, storage: storageProviders, phase: 'run'})
    type Lookup = {address: string; kind: DesiredResource['kind']; name: string; credential: string; record?: ResourceRecord}
    const lookups = new Map<string, Lookup>()
    for (const r of Object.values(records)) lookups.set(r.address, {address: r.address, kind: r.kind, name: r.name, credential: r.credential, record: r})
    for (const d of runDesired) if (!lookups.has(d.address) || lookups.get(d.address)!.credential !== d.credential) lookups.set(d.address, {address: d.address, kind: d.kind, name: d.name, credential: d.credential, record: records[d.address]})
    const readResource = async (r: Lookup): Promise<ActualResource | null> => {
      if (r.kind === 'bucket') return readBucket(r.credential, r.name)
      const provider = await providers.get(r.credential)
      try {
        return await limitOn(r.credential, () => provider.read({address: r.address, kind: r.kind, name: r.name, record: r.record}, callCtx()))
      } catch (error) {
        if (isAnycloudError(error) && error.code === 'cloud.not-found') return null
        // An unreachable or failing machine never stops a plan (nor the destroy that must delete it).
        if (livesOnMachine(r.kind) && r.record && isMachineUnreachable(error)) {
          diagnostics.push({severity: 'warning', profile: profile.name, message: unknownWarning(r.address, error)})
          return recordedAsActual(r.record)
        }
        throw error
      }
    }
    const actual: Record<string, ActualResource | null> = {}
    const storages = [...new Set(profile.credentials.map((c) => storageCredentialOf(c, config.credentials)))]
    const inputWhere = options.destroy || !profile.inputBucket ? [] : profile.inputStorage ? [profile.inputStorage.credential] : storages
    const outputWhere = options.destroy || !profile.outputBucket ? [] : profile.outputStorage ? [profile.outputStorage.credential] : storages
    // A listed credential that does not authenticate cannot be checked: the deployment does not
    // land there (placement skipped it), so its storage is reported as unchecked, not a failure.
    const placementStorage = storageCredentialOf(placement.credential, config.credentials)
    const check = async (cred: string, bucket: string, role: string) => {
      try {
        return [{cred, bucket: await readBucket(cred, bucket)}]
      } catch (error) {
        if (!(error instanceof AuthError) || cred === placementStorage) throw error
        diagnostics.push({severity: 'warning', profile: profile.name, message: `could not check the ${role} bucket '${bucket}' on credential '${cred}': ${error.message}`})
        return []
      }
    }
    const [inputFound, outputFound] = await Promise.all([
      Promise.all(inputWhere.map((cred) => check(cred, profile.inputBucket!, 'input'))).then((r) => r.flat()),
      Promise.all(outputWhere.map((cred) => check(cred, profile.outputBucket!, 'output'))).then((r) => r.flat()),
      Promise.all([...lookups.values()].map(async (l) => {
        actual[l.address] = await readResource(l)
      })),
    ])

    // 3. Buckets across every listed credential's storage (SPEC §5), before any change.
    const missingInput = inputFound.find((f) => !f.bucket)
    if (missingInput) {
      fail(`input bucket '${profile.inputBucket}' does not exist on credential '${missingInput.cred}' (${config.credentials[missingInput.cred].spec.provider}). Input buckets are never created: create it there${inputWhere.length > 1 ? ', or set inputStorageCredentials to the one credential that holds it' : ''}.`)
    }
    if (outputFound.length > 0) {
      const present = outputFound.filter((f) => f.bucket).map((f) => f.cred)
      const absent = outputFound.filter((f) => !f.bucket).map((f) => f.cred)
      // A bucket anycloud itself created where the VM landed (recorded in state) is not a partial set.
      const recordedOutput = records[addressOf(profile.name, 'bucket', 'output')]
      const ours = (cred: string) => recordedOutput?.status === 'created' && recordedOutput.name === profile.outputBucket && recordedOutput.credential === cred
      if (present.length > 0 && absent.length > 0 && !present.every(ours)) {
        fail(`output bucket '${profile.outputBucket}' exists on ${present.map((c) => `'${c}' (${config.credentials[c].spec.provider})`).join(', ')} but not on ${absent.map((c) => `'${c}' (${config.credentials[c].spec.provider})`).join(', ')}. Output buckets are all-or-none across the listed credentials: create it on every one, or on none (anycloud then creates it where the VM lands).`)
      }
      // Continent rule for an existing output bucket on a real cloud.
      const deployContinent = cloudContinent(placement.provider, placement.region)
      for (const f of outputFound) {
        const c = f.bucket?.continent as Continent | undefined
        if (f.bucket && c && deployContinent && c !== deployContinent && storageCredentialOf(placement.credential, config.credentials) === f.cred) {
          fail(continentMismatchMessage(profile.outputBucket!, c, deployContinent))
        }
      }
    }

    // Spot bookkeeping from the provider's own signal (a VM the cloud took back), and the bounded
    // fallback: once it fires, the deployment runs on-demand (the checkpoint bucket stays).
    const spot = options.destroy ? {changed: false, onDemand: false} as ReturnType<typeof spotDecision> : spotDecision(profile, record?.spot, actual[addressOf(profile.name, 'vm')], options.now ?? new Date())
    if (spot.onDemand && placement.spot) {
      placement.spot = false
      runDesired = desiredResources({ctx, credentials: config.credentials, compute, storage: storageProviders, phase: 'run'})
    }

    // 4. Desired resources, given what the workload did; then the diff.
    const workloadRecord = records[workloadAddress]
    const workloadActual = actual[workloadAddress] ?? null
    const memory = record?.workload
    const wantedSpec = hashOf(workloadAttributes(profile))
    const finished = (phase?: string) => phase === 'completed' || phase === 'failed'
    const doneNow = finished(workloadActual?.phase) ? workloadActual : undefined
    const recordedSpec = workloadRecord?.attributes.specHash
    const phase: 'run' | 'done' =
      !replace.has(workloadAddress) &&
      recordedSpec === wantedSpec &&
      (doneNow !== undefined || (!workloadActual && finished(memory?.phase)))
        ? 'done'
        : 'run'
    if (!options.destroy) for (const message of compute.warnings?.(ctx) ?? []) diagnostics.push({severity: 'warning', profile: profile.name, message})
    // Buckets anycloud owns on a store without bucket tagging: ownership rests on state alone.
    for (const l of lookups.values()) {
      const a = actual[l.address]
      if (l.kind !== 'bucket' || l.address.endsWith('.input') || a?.outputs?.tagging !== 'unsupported') continue
      diagnostics.push({severity: 'warning', profile: profile.name, message: `bucket '${l.name}' on credential '${l.credential}': the store has no bucket tagging, so anycloud's ownership of it rests on state alone (${l.record?.outputs?.deployment ? 'recorded as created by this deployment: destroy may delete it when empty' : 'not recorded as created by anycloud: it is never deleted'}); keep the state safe`})
    }
    const desired = options.destroy ? [] : phase === 'run' ? runDesired : desiredResources({ctx, credentials: config.credentials, compute, storage: storageProviders, phase})
    const deleteReason = (r: ResourceRecord): string => {
      if (options.destroy) {
        if (r.kind === 'bucket' && r.role === 'output') return 'destroy: deleted only if anycloud created it and it is empty'
        if (r.kind === 'bucket' && r.role === 'checkpoint' && profile.persistBucket) return 'destroy: the bucket is kept (persistBucket is on); anycloud stops tracking it'
        return 'destroy'
      }
      if (phase === 'done') {
        const how = `workload ${doneNow?.phase ?? memory?.phase} (exit ${doneNow?.exitCode ?? memory?.exitCode ?? '?'})`
        if (r.kind === 'bucket' && r.role === 'checkpoint') return `${how}: checkpoint bucket deleted (persistBucket is off)`
        return `${how}: tearing down (persist is off)`
      }
      if (r.kind === 'bucket' && r.role === 'output') return 'no longer this profile\'s output bucket: deleted only if anycloud created it and it is empty'
      return 'no longer part of the profile'
    }
    const deployment = diffDeployment({desired, records, actual, replace, phase, deleteReason, workloadMemory: memory})
    // Minted storage credentials close to expiry: the bootstrap is updated (re-minted, env file rewritten).
    const boot = deployment.find((c) => c.address === addressOf(profile.name, 'bootstrap'))
    const renew = boot?.action === 'no-op' ? credentialsRenewal(records[boot.address]?.outputs, options.now ?? new Date()) : undefined
    if (boot && renew) {
      boot.action = 'update'
      boot.reason = renew
    }
    if (spot.fired) {
      const vm = deployment.find((c) => c.address === addressOf(profile.name, 'vm'))
      if (vm && vm.action !== 'no-op') vm.reason = `${vm.reason}; ${spot.fired}`
      diagnostics.push({severity: 'warning', profile: profile.name, message: spot.fired})
    }
    profiles[profile.name] = {deploymentId, ...(record ? {} : {newDeployment: true}), placement, phase, ...(spot.changed && spot.record ? {spot: spot.record} : {})}
    changes.push(...deployment)
  }

  // Deployments in state whose profile left the file are destroyed.
  const orphanProfiles: ResolvedProfile[] = []
  if (state && options.profiles.length === Object.keys(config.profiles).length) {
    for (const [name, rec] of Object.entries(state.deployments)) if (!config.profiles[name]) orphanProfiles.push(orphanProfile(name, rec))
  }
  const errors: unknown[] = []
  await Promise.all(options.profiles.map((p) => planOne(p).catch((e) => errors.push(e))))
  const destroyFlag = options.destroy
  for (const orphan of orphanProfiles) {
    options.destroy = true
    await planOne(orphan).catch((e) => errors.push(e))
    options.destroy = destroyFlag
  }
  if (errors.length > 0) {
    const first = errors[0]
    if (errors.length === 1 || !isAnycloudError(first)) throw first
    throw new PlanError(errors.map((e) => ({severity: 'error' as const, message: (e as Error).message})))
  }
  if (diagnostics.some((d) => d.severity === 'error')) throw new PlanError(diagnostics)
  // A well-formed --replace address this deployment does not have (e.g. PROFILE.identity on a
  // provider without identities) replaces nothing: say so rather than silently ignore it.
  for (const address of replace) {
    if (!changes.some((c) => c.address === address)) {
      const message = `--replace ${address}: no such resource in this plan; nothing is replaced`
      diagnostics.push({severity: 'warning', message, profile: address.split('.')[0]})
    }
  }
  const sorted = sortChanges(changes)
  const resources = sorted.length
  reporter.emit({type: 'refresh-done', resources, elapsedMs: Date.now() - started})
  return {
    formatVersion: '1',
    state: {lineage: state?.lineage ?? null, serial: state?.serial ?? 0},
    profiles: Object.fromEntries(Object.entries(profiles).sort(([a], [b]) => a.localeCompare(b))),
    changes: sorted,
    summary: summarize(sorted),
    diagnostics,
    scope: [...options.profiles.map((p) => p.name), ...orphanProfiles.map((p) => p.name)].sort(),
    ...(options.destroy ? {destroy: true} : {}),
  }
}

function cloudContinent(provider: string, region: string): Continent | undefined {
  if (provider === 'aws' || provider === 'azure' || provider === 'gcp') return continentOf(provider, region)
  return undefined
}

/** A stand-in profile for a deployment whose profile was removed from the file (destroy only). */
function orphanProfile(name: string, record: DeploymentRecord): ResolvedProfile {
  return {
    name, credentials: record.placement ? [record.placement.credential] : [], hardware: {kind: 'default'}, spot: false, env: {}, sensitiveEnv: [],
    runtime: 'process', persistBucket: false, persist: false, syncIntervalSeconds: 60, extendsChain: [],
  }
}

export {type Plan} from './plan.js'
