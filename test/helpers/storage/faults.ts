/**
 * Fault injection shared by the storage rigs (S3 emulator and GCS fake).
 *
 * A rig owns one {@link FaultList}. Before serving a request it asks the list for the
 * first live rule matching the request; the rule's {@link FaultRule.mode} then decides
 * what the rig does instead of (or after) the real operation. Rules are consumed in the
 * order they were added, each for at most {@link FaultRule.times} requests.
 */

/** What the rig does with a request matched by a fault rule. */
export type FaultMode =
  /** Answer the error without performing the operation (the request never took effect). */
  | 'error'
  /** Perform the operation, then answer the error instead of the real result. */
  | 'error-after'
  /** Perform the operation, then destroy the socket without answering ("lost response"). */
  | 'lose-response'
  /** Destroy the socket without performing the operation (request lost on the way in). */
  | 'drop';

/** One fault-injection rule. Every given matcher must match; omitted matchers match anything. */
export interface FaultRule {
  /** HTTP method, case-insensitive (`'PUT'`). HEAD requests are matched by `'HEAD'` only. */
  method?: string;
  /**
   * Tested against the request path as the client sent it, without the query string
   * (S3: `/bucket/key`; GCS: `/storage/v1/b/bucket/o/name`, `/upload/storage/v1/b/bucket/o`).
   */
  path?: RegExp;
  /** Extra predicate, e.g. on a query parameter (`q => q.has('tagging')`) or a header. */
  when?: (query: URLSearchParams, headers: Record<string, string | string[] | undefined>) => boolean;
  /** How many matching requests this rule applies to; default 1. `Infinity` is allowed. */
  times?: number;
  /** Default `'error'`. */
  mode?: FaultMode;
  /** Status of the injected error (modes `error`, `error-after`); default 503. */
  status?: number;
  /**
   * Error code in the body. S3: the XML `<Code>` (default `SlowDown` for 503,
   * `InternalError` otherwise). GCS: the `reason` of the JSON error (default `backendError`).
   */
  code?: string;
  /** Error message in the body. */
  message?: string;
  /** Extra response headers on the injected error, e.g. `{'retry-after': '1'}`. */
  headers?: Record<string, string>;
}

/** Live view of an added rule. */
export interface FaultHandle {
  /** Requests this rule has matched so far. */
  readonly hits: number;
  /** Requests it will still match (`Infinity` for an unbounded rule). */
  readonly remaining: number;
  /** Stop matching; already-matched requests are unaffected. */
  cancel(): void;
}

/** A rule that matched a request, as handed to the rig. */
export interface MatchedFault {
  readonly mode: FaultMode;
  readonly status: number;
  readonly code?: string;
  readonly message?: string;
  readonly headers: Record<string, string>;
}

interface LiveRule {
  rule: FaultRule;
  hits: number;
  remaining: number;
}

/** Ordered list of fault rules; see the module comment. Not shared between rigs. */
export class FaultList {
  private rules: LiveRule[] = [];

  /** Adds a rule and returns a handle to observe or cancel it. */
  add(rule: FaultRule): FaultHandle {
    const live: LiveRule = {rule, hits: 0, remaining: rule.times ?? 1};
    if (!(live.remaining > 0)) throw new RangeError('FaultRule.times must be > 0');
    this.rules.push(live);
    return {
      get hits() {
        return live.hits;
      },
      get remaining() {
        return live.remaining;
      },
      cancel: () => {
        live.remaining = 0;
        this.rules = this.rules.filter((r) => r !== live);
      },
    };
  }

  /** Removes every rule. */
  clear(): void {
    for (const r of this.rules) r.remaining = 0;
    this.rules = [];
  }

  /** Number of rules that can still match. */
  get pending(): number {
    return this.rules.length;
  }

  /**
   * Finds the first live rule matching the request and consumes one use of it.
   * Called by the rigs once per request, before any other processing.
   */
  take(
    method: string,
    path: string,
    query: URLSearchParams,
    headers: Record<string, string | string[] | undefined>,
  ): MatchedFault | undefined {
    const upper = method.toUpperCase();
    const live = this.rules.find(
      ({rule}) =>
        (rule.method === undefined || rule.method.toUpperCase() === upper) &&
        (rule.path === undefined || testRegExp(rule.path, path)) &&
        (rule.when === undefined || rule.when(query, headers)),
    );
    if (!live) return undefined;
    live.hits++;
    live.remaining--;
    if (live.remaining <= 0) this.rules = this.rules.filter((r) => r !== live);
    const {rule} = live;
    return {
      mode: rule.mode ?? 'error',
      status: rule.status ?? 503,
      code: rule.code,
      message: rule.message,
      headers: rule.headers ?? {},
    };
  }
}

/** `RegExp.test` without the `lastIndex` trap of global/sticky expressions. */
function testRegExp(re: RegExp, s: string): boolean {
  re.lastIndex = 0;
  return re.test(s);
}

/**
 * Serializes async work per key: `run(k, fn)` starts `fn` only after every earlier
 * `run(k, …)` has settled. Different keys run concurrently.
 */
export class KeyedMutex {
  private tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
