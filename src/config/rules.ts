import {type Diagnostic} from './diagnostics.js'
import {didYouMean} from '../model/did-you-mean.js'
import {diagnosticAt, type LoadedDocument, pointer} from './load.js'
import {IMPLICIT_LOCAL, mergeProfile, type MergedProfile} from './resolve.js'
import type {NamedCredential} from './types.js'
import {bucketNameProblems, resourceNameProblems} from '../model/bucket-names.js'
import {isKnownRegion, knownRegions} from '../model/continents.js'
import {knownGpuNames, parseGpuType} from '../model/gpu-catalog.js'

/** Literal secrets recognised anywhere in the file (values are never echoed back). */
const AWS_KEY_ID = /\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}\b/
const PEM_PRIVATE_KEY = /-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----/
const SECRETISH_NAME = /(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|API_KEY|ACCESS_KEY|CREDENTIAL)/i
const ENV_ONLY = /^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$/
/** Values under a secret-sounding name that are evidently not the secret itself: a path, a URL, a reference. */
const NOT_A_SECRET_VALUE = /^(\/|\.{1,2}\/|~\/|[A-Za-z]:\\)|:\/\/|\$\{env:/
/** Secret-bearing credential fields: the schema refuses any literal there (one error, not two). */
const CREDENTIAL_SECRET_FIELDS = new Set(['accessKeyId', 'secretAccessKey', 'sessionToken', 'clientSecret', 'accessToken'])
/** The schema's own pattern for `project`: when it fails, the schema has already said so. */
const PROJECT_PATTERN = /^[a-z][a-z0-9-]{0,23}$/
const KNOWN_PROVIDERS = new Set(['aws', 'azure', 'gcp', 'ssh', 'local'])
/** Where buckets can live (an ssh credential's buckets live on its `storage` credential). */
const BUCKET_CLOUDS = new Set(['aws', 'azure', 'gcp', 'local'])

export interface RuleContext {
  document: LoadedDocument
  credentials: Record<string, NamedCredential>
  storePath: string
  /**
   * The document after `${env:…}` interpolation, and the pointers that failed to interpolate.
   * Names, buckets, GPU types and regions are checked on their interpolated values (a failed one
   * is skipped: the interpolation error already names it); secrets are scanned in the raw text.
   */
  interpolated?: {data: unknown; failed: ReadonlySet<string>}
}

export interface RuleResult {
  diagnostics: Diagnostic[]
  merged: Record<string, MergedProfile>
  /** Per profile: the ordered credential names it resolves to (when resolvable). */
  profileCredentials: Record<string, string[]>
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => Boolean(v) && typeof v === 'object' && !Array.isArray(v)

function describeKnown(credentials: Record<string, NamedCredential>, storePath: string): string {
  const inFile = Object.values(credentials).filter((c) => c.origin === 'file').map((c) => c.name)
  const inStore = Object.values(credentials).filter((c) => c.origin === 'store').map((c) => c.name)
  const parts: string[] = []
  if (inFile.length > 0) parts.push(`in the file: ${inFile.join(', ')}`)
  if (inStore.length > 0) parts.push(`in ${storePath}: ${inStore.join(', ')}`)
  return parts.length > 0 ? `known credentials ${parts.join('; ')}` : 'no credentials are defined in the file or saved with `anycloud credentials add`'
}

/**
 * The semantic rules on top of the schema. Written defensively (the schema may have failed) so
 * that every problem is reported in the same pass.
 */
export function checkRules(ctx: RuleContext): RuleResult {
  const {document, credentials} = ctx
  const out: Diagnostic[] = []
  // A problem inherited from defaults or a parent profile is found once per profile that uses it,
  // at the same place: report it once.
  const seen = new Set<string>()
  const push = (d: Diagnostic) => {
    const key = `${d.severity}:${d.line}:${d.column}:${d.path}:${d.message}`
    if (!seen.has(key)) {
      seen.add(key)
      out.push(d)
    }
  }
  const error = (segments: Array<string | number>, message: string, preferKey = false) => push(diagnosticAt(document, segments, message, {preferKey}))
  const warn = (segments: Array<string | number>, message: string) => push(diagnosticAt(document, segments, message, {severity: 'warning'}))
  /** A value after interpolation: undefined when interpolation failed there (already reported). */
  const valueAt = (segments: Array<string | number>, raw: unknown): unknown => {
    const interpolated = ctx.interpolated
    if (!interpolated) return raw
    if (typeof raw === 'string') {
      if (!raw.includes('${')) return raw
      if (interpolated.failed.has(pointer(segments))) return undefined
      let v: unknown = interpolated.data
      for (const s of segments) v = v && typeof v === 'object' ? (v as Record<string | number, unknown>)[s] : undefined
      return v
    }
    if (Array.isArray(raw)) return raw.map((item, i) => valueAt([...segments, i], item))
    return raw
  }
  /** How to name a value in a message without echoing what came from the environment. */
  const shown = (raw: unknown, value: unknown) => (typeof raw === 'string' && raw.includes('${') ? `'${raw}' (from the environment)` : `'${String(value)}'`)
  const root = isObj(document.data) ? document.data : {}
  const profiles = isObj(root.profiles) ? root.profiles : {}
  // The provider of a credential, when its definition is usable (a malformed one is a schema error
  // already: it must not crash the rules nor cause follow-up errors).
  const providerOf = (c: string): string | undefined => {
    const spec: unknown = (credentials[c] ?? (c === IMPLICIT_LOCAL.name ? IMPLICIT_LOCAL : undefined))?.spec
    return isObj(spec) && typeof spec.provider === 'string' && KNOWN_PROVIDERS.has(spec.provider) ? spec.provider : undefined
  }
  const names = Object.keys(profiles)
  const merged: Record<string, MergedProfile> = {}
  const profileCredentials: Record<string, string[]> = {}

  // Literal secrets anywhere, and secret-looking env values.
  const scan = (value: unknown, segments: Array<string | number>): void => {
    if (segments.length === 3 && segments[0] === 'credentials' && CREDENTIAL_SECRET_FIELDS.has(String(segments[2]))) return
    if (typeof value === 'string') {
      if (AWS_KEY_ID.test(value)) error(segments, 'looks like a literal AWS access key id: secrets never live in the file; use a `${env:NAME}` reference')
      else if (PEM_PRIVATE_KEY.test(value)) error(segments, 'looks like a literal private key: secrets never live in the file; reference a key file path or use `${env:NAME}`')
      return
    }
    if (Array.isArray(value)) value.forEach((v, i) => scan(v, [...segments, i]))
    else if (isObj(value)) for (const [k, v] of Object.entries(value)) scan(v, [...segments, k])
  }
  scan(root, [])
  const envLayers: Array<[Obj, Array<string | number>]> = []
  if (isObj(root.defaults) && isObj(root.defaults.env)) envLayers.push([root.defaults.env, ['defaults', 'env']])
  for (const name of names) {
    const p = profiles[name]
    if (isObj(p) && isObj(p.env)) envLayers.push([p.env, ['profiles', name, 'env']])
  }
  for (const [env, at] of envLayers) {
    for (const [k, v] of Object.entries(env)) {
      if (typeof v === 'string' && SECRETISH_NAME.test(k) && v.length >= 8 && !ENV_ONLY.test(v) && !NOT_A_SECRET_VALUE.test(v) && !AWS_KEY_ID.test(v) && !PEM_PRIVATE_KEY.test(v)) {
        error([...at, k], `'${k}' looks like a secret but holds a literal value: use a \`\${env:NAME}\` reference so it stays out of the file and is shown as (sensitive)`)
      }
    }
  }

  if (typeof root.project === 'string' && PROJECT_PATTERN.test(root.project)) {
    const problems = resourceNameProblems(root.project, 'project')
    if (problems.length > 0) error(['project'], `invalid project name '${root.project}': ${problems.join('; ')}`)
  }

  // Credentials: ssh storage and state backend references.
  const fileCreds = isObj(root.credentials) ? root.credentials : {}
  for (const [name, spec] of Object.entries(fileCreds)) {
    if (!isObj(spec)) continue
    if (spec.provider === 'ssh' && typeof spec.storage === 'string') {
      const target = credentials[spec.storage]
      if (!target) error(['credentials', name, 'storage'], `unknown credential '${spec.storage}'${hint(spec.storage, credentials)}; ${describeKnown(credentials, ctx.storePath)}`)
      else if (isObj(target.spec) && target.spec.provider === 'ssh') error(['credentials', name, 'storage'], `'${spec.storage}' is an ssh credential; storage must be an aws, azure, gcp or local credential`)
    }
  }
  if (isObj(root.state) && typeof root.state.credentials === 'string' && !credentials[root.state.credentials]) {
    error(['state', 'credentials'], `unknown credential '${root.state.credentials}'${hint(root.state.credentials, credentials)}; ${describeKnown(credentials, ctx.storePath)}`)
  }

  if (isObj(root.defaults) && typeof root.defaults.vmType === 'string' && typeof root.defaults.gpuType === 'string') {
    error(['defaults', 'gpuType'], 'vmType and gpuType are mutually exclusive: set one or the other in defaults')
  }

  for (const name of names) {
    const raw = profiles[name]
    const nameProblems = resourceNameProblems(name, 'profile')
    if (nameProblems.length > 0) error(['profiles', name], `invalid profile name '${name}': ${nameProblems.join('; ')} (the name goes into deployment ids and cloud resource names)`, true)
    if (!isObj(raw)) continue
    if (typeof raw.extends === 'string' && !(raw.extends in profiles)) {
      error(['profiles', name, 'extends'], `extends unknown profile '${raw.extends}'${hint(raw.extends, Object.fromEntries(names.filter((n) => n !== name).map((n) => [n, 1])))}; profiles: ${names.join(', ')}`)
    }
    if (typeof raw.vmType === 'string' && typeof raw.gpuType === 'string') {
      error(['profiles', name, 'gpuType'], 'vmType and gpuType are mutually exclusive: set one or the other')
    }
    const m = mergeProfile(name, profiles, root.defaults)
    merged[name] = m
    if (m.cycle && m.cycle[0] === name) error(['profiles', name, 'extends'], `extends cycle: ${m.cycle.join(' → ')}`)
    const at = (key: string) => m.origins[key] ?? ['profiles', name]
    const f: Record<string, unknown> = {}
    for (const [key, rawValue] of Object.entries(m.fields)) f[key] = valueAt(at(key), rawValue)
    const rawOf = (key: string) => m.fields[key]

    if (typeof f.gpuType === 'string') {
      const parsed = parseGpuType(f.gpuType)
      if (!parsed.ok) {
        const rawGpu = rawOf('gpuType')
        error(at('gpuType'), typeof rawGpu === 'string' && rawGpu.includes('${')
          ? `${shown(rawGpu, f.gpuType)} is not a valid gpuType: expected NAME, NAME:COUNT or NAME:all with a known GPU (${knownGpuNames().join(', ')})`
          : parsed.error)
      }
    }
    // With a broken extends chain the inherited fields are unknown: that error is enough.
    const broken = m.cycle !== undefined || [name, ...m.chain].some((p) => isObj(profiles[p]) && typeof profiles[p].extends === 'string' && !((profiles[p] as Obj).extends as string in profiles))
    if (!broken && m.fields.image === undefined && m.fields.command === undefined) error(['profiles', name], `profile '${name}' has nothing to run: set image (a container) or command (runtime: process)`, true)
    if (f.runtime === 'docker' && typeof m.fields.image !== 'string') error(at('runtime'), 'runtime docker needs an image: set image, or use runtime: process to run the command on the host')
    if (f.persistBucket === true && f.spot !== true) warn(at('persistBucket'), 'persistBucket has no effect without spot: only spot deployments have a checkpoint bucket')
    if (f.spotFallback !== undefined && f.spot !== true) warn(at('spotFallback'), 'spotFallback has no effect without spot: an on-demand profile has nothing to fall back from')
    if (typeof f.inputBucket === 'string' && f.inputBucket === f.outputBucket) {
      const both = typeof rawOf('inputBucket') === 'string' && String(rawOf('inputBucket')).includes('${') ? 'both come from the environment and are equal' : `both are '${f.inputBucket}'`
      error(at('outputBucket'), `inputBucket and outputBucket must differ (${both}): the input is read-only and synced down, the output is uploaded`)
    }

    // Credentials: explicit list, else the only known one, else the implicit local default.
    let listed: string[] = []
    let listAt = at('credentials')
    if (typeof f.credentials === 'string') listed = [f.credentials]
    else if (Array.isArray(f.credentials)) listed = f.credentials.filter((c): c is string => typeof c === 'string')
    const all = Object.keys(credentials)
    if (listed.length === 0 && f.credentials === undefined) {
      if (all.length === 1) listed = all
      else if (all.length === 0) listed = [IMPLICIT_LOCAL.name]
      else {
        error(['profiles', name], `profile '${name}' names no credentials and ${all.length} are known (${all.join(', ')}): set credentials: to one of them or an ordered list`, true)
        listAt = ['profiles', name]
      }
    }
    const resolved: string[] = []
    const rawCredentials = rawOf('credentials')
    listed.forEach((c, i) => {
      const rawName = Array.isArray(rawCredentials) ? rawCredentials[i] : rawCredentials
      if (credentials[c] || (c === IMPLICIT_LOCAL.name && all.length === 0)) resolved.push(c)
      else error(Array.isArray(f.credentials) ? [...listAt, i] : listAt, `unknown credential ${shown(rawName, c)}${hint(c, credentials)}; ${describeKnown(credentials, ctx.storePath)}`)
    })
    if (resolved.length === listed.length && resolved.length > 0) profileCredentials[name] = resolved

    for (const key of ['inputStorageCredentials', 'outputStorageCredentials'] as const) {
      const c = f[key]
      if (typeof c !== 'string') continue
      if (!credentials[c]) error(at(key), `unknown credential ${shown(rawOf(key), c)}${hint(c, credentials)}; ${describeKnown(credentials, ctx.storePath)}`)
      else if (providerOf(c) !== undefined && providerOf(c) !== 'aws') error(at(key), `'${c}' is not an aws credential (provider: ${providerOf(c)}): cross-cloud storage supports AWS S3 only, so ${key} must name an aws credential`)
    }
    for (const [regionKey, credKey] of [['inputStorageRegion', 'inputStorageCredentials'], ['outputStorageRegion', 'outputStorageCredentials']] as const) {
      if (f[regionKey] !== undefined && f[credKey] === undefined) warn(at(regionKey), `${regionKey} has no effect without ${credKey}`)
    }

    // Bucket names follow the rules of every cloud they may live on.
    const storageClouds = (bucketKey: 'inputBucket' | 'outputBucket'): Set<string> => {
      const cross = f[bucketKey === 'inputBucket' ? 'inputStorageCredentials' : 'outputStorageCredentials']
      if (typeof cross === 'string') return new Set(['aws'])
      const clouds = new Set<string>()
      for (const c of resolved) {
        const provider = providerOf(c)
        if (provider === 'ssh') {
          const storage = (credentials[c].spec as {storage?: unknown}).storage
          if (storage === undefined) error(at(bucketKey), `credential '${c}' is an ssh credential without storage: set credentials.${c}.storage to the credential holding ${bucketKey}`)
          else if (typeof storage === 'string' && BUCKET_CLOUDS.has(providerOf(storage) ?? '')) clouds.add(providerOf(storage)!)
        } else if (provider !== undefined) clouds.add(provider)
      }
      return clouds
    }
    for (const bucketKey of ['inputBucket', 'outputBucket'] as const) {
      const bucket = f[bucketKey]
      if (typeof bucket !== 'string') continue
      for (const cloud of storageClouds(bucketKey)) {
        const problems = bucketNameProblems(bucket, cloud as 'aws' | 'azure' | 'gcp' | 'local')
        if (problems.length > 0) error(at(bucketKey), `${shown(rawOf(bucketKey), bucket)} is not a valid ${cloudLabel(cloud)} name: ${problems.join('; ')}`)
      }
    }

    // Regions the clouds do not know are probably typos.
    if (typeof f.region === 'string') {
      for (const c of resolved) {
        const provider = providerOf(c)
        if ((provider === 'aws' || provider === 'azure' || provider === 'gcp') && !isKnownRegion(provider, f.region)) {
          const suggestion = didYouMean(f.region, knownRegions(provider))
          warn(at('region'), `${shown(rawOf('region'), f.region)} is not a known ${provider} region (credential '${c}')${suggestion ? `; did you mean '${suggestion}'?` : ''}`)
        }
      }
    }
  }
  return {diagnostics: out, merged, profileCredentials}
}

function cloudLabel(cloud: string): string {
  return cloud === 'aws' ? 'S3 bucket' : cloud === 'azure' ? 'Azure container' : cloud === 'gcp' ? 'GCS bucket' : 'local bucket'
}

function hint(name: string, known: Record<string, unknown>): string {
  const s = didYouMean(name, Object.keys(known))
  return s ? ` (did you mean '${s}'?)` : ''
}
