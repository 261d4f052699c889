/**
 * A fake of the Compute Engine (v1 REST) and IAM (v1 service accounts) HTTP APIs, for driving the
 * real `@google-cloud/compute` and `@googleapis/iam` clients on loopback. One `node:http` server
 * routes `/compute/v1/…` and `/v1/projects/…/serviceAccounts…`; `/__fake/…` is a JSON admin API.
 *
 * Behaviour modelled on the documented API (notes/gcp-provider.md §2, §5, §9):
 * - every request must carry `Authorization: Bearer …`: a token the fake issued (`accessTokens`),
 *   or a self-signed JWT (RS256) of a service-account key it knows (`serviceAccountKeys`); else 401;
 * - `instances.insert` deduplicates by `requestId` (the same Operation comes back, no second VM);
 *   an existing name → 409 `alreadyExists`; the service account must exist (IAM) → else 400;
 *   errors that GCE reports in the Operation (stockouts, resource quotas) come back in an
 *   Operation that is already DONE, with HTTP 200;
 * - operations: `insert`/`delete` return RUNNING; `wait` lets the VM boot (or stop) and returns
 *   DONE (it may also return early while still RUNNING when `waitReturnsEarly` is set);
 * - ids are strings (64-bit), label filters `labels.K = "V"` joined with AND, aggregated lists
 *   with `NO_RESULTS_ON_PAGE` warnings for empty zones;
 * - preemption (`preempt`): the VM disappears (termination action DELETE) and a
 *   `compute.instances.preempted` operation is recorded in its zone;
 * - faults: any status on any path (`faults.http`), lost responses (`faults.loseResponse`: the
 *   call runs, then the socket is destroyed), stockouts per zone, quota errors, SA propagation.
 *
 * VMs: an {@link InstanceBackend} of the fake EC2 (`test/helpers/fake-aws/backend.ts`) boots each
 * instance; with `SshdInstanceBackend` every VM is a real sshd in its own network namespace that
 * presents the host key from the `user-data` metadata (cloud-init) and accepts the `ssh-keys` key.
 */
import {createPublicKey, randomBytes, verify as verifySignature} from 'node:crypto'
import http, {type IncomingMessage, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import {NoopInstanceBackend, type InstanceBackend} from '../fake-aws/backend.js'
import type {FakeInstance} from '../fake-aws/model.js'

export const FAKE_GCP_PROJECT = 'anycloud-fake'
export const FAKE_GCP_PROJECT_NUMBER = '123456789012'
const BASE = 'https://www.googleapis.com/compute/v1'

/** Regions and zones the fake knows (letters as GCE has them). */
export const FAKE_GCP_ZONES: Record<string, string[]> = {
  'us-central1': ['us-central1-a', 'us-central1-b', 'us-central1-c', 'us-central1-f'],
  'us-east1': ['us-east1-b', 'us-east1-c', 'us-east1-d'],
  'us-west1': ['us-west1-a', 'us-west1-b', 'us-west1-c'],
  'europe-west1': ['europe-west1-b', 'europe-west1-c', 'europe-west1-d'],
  'europe-west4': ['europe-west4-a', 'europe-west4-b', 'europe-west4-c'],
  'asia-east1': ['asia-east1-a', 'asia-east1-b', 'asia-east1-c'],
}

export interface FakeGceOperation {
  kind: 'compute#operation'
  id: string
  name: string
  operationType: string
  status: 'PENDING' | 'RUNNING' | 'DONE'
  progress: number
  targetLink: string
  targetId?: string
  zone?: string
  selfLink: string
  insertTime: string
  endTime?: string
  statusMessage?: string
  error?: {errors: Array<{code: string; message: string}>}
  httpErrorStatusCode?: number
  httpErrorMessage?: string
}

export interface FakeGceInstance {
  id: string
  name: string
  zone: string
  status: 'PROVISIONING' | 'STAGING' | 'RUNNING' | 'STOPPING' | 'TERMINATED'
  machineType: string
  labels: Record<string, string>
  tags: string[]
  metadata: Record<string, string>
  serviceAccounts: Array<{email: string; scopes: string[]}>
  scheduling: Record<string, unknown>
  guestAccelerators: Array<{acceleratorType: string; acceleratorCount: number}>
  disks: Array<Record<string, unknown>>
  natIP?: string
  networkInterfaces: Array<Record<string, unknown>>
  creationTimestamp: string
  requestId?: string
  /** What the backend reported (host, port, netns…). */
  backend?: Record<string, unknown>
  /** The raw body anycloud sent. */
  body: Record<string, unknown>
}

export interface FakeFirewall {
  id: string
  name: string
  network: string
  direction: string
  allowed: Array<{IPProtocol: string; ports?: string[]}>
  sourceRanges: string[]
  targetTags: string[]
  description?: string
  creationTimestamp: string
}

export interface FakeServiceAccount {
  name: string
  email: string
  uniqueId: string
  projectId: string
  displayName?: string
  description?: string
  etag: string
  oauth2ClientId: string
  createdAt: number
}

export interface FakeGcpRequest {
  method: string
  path: string
  query: Record<string, string>
  status: number
  auth: 'token' | 'jwt' | 'none' | 'bad'
  /** The principal (token label or SA email). */
  principal?: string
  lost?: boolean
  body?: unknown
}

export interface HttpFault {
  method?: string
  /** Matched against the path (no query). */
  path: RegExp
  status: number
  reason?: string
  message?: string
  count: number
  hits: number
}

export interface FakeGcpOptions {
  host?: string
  port?: number
  backend?: InstanceBackend
  /** Require a bearer token or signed JWT (default true). */
  requireAuth?: boolean
  /**
   * A GCS fake's URL (`test/helpers/storage/gcs-fake.ts`): storage paths (`/storage/v1/…`,
   * `/upload/storage/v1/…`, `/b…`) are proxied there, so one `apiEndpoint` serves GCE, IAM and GCS
   * as the credential's single endpoint does. Their auth is recorded, not enforced (rclone on an
   * emulator goes anonymous).
   */
  storage?: string
  /** `wait` answers RUNNING this many times before it lets an operation finish (default 0). */
  waitReturnsEarly?: number
  log?: (line: string) => void
}

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly reason: string, readonly statusText?: string) {
    super(message)
  }
}

