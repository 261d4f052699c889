/**
 * A fake of Azure Resource Manager (and the Entra login endpoint) at the HTTP level, for driving
 * the real `@azure/arm-*` and `@azure/identity` clients. One HTTPS server on 127.0.0.1 with a
 * self-signed certificate made at start (`fake.ca`, `fake.caFile`): bearer tokens are only sent
 * over TLS, and anycloud always sends its credential, also to a custom endpoint.
 *
 * Login: `GET /{tenant}/v2.0/.well-known/openid-configuration` and `POST /{tenant}/oauth2/v2.0/token`
 * (client credentials). A client id with a registered secret must present it (else 401
 * `invalid_client`, AADSTS7000215); every other client id is accepted. ARM calls must carry a token
 * the fake issued (else 401 `InvalidAuthenticationToken`).
 *
 * ARM: resource groups, storage accounts (create is a 202 + `Location` long-running operation;
 * `primaryEndpoints.blob` is the azurite endpoint when one is given, and containers made through
 * ARM are made in azurite too), blob containers, virtual networks, network security groups, public
 * IPs, NICs (201 + `Azure-AsyncOperation`), user-assigned identities, role assignments (any scope;
 * `RoleAssignmentExists` for the same principal, role and scope under another name), VMs (201 +
 * `Azure-AsyncOperation`; the backend boots them; `deleteOption: Delete` cascades the OS disk, the
 * NIC and its public IP), generic `resources` listing by resource group. Wire JSON has the
 * `properties` envelope; paths and names are case-insensitive; `//` collapses.
 *
 * Faults (`fake.faults`): an error on matching requests (status, code, message, Retry-After,
 * count), an LRO that fails with a code, a lost response (the request is processed, the socket
 * destroyed), `PrincipalNotFound` N times. `fake.evict(vmName)` evicts a spot VM (policy Delete:
 * the VM and its OS disk go, NIC and IP stay).
 */
import {execFileSync} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import type {IncomingMessage, ServerResponse} from 'node:http'
import {createServer, type Server} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {NoopVmBackend, type AzureVmBackend} from './vm-backend.js'

export const FAKE_SUBSCRIPTION_ID = '00000000-1111-2222-3333-444444444444'
export const FAKE_TENANT_ID = '99999999-8888-7777-6666-555555555555'
export const STORAGE_BLOB_DATA_CONTRIBUTOR = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

export interface FakeAzureBlob {
  /** Azurite's service URL, `http://127.0.0.1:PORT/devstoreaccount1`. */
  endpoint: string
  accountName: string
  accountKey: string
}

export interface FakeAzureOptions {
  port?: number
  subscriptionId?: string
  tenantId?: string
  /** The blob data plane behind every storage account (azurite). */
  blob?: FakeAzureBlob
  backend?: AzureVmBackend
  /** `InProgress` answers of an operation before its final status (default 1). */
  lroPolls?: number
  /** Service principals whose secret is checked: clientId → secret. */
  clients?: Record<string, string>
  /** Storage account names taken by somebody else in Azure (global namespace). */
  takenAccountNames?: string[]
  log?: (line: string) => void
}

export interface FaultSpec {
  method?: string
  /** Matched against the lower-cased path (no query). */
  path?: RegExp
  status?: number
  code?: string
  message?: string
  retryAfterSeconds?: number
  count?: number
  /** Fail the long-running operation of the matching PUT instead of the request. */
  lro?: boolean
  /** Process the request, then destroy the socket before answering. */
  lose?: boolean
}

export interface FaultHandle {
  hits: number
  remaining: number
  clear(): void
}

interface Fault extends FaultSpec {
  handle: FaultHandle
}

export interface ArmResource {
  id: string
  name: string
  type: string
  location?: string
  tags?: Record<string, string>
  properties: Record<string, any>
  [k: string]: unknown
}

interface Operation {
  id: string
  polls: number
  status: 'InProgress' | 'Succeeded' | 'Failed'
  error?: {code: string; message: string}
  /** Resource the op finishes (PUT) or deletes (DELETE). */
  resourceId?: string
  kind: 'async' | 'location'
  work?: Promise<void>
  result?: ArmResource
}

export interface RequestLogEntry {
  method: string
  path: string
  status: number
  code?: string
  lost?: boolean
  auth: boolean
}

class ArmError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message)
  }
}

const norm = (s: string) => s.toLowerCase().replace(/\/+/g, '/').replace(/\/$/, '')

function guidish(): string {
  return randomUUID()
}

/** Types whose PUT/DELETE is a 201/202 + Azure-AsyncOperation operation. */
const ASYNC_TYPES = new Set([
  'microsoft.network/virtualnetworks',
  'microsoft.network/networksecuritygroups',
  'microsoft.network/publicipaddresses',
  'microsoft.network/networkinterfaces',
  'microsoft.compute/virtualmachines',
])

export class FakeAzure {
  readonly subscriptionId: string
  readonly tenantId: string
  url = ''
  port = 0
  ca = ''
  caFile = ''
  readonly resources = new Map<string, ArmResource>()
  readonly groups = new Map<string, ArmResource>()
  readonly roleAssignments = new Map<string, ArmResource>()
  readonly operations = new Map<string, Operation>()
  readonly requests: RequestLogEntry[] = []
  readonly tokens = new Set<string>()
  readonly takenAccountNames: Set<string>
  /** VM id → the address its public IP gets, and what booted. */
  readonly vmBoots = new Map<string, {address: string; details: Record<string, unknown>}>()
  /** Eviction records: VM id → reason. */
  readonly evictions = new Map<string, string>()
  lroPolls: number
  private faultList: Fault[] = []
  private server!: Server
  private dir = ''
  private readonly backend: AzureVmBackend
  private readonly clients: Record<string, string>

