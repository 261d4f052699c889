/**
 * Fault injection for the fake. Every injector returns a {@link FaultHandle} whose `hits` says
 * how often it fired, so a test can assert the fault really happened; `count` defaults to 1 for
 * one-shot faults and to `Infinity` (until cleared) for conditions like missing capacity.
 */
import {AwsApiError} from './errors.js'
import type {QueryParams} from './query.js'

/** The services the fake serves. */
export type FakeService = 'ec2' | 'iam' | 'sts'

/** What a fault predicate sees of a request. */
export interface FaultRequest {
  service: FakeService
  action: string
  region: string
  accessKeyId: string
  params: QueryParams
}

/** What RunInstances resolved before launching, for capacity/price/limit faults. */
export interface LaunchRequest {
  region: string
  availabilityZone: string
  instanceType: string
  market: 'on-demand' | 'spot'
  maxPrice?: string
  count: number
  vcpus: number
}

/** Common matching options. */
export interface FaultMatch {
  /** Only this service (default: any that has the action). */
  service?: FakeService
  /** Only requests signed for this region. */
  region?: string
  /** Extra predicate. */
  when?: (req: FaultRequest) => boolean
  /** How many times it fires; `Infinity` until cleared. */
  count?: number
}

/** A live fault: inspect `hits`, stop it with `clear()`. */
export interface FaultHandle {
  readonly id: number
  readonly kind: string
  /** Times it fired so far. */
  readonly hits: number
  /** Times it may still fire. */
  readonly remaining: number
  clear(): void
}

interface Rule {
  id: number
  kind: string
  hits: number
  remaining: number
  action?: string
  service?: FakeService
  region?: string
  when?: (req: FaultRequest) => boolean
  error?: (service: FakeService) => AwsApiError
  launch?: (req: LaunchRequest) => AwsApiError | undefined
  profile?: string
}

/** Options for {@link FaultInjector.throttle}. */
export interface ThrottleOptions extends FaultMatch {
  /** Error code; default `RequestLimitExceeded` (EC2, HTTP 503) or `Throttling` (IAM/STS, HTTP 400). */
  code?: string
  /** Adds a `Retry-After` header. */
  retryAfterSeconds?: number
}

/** Options for {@link FaultInjector.error}. */
export interface ErrorFaultOptions extends FaultMatch {
  code: string
  message?: string
  /** HTTP status (default 400). */
  status?: number
  headers?: Record<string, string>
}

/** Options for {@link FaultInjector.insufficientCapacity}. */
export interface CapacityFaultOptions {
  /** Only this zone (e.g. `us-east-1a`); default every zone. */
  availabilityZone?: string
  region?: string
  instanceType?: string
  /** Only spot requests (`There is no Spot capacity available…`). */
  spotOnly?: boolean
  /** Default `Infinity`. */
  count?: number
}

/** Options for {@link FaultInjector.iamPropagation}. */
export interface PropagationFaultOptions {
  /** Fail the next N RunInstances that name an instance profile. */
  failures?: number
  /** Only for this profile name. */
  profileName?: string
}

/** The registry the server and handlers consult. */
export class FaultInjector {
  private rules: Rule[] = []
  private nextId = 1

  private add(rule: Omit<Rule, 'id' | 'hits'>): FaultHandle {
    const r: Rule = {...rule, id: this.nextId++, hits: 0}
    this.rules.push(r)
    const rules = this.rules
    return {
      id: r.id,
      kind: r.kind,
      get hits() {
        return r.hits
      },
      get remaining() {
        return r.remaining
      },
      clear() {
        r.remaining = 0
        const i = rules.indexOf(r)
        if (i >= 0) rules.splice(i, 1)
      },
    }
  }

  /** The next `count` (default 1) calls of `action` are throttled. */
  throttle(action: string, options: ThrottleOptions = {}): FaultHandle {
    const headers: Record<string, string> = options.retryAfterSeconds !== undefined ? {'Retry-After': String(options.retryAfterSeconds)} : {}
    return this.add({
      kind: 'throttle',
      action,
      remaining: options.count ?? 1,
      ...pick(options),
      error: (service) =>
        service === 'ec2'
          ? new AwsApiError(options.code ?? 'RequestLimitExceeded', 'Request limit exceeded.', 503, headers)
          : new AwsApiError(options.code ?? 'Throttling', 'Rate exceeded', 400, headers),
    })
  }

  /** The next `count` (default 1) calls of `action` fail with the given error. */
  error(action: string, options: ErrorFaultOptions): FaultHandle {
    return this.add({
      kind: 'error',
      action,
      remaining: options.count ?? 1,
      ...pick(options),
      error: () => new AwsApiError(options.code, options.message ?? `Injected ${options.code}`, options.status ?? 400, options.headers ?? {}),
    })
  }

  /**
   * The next `count` (default 1) calls of `action` are performed, then the connection is
   * destroyed before any response byte: the client sees a network error and (the SDK) retries.
   */
  loseResponse(action: string, options: FaultMatch = {}): FaultHandle {
    return this.add({kind: 'lose-response', action, remaining: options.count ?? 1, ...pick(options)})
  }

