/**
 * The fake AWS endpoint: one node:http server on loopback that speaks the Query protocol for
 * EC2, IAM and STS. It routes by the SigV4 credential scope of each request (or by a `/ec2`,
 * `/iam`, `/sts` path prefix), authenticates and verifies signatures against the credentials it
 * knows, applies injected faults, logs every call and answers in each service's own XML.
 */
import {randomUUID} from 'node:crypto'
import http, {type IncomingMessage, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {NoopInstanceBackend, type InstanceBackend} from './backend.js'
import {FakeClock} from './clock.js'
import type {ActionHandler, RequestContext} from './context.js'
import {Ec2Service, type TransitionMode, type VcpuLimits} from './ec2.js'
import {AwsApiError} from './errors.js'
import {FaultInjector, type FakeService} from './faults.js'
import {IamService} from './iam.js'
import {FAKE_ACCOUNT_ID, FakeAwsState, iamId, isRegionName, type FakeCredential, type FakeInstance, type IssuedSession} from './model.js'
import {parseForm, QueryParams} from './query.js'
import {parseAuthorization, verifySignature} from './sigv4.js'
import {StsService} from './sts.js'
import {xmlDocument, type XmlObject} from './xml.js'

/** The access key id of the fake's default IAM user. */
export const FAKE_ACCESS_KEY_ID = 'AKIAFAKEANYCLOUD0001'
/** The secret key of the fake's default IAM user. */
export const FAKE_SECRET_ACCESS_KEY = 'fake/SecretAccessKey/anycloud/0000000000'

const NAMESPACES: Record<FakeService, string> = {
  ec2: 'http://ec2.amazonaws.com/doc/2016-11-15/',
  iam: 'https://iam.amazonaws.com/doc/2010-05-08/',
  sts: 'https://sts.amazonaws.com/doc/2011-06-15/',
}

const MAX_BODY = 1024 * 1024

/** EC2 actions that validate their input before answering DryRunOperation; the rest answer it at once. */
const EC2_SELF_DRY_RUN = new Set([
  'RunInstances',
  'CreateKeyPair',
  'CreateSecurityGroup',
  'AuthorizeSecurityGroupIngress',
  'RevokeSecurityGroupIngress',
  'DeleteSecurityGroup',
  'CreateTags',
  'DeleteTags',
])

/** A long-term IAM user key the fake accepts. */
export interface FakeUserKey {
  accessKeyId: string
  secretAccessKey: string
  /** Default `anycloud-fake`. */
  userName?: string
}

/** Options of {@link startFakeAws}. */
export interface FakeAwsOptions {
  /** Listen address; default `127.0.0.1`. */
  host?: string
  /** Listen port; default 0 (any free port). */
  port?: number
  /** What runs behind instances; default {@link NoopInstanceBackend}. */
  backend?: InstanceBackend
  /** Instance state transitions; default `{mode: 'describe'}` (the next describe moves them on). */
  transitions?: TransitionMode
  /** A new (or changed) instance profile is invisible to EC2 for this long (fake clock); default 0. */
  iamPropagationDelayMs?: number
  /** Verify SigV4 signatures; default true. */
  verifySignatures?: boolean
  /** Accept any access key id (no signature check) as an IAM user; default false. */
  acceptUnknownAccessKeys?: boolean
  /** AssumeRole checks the trust policy names the caller; default true. */
  enforceTrustPolicies?: boolean
  /** Extra IAM user keys besides {@link FAKE_ACCESS_KEY_ID}. */
  users?: FakeUserKey[]
  /** Per-region on-demand vCPU quotas by bucket; default unlimited. */
  vcpuLimits?: VcpuLimits
  /** Per-region spot vCPU quotas by bucket; default unlimited. */
  spotVcpuLimits?: VcpuLimits
  /** How long terminated instances stay visible (fake clock); default 1 h. */
  terminatedVisibleMs?: number
  /** Serve the JSON admin API under `/__fake/`; default true. */
  admin?: boolean
  /** Receives one line per notable event (standalone mode prints them). */
  log?: (line: string) => void
  /**
   * EC2's request-rate limit for non-mutating actions (Describe*, Get*): a token bucket per
   * account and region, `burst` tokens refilled at `refillPerSecond` (fake clock); an empty bucket
   * answers RequestLimitExceeded (HTTP 503), as EC2 does. `true` = EC2's documented defaults
   * (100 burst, 20 per second). Default off: most tests are about other things.
   */
  ec2RequestRate?: boolean | {burst: number; refillPerSecond: number}
}

/** EC2's default bucket for non-mutating actions. */
export const EC2_NON_MUTATING_RATE = {burst: 100, refillPerSecond: 20}

/** A token bucket on the fake's clock. */
class TokenBucket {
  private tokens: number
  private at: number

  constructor(
    private readonly rate: {burst: number; refillPerSecond: number},
    now: number,
  ) {
    this.tokens = rate.burst
    this.at = now
  }

  take(now: number): boolean {
    this.tokens = Math.min(this.rate.burst, this.tokens + ((now - this.at) / 1000) * this.rate.refillPerSecond)
    this.at = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

/** One API call as the fake saw it. */
export interface RequestLogEntry {
  seq: number
  /** Fake-clock time the request arrived. */
  time: Date
  service: FakeService | 'unknown'
  action: string
  region: string
  accessKeyId?: string
  /** Flat request parameters, without Action and Version. */
  params: Record<string, string>
  /** From the SDK's `amz-sdk-request: attempt=N; max=M` header. */
  attempt?: number
  maxAttempts?: number
  /** From `amz-sdk-invocation-id`: the same for every retry of one SDK call. */
  invocationId?: string
  requestId: string
  /** HTTP status sent; 0 when the response was lost. */
  status: number
  errorCode?: string
  outcome: 'ok' | 'error' | 'lost'
}

/** SDK client settings pointing at the fake. */
export interface FakeAwsEndpoints {
  ec2: string
  iam: string
  sts: string
}

/**
 * A running fake. Inspect `state` and `requests`, inject faults through `faults` and the
 * credential/instance helpers, drive time with `clock`, and `close()` it in an after hook.
 */
export class FakeAws {
  /** The in-memory model (instances, roles, profiles, credentials, sessions, …). */
  readonly state = new FakeAwsState()
  /** Fault injection (throttling, capacity, lost responses, IAM propagation, …). */
  readonly faults = new FaultInjector()
  /** The fake's clock (real time plus an offset). */
  readonly clock = new FakeClock()
  /** Every API call, in arrival order. */
  requests: RequestLogEntry[] = []
  /** What runs behind instances. */
  readonly backend: InstanceBackend
  /** The EC2 implementation (for `preempt`, `step`, …). */
  readonly ec2: Ec2Service
  /** The IAM implementation. */
  readonly iam: IamService
  /** The STS implementation. */
  readonly sts: StsService
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url = ''

  private readonly options: FakeAwsOptions
  private readonly server: http.Server
  private readonly handlers: Record<FakeService, Record<string, ActionHandler>>
  private readonly listeners = new Set<(credential: FakeCredential, session: IssuedSession) => void>()
  private seq = 0

  constructor(options: FakeAwsOptions = {}) {
    this.options = options
    this.backend = options.backend ?? new NoopInstanceBackend()
    const self = this
    const log = (m: string): void => options.log?.(m)
    this.ec2 = new Ec2Service({
      state: this.state,
      faults: this.faults,
      clock: this.clock,
      backend: this.backend,
      transitions: options.transitions ?? {mode: 'describe'},
      get iamPropagationDelayMs() {
        return self.iamPropagationDelayMs
      },
      vcpuLimits: options.vcpuLimits ?? {},
      spotVcpuLimits: options.spotVcpuLimits ?? {},
      terminatedVisibleMs: options.terminatedVisibleMs ?? 3600_000,
      log,
    })
    this.iam = new IamService({state: this.state, clock: this.clock, log})
    this.sts = new StsService({
      state: this.state,
      clock: this.clock,
      enforceTrustPolicies: options.enforceTrustPolicies ?? true,
      findRole: (name) => this.iam.findRole(name),
      credentialsIssued: (c, s) => {
        for (const l of this.listeners) l(c, s)
      },
      log,
    })
    this.handlers = {ec2: this.ec2.handlers, iam: this.iam.handlers, sts: this.sts.handlers}
    this.iamPropagationDelayMs = options.iamPropagationDelayMs ?? 0
    this.seedCredentials()
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        log(`internal error: ${(err as Error).stack ?? String(err)}`)
        if (!res.headersSent) {
          res.statusCode = 500
          res.end()
        }
      })
    })
  }

  /** IAM propagation delay in ms of fake time (may be changed at any time). */
  iamPropagationDelayMs: number

  /** Starts listening. */
  async listen(): Promise<this> {
    const host = this.options.host ?? '127.0.0.1'
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.options.port ?? 0, host, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    const addr = this.server.address() as AddressInfo
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`
    return this
  }

  /** The port it listens on. */
  get port(): number {
    return (this.server.address() as AddressInfo).port
  }

  /** Endpoint URLs per service (all the same server). */
  get endpoints(): FakeAwsEndpoints {
    return {ec2: this.url, iam: this.url, sts: this.url}
  }

  /** The default IAM user's key pair. */
  get credentials(): {accessKeyId: string; secretAccessKey: string} {
    return {accessKeyId: FAKE_ACCESS_KEY_ID, secretAccessKey: FAKE_SECRET_ACCESS_KEY}
  }

  /** Adds a long-term IAM user key. */
  addUser(key: FakeUserKey): FakeCredential {
    const name = key.userName ?? 'anycloud-fake'
    const cred: FakeCredential = {
      accessKeyId: key.accessKeyId,
      secretAccessKey: key.secretAccessKey,
      kind: 'user',
      account: FAKE_ACCOUNT_ID,
      arn: `arn:aws:iam::${FAKE_ACCOUNT_ID}:user/${name}`,
      userId: iamId('AIDA'),
      issuedAt: this.clock.now(),
    }
    this.state.credentials.set(cred.accessKeyId, cred)
    return cred
  }

  /** Marks a credential expired: EC2 answers `RequestExpired`, IAM/STS `ExpiredToken`. */
  expireCredentials(accessKeyId: string): void {
    this.credential(accessKeyId).expired = true
  }

  /** Marks a credential invalid: EC2 answers `AuthFailure`, IAM/STS `InvalidClientTokenId`. */
  revokeCredentials(accessKeyId: string): void {
    this.credential(accessKeyId).revoked = true
  }

  private credential(accessKeyId: string): FakeCredential {
    const c = this.state.credentials.get(accessKeyId)
    if (!c) throw new Error(`fake-aws: unknown access key ${accessKeyId}`)
    return c
  }

  /** Subscribes to credentials minted by STS (e.g. to teach an S3 emulator about them). Returns an unsubscribe. */
  onCredentialsIssued(listener: (credential: FakeCredential, session: IssuedSession) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /**
   * Mints the temporary credentials an instance's profile role gives the VM (what IMDS would
   * serve), recorded in `state.sessions` as `InstanceProfile`. Undefined without a profile/role.
   */
  instanceCredentials(instance: FakeInstance): FakeCredential | undefined {
    const profile = instance.iamInstanceProfile ? this.state.instanceProfiles.get(instance.iamInstanceProfile.name) : undefined
    const role = profile?.roles[0] !== undefined ? this.iam.findRole(profile.roles[0]) : undefined
    return role ? this.sts.instanceProfileCredentials(role, instance.instanceId) : undefined
  }

  /** Terminates a spot instance as a spot interruption does (`Server.SpotInstanceTermination`). */
  async preempt(instanceId: string): Promise<void> {
    await this.ec2.preempt(instanceId)
  }

  /** Moves instances one state on (pending → running, shutting-down → terminated); all when no ids. */
  async stepInstances(instanceIds?: string[]): Promise<void> {
    const all = [...this.state.instances.values()]
    for (const inst of instanceIds ? all.filter((i) => instanceIds.includes(i.instanceId)) : all) await this.ec2.step(inst)
  }

  /** Instances (any region) whose tag `key` is `value` (or that have the tag, when value is omitted). */
  instancesTagged(key: string, value?: string): FakeInstance[] {
    return [...this.state.instances.values()].filter((i) => key in i.tags && (value === undefined || i.tags[key] === value))
  }

  /** An inline role policy parsed from JSON (undefined when absent). */
  rolePolicy(roleName: string, policyName: string): unknown {
    const doc = this.iam.findRole(roleName)?.inlinePolicies.get(policyName)
    return doc === undefined ? undefined : JSON.parse(doc)
  }

  /** Calls of an action (optionally of one service), in order. */
  calls(action: string, service?: FakeService): RequestLogEntry[] {
    return this.requests.filter((r) => r.action === action && (service === undefined || r.service === service))
  }

  /** Forgets everything: state, faults, log, clock offset; stops every VM. Credentials are re-seeded. */
  async reset(): Promise<void> {
    await this.ec2.stopAllVms()
    await this.backend.close?.()
    this.state.clear()
    this.faults.clearAll()
    this.requests = []
    this.ec2Buckets.clear()
    this.clock.reset()
    this.iamPropagationDelayMs = this.options.iamPropagationDelayMs ?? 0
    this.seedCredentials()
  }

  /** Stops every VM and the server. */
  async close(): Promise<void> {
    await this.ec2.stopAllVms()
    await this.backend.close?.()
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }

  private seedCredentials(): void {
    this.addUser({accessKeyId: FAKE_ACCESS_KEY_ID, secretAccessKey: FAKE_SECRET_ACCESS_KEY})
    for (const u of this.options.users ?? []) this.addUser(u)
  }

  // ---------------------------------------------------------------- HTTP

  private async readBody(req: IncomingMessage): Promise<Buffer | undefined> {
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of req) {
      size += (chunk as Buffer).length
      if (size > MAX_BODY) return undefined
      chunks.push(chunk as Buffer)
    }
    return Buffer.concat(chunks)
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake.invalid')
    if (url.pathname.startsWith('/__fake/')) {
      if (this.options.admin === false) {
        res.statusCode = 404
        res.end()
        return
      }
      const body = await this.readBody(req)
      await this.admin(req.method ?? 'GET', url.pathname.slice('/__fake/'.length), body?.toString('utf8') ?? '', res)
      return
    }
    const body = await this.readBody(req)
    const requestId = randomUUID()
    const auth = parseAuthorization(header(req, 'authorization'))
    const pathService = /^\/(ec2|iam|sts)(\/|$)/.exec(url.pathname)?.[1] as FakeService | undefined
    const scopeService = auth?.service
    const service: FakeService | undefined =
      scopeService === 'ec2' || scopeService === 'iam' || scopeService === 'sts' ? scopeService : scopeService === undefined ? pathService : undefined
    const flat = parseForm(req.method === 'GET' ? url.search.slice(1) : (body ?? Buffer.alloc(0)).toString('utf8'))
    const action = flat.Action ?? ''
    const region = auth?.region ?? 'us-east-1'
    const params: Record<string, string> = {...flat}
    delete params.Action
    delete params.Version
    const sdkRequest = /attempt=([0-9]+);\s*max=([0-9]+)/.exec(header(req, 'amz-sdk-request') ?? '')
    const invocationId = header(req, 'amz-sdk-invocation-id')
    const entry: RequestLogEntry = {
      seq: ++this.seq,
      time: this.clock.now(),
      service: service ?? 'unknown',
      action,
      region,
      ...(auth ? {accessKeyId: auth.accessKeyId} : {}),
      params,
      ...(sdkRequest ? {attempt: Number(sdkRequest[1]), maxAttempts: Number(sdkRequest[2])} : {}),
      ...(invocationId ? {invocationId} : {}),
      requestId,
      status: 0,
      outcome: 'ok',
    }
    this.requests.push(entry)

    const svc: FakeService = service ?? 'ec2'
    let result: {status: number; body: string; headers: Record<string, string>}
    try {
      if (body === undefined) throw new AwsApiError('RequestEntityTooLarge', 'Request body too large', 413)
      if (!service) {
        throw scopeService
          ? new AwsApiError('InvalidAction', `The fake serves ec2, iam and sts, not ${scopeService}`, 400)
          : new AwsApiError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403)
      }
      const credential = this.authenticate(req, body, url, svc, auth)
      if (!isRegionName(region)) throw new AwsApiError('InvalidRegion', `Region ${region} is not valid`, 400)
      await this.ec2.tick()
      const query = new QueryParams(flat)
      const ctx: RequestContext = {service: svc, action, region, params: query, requestId, credential}
      const fault = this.faults.takeRequestError({service: svc, action, region, accessKeyId: credential.accessKeyId, params: query})
      if (fault) throw fault
      if (svc === 'ec2' && /^(Describe|Get)/.test(action) && !this.takeEc2Token(region)) throw new AwsApiError('RequestLimitExceeded', 'Request limit exceeded.', 503)
      const handler = Object.prototype.hasOwnProperty.call(this.handlers[svc], action) ? this.handlers[svc][action] : undefined
      if (!handler) {
        throw svc === 'ec2'
          ? new AwsApiError('InvalidAction', `The action ${action} is not valid for this web service.`, 400)
          : new AwsApiError('InvalidAction', `Could not find operation ${action} for version ${flat.Version ?? ''}`, 400)
      }
      if (svc === 'ec2' && query.bool('DryRun') === true && !EC2_SELF_DRY_RUN.has(action)) {
        throw new AwsApiError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412)
      }
      const out = await handler(ctx)
      result = {status: 200, body: this.success(svc, action, requestId, out), headers: {}}
    } catch (err) {
      if (!(err instanceof AwsApiError)) throw err
      entry.errorCode = err.code
      entry.outcome = 'error'
      result = {status: err.status, body: this.failure(svc, err, requestId), headers: err.headers}
    }
    if (service && this.faults.takeLoseResponse({service, action, region, accessKeyId: auth?.accessKeyId ?? '', params: new QueryParams(flat)})) {
      entry.outcome = 'lost'
      entry.status = 0
      this.options.log?.(`${action}: response lost (fault)`)
      req.socket.destroy()
      return
    }
    entry.status = result.status
    res.writeHead(result.status, {
      'Content-Type': svc === 'ec2' ? 'text/xml;charset=UTF-8' : 'text/xml',
      'x-amzn-RequestId': requestId,
      ...result.headers,
    })
    res.end(result.body)
  }

  private readonly ec2Buckets = new Map<string, TokenBucket>()

  /** One token of the region's non-mutating bucket (the fake is one account); true when rate limiting is off. */
  private takeEc2Token(region: string): boolean {
    const option = this.options.ec2RequestRate
    if (!option) return true
    let bucket = this.ec2Buckets.get(region)
    if (!bucket) {
      bucket = new TokenBucket(option === true ? EC2_NON_MUTATING_RATE : option, this.clock.nowMs())
      this.ec2Buckets.set(region, bucket)
    }
    return bucket.take(this.clock.nowMs())
  }

  private authenticate(req: IncomingMessage, body: Buffer, url: URL, service: FakeService, auth: ReturnType<typeof parseAuthorization>): FakeCredential {
    const ec2 = service === 'ec2'
    const invalid = (): AwsApiError =>
      ec2
        ? new AwsApiError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401)
        : new AwsApiError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403)
    if (!auth) {
      throw ec2 ? new AwsApiError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401) : new AwsApiError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403)
    }
    if (service === 'iam' && auth.region !== 'us-east-1') {
      throw new AwsApiError('SignatureDoesNotMatch', `Credential should be scoped to a valid region, not '${auth.region}'. `, 403)
    }
    let cred = this.state.credentials.get(auth.accessKeyId)
    if (!cred && this.options.acceptUnknownAccessKeys) cred = this.addUser({accessKeyId: auth.accessKeyId, secretAccessKey: ''})
    if (!cred || cred.revoked) throw invalid()
    const token = header(req, 'x-amz-security-token')
    if ((cred.sessionToken ?? undefined) !== (token ?? undefined)) throw invalid()
    const verify = (this.options.verifySignatures ?? true) && !(this.options.acceptUnknownAccessKeys && cred.secretAccessKey === '')
    if (verify) {
      const problem = verifySignature({method: req.method ?? 'POST', url: `${url.pathname}${url.search}`, headers: req.headers, body}, auth, cred.secretAccessKey)
      if (problem) {
        throw ec2
          ? new AwsApiError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401)
          : new AwsApiError(
              'SignatureDoesNotMatch',
              'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
              403,
            )
      }
    }
    if (cred.expired || (cred.expiration !== undefined && cred.expiration.getTime() <= this.clock.nowMs())) {
      throw ec2 ? new AwsApiError('RequestExpired', 'Request has expired.', 400) : new AwsApiError('ExpiredToken', 'The security token included in the request is expired', 403)
    }
    return cred
  }

  private success(service: FakeService, action: string, requestId: string, body: XmlObject): string {
    if (service === 'ec2') return xmlDocument(`${action}Response`, NAMESPACES.ec2, {requestId, ...body})
    const hasResult = Object.values(body).some((v) => v !== undefined)
    return xmlDocument(`${action}Response`, NAMESPACES[service], {
      ...(hasResult ? {[`${action}Result`]: body} : {}),
      ResponseMetadata: {RequestId: requestId},
    })
  }

  private failure(service: FakeService, err: AwsApiError, requestId: string): string {
    if (service === 'ec2') return xmlDocument('Response', undefined, {Errors: {Error: {Code: err.code, Message: err.message}}, RequestID: requestId})
    return xmlDocument('ErrorResponse', NAMESPACES[service], {Error: {Type: err.type, Code: err.code, Message: err.message}, RequestId: requestId})
  }

  // ---------------------------------------------------------------- admin (standalone use)

  /** A JSON-friendly summary of the state (what `GET /__fake/state` returns). */
  snapshot(): Record<string, unknown> {
    return {
      instances: [...this.state.instances.values()].map((i) => ({
        instanceId: i.instanceId,
        region: i.region,
        availabilityZone: i.availabilityZone,
        state: i.state,
        stateReason: i.stateReason,
        instanceType: i.instanceType,
        market: i.market,
        publicIpAddress: i.publicIpAddress,
        privateIpAddress: i.privateIpAddress,
        keyName: i.keyName,
        iamInstanceProfile: i.iamInstanceProfile?.name,
        metadataOptions: i.metadataOptions,
        tags: i.tags,
        backend: i.backend,
      })),
      volumes: [...this.state.volumes.values()],
      keyPairs: [...this.state.keyPairs.values()].map((k) => ({keyName: k.keyName, region: k.region, keyPairId: k.keyPairId, keyType: k.keyType})),
      securityGroups: [...this.state.securityGroups.values()].filter((g) => !g.isDefault),
      roles: [...this.state.roles.values()].map((r) => ({
        roleName: r.roleName,
        arn: r.arn,
        maxSessionDuration: r.maxSessionDuration,
        trustPolicy: safeJson(r.assumeRolePolicyDocument),
        inlinePolicies: Object.fromEntries([...r.inlinePolicies].map(([n, d]) => [n, safeJson(d)])),
        attachedPolicies: [...r.attachedPolicies],
        tags: r.tags,
      })),
      instanceProfiles: [...this.state.instanceProfiles.values()],
      sessions: this.state.sessions,
      faults: this.faults.list(),
    }
  }

  private async admin(method: string, path: string, body: string, res: ServerResponse): Promise<void> {
    const send = (status: number, value: unknown): void => {
      res.writeHead(status, {'Content-Type': 'application/json'})
      res.end(`${JSON.stringify(value, null, 2)}\n`)
    }
    let input: Record<string, unknown> = {}
    try {
      input = body.trim() ? (JSON.parse(body) as Record<string, unknown>) : {}
    } catch {
      send(400, {error: 'body must be JSON'})
      return
    }
    const num = (k: string): number | undefined => (typeof input[k] === 'number' ? (input[k] as number) : undefined)
    const str = (k: string): string | undefined => (typeof input[k] === 'string' ? (input[k] as string) : undefined)
    try {
      if (method === 'GET' && path === 'health') return send(200, {ok: true, url: this.url, backend: this.backend.name})
      if (method === 'GET' && path === 'state') return send(200, this.snapshot())
      if (method === 'GET' && path === 'requests') return send(200, this.requests)
      if (method === 'DELETE' && path === 'faults') {
        this.faults.clearAll()
        return send(200, {ok: true})
      }
      if (method === 'POST' && path === 'reset') {
        await this.reset()
        return send(200, {ok: true})
      }
      if (method === 'POST' && path === 'preempt') {
        await this.preempt(str('instanceId') ?? '')
        return send(200, {ok: true})
      }
      if (method === 'POST' && path === 'step') {
        await this.stepInstances(Array.isArray(input.instanceIds) ? (input.instanceIds as string[]) : undefined)
        return send(200, {ok: true})
      }
      if (method === 'POST' && path === 'clock') {
        this.clock.advance(num('advanceMs') ?? 0)
        return send(200, {now: this.clock.now()})
      }
      if (method === 'POST' && path === 'faults') {
        const type = str('type')
        const count = num('count')
        const c = count !== undefined ? {count} : {}
        let handle
        switch (type) {
          case 'throttle':
            handle = this.faults.throttle(str('action') ?? '', {...c, ...(str('code') ? {code: str('code') as string} : {})})
            break
          case 'error':
            handle = this.faults.error(str('action') ?? '', {...c, code: str('code') ?? 'InternalError', ...(str('message') ? {message: str('message') as string} : {}), ...(num('status') ? {status: num('status') as number} : {})})
            break
          case 'lose-response':
            handle = this.faults.loseResponse(str('action') ?? '', c)
            break
          case 'insufficient-capacity':
            handle = this.faults.insufficientCapacity({
              ...c,
              ...(str('availabilityZone') ? {availabilityZone: str('availabilityZone') as string} : {}),
              ...(str('instanceType') ? {instanceType: str('instanceType') as string} : {}),
              ...(input.spotOnly === true ? {spotOnly: true} : {}),
            })
            break
          case 'spot-max-price-too-low':
            handle = this.faults.spotMaxPriceTooLow(c)
            break
          case 'vcpu-limit-exceeded':
            handle = this.faults.vcpuLimitExceeded(c)
            break
          case 'iam-propagation':
            if (num('delayMs') !== undefined) this.iamPropagationDelayMs = num('delayMs') as number
            handle = this.faults.iamPropagation({failures: count ?? 0})
            break
          case 'expire-credentials':
            this.expireCredentials(str('accessKeyId') ?? '')
            return send(200, {ok: true})
          case 'revoke-credentials':
            this.revokeCredentials(str('accessKeyId') ?? '')
            return send(200, {ok: true})
          default:
            return send(400, {error: `unknown fault type ${type}`})
        }
        return send(200, {id: handle.id, kind: handle.kind})
      }
      send(404, {error: `no admin endpoint ${method} /__fake/${path}`})
    } catch (err) {
      send(400, {error: (err as Error).message})
    }
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v.join(',') : v
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** Creates and starts a fake; `close()` it when done. */
export async function startFakeAws(options: FakeAwsOptions = {}): Promise<FakeAws> {
  return new FakeAws(options).listen()
}