function notFound(what: string): HttpError {
  return new HttpError(404, `The resource '${what}' was not found`, 'notFound')
}

/** Parses `labels.k = "v" AND (labels.k2 = "v2")` and `name = "x"`; other filters match all. */
export function parseFilter(filter: string | undefined): Array<{field: string; value: string}> {
  if (!filter) return []
  const out: Array<{field: string; value: string}> = []
  const re = /\(?\s*([\w.-]+)\s*(?:=|eq)\s*"?([^"()\s]*)"?\s*\)?/g
  for (const part of filter.split(/\s+AND\s+/i)) {
    re.lastIndex = 0
    const m = re.exec(part.trim())
    if (m) out.push({field: m[1]!, value: m[2]!})
  }
  return out
}

function fieldOf(obj: Record<string, unknown>, field: string): unknown {
  if (field.startsWith('labels.')) return (obj.labels as Record<string, string> | undefined)?.[field.slice(7)]
  return obj[field]
}

export class FakeGcp {
  readonly instances = new Map<string, FakeGceInstance>()
  readonly firewalls = new Map<string, FakeFirewall>()
  readonly operations = new Map<string, FakeGceOperation>()
  readonly serviceAccounts = new Map<string, FakeServiceAccount>()
  readonly requests: FakeGcpRequest[] = []
  /** requestId → operation name (GCE keeps them ≥ 60 min). */
  readonly requestIds = new Map<string, string>()
  /** Bearer tokens the fake accepts, with a label. */
  readonly accessTokens = new Map<string, string>()
  /** Public keys (PEM) of service-account keys the fake accepts as self-signed JWTs, by email. */
  readonly serviceAccountKeys = new Map<string, string>()
  readonly httpFaults: HttpFault[] = []
  private readonly lost: Array<{path: RegExp; method?: string; count: number}> = []
  private readonly stockouts = new Map<string, number>()
  private readonly quotaFaults: Array<{zonePrefix: string; metric: string; global: boolean; count: number}> = []
  /** SA GETs answered 404 right after create (IAM's eventual consistency), per email. */
  private readonly saPropagation = new Map<string, number>()
  /** Default number of such 404s for new SAs. */
  saPropagationReads = 0
  /** Operations that settle when their work (a VM boot or stop) finishes. */
  private readonly work = new Map<string, Promise<void>>()
  private readonly earlyWaits = new Map<string, number>()
  private seq = 1000
  private server!: http.Server
  readonly backend: InstanceBackend
  url = ''
  project = FAKE_GCP_PROJECT

  constructor(readonly options: FakeGcpOptions = {}) {
    this.backend = options.backend ?? new NoopInstanceBackend()
  }

  // ---------------------------------------------------------------------------------------------
  // Fault injection and scenario helpers

  readonly faults = {
    /** The next `count` matching requests answer `status` (default reason by status). */
    http: (o: {path: RegExp; method?: string; status: number; reason?: string; message?: string; count?: number}): HttpFault => {
      const f: HttpFault = {...o, count: o.count ?? 1, hits: 0}
      this.httpFaults.push(f)
      return f
    },
    /** The next `count` matching requests run, then the socket is destroyed before the answer. */
    loseResponse: (o: {path: RegExp; method?: string; count?: number}): void => {
      this.lost.push({...o, count: o.count ?? 1})
    },
    /** Inserts in `zone` end in ZONE_RESOURCE_POOL_EXHAUSTED (`count` times; default always). */
    stockout: (zone: string, count = Number.POSITIVE_INFINITY): void => {
      this.stockouts.set(zone, count)
    },
    /** Inserts in zones starting with `zonePrefix` end in QUOTA_EXCEEDED for `metric` (global: GPUS_ALL_REGIONS-like). */
    quota: (o: {zonePrefix: string; metric: string; global?: boolean; count?: number}): void => {
      this.quotaFaults.push({zonePrefix: o.zonePrefix, metric: o.metric, global: o.global ?? false, count: o.count ?? Number.POSITIVE_INFINITY})
    },
    clear: (): void => {
      this.httpFaults.length = 0
      this.lost.length = 0
      this.stockouts.clear()
      this.quotaFaults.length = 0
    },
  }