  constructor(private readonly options: FakeAzureOptions = {}) {
    this.subscriptionId = options.subscriptionId ?? FAKE_SUBSCRIPTION_ID
    this.tenantId = options.tenantId ?? FAKE_TENANT_ID
    this.backend = options.backend ?? new NoopVmBackend()
    this.clients = {...(options.clients ?? {})}
    this.lroPolls = options.lroPolls ?? 1
    this.takenAccountNames = new Set((options.takenAccountNames ?? []).map((n) => n.toLowerCase()))
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  async start(): Promise<this> {
    this.dir = mkdtempSync(join(tmpdir(), 'fake-azure-'))
    const key = join(this.dir, 'key.pem')
    this.caFile = join(this.dir, 'cert.pem')
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', this.caFile, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], {stdio: 'ignore'})
    this.ca = readFileSync(this.caFile, 'utf8')
    this.server = createServer({key: readFileSync(key), cert: this.ca}, (req, res) => void this.handle(req, res))
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.options.port ?? 0, '127.0.0.1', () => resolve())
    })
    this.port = (this.server.address() as {port: number}).port
    this.url = `https://127.0.0.1:${this.port}`
    return this
  }

  async close(): Promise<void> {
    await this.backend.close().catch(() => undefined)
    await new Promise<void>((resolve) => {
      this.server.closeAllConnections?.()
      this.server.close(() => resolve())
    })
    if (this.dir) rmSync(this.dir, {recursive: true, force: true})
  }

  /** Forgets every resource and fault (VMs are stopped). */
  async reset(): Promise<void> {
    for (const id of [...this.resources.keys()]) if (this.resources.get(id)!.type.toLowerCase() === 'microsoft.compute/virtualmachines') await this.backend.stop(id)
    this.resources.clear()
    this.groups.clear()
    this.roleAssignments.clear()
    this.operations.clear()
    this.requests.length = 0
    this.vmBoots.clear()
    this.evictions.clear()
    this.faultList = []
  }

  /** Registers a service principal whose secret the login endpoint checks. */
  addClient(clientId: string, secret: string): void {
    this.clients[clientId] = secret
  }

  // ---- faults --------------------------------------------------------------------------------

  readonly faults = {
    add: (spec: FaultSpec): FaultHandle => {
      const handle: FaultHandle = {hits: 0, remaining: spec.count ?? 1, clear: () => (this.faultList = this.faultList.filter((f) => f.handle !== handle))}
      this.faultList.push({...spec, handle})
      return handle
    },
    /** 429 TooManyRequests with Retry-After. */
    throttle: (path: RegExp, count = 1, retryAfterSeconds = 0, method?: string): FaultHandle =>
      this.faults.add({path, method, status: 429, code: 'TooManyRequests', message: 'The request is being throttled.', retryAfterSeconds, count}),
    /** `PrincipalNotFound` on the next `count` role assignment PUTs. */
    principalNotFound: (count: number): FaultHandle =>
      this.faults.add({method: 'PUT', path: /\/providers\/microsoft\.authorization\/roleassignments\//, status: 400, code: 'PrincipalNotFound', message: 'Principal 00000000000000000000000000000000 does not exist in the directory ' + this.tenantId + '. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay.', count}),
    /** The VM create's operation fails with AllocationFailed. */
    allocationFailed: (count = 1): FaultHandle =>
      this.faults.add({method: 'PUT', path: /\/virtualmachines\/[^/]+$/, lro: true, code: 'AllocationFailed', message: 'Allocation failed. We do not have sufficient capacity for the requested VM size in this region.', count}),
    skuNotAvailable: (count = 1): FaultHandle =>
      this.faults.add({method: 'PUT', path: /\/virtualmachines\/[^/]+$/, status: 409, code: 'SkuNotAvailable', message: "The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions' is currently not available in location. Please try another size or deploy to a different location or zones.", count}),
    quota: (count = 1): FaultHandle =>
      this.faults.add({method: 'PUT', path: /\/virtualmachines\/[^/]+$/, status: 409, code: 'OperationNotAllowed', message: 'Operation could not be completed as it results in exceeding approved LowPriorityCores quota. Current Limit: 0, Current Usage: 0, Additional Required: 4.', count}),
    /** The request is processed, then its connection dropped (the client retries by name). */
    loseResponse: (path: RegExp, method = 'PUT', count = 1): FaultHandle => this.faults.add({path, method, lose: true, count}),
  }

  private takeFault(method: string, path: string, lro: boolean): Fault | undefined {
    const f = this.faultList.find((x) => x.handle.remaining > 0 && Boolean(x.lro) === lro && (!x.method || x.method === method) && (!x.path || x.path.test(path)))
    if (f) {
      f.handle.remaining--
      f.handle.hits++
    }
    return f
  }

  // ---- inspection ----------------------------------------------------------------------------

  /** Live resources (not groups, not role assignments) of a type, e.g. `Microsoft.Compute/virtualMachines`. */
  ofType(type: string): ArmResource[] {
    return [...this.resources.values()].filter((r) => r.type.toLowerCase() === type.toLowerCase())
  }

  /** Everything the fake holds: resources, groups and role assignments. */
  all(): ArmResource[] {
    return [...this.groups.values(), ...this.resources.values(), ...this.roleAssignments.values()]
  }

  vm(name: string): ArmResource | undefined {
    return this.ofType('Microsoft.Compute/virtualMachines').find((r) => r.name.toLowerCase() === name.toLowerCase())
  }

  calls(method: string, pattern: RegExp): RequestLogEntry[] {
    return this.requests.filter((r) => r.method === method && pattern.test(r.path))
  }

  /** The spot VM is evicted (policy Delete): it and its OS disk are deleted; NIC and IP stay. */
  async evict(vmName: string): Promise<void> {
    const vm = this.vm(vmName)
    if (!vm) throw new Error(`no VM ${vmName}`)
    const id = norm(vm.id)
    this.evictions.set(id, 'Preempt')
    await this.deleteVm(id, false)
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const raw = Buffer.concat(chunks).toString('utf8')
    const u = new URL(req.url ?? '/', this.url)
    const path = norm(u.pathname)
    const method = req.method ?? 'GET'
    const entry: RequestLogEntry = {method, path, status: 0, auth: false}
    this.requests.push(entry)
    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      entry.status = status
      if (fault?.lose) {
        entry.lost = true
        req.socket.destroy()
        return
      }
      res.writeHead(status, {'content-type': 'application/json', 'x-ms-request-id': guidish(), ...headers})
      res.end(body === undefined ? '' : JSON.stringify(body))
    }
    let fault: Fault | undefined
    try {
      if (path.startsWith('/__fake')) return send(200, this.admin(path, method, raw))
      // Login (Entra) endpoints.
      const oidc = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path)
      if (oidc) return send(200, this.openid(u.pathname.split('/')[1]!))
      if (/^\/[^/]+\/oauth2\/v2\.0\/token$/.test(path) && method === 'POST') {
        const r = this.token(new URLSearchParams(raw))
        return send(r.status, r.body)
      }
      if (path.startsWith('/__ops/')) return this.poll(path.slice('/__ops/'.length), send)
      const auth = req.headers.authorization ?? ''
      const token = /^Bearer (.+)$/.exec(auth)?.[1]
      entry.auth = Boolean(token && this.tokens.has(token))
      if (!entry.auth) throw new ArmError(401, token ? 'InvalidAuthenticationToken' : 'AuthenticationFailed', token ? 'The access token is invalid.' : "Authentication failed. The 'Authorization' header is missing.")
      fault = this.takeFault(method, path, false)
      if (fault && !fault.lose) throw new ArmError(fault.status ?? 400, fault.code ?? 'BadRequest', fault.message ?? 'injected fault', fault.retryAfterSeconds)
      const body = raw ? (JSON.parse(raw) as Record<string, any>) : {}
      const out = await this.route(method, path, u, body)
      return send(out.status, out.body, out.headers)
    } catch (error) {
      const e = error instanceof ArmError ? error : new ArmError(500, 'InternalServerError', (error as Error).message)
      entry.code = e.code
      this.options.log?.(`${method} ${path} -> ${e.status} ${e.code}`)
      return send(e.status, {error: {code: e.code, message: e.message, details: []}}, e.retryAfter !== undefined ? {'retry-after': String(e.retryAfter)} : {})
    }
  }

  private openid(tenant: string): Record<string, unknown> {
    const base = `${this.url}/${tenant}`
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      issuer: `${base}/v2.0`,
      jwks_uri: `${base}/discovery/v2.0/keys`,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      response_types_supported: ['code', 'id_token', 'token'],
    }
  }

  private token(form: URLSearchParams): {status: number; body: unknown} {
    const clientId = form.get('client_id') ?? ''
    const expected = this.clients[clientId]
    if (form.get('grant_type') !== 'client_credentials') return {status: 400, body: {error: 'unsupported_grant_type', error_description: 'AADSTS70003: client_credentials only (fake)'}}
    if (expected !== undefined && form.get('client_secret') !== expected) {
      return {status: 401, body: {error: 'invalid_client', error_description: `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`, error_codes: [7000215]}}
    }
    const token = `fake-arm-${randomUUID()}`
    this.tokens.add(token)
    return {status: 200, body: {token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: token}}
  }

  private admin(path: string, method: string, raw: string): unknown {
    if (path === '/__fake/state') return {resources: this.all(), evictions: Object.fromEntries(this.evictions), vms: Object.fromEntries(this.vmBoots)}
    if (path === '/__fake/requests') return this.requests
    if (path === '/__fake/evict' && method === 'POST') {
      const {name} = JSON.parse(raw) as {name: string}
      void this.evict(name)
      return {evicted: name}
    }
    if (path === '/__fake/faults' && method === 'POST') {
      const spec = JSON.parse(raw) as FaultSpec & {path?: string}
      this.faults.add({...spec, path: spec.path ? new RegExp(spec.path as unknown as string) : undefined})
      return {ok: true}
    }
    if (path === '/__fake/reset' && method === 'POST') {
      void this.reset()
      return {ok: true}
    }
    throw new ArmError(404, 'NotFound', `no admin route ${path}`)
  }

  // ---- long-running operations ----------------------------------------------------------------

  private newOperation(kind: Operation['kind'], resourceId: string | undefined, work?: () => Promise<void>): Operation {
    const op: Operation = {id: guidish(), polls: 0, status: 'InProgress', kind, resourceId}
    if (work) {
      op.work = work().then(
        () => {
          if (op.status === 'InProgress') op.status = 'Succeeded'
        },
        (error: unknown) => {
          op.status = 'Failed'
          op.error = error instanceof ArmError ? {code: error.code, message: error.message} : {code: 'InternalExecutionError', message: (error as Error).message}
        },
      )
    } else {
      op.status = 'Succeeded'
    }
    this.operations.set(op.id, op)
    return op
  }

  private opUrl(op: Operation): string {
    return `${this.url}/__ops/${op.id}`
  }

  private async poll(id: string, send: (status: number, body?: unknown, headers?: Record<string, string>) => void): Promise<void> {
    const op = this.operations.get(id)
    if (!op) return send(404, {error: {code: 'NotFound', message: `operation ${id}`}})
    op.polls++
    if (op.polls <= this.lroPolls) return op.kind === 'location' ? send(202, undefined, {location: this.opUrl(op), 'retry-after': '0'}) : send(200, {status: 'InProgress'}, {'retry-after': '0'})
    await op.work
    if (op.kind === 'location') {
      if (op.status === 'Failed') return send(400, {error: op.error})
      const r = op.resourceId ? this.resources.get(op.resourceId) : undefined
      return r ? send(200, r) : send(204)
    }
    return send(200, {status: op.status, ...(op.error ? {error: op.error} : {})})
  }

  // ---- routing -------------------------------------------------------------------------------

  private async route(method: string, path: string, u: URL, body: Record<string, any>): Promise<{status: number; body?: unknown; headers?: Record<string, string>}> {
    const sub = `/subscriptions/${this.subscriptionId.toLowerCase()}`
    const ra = path.lastIndexOf('/providers/microsoft.authorization/roleassignments')
    if (ra >= 0) return this.roleAssignmentRoute(method, path, ra, u, body)
    if (!path.startsWith('/subscriptions/')) throw new ArmError(404, 'NotFound', `no route ${path}`)
    if (!path.startsWith(sub + '/') && path !== sub) throw new ArmError(404, 'SubscriptionNotFound', `The subscription '${path.split('/')[2]}' could not be found.`)
    const rest = path.slice(sub.length)
    if (rest === '' && method === 'GET') return {status: 200, body: {id: sub, subscriptionId: this.subscriptionId, tenantId: this.tenantId, displayName: 'fake', state: 'Enabled'}}
    if (rest === '/resourcegroups' && method === 'GET') return {status: 200, body: {value: [...this.groups.values()]}}
    if (rest === '/providers/microsoft.storage/checknameavailability' && method === 'POST') return {status: 200, body: this.checkName(String(body.name ?? ''))}
    if (rest === '/providers/microsoft.storage/storageaccounts' && method === 'GET') return {status: 200, body: {value: this.ofType('Microsoft.Storage/storageAccounts')}}
    if (rest === '/resources' && method === 'GET') return {status: 200, body: {value: [...this.resources.values()].map(summary)}}
    const rg = /^\/resourcegroups\/([^/]+)(.*)$/.exec(rest)
    if (!rg) throw new ArmError(404, 'NotFound', `no route ${path}`)
    const rgName = rg[1]!
    const rgId = `${sub}/resourcegroups/${rgName}`
    const tail = rg[2]!
    if (tail === '') return this.groupRoute(method, rgId, rgName, body)
    if (!this.groups.has(rgId)) throw new ArmError(404, 'ResourceGroupNotFound', `Resource group '${rgName}' could not be found.`)
    if (tail === '/resources' && method === 'GET') {
      return {status: 200, body: {value: [...this.resources.values()].filter((r) => norm(r.id).startsWith(rgId + '/')).map(summary)}}
    }
    const m = /^\/providers\/([^/]+)\/(.+)$/.exec(tail)
    if (!m) throw new ArmError(404, 'NotFound', `no route ${path}`)
    const segs = m[2]!.split('/')
    // Actions: POST .../{type}/{name}/{action}
    if (method === 'POST' && segs.length % 2 === 1) {
      const id = norm(`${rgId}/providers/${m[1]}/${segs.slice(0, -1).join('/')}`)
      return this.action(id, segs[segs.length - 1]!)
    }
    // Collections: GET .../{type} lists the resources of that type right below (ARM's container listing).
    if (method === 'GET' && segs.length % 2 === 1 && segs.length >= 3) {
      const topId = norm(`${rgId}/providers/${m[1]}/${segs.slice(0, 2).join('/')}`)
      if (!this.resources.has(topId)) throw new ArmError(404, 'ResourceNotFound', `The Resource '${m[1]}/${segs.slice(0, 2).join('/')}' under resource group '${rgName}' was not found.`)
      const prefix = norm(`${rgId}/providers/${m[1]}/${segs.join('/')}`) + '/'
      return {status: 200, body: {value: [...this.resources.entries()].filter(([id]) => id.startsWith(prefix) && !id.slice(prefix.length).includes('/')).map(([, r]) => r)}}
    }
    if (segs.length % 2 !== 0) throw new ArmError(404, 'NotFound', `no route ${path}`)
    const typeParts = [m[1]!]
    for (let i = 0; i < segs.length; i += 2) typeParts.push(segs[i]!)
    const type = typeParts.join('/')
    const name = segs[segs.length - 1]!
    const id = norm(`${rgId}/providers/${m[1]}/${segs.join('/')}`)
    switch (method) {
      case 'GET': {
        const r = this.resources.get(id)
        if (!r) throw new ArmError(404, notFoundCode(type), `The Resource '${m[1]}/${segs.join('/')}' under resource group '${rgName}' was not found.`)
        if (type === 'microsoft.compute/virtualmachines' && u.searchParams.get('$expand') === 'instanceView') return {status: 200, body: {...r, properties: {...r.properties, instanceView: this.instanceView(r)}}}
        return {status: 200, body: r}
      }
      case 'PUT':
        return this.put(type, id, name, rgId, body, path, u.pathname.replace(/\/+/g, '/').replace(/\/$/, ''))
      case 'DELETE':
        return this.del(type, id)
      default:
        throw new ArmError(405, 'MethodNotAllowed', method)
    }
  }

  private groupRoute(method: string, rgId: string, rgName: string, body: Record<string, any>): {status: number; body?: unknown; headers?: Record<string, string>} {
    const g = this.groups.get(rgId)
    if (method === 'GET' || method === 'HEAD') {
      if (!g) throw new ArmError(404, 'ResourceGroupNotFound', `Resource group '${rgName}' could not be found.`)
      return {status: method === 'HEAD' ? 204 : 200, body: method === 'HEAD' ? undefined : g}
    }
    if (method === 'PUT') {
      if (!body.location) throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.')
      if (g && g.location !== String(body.location).toLowerCase()) throw new ArmError(409, 'InvalidResourceGroupLocation', `Invalid resource group location '${body.location}'. The Resource group already exists in location '${g.location}'.`)
      const next: ArmResource = {id: `/subscriptions/${this.subscriptionId}/resourceGroups/${rgName}`, name: rgName, type: 'Microsoft.Resources/resourceGroups', location: String(body.location).toLowerCase(), tags: body.tags ?? g?.tags ?? {}, properties: {provisioningState: 'Succeeded'}}
      this.groups.set(rgId, next)
      return {status: g ? 200 : 201, body: next}
    }
    if (method === 'DELETE') {
      if (!g) return {status: 204}
      for (const id of [...this.resources.keys()]) if (id.startsWith(rgId + '/')) this.resources.delete(id)
      this.groups.delete(rgId)
      return {status: 200}
    }
    throw new ArmError(405, 'MethodNotAllowed', method)
  }

  private checkName(name: string): Record<string, unknown> {
    if (!/^[a-z0-9]{3,24}$/.test(name)) return {nameAvailable: false, reason: 'AccountNameInvalid', message: `${name} is not a valid storage account name.`}
    const taken = this.takenAccountNames.has(name) || this.ofType('Microsoft.Storage/storageAccounts').some((a) => a.name === name)
    return taken ? {nameAvailable: false, reason: 'AlreadyExists', message: `The storage account named ${name} is already taken.`} : {nameAvailable: true}
  }

  private requireRef(ref: unknown, what: string): ArmResource {
    const id = typeof ref === 'object' && ref && typeof (ref as {id?: unknown}).id === 'string' ? norm((ref as {id: string}).id) : ''
    const r = this.resources.get(id) ?? this.subnet(id)
    if (!r) throw new ArmError(400, 'InvalidResourceReference', `Resource ${id || '(none)'} referenced by ${what} was not found.`)
    return r
  }

  private subnet(id: string): ArmResource | undefined {
    const m = /^(.*\/virtualnetworks\/[^/]+)\/subnets\/([^/]+)$/.exec(id)
    if (!m) return undefined
    const vnet = this.resources.get(m[1]!)
    const s = (vnet?.properties.subnets as ArmResource[] | undefined)?.find((x) => x.name.toLowerCase() === m[2])
    return s
  }

  private async put(type: string, id: string, name: string, rgId: string, body: Record<string, any>, path: string, origPath: string): Promise<{status: number; body?: unknown; headers?: Record<string, string>}> {
    const existing = this.resources.get(id)
    const group = this.groups.get(rgId)!
    const location = String(body.location ?? group.location).toLowerCase()
    const resourceType = canonicalType(type)
    const props: Record<string, any> = {...(body.properties ?? {})}
    const base: ArmResource = {...(existing ?? {}), id: existing?.id ?? origPath.replace(/\/resourcegroups\//i, '/resourceGroups/'), name: existing?.name ?? name, type: resourceType, location, tags: body.tags ?? existing?.tags ?? {}, properties: {...props}}
    const lroFault = ASYNC_TYPES.has(type) || type === 'microsoft.storage/storageaccounts' ? this.takeFault('PUT', path, true) : undefined
    switch (type) {
      case 'microsoft.network/virtualnetworks': {
        base.properties.subnets = (props.subnets ?? []).map((s: any) => ({id: `${base.id}/subnets/${s.name}`, name: s.name, type: 'Microsoft.Network/virtualNetworks/subnets', properties: {...(s.properties ?? {}), provisioningState: 'Succeeded'}}))
        break
      }
      case 'microsoft.network/networksecuritygroups':
        base.properties.securityRules = (props.securityRules ?? []).map((r: any) => ({id: `${base.id}/securityRules/${r.name}`, name: r.name, properties: {...(r.properties ?? {}), provisioningState: 'Succeeded'}}))
        break
      case 'microsoft.network/publicipaddresses':
        if (body.sku?.name) base.sku = body.sku
        base.properties.ipAddress = existing?.properties.ipAddress ?? `20.${(this.port % 200) + 1}.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250) + 1}`
        break
      case 'microsoft.network/networkinterfaces': {
        const configs = (props.ipConfigurations ?? []) as any[]
        if (configs.length === 0) throw new ArmError(400, 'InvalidRequestFormat', 'A network interface needs at least one IP configuration.')
        base.properties.ipConfigurations = configs.map((c: any) => {
          this.requireRef(c.properties?.subnet, `NIC ${name}`)
          if (c.properties?.publicIPAddress) this.requireRef(c.properties.publicIPAddress, `NIC ${name}`)
          return {id: `${base.id}/ipConfigurations/${c.name}`, name: c.name, properties: {...c.properties, privateIPAddress: '10.0.0.4', provisioningState: 'Succeeded'}}
        })
        if (props.networkSecurityGroup) this.requireRef(props.networkSecurityGroup, `NIC ${name}`)
        if (existing?.properties.virtualMachine) base.properties.virtualMachine = existing.properties.virtualMachine
        break
      }
      case 'microsoft.managedidentity/userassignedidentities':
        base.properties = {tenantId: this.tenantId, principalId: existing?.properties.principalId ?? guidish(), clientId: existing?.properties.clientId ?? guidish()}
        break
      case 'microsoft.storage/storageaccounts': {
        if (!existing) {
          if (!/^[a-z0-9]{3,24}$/.test(name)) throw new ArmError(400, 'AccountNameInvalid', `${name} is not a valid storage account name.`)
          if (this.takenAccountNames.has(name)) throw new ArmError(409, 'StorageAccountAlreadyTaken', `The storage account named ${name} is already taken.`)
          const other = this.ofType('Microsoft.Storage/storageAccounts').find((a) => a.name === name)
          if (other) throw new ArmError(409, 'StorageAccountInAnotherResourceGroup', `The account ${name} is already in another resource group in this subscription.`)
        } else if (existing.location !== location) {
          throw new ArmError(409, 'InvalidResourceLocation', `The resource '${name}' already exists in location '${existing.location}'.`)
        }
        if (body.sku) base.sku = body.sku
        if (body.kind) base.kind = body.kind
        const blob = this.options.blob ? `${this.options.blob.endpoint}/` : `https://${name}.blob.core.windows.net/`
        base.properties = {...props, primaryEndpoints: {blob}, primaryLocation: location, statusOfPrimary: 'available', provisioningState: 'Succeeded', creationTime: existing?.properties.creationTime ?? new Date().toISOString()}
        this.resources.set(id, {...base, properties: {...base.properties, provisioningState: existing ? 'Succeeded' : 'Creating'}})
        const op = this.newOperation('location', id, async () => {
          if (lroFault) throw new ArmError(400, lroFault.code ?? 'InternalError', lroFault.message ?? 'injected')
          this.resources.set(id, base)
        })
        return {status: 202, headers: {location: this.opUrl(op), 'retry-after': '0'}}
      }
      case 'microsoft.storage/storageaccounts/blobservices/containers': {
        const account = this.resources.get(id.split('/blobservices/')[0]!)
        if (!account || account.properties.provisioningState !== 'Succeeded') throw new ArmError(404, 'ResourceNotFound', `storage account of container ${name} not found`)
        if (!/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/.test(name)) throw new ArmError(400, 'ContainerOperationFailure', 'The specifed resource name contains invalid characters.')
        base.type = 'Microsoft.Storage/storageAccounts/blobServices/containers'
        delete base.location
        delete base.tags
        base.properties = {...props, metadata: props.metadata ?? existing?.properties.metadata ?? {}, publicAccess: props.publicAccess ?? 'None', lastModifiedTime: new Date().toISOString()}
        this.resources.set(id, base)
        if (this.options.blob) await this.blobContainer(name, 'create', base.properties.metadata)
        return {status: existing ? 200 : 201, body: base}
      }
      case 'microsoft.compute/virtualmachines':
        return this.putVm(id, base, existing, body, lroFault)
      default:
        throw new ArmError(400, 'NoRegisteredProviderFound', `No registered resource provider found for type '${resourceType}' (fake).`)
    }
    base.properties.provisioningState = 'Succeeded'
    if (ASYNC_TYPES.has(type)) {
      this.resources.set(id, {...base, properties: {...base.properties, provisioningState: existing ? 'Updating' : 'Creating'}})
      const op = this.newOperation('async', id, async () => {
        if (lroFault) {
          this.resources.set(id, {...base, properties: {...base.properties, provisioningState: 'Failed'}})
          throw new ArmError(400, lroFault.code ?? 'InternalError', lroFault.message ?? 'injected')
        }
        this.resources.set(id, base)
      })
      return {status: existing ? 200 : 201, body: this.resources.get(id), headers: {'azure-asyncoperation': this.opUrl(op), 'retry-after': '0'}}
    }
    this.resources.set(id, base)
    return {status: existing ? 200 : 201, body: base}
  }

  private putVm(id: string, base: ArmResource, existing: ArmResource | undefined, body: Record<string, any>, lroFault: Fault | undefined) {
    const p = base.properties
    if (existing) {
      // Immutable parts: only tags change in place here.
      if (JSON.stringify(existing.properties.storageProfile?.imageReference) !== JSON.stringify(p.storageProfile?.imageReference) || existing.properties.priority !== p.priority) {
        throw new ArmError(409, 'PropertyChangeNotAllowed', "Changing property 'imageReference' or 'priority' is not allowed.")
      }
      base.properties = {...existing.properties, provisioningState: 'Succeeded'}
      this.resources.set(id, base)
      return {status: 200, body: base}
    }
    if (p.evictionPolicy && p.priority !== 'Spot' && p.priority !== 'Low') throw new ArmError(400, 'EvictionPolicyCanBeSetOnlyOnLowPriorityVirtualMachines', 'Eviction policy can be set only on Spot Virtual Machines.')
    if (!p.hardwareProfile?.vmSize) throw new ArmError(400, 'InvalidParameter', "Required parameter 'hardwareProfile.vmSize' is missing (null).")
    if (!p.storageProfile?.imageReference) throw new ArmError(400, 'InvalidParameter', "Required parameter 'imageReference' is missing (null).")
    const nics = (p.networkProfile?.networkInterfaces ?? []) as Array<{id: string; properties?: {deleteOption?: string; primary?: boolean}}>
    if (nics.length === 0) throw new ArmError(400, 'InvalidParameter', 'At least one network interface is required.')
    const nicRs = nics.map((n) => this.requireRef(n, `VM ${base.name}`))
    for (const nic of nicRs) {
      const other = nic.properties.virtualMachine?.id
      if (other && norm(other) !== id) throw new ArmError(400, 'NicInUse', `Network Interface ${nic.id} is used by existing resource ${other}.`)
    }
    for (const identityId of Object.keys(body.identity?.userAssignedIdentities ?? {})) this.requireRef({id: identityId}, `VM ${base.name}`)
    if (body.identity) base.identity = body.identity
    const linux = p.osProfile?.linuxConfiguration
    if (p.osProfile && linux?.disablePasswordAuthentication !== true) throw new ArmError(400, 'InvalidParameter', 'The fake only accepts Linux VMs with password authentication disabled.')
    const diskName = p.storageProfile.osDisk?.name ?? `${base.name}_OsDisk_1_${randomUUID().replace(/-/g, '')}`
    const rgPrefix = base.id.split('/providers/')[0]!
    const diskId = `${rgPrefix}/providers/Microsoft.Compute/disks/${diskName}`
    p.storageProfile = {...p.storageProfile, osDisk: {...(p.storageProfile.osDisk ?? {}), name: diskName, managedDisk: {id: diskId}}}
    p.vmId = randomUUID()
    p.provisioningState = 'Creating'
    // customData is write-only: kept aside, never returned.
    const customData = typeof p.osProfile?.customData === 'string' ? Buffer.from(p.osProfile.customData, 'base64').toString('utf8') : undefined
    if (p.osProfile) {
      p.osProfile = {...p.osProfile}
      delete p.osProfile.customData
    }
    this.resources.set(id, base)
    for (const nic of nicRs) nic.properties.virtualMachine = {id: base.id}
    const op = this.newOperation('async', id, async () => {
      if (lroFault) {
        base.properties.provisioningState = 'Failed'
        throw new ArmError(400, lroFault.code ?? 'InternalError', lroFault.message ?? 'injected')
      }
      this.resources.set(norm(diskId), {id: diskId, name: diskName, type: 'Microsoft.Compute/disks', location: base.location, tags: {}, properties: {diskSizeGB: p.storageProfile.osDisk.diskSizeGB ?? 30, provisioningState: 'Succeeded'}, managedBy: base.id})
      const keys = ((linux?.ssh?.publicKeys ?? []) as Array<{keyData?: string}>).map((k) => k.keyData ?? '').filter(Boolean)
      const boot = await this.backend.boot({id, name: base.name, customData, sshPublicKeys: keys})
      if (!this.resources.has(id)) {
        await this.backend.stop(id)
        return
      }
      this.vmBoots.set(id, boot)
      for (const nic of nicRs) {
        for (const c of nic.properties.ipConfigurations ?? []) {
          const pip = c.properties?.publicIPAddress?.id ? this.resources.get(norm(c.properties.publicIPAddress.id)) : undefined
          if (pip) pip.properties.ipAddress = boot.address
        }
      }
      base.properties.provisioningState = 'Succeeded'
    })
    return {status: 201, body: base, headers: {'azure-asyncoperation': this.opUrl(op), 'retry-after': '0'}}
  }

  private instanceView(vm: ArmResource): Record<string, unknown> {
    const state = vm.properties.provisioningState
    return {
      statuses: [
        {code: `ProvisioningState/${String(state).toLowerCase()}`, level: 'Info', displayStatus: `Provisioning ${String(state).toLowerCase()}`},
        ...(state === 'Succeeded' ? [{code: 'PowerState/running', level: 'Info', displayStatus: 'VM running'}] : []),
      ],
    }
  }

  private async action(id: string, action: string): Promise<{status: number; body?: unknown; headers?: Record<string, string>}> {
    const r = this.resources.get(id)
    if (action === 'listkeys' && r?.type === 'Microsoft.Storage/storageAccounts') {
      const key = this.options.blob?.accountKey ?? Buffer.from(`fake-key-${r.name}`).toString('base64')
      return {status: 200, body: {keys: [{keyName: 'key1', value: key, permissions: 'FULL'}]}}
    }
    if (action === 'simulateeviction' && r?.type === 'Microsoft.Compute/virtualMachines') {
      if (r.properties.priority !== 'Spot') throw new ArmError(409, 'OperationNotAllowed', 'Simulate eviction is only allowed on Spot VMs.')
      void this.evict(r.name)
      return {status: 204}
    }
    throw new ArmError(404, 'NotFound', `no action ${action} on ${id}`)
  }

  private async del(type: string, id: string): Promise<{status: number; body?: unknown; headers?: Record<string, string>}> {
    const r = this.resources.get(id)
    if (!r) return {status: 204}
    switch (type) {
      case 'microsoft.compute/virtualmachines': {
        r.properties.provisioningState = 'Deleting'
        const op = this.newOperation('async', undefined, () => this.deleteVm(id, true))
        return {status: 202, headers: {'azure-asyncoperation': this.opUrl(op), location: this.opUrl(op), 'retry-after': '0'}}
      }
      case 'microsoft.network/networkinterfaces':
        if (r.properties.virtualMachine) throw new ArmError(400, 'NicInUse', `Network Interface ${r.id} is used by existing resource ${r.properties.virtualMachine.id}. In order to delete the network interface, it must be dissociated from the resource.`)
        break
      case 'microsoft.network/publicipaddresses': {
        const nic = this.ofType('Microsoft.Network/networkInterfaces').find((n) => (n.properties.ipConfigurations ?? []).some((c: any) => norm(c.properties?.publicIPAddress?.id ?? '') === id))
        if (nic) throw new ArmError(400, 'PublicIPAddressCannotBeDeleted', `Public IP address ${r.id} can not be deleted since it is still allocated to resource ${nic.id}/ipConfigurations/ipconfig1.`)
        break
      }
      case 'microsoft.network/networksecuritygroups': {
        const nic = this.ofType('Microsoft.Network/networkInterfaces').find((n) => norm(n.properties.networkSecurityGroup?.id ?? '') === id)
        if (nic) throw new ArmError(400, 'InUseNetworkSecurityGroupCannotBeDeleted', `Network security group ${r.id} cannot be deleted because it is in use by the following resources: ${nic.id}.`)
        break
      }
      case 'microsoft.network/virtualnetworks': {
        const nic = this.ofType('Microsoft.Network/networkInterfaces').find((n) => (n.properties.ipConfigurations ?? []).some((c: any) => norm(c.properties?.subnet?.id ?? '').startsWith(id + '/')))
        if (nic) throw new ArmError(400, 'InUseSubnetCannotBeDeleted', `Subnet default is in use by ${nic.id}/ipConfigurations/ipconfig1 and cannot be deleted.`)
        break
      }
      case 'microsoft.storage/storageaccounts':
        for (const k of [...this.resources.keys()]) if (k.startsWith(id + '/')) this.resources.delete(k)
        this.resources.delete(id)
        return {status: 200}
      case 'microsoft.storage/storageaccounts/blobservices/containers':
        this.resources.delete(id)
        if (this.options.blob) await this.blobContainer(r.name, 'delete')
        return {status: 200}
      default:
        break
    }
    this.resources.delete(id)
    if (ASYNC_TYPES.has(type)) {
      const op = this.newOperation('async', undefined)
      return {status: 202, headers: {'azure-asyncoperation': this.opUrl(op), location: this.opUrl(op), 'retry-after': '0'}}
    }
    return {status: 200}
  }

  /** Deletes a VM; `cascade` follows deleteOption (OS disk always, NICs and their IPs when Delete). */
  private async deleteVm(id: string, cascade: boolean): Promise<void> {
    const vm = this.resources.get(id)
    if (!vm) return
    this.resources.delete(id)
    this.vmBoots.delete(id)
    await this.backend.stop(id)
    const disk = vm.properties.storageProfile?.osDisk?.managedDisk?.id
    if (disk) this.resources.delete(norm(disk))
    for (const ref of (vm.properties.networkProfile?.networkInterfaces ?? []) as Array<{id: string; properties?: {deleteOption?: string}}>) {
      const nic = this.resources.get(norm(ref.id))
      if (!nic) continue
      delete nic.properties.virtualMachine
      if (!cascade || ref.properties?.deleteOption !== 'Delete') continue
      this.resources.delete(norm(ref.id))
      for (const c of nic.properties.ipConfigurations ?? []) {
        const pipId = c.properties?.publicIPAddress?.id
        const pip = pipId ? this.resources.get(norm(pipId)) : undefined
        if (pip && (pip.properties.deleteOption === 'Delete' || c.properties?.publicIPAddress?.properties?.deleteOption === 'Delete')) this.resources.delete(norm(pipId))
      }
    }
  }

  private async blobContainer(name: string, what: 'create' | 'delete', metadata?: Record<string, string>): Promise<void> {
    const blob = this.options.blob!
    const {BlobServiceClient, StorageSharedKeyCredential} = await import('@azure/storage-blob')
    const svc = new BlobServiceClient(blob.endpoint, new StorageSharedKeyCredential(blob.accountName, blob.accountKey))
    const c = svc.getContainerClient(name)
    if (what === 'create') {
      await c.createIfNotExists()
      if (metadata && Object.keys(metadata).length > 0) await c.setMetadata(metadata)
    } else {
      await c.deleteIfExists()
    }
  }

  // ---- role assignments ------------------------------------------------------------------------

  private roleAssignmentRoute(method: string, path: string, at: number, u: URL, body: Record<string, any>): {status: number; body?: unknown} {
    const scope = path.slice(0, at) || '/'
    const name = path.slice(at + '/providers/microsoft.authorization/roleassignments'.length).replace(/^\//, '')
    if (!name) {
      if (method !== 'GET') throw new ArmError(405, 'MethodNotAllowed', method)
      const filter = u.searchParams.get('$filter') ?? ''
      const principal = /principalId eq '([^']+)'/i.exec(filter)?.[1]?.toLowerCase()
      const value = [...this.roleAssignments.values()].filter((r) => (scope === '/' || norm(r.properties.scope).startsWith(scope)) && (!principal || r.properties.principalId.toLowerCase() === principal))
      return {status: 200, body: {value}}
    }
    const id = `${scope}/providers/microsoft.authorization/roleassignments/${name}`
    const existing = this.roleAssignments.get(id)
    if (method === 'GET') {
      if (!existing) throw new ArmError(404, 'RoleAssignmentNotFound', `The role assignment '${name}' is not found.`)
      return {status: 200, body: existing}
    }
    if (method === 'DELETE') {
      if (!existing) return {status: 204}
      this.roleAssignments.delete(id)
      return {status: 200, body: existing}
    }
    if (method !== 'PUT') throw new ArmError(405, 'MethodNotAllowed', method)
    const p = body.properties ?? {}
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(name)) throw new ArmError(400, 'InvalidRoleAssignmentId', `The role assignment ID '${name}' is not valid. The role assignment ID must be a GUID.`)
    if (!scope.startsWith('/subscriptions/')) throw new ArmError(400, 'InvalidScope', `scope ${scope}`)
    const scopeExists = this.resources.has(scope) || this.groups.has(scope) || scope === `/subscriptions/${this.subscriptionId.toLowerCase()}`
    if (!scopeExists) throw new ArmError(404, 'ResourceNotFound', `The scope '${scope}' does not exist.`)
    const principalId = String(p.principalId ?? '').toLowerCase()
    const known = this.ofType('Microsoft.ManagedIdentity/userAssignedIdentities').some((i) => i.properties.principalId === principalId)
    if (!known) throw new ArmError(400, 'PrincipalNotFound', `Principal ${principalId.replace(/-/g, '')} does not exist in the directory ${this.tenantId}.`)
    const roleDefinitionId = String(p.roleDefinitionId ?? '')
    if (existing) {
      if (existing.properties.principalId !== principalId || existing.properties.roleDefinitionId.toLowerCase() !== roleDefinitionId.toLowerCase()) {
        throw new ArmError(400, 'RoleAssignmentUpdateNotPermitted', 'Tenant ID, application ID, principal ID, and scope are not allowed to be updated.')
      }
      return {status: 201, body: existing}
    }
    const dup = [...this.roleAssignments.values()].find((r) => norm(r.properties.scope) === scope && r.properties.principalId === principalId && r.properties.roleDefinitionId.toLowerCase() === roleDefinitionId.toLowerCase())
    if (dup) throw new ArmError(409, 'RoleAssignmentExists', 'The role assignment already exists.')
    const originalScope = u.pathname.replace(/\/+/g, '/').split(/\/providers\/Microsoft\.Authorization\/roleAssignments/i)[0]!
    const r: ArmResource = {
      id: `${originalScope}/providers/Microsoft.Authorization/roleAssignments/${name}`,
      name,
      type: 'Microsoft.Authorization/roleAssignments',
      properties: {roleDefinitionId, principalId, principalType: p.principalType ?? 'ServicePrincipal', scope: originalScope, description: p.description, createdOn: new Date().toISOString()},
    }
    this.roleAssignments.set(id, r)
    return {status: 201, body: r}
  }
}