  /** RunInstances fails with `InsufficientInstanceCapacity` (HTTP 500, as EC2 does) while this holds. */
  insufficientCapacity(options: CapacityFaultOptions = {}): FaultHandle {
    return this.add({
      kind: 'insufficient-capacity',
      action: 'RunInstances',
      remaining: options.count ?? Infinity,
      launch: (req) => {
        if (options.availabilityZone && req.availabilityZone !== options.availabilityZone) return undefined
        if (options.region && req.region !== options.region) return undefined
        if (options.instanceType && req.instanceType !== options.instanceType) return undefined
        if (options.spotOnly && req.market !== 'spot') return undefined
        if (req.market === 'spot') return new AwsApiError('InsufficientInstanceCapacity', 'There is no Spot capacity available that matches your request.', 500)
        return new AwsApiError(
          'InsufficientInstanceCapacity',
          `We currently do not have sufficient ${req.instanceType} capacity in the Availability Zone you requested (${req.availabilityZone}). Our system will be working on provisioning additional capacity. You can currently get ${req.instanceType} capacity by not specifying an Availability Zone in your request or choosing other zones.`,
          500,
        )
      },
    })
  }

  /** Spot RunInstances fails with `SpotMaxPriceTooLow` (besides the real check against `MaxPrice`). */
  spotMaxPriceTooLow(options: {count?: number; minimumPrice?: string} = {}): FaultHandle {
    return this.add({
      kind: 'spot-max-price-too-low',
      action: 'RunInstances',
      remaining: options.count ?? Infinity,
      launch: (req) =>
        req.market !== 'spot'
          ? undefined
          : new AwsApiError(
              'SpotMaxPriceTooLow',
              `Your Spot request price of ${req.maxPrice ?? 'on-demand'} is lower than the minimum required Spot request fulfillment price of ${options.minimumPrice ?? '9.9999'}.`,
              400,
            ),
    })
  }

  /** RunInstances fails with `VcpuLimitExceeded` (besides the real check against `limits`). */
  vcpuLimitExceeded(options: {count?: number; limit?: number} = {}): FaultHandle {
    return this.add({
      kind: 'vcpu-limit-exceeded',
      action: 'RunInstances',
      remaining: options.count ?? Infinity,
      launch: () => vcpuLimitError(options.limit ?? 0),
    })
  }

  /**
   * The next N RunInstances naming an instance profile fail with
   * `InvalidParameterValue: … Invalid IAM Instance Profile name` (IAM propagation delay);
   * see also the time-based `iamPropagationDelayMs` option of the fake.
   */
  iamPropagation(options: PropagationFaultOptions = {}): FaultHandle {
    return this.add({kind: 'iam-propagation', action: 'RunInstances', remaining: options.failures ?? 1, ...(options.profileName ? {profile: options.profileName} : {})})
  }

  /** @internal Error faults (throttle/error) for a request; consumes one use. */
  takeRequestError(req: FaultRequest): AwsApiError | undefined {
    const rule = this.find(req, (r) => r.error !== undefined)
    return rule?.error?.(req.service)
  }

  /** @internal Whether to lose this request's response; consumes one use. */
  takeLoseResponse(req: FaultRequest): boolean {
    return this.find(req, (r) => r.kind === 'lose-response') !== undefined
  }

  /** @internal Launch-time faults (capacity, price, vCPU); consumes one use of the first that fires. */
  takeLaunchFault(req: LaunchRequest): AwsApiError | undefined {
    for (const r of this.rules) {
      if (!r.launch || r.remaining <= 0) continue
      const err = r.launch(req)
      if (err) {
        this.consume(r)
        return err
      }
    }
    return undefined
  }

  /** @internal Whether this launch should see the profile as not yet propagated. */
  takePropagationFailure(profileName: string): boolean {
    for (const r of this.rules) {
      if (r.kind !== 'iam-propagation' || r.remaining <= 0) continue
      if (r.profile && r.profile !== profileName) continue
      this.consume(r)
      return true
    }
    return false
  }

  /** Removes every fault. */
  clearAll(): void {
    this.rules = []
  }

  /** The live faults (for debugging and the admin endpoint). */
  list(): {id: number; kind: string; action?: string; hits: number; remaining: number}[] {
    return this.rules.map((r) => ({id: r.id, kind: r.kind, ...(r.action ? {action: r.action} : {}), hits: r.hits, remaining: r.remaining}))
  }

  private find(req: FaultRequest, kind: (r: Rule) => boolean): Rule | undefined {
    for (const r of this.rules) {
      if (!kind(r) || r.remaining <= 0) continue
      if (r.action && r.action !== req.action) continue
      if (r.service && r.service !== req.service) continue
      if (r.region && r.region !== req.region) continue
      if (r.when && !r.when(req)) continue
      this.consume(r)
      return r
    }
    return undefined
  }

  private consume(r: Rule): void {
    r.hits++
    r.remaining--
    if (r.remaining <= 0) {
      const i = this.rules.indexOf(r)
      if (i >= 0) this.rules.splice(i, 1)
    }
  }
}

function pick(o: FaultMatch): Pick<Rule, 'service' | 'region' | 'when'> {
  return {...(o.service ? {service: o.service} : {}), ...(o.region ? {region: o.region} : {}), ...(o.when ? {when: o.when} : {})}
}

/** The `VcpuLimitExceeded` error EC2 returns. */
export function vcpuLimitError(limit: number): AwsApiError {
  return new AwsApiError(
    'VcpuLimitExceeded',
    `You have requested more vCPU capacity than your current vCPU limit of ${limit} allows for the instance bucket that the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.`,
    400,
  )
}