  /** Issues a bearer token the fake accepts. */
  issueToken(label = 'user'): string {
    const t = `ya29.fake-${randomBytes(12).toString('hex')}`
    this.accessTokens.set(t, label)
    return t
  }

  /** Trusts a service-account key (its JWTs authenticate). */
  trustKey(email: string, privateOrPublicPem: string): void {
    this.serviceAccountKeys.set(email, createPublicKey(privateOrPublicPem).export({type: 'spki', format: 'pem'}).toString())
  }

  calls(method: string, path: RegExp): FakeGcpRequest[] {
    return this.requests.filter((r) => r.method === method && path.test(r.path))
  }

  liveInstances(): FakeGceInstance[] {
    return [...this.instances.values()].filter((i) => i.status !== 'TERMINATED')
  }

  /** Spot preemption with termination action DELETE: the VM goes, an operation records why. */
  async preempt(name: string): Promise<FakeGceOperation> {
    const inst = [...this.instances.values()].find((i) => i.name === name)
    if (!inst) throw new Error(`no instance ${name}`)
    await this.backend.terminate(this.shim(inst)).catch(() => undefined)
    this.instances.delete(this.key(inst.zone, inst.name))
    const op = this.newOp('compute.instances.preempted', inst.zone, `zones/${inst.zone}/instances/${inst.name}`, inst.id)
    op.status = 'DONE'
    op.progress = 100
    op.statusMessage = 'Instance was preempted.'
    op.endTime = new Date().toISOString()
    return op
  }