function summary(r: ArmResource): Record<string, unknown> {
  return {id: r.id, name: r.name, type: r.type, location: r.location, tags: r.tags ?? {}}
}

const TYPE_CASE: Record<string, string> = {
  'microsoft.network/virtualnetworks': 'Microsoft.Network/virtualNetworks',
  'microsoft.network/networksecuritygroups': 'Microsoft.Network/networkSecurityGroups',
  'microsoft.network/publicipaddresses': 'Microsoft.Network/publicIPAddresses',
  'microsoft.network/networkinterfaces': 'Microsoft.Network/networkInterfaces',
  'microsoft.managedidentity/userassignedidentities': 'Microsoft.ManagedIdentity/userAssignedIdentities',
  'microsoft.storage/storageaccounts': 'Microsoft.Storage/storageAccounts',
  'microsoft.storage/storageaccounts/blobservices/containers': 'Microsoft.Storage/storageAccounts/blobServices/containers',
  'microsoft.compute/virtualmachines': 'Microsoft.Compute/virtualMachines',
}

function canonicalType(type: string): string {
  return TYPE_CASE[type] ?? type
}

function notFoundCode(type: string): string {
  return type === 'microsoft.storage/storageaccounts/blobservices/containers' ? 'ContainerNotFound' : 'ResourceNotFound'
}

export async function startFakeAzure(options: FakeAzureOptions = {}): Promise<FakeAzure> {
  return new FakeAzure(options).start()
}