  // ---------------------------------------------------------------------------------------------
  // Server

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res))
    await new Promise<void>((resolve) => this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', resolve))
    const a = this.server.address() as AddressInfo
    this.url = `http://${a.address}:${a.port}`
    return this
  }

  get port(): number {
    return Number(new URL(this.url).port)
  }

  async close(): Promise<void> {
    await Promise.all([...this.work.values()].map((w) => w.catch(() => undefined)))
    for (const inst of this.instances.values()) await this.backend.terminate(this.shim(inst)).catch(() => undefined)
    await this.backend.close?.()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  /** Forgets everything (VMs stopped). */
  async reset(): Promise<void> {
    await Promise.all([...this.work.values()].map((w) => w.catch(() => undefined)))
    for (const inst of this.instances.values()) await this.backend.terminate(this.shim(inst)).catch(() => undefined)
    this.instances.clear()
    this.firewalls.clear()
    this.operations.clear()
    this.serviceAccounts.clear()
    this.requestIds.clear()
    this.requests.length = 0
    this.faults.clear()
    this.saPropagation.clear()
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake')
    const query = Object.fromEntries(url.searchParams.entries())
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const method = req.method ?? 'GET'
    const path = url.pathname
    if (this.options.storage && !path.startsWith('/compute/') && !path.startsWith('/v1/') && !path.startsWith('/__fake/')) return this.proxy(req, res, Buffer.concat(chunks), method, path, query)
    const raw = Buffer.concat(chunks).toString('utf8')
    let body: Record<string, unknown> = {}
    if (raw) {
      try {
        body = JSON.parse(raw) as Record<string, unknown>
      } catch {
        return this.send(res, 400, {error: {code: 400, message: 'Invalid JSON payload received.', errors: [{reason: 'parseError', domain: 'global', message: 'parse error'}]}})
      }
    }
    if (path.startsWith('/__fake/')) return this.admin(method, path, body, res)
    const entry: FakeGcpRequest = {method, path, query, status: 0, auth: 'none', ...(raw ? {body} : {})}
    this.requests.push(entry)
    const iam = path.startsWith('/v1/')
    try {
      const who = this.authenticate(req.headers.authorization)
      entry.auth = who.kind
      if (who.principal) entry.principal = who.principal
      if (this.options.requireAuth !== false && (who.kind === 'none' || who.kind === 'bad')) {
        throw new HttpError(401, 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.', 'authError', 'UNAUTHENTICATED')
      }
      const fault = this.httpFaults.find((f) => f.count > 0 && f.path.test(path) && (!f.method || f.method === method))
      if (fault) {
        fault.count--
        fault.hits++
        throw new HttpError(fault.status, fault.message ?? `injected ${fault.status}`, fault.reason ?? (fault.status === 429 ? 'rateLimitExceeded' : fault.status === 503 ? 'backendError' : 'injected'))
      }
      const out = iam ? await this.iam(method, path, query, body) : await this.compute(method, path, query, body)
      const lose = this.lost.find((l) => l.count > 0 && l.path.test(path) && (!l.method || l.method === method))
      if (lose) {
        lose.count--
        entry.lost = true
        entry.status = 200
        req.socket.destroy()
        return
      }
      entry.status = 200
      this.send(res, 200, out)
    } catch (error) {
      if (!(error instanceof HttpError)) {
        entry.status = 500
        this.options.log?.(`fake-gcp: ${method} ${path}: ${(error as Error).stack ?? String(error)}`)
        return this.send(res, 500, {error: {code: 500, message: String((error as Error).message), errors: [{reason: 'backendError'}]}})
      }
      entry.status = error.status
      const status = error.statusText ?? ({400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 409: 'ALREADY_EXISTS', 429: 'RESOURCE_EXHAUSTED', 503: 'UNAVAILABLE'} as Record<number, string>)[error.status]
      const payload = iam
        ? {error: {code: error.status, message: error.message, status: status ?? 'UNKNOWN'}}
        : {error: {code: error.status, message: error.message, errors: [{message: error.message, domain: 'global', reason: error.reason}]}}
      this.send(res, error.status, payload)
    }
  }

  private proxy(req: IncomingMessage, res: ServerResponse, raw: Buffer, method: string, path: string, query: Record<string, string>): void {
    const who = this.authenticate(req.headers.authorization)
    const entry: FakeGcpRequest = {method, path, query, status: 0, auth: who.kind, ...(who.principal ? {principal: who.principal} : {})}
    this.requests.push(entry)
    const target = new URL(req.url ?? '/', this.options.storage)
    // The Host header is kept: the GCS fake builds selfLink/mediaLink from it, so downloads come back here.
    const headers = {...req.headers, 'content-length': String(raw.length)}
    delete headers['transfer-encoding']
    const up = http.request(target, {method, headers}, (r) => {
      entry.status = r.statusCode ?? 0
      res.writeHead(r.statusCode ?? 502, r.headers)
      r.pipe(res)
    })
    up.on('error', (e) => {
      entry.status = 502
      if (!res.headersSent) this.send(res, 502, {error: {code: 502, message: e.message}})
      else res.destroy()
    })
    up.end(raw)
  }

  /** Storage requests that reached the GCS fake through this server, with how they authenticated. */
  storageCalls(): FakeGcpRequest[] {
    return this.requests.filter((r) => !r.path.startsWith('/compute/') && !r.path.startsWith('/v1/'))
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body)
    res.writeHead(status, {'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text)})
    res.end(text)
  }

  private authenticate(header: string | undefined): {kind: FakeGcpRequest['auth']; principal?: string} {
    const m = /^Bearer\s+(\S+)$/i.exec(header ?? '')
    if (!m) return {kind: 'none'}
    const token = m[1]!
    const label = this.accessTokens.get(token)
    if (label) return {kind: 'token', principal: label}
    const parts = token.split('.')
    if (parts.length === 3) {
      try {
        const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as {iss?: string; exp?: number}
        const pem = payload.iss ? this.serviceAccountKeys.get(payload.iss) : undefined
        if (pem && (payload.exp ?? 0) * 1000 > Date.now()) {
          const ok = verifySignature('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), pem, Buffer.from(parts[2]!, 'base64url'))
          if (ok) return {kind: 'jwt', principal: payload.iss}
        }
      } catch {
        // not a JWT
      }
    }
    return {kind: 'bad'}
  }

  private async admin(method: string, path: string, body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    try {
      switch (path) {
        case '/__fake/state':
          return this.send(res, 200, {
            instances: [...this.instances.values()].map(({body: _b, ...i}) => i),
            firewalls: [...this.firewalls.values()],
            serviceAccounts: [...this.serviceAccounts.values()],
            operations: [...this.operations.values()],
          })
        case '/__fake/requests':
          return this.send(res, 200, this.requests)
        case '/__fake/preempt':
          return this.send(res, 200, await this.preempt(String(body.name)))
        case '/__fake/stockout':
          this.faults.stockout(String(body.zone), body.count === undefined ? undefined : Number(body.count))
          return this.send(res, 200, {ok: true})
        case '/__fake/token':
          return this.send(res, 200, {token: this.issueToken(String(body.label ?? 'admin'))})
        case '/__fake/reset':
          await this.reset()
          return this.send(res, 200, {ok: true})
        default:
          return this.send(res, 404, {error: `unknown admin path ${method} ${path}`})
      }
    } catch (error) {
      this.send(res, 400, {error: (error as Error).message})
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Compute

  private key(zone: string, name: string): string {
    return `${zone}/${name}`
  }

  private nextId(): string {
    // 64-bit ids, as strings (JSON numbers would lose precision).
    return `${BigInt(1_000_000_000_000_000) + BigInt(this.seq++) * 7919n}`
  }

  private newOp(type: string, zone: string | undefined, target: string, targetId?: string): FakeGceOperation {
    const name = `operation-${Date.now()}-${randomBytes(6).toString('hex')}`
    const scope = zone ? `projects/${this.project}/zones/${zone}` : `projects/${this.project}/global`
    const op: FakeGceOperation = {
      kind: 'compute#operation',
      id: this.nextId(),
      name,
      operationType: type,
      status: 'RUNNING',
      progress: 0,
      targetLink: `${BASE}/projects/${this.project}/${target}`,
      ...(targetId ? {targetId} : {}),
      ...(zone ? {zone: `${BASE}/projects/${this.project}/zones/${zone}`} : {}),
      selfLink: `${BASE}/${scope}/operations/${name}`,
      insertTime: new Date().toISOString(),
    }
    this.operations.set(name, op)
    return op
  }

  private finish(op: FakeGceOperation, error?: {code: string; message: string; http?: number}): void {
    op.status = 'DONE'
    op.progress = 100
    op.endTime = new Date().toISOString()
    if (error) {
      op.error = {errors: [{code: error.code, message: error.message}]}
      op.httpErrorStatusCode = error.http ?? 400
      op.httpErrorMessage = error.http === 503 ? 'SERVICE UNAVAILABLE' : error.http === 403 ? 'FORBIDDEN' : 'BAD REQUEST'
    }
  }

  private regionOf(zone: string): string {
    return zone.replace(/-[a-z]$/, '')
  }

  private zoneKnown(zone: string): boolean {
    return Object.values(FAKE_GCP_ZONES).some((zs) => zs.includes(zone))
  }

  /** What the sshd backend needs from an instance (it was written for the fake EC2). */
  private shim(inst: FakeGceInstance): FakeInstance {
    const sshKeys = (inst.metadata['ssh-keys'] ?? '').split('\n').map((l) => l.replace(/^[^:\s]+:/, '').trim()).filter(Boolean)
    return {instanceId: this.key(inst.zone, inst.name), keyPairPublicKey: sshKeys[0], tags: inst.labels} as unknown as FakeInstance
  }

  private instanceJson(inst: FakeGceInstance): Record<string, unknown> {
    return {
      kind: 'compute#instance',
      id: inst.id,
      name: inst.name,
      creationTimestamp: inst.creationTimestamp,
      zone: `${BASE}/projects/${this.project}/zones/${inst.zone}`,
      machineType: `${BASE}/projects/${this.project}/zones/${inst.zone}/machineTypes/${inst.machineType}`,
      status: inst.status,
      labels: inst.labels,
      tags: {items: inst.tags, fingerprint: 'tfp'},
      metadata: {kind: 'compute#metadata', fingerprint: 'mfp', items: Object.entries(inst.metadata).map(([key, value]) => ({key, value}))},
      serviceAccounts: inst.serviceAccounts,
      scheduling: inst.scheduling,
      guestAccelerators: inst.guestAccelerators,
      disks: inst.disks,
      networkInterfaces: inst.networkInterfaces.map((n) => ({
        ...n,
        networkIP: '10.128.0.2',
        accessConfigs: ((n.accessConfigs as Array<Record<string, unknown>> | undefined) ?? []).map((a) => ({...a, ...(inst.natIP ? {natIP: inst.natIP} : {})})),
      })),
      selfLink: `${BASE}/projects/${this.project}/zones/${inst.zone}/instances/${inst.name}`,
    }
  }

  private async compute(method: string, path: string, query: Record<string, string>, body: Record<string, unknown>): Promise<unknown> {
    const s = path.split('/').filter(Boolean).map(decodeURIComponent)
    // compute v1 projects P …
    if (s[0] !== 'compute' || s[1] !== 'v1' || s[2] !== 'projects') throw notFound(path)
    const project = s[3]!
    const rest = s.slice(4)
    if (project === 'ubuntu-os-cloud' || project === 'ubuntu-os-accelerator-images') {
      if (rest[0] === 'global' && rest[1] === 'images' && rest[2] === 'family' && method === 'GET') {
        const family = rest[3]!
        if (!/^ubuntu-(accelerator-)?\d{4}/.test(family)) throw notFound(`projects/${project}/global/images/family/${family}`)
        const name = `${family.replace(/-amd64$/, '')}-v20260101`
        return {kind: 'compute#image', id: '4242', name, family, status: 'READY', diskSizeGb: '10', selfLink: `${BASE}/projects/${project}/global/images/${name}`}
      }
      throw notFound(path)
    }
    if (project !== this.project) throw new HttpError(403, `Project ${project} not found or permission denied`, 'forbidden')
    if (rest[0] === 'regions' && rest[1] && rest.length === 2 && method === 'GET') {
      const zones = FAKE_GCP_ZONES[rest[1]]
      if (!zones) throw notFound(`projects/${project}/regions/${rest[1]}`)
      return {kind: 'compute#region', name: rest[1], status: 'UP', zones: zones.map((z) => `${BASE}/projects/${project}/zones/${z}`), quotas: []}
    }
    if (rest[0] === 'aggregated' && rest[1] === 'instances' && method === 'GET') {
      const filters = parseFilter(query.filter)
      const items: Record<string, unknown> = {}
      for (const zones of Object.values(FAKE_GCP_ZONES)) {
        for (const z of zones) {
          const found = [...this.instances.values()].filter((i) => i.zone === z && filters.every((f) => String(fieldOf({...i}, f.field)) === f.value))
          items[`zones/${z}`] = found.length
            ? {instances: found.map((i) => this.instanceJson(i))}
            : {warning: {code: 'NO_RESULTS_ON_PAGE', message: 'There are no results for scope', data: [{key: 'scope', value: `zones/${z}`}]}}
        }
      }
      return {kind: 'compute#instanceAggregatedList', items, unreachables: []}
    }
    if (rest[0] === 'global') return this.global(method, rest.slice(1), query, body)
    if (rest[0] === 'zones' && rest[1]) {
      const zone = rest[1]
      if (!this.zoneKnown(zone)) throw new HttpError(400, `Invalid value for field 'zone': '${zone}'. Unknown zone.`, 'invalid')
      const r = rest.slice(2)
      if (r[0] === 'operations') return this.zoneOps(method, zone, r.slice(1), query)
      if (r[0] === 'instances') return this.instancesApi(method, zone, r.slice(1), query, body)
    }
    throw notFound(path)
  }

  private async waitOp(op: FakeGceOperation): Promise<FakeGceOperation> {
    const early = this.earlyWaits.get(op.name) ?? this.options.waitReturnsEarly ?? 0
    if (op.status !== 'DONE' && early > 0) {
      this.earlyWaits.set(op.name, early - 1)
      return op
    }
    const w = this.work.get(op.name)
    if (w) await Promise.race([w.catch(() => undefined), new Promise((r) => setTimeout(r, 30_000).unref())])
    return op
  }

  private async zoneOps(method: string, zone: string, r: string[], query: Record<string, string>): Promise<unknown> {
    if (r.length === 0 && method === 'GET') {
      const filters = parseFilter(query.filter)
      const items = [...this.operations.values()].filter((o) => o.zone?.endsWith(`/zones/${zone}`) && filters.every((f) => String((o as unknown as Record<string, unknown>)[f.field]) === f.value))
      return {kind: 'compute#operationList', items}
    }
    const op = this.operations.get(r[0] ?? '')
    if (!op || !op.zone?.endsWith(`/zones/${zone}`)) throw notFound(`projects/${this.project}/zones/${zone}/operations/${r[0]}`)
    if (r[1] === 'wait' && method === 'POST') return this.waitOp(op)
    if (r.length === 1 && method === 'GET') return op
    throw notFound(r.join('/'))
  }

  private async global(method: string, r: string[], query: Record<string, string>, body: Record<string, unknown>): Promise<unknown> {
    if (r[0] === 'operations' && r[1]) {
      const op = this.operations.get(r[1])
      if (!op || op.zone) throw notFound(`projects/${this.project}/global/operations/${r[1]}`)
      if (r[2] === 'wait' && method === 'POST') return this.waitOp(op)
      if (r.length === 2 && method === 'GET') return op
    }
    if (r[0] === 'firewalls') {
      if (r.length === 1 && method === 'GET') return {kind: 'compute#firewallList', items: [...this.firewalls.values()]}
      if (r.length === 1 && method === 'POST') {
        if (query.requestId && this.requestIds.has(query.requestId)) return this.operations.get(this.requestIds.get(query.requestId)!)
        const name = String(body.name ?? '')
        if (!/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)) throw new HttpError(400, `Invalid value for field 'resource.name': '${name}'.`, 'invalid')
        if (this.firewalls.has(name)) throw new HttpError(409, `The resource 'projects/${this.project}/global/firewalls/${name}' already exists`, 'alreadyExists')
        const fw: FakeFirewall = {
          id: this.nextId(),
          name,
          network: String(body.network ?? 'global/networks/default'),
          direction: String(body.direction ?? 'INGRESS'),
          allowed: (body.allowed as FakeFirewall['allowed']) ?? [],
          sourceRanges: (body.sourceRanges as string[]) ?? [],
          targetTags: (body.targetTags as string[]) ?? [],
          ...(typeof body.description === 'string' ? {description: body.description} : {}),
          creationTimestamp: new Date().toISOString(),
        }
        this.firewalls.set(name, fw)
        const op = this.newOp('insert', undefined, `global/firewalls/${name}`, fw.id)
        this.finish(op)
        if (query.requestId) this.requestIds.set(query.requestId, op.name)
        return op
      }
      const name = r[1]!
      const fw = this.firewalls.get(name)
      if (r.length === 2 && method === 'GET') {
        if (!fw) throw notFound(`projects/${this.project}/global/firewalls/${name}`)
        return {kind: 'compute#firewall', ...fw, selfLink: `${BASE}/projects/${this.project}/global/firewalls/${name}`}
      }
      if (r.length === 2 && method === 'DELETE') {
        if (query.requestId && this.requestIds.has(query.requestId)) return this.operations.get(this.requestIds.get(query.requestId)!)
        if (!fw) throw notFound(`projects/${this.project}/global/firewalls/${name}`)
        this.firewalls.delete(name)
        const op = this.newOp('delete', undefined, `global/firewalls/${name}`, fw.id)
        this.finish(op)
        if (query.requestId) this.requestIds.set(query.requestId, op.name)
        return op
      }
    }
    throw notFound(`global/${r.join('/')}`)
  }

  private async instancesApi(method: string, zone: string, r: string[], query: Record<string, string>, body: Record<string, unknown>): Promise<unknown> {
    if (r.length === 0 && method === 'GET') {
      const filters = parseFilter(query.filter)
      return {kind: 'compute#instanceList', items: [...this.instances.values()].filter((i) => i.zone === zone && filters.every((f) => String(fieldOf({...i}, f.field)) === f.value)).map((i) => this.instanceJson(i))}
    }
    if (r.length === 0 && method === 'POST') return this.insert(zone, query, body)
    const name = r[0]!
    const inst = this.instances.get(this.key(zone, name))
    if (r.length === 1 && method === 'GET') {
      if (!inst) throw notFound(`projects/${this.project}/zones/${zone}/instances/${name}`)
      return this.instanceJson(inst)
    }
    if (r.length === 1 && method === 'DELETE') {
      if (query.requestId && this.requestIds.has(query.requestId)) return this.operations.get(this.requestIds.get(query.requestId)!)
      if (!inst) throw notFound(`projects/${this.project}/zones/${zone}/instances/${name}`)
      const op = this.newOp('delete', zone, `zones/${zone}/instances/${name}`, inst.id)
      if (query.requestId) this.requestIds.set(query.requestId, op.name)
      inst.status = 'STOPPING'
      const work = (async () => {
        await this.backend.terminate(this.shim(inst)).catch(() => undefined)
        this.instances.delete(this.key(zone, name))
        this.finish(op)
      })()
      this.track(op, work)
      return op
    }
    throw notFound(`zones/${zone}/instances/${r.join('/')}`)
  }

  private track(op: FakeGceOperation, work: Promise<void>): void {
    this.work.set(op.name, work)
    void work.finally(() => this.work.delete(op.name)).catch(() => undefined)
  }

  private async insert(zone: string, query: Record<string, string>, body: Record<string, unknown>): Promise<unknown> {
    const requestId = query.requestId
    if (requestId) {
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(requestId) || /^[0-]+$/.test(requestId)) {
        throw new HttpError(400, `Invalid value for field 'requestId': '${requestId}'. The request ID must be a valid UUID with the exception that zero UUID is not supported.`, 'invalid')
      }
      const prior = this.requestIds.get(requestId)
      if (prior) return this.operations.get(prior)
    }
    const name = String(body.name ?? '')
    if (!/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)) throw new HttpError(400, `Invalid value for field 'resource.name': '${name}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'`, 'invalid')
    const mt = /(?:^|\/)zones\/([^/]+)\/machineTypes\/([^/]+)$/.exec(String(body.machineType ?? ''))
    if (!mt || mt[1] !== zone) throw new HttpError(400, `Invalid value for field 'resource.machineType': '${String(body.machineType)}'.`, 'invalid')
    const labels = (body.labels as Record<string, string>) ?? {}
    for (const [k, v] of Object.entries(labels)) {
      if (!/^[a-z][a-z0-9_-]{0,62}$/.test(k) || !/^[a-z0-9_-]{0,63}$/.test(v)) throw new HttpError(400, `Invalid value for field 'resource.labels': '${k}=${v}'.`, 'invalid')
    }
    const scheduling = (body.scheduling as Record<string, unknown>) ?? {}
    if (scheduling.provisioningModel === 'SPOT' && (scheduling.onHostMaintenance === 'MIGRATE' || scheduling.automaticRestart === true)) {
      throw new HttpError(400, 'Invalid value for field \'resource.scheduling\': Spot VMs must have onHostMaintenance TERMINATE and automaticRestart false.', 'invalid')
    }
    const accels = (body.guestAccelerators as FakeGceInstance['guestAccelerators']) ?? []
    if ((accels.length > 0 || /^(a2|a3|g2)-/.test(mt[2]!)) && scheduling.onHostMaintenance !== 'TERMINATE') {
      throw new HttpError(400, 'Instances with guest accelerators do not support live migration.', 'invalid')
    }
    const sas = (body.serviceAccounts as FakeGceInstance['serviceAccounts']) ?? []
    for (const sa of sas) {
      if (sa.email === 'default') continue
      const known = this.serviceAccounts.get(sa.email)
      if (!known || (this.saPropagation.get(sa.email) ?? 0) > 0) {
        throw new HttpError(400, `The resource 'projects/${this.project}/serviceAccounts/${sa.email}' was not found`, 'notFound')
      }
    }
    if (this.instances.has(this.key(zone, name))) throw new HttpError(409, `The resource 'projects/${this.project}/zones/${zone}/instances/${name}' already exists`, 'alreadyExists')
    const metadata = Object.fromEntries(((body.metadata as {items?: Array<{key: string; value: string}>})?.items ?? []).map((i) => [i.key, i.value]))
    const op = this.newOp('insert', zone, `zones/${zone}/instances/${name}`)
    if (requestId) this.requestIds.set(requestId, op.name)
    // Errors GCE reports through the Operation, with HTTP 200.
    const stock = this.stockouts.get(zone) ?? 0
    if (stock > 0) {
      this.stockouts.set(zone, stock - 1)
      this.finish(op, {code: 'ZONE_RESOURCE_POOL_EXHAUSTED', message: `The zone 'projects/${this.project}/zones/${zone}' does not have enough resources available to fulfill the request. Try a different zone, or try again later.`, http: 503})
      return op
    }
    const quota = this.quotaFaults.find((q) => q.count > 0 && zone.startsWith(q.zonePrefix))
    if (quota) {
      quota.count--
      const msg = quota.global ? `Quota '${quota.metric}' exceeded. Limit: 0.0 globally.` : `Quota '${quota.metric}' exceeded. Limit: 0.0 in region ${this.regionOf(zone)}.`
      this.finish(op, {code: 'QUOTA_EXCEEDED', message: msg, http: 403})
      return op
    }
    const inst: FakeGceInstance = {
      id: this.nextId(),
      name,
      zone,
      status: 'PROVISIONING',
      machineType: mt[2]!,
      labels,
      tags: ((body.tags as {items?: string[]})?.items ?? []).slice(),
      metadata,
      serviceAccounts: sas,
      scheduling,
      guestAccelerators: accels,
      disks: (body.disks as Array<Record<string, unknown>>) ?? [],
      networkInterfaces: (body.networkInterfaces as Array<Record<string, unknown>>) ?? [],
      creationTimestamp: new Date().toISOString(),
      ...(requestId ? {requestId} : {}),
      body,
    }
    op.targetId = inst.id
    this.instances.set(this.key(zone, name), inst)
    const wantsIp = inst.networkInterfaces.some((n) => ((n.accessConfigs as unknown[]) ?? []).length > 0)
    const work = (async () => {
      try {
        const launched = await this.backend.launch(this.shim(inst), metadata['user-data'] ?? '')
        if (this.instances.get(this.key(zone, name)) !== inst) return
        if (wantsIp && launched.publicIpAddress) inst.natIP = launched.publicIpAddress
        if (launched.details) inst.backend = launched.details
        inst.status = 'RUNNING'
        this.finish(op)
      } catch (error) {
        this.instances.delete(this.key(zone, name))
        this.finish(op, {code: 'INTERNAL_ERROR', message: `the fake could not boot the VM: ${(error as Error).message}`, http: 500})
      }
    })()
    this.track(op, work)
    return op
  }

  // ---------------------------------------------------------------------------------------------
  // IAM

  private async iam(method: string, path: string, query: Record<string, string>, body: Record<string, unknown>): Promise<unknown> {
    const s = path.split('/').filter(Boolean).map(decodeURIComponent)
    // v1 projects P serviceAccounts [EMAIL]
    if (s[1] !== 'projects' || s[3] !== 'serviceAccounts') throw new HttpError(404, `Unknown path ${path}`, 'notFound', 'NOT_FOUND')
    const project = s[2]!
    if (project !== this.project && project !== '-') throw new HttpError(403, `Permission denied on resource project ${project}.`, 'forbidden', 'PERMISSION_DENIED')
    if (s.length === 4 && method === 'POST') {
      const accountId = String(body.accountId ?? '')
      if (!/^[a-z]([-a-z0-9]{4,28}[a-z0-9])$/.test(accountId)) {
        throw new HttpError(400, `Invalid account ID '${accountId}'. It must be 6 to 30 lowercase letters, digits or hyphens, starting with a letter.`, 'invalid', 'INVALID_ARGUMENT')
      }
      const email = `${accountId}@${this.project}.iam.gserviceaccount.com`
      if (this.serviceAccounts.has(email)) throw new HttpError(409, `Service account ${accountId} already exists within project projects/${this.project}.`, 'alreadyExists', 'ALREADY_EXISTS')
      if (this.serviceAccounts.size >= 100) throw new HttpError(429, 'Maximum number of service accounts on project reached.', 'quotaExceeded', 'RESOURCE_EXHAUSTED')
      const sa = body.serviceAccount as {displayName?: string; description?: string} | undefined
      const acct: FakeServiceAccount = {
        name: `projects/${this.project}/serviceAccounts/${email}`,
        email,
        uniqueId: this.nextId(),
        projectId: this.project,
        ...(sa?.displayName ? {displayName: sa.displayName} : {}),
        ...(sa?.description ? {description: sa.description} : {}),
        etag: Buffer.from(randomBytes(6)).toString('base64'),
        oauth2ClientId: this.nextId(),
        createdAt: Date.now(),
      }
      this.serviceAccounts.set(email, acct)
      if (this.saPropagationReads > 0) this.saPropagation.set(email, this.saPropagationReads)
      const {createdAt: _c, ...json} = acct
      return json
    }
    if (s.length === 4 && method === 'GET') {
      return {accounts: [...this.serviceAccounts.values()].map(({createdAt: _c, ...a}) => a)}
    }
    const email = s[4]!
    const acct = [...this.serviceAccounts.values()].find((a) => a.email === email || a.uniqueId === email)
    const missing = () => new HttpError(404, `Unknown service account ${email}`, 'notFound', 'NOT_FOUND')
    if (s.length === 5 && method === 'GET') {
      const pending = acct ? this.saPropagation.get(acct.email) ?? 0 : 0
      if (acct && pending > 0) {
        this.saPropagation.set(acct.email, pending - 1)
        throw missing()
      }
      if (!acct) throw missing()
      const {createdAt: _c, ...json} = acct
      return json
    }
    if (s.length === 5 && method === 'DELETE') {
      if (!acct) throw missing()
      this.serviceAccounts.delete(acct.email)
      this.saPropagation.delete(acct.email)
      return {}
    }
    throw new HttpError(404, `Unknown path ${path}`, 'notFound', 'NOT_FOUND')
  }
}

/** Starts the fake on loopback. */
export async function startFakeGcp(options: FakeGcpOptions = {}): Promise<FakeGcp> {
  return new FakeGcp(options).start()
}
