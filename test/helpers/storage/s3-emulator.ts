/**
 * In-process S3 emulator for tests: s3rver 3.7.1 plus a Koa middleware that fills the gaps
 * anycloud depends on (see /work/shared/TESTING.md, "Storage emulators on loopback").
 *
 * Added on top of s3rver:
 * - Bucket tagging: PUT/GET/DELETE `?tagging`, kept in memory per bucket
 *   (GET without tags → 404 `NoSuchTagSet`).
 * - `GetBucketLocation` answers the region the bucket was created with (the CreateBucket
 *   body's `LocationConstraint`; empty for us-east-1); HEAD/GET bucket carry
 *   `x-amz-bucket-region`.
 * - CreateBucket checks like AWS: an explicit `LocationConstraint` of `us-east-1` → 400
 *   `InvalidLocationConstraint`; a request signed for region R ≠ us-east-1 whose constraint
 *   (empty = us-east-1) differs from R → 400 `IllegalLocationConstraintException`.
 * - CreateBucket of an existing bucket → 409 `BucketAlreadyOwnedByYou` (every bucket of this
 *   emulator belongs to the caller), or 200 when `legacyUsEast1Recreate` is on and the bucket
 *   is in us-east-1 (AWS's legacy behaviour, which resets ACLs; counted in `recreates`).
 *   Names in `foreignBuckets` belong to "another account": CreateBucket → 409
 *   `BucketAlreadyExists`, every other request on them → 403 `AccessDenied`.
 * - Conditional writes: PutObject / CopyObject / CompleteMultipartUpload with
 *   `If-None-Match: *` → 412 `PreconditionFailed` when the key exists; `If-Match: <etag>` →
 *   412 when the current ETag differs, 404 `NoSuchKey` when there is no object. DeleteObject
 *   with `If-Match` likewise. Check and write are atomic: every write, delete and read of a
 *   key is serialized per key (reads are buffered inside the critical section, so a GET
 *   never sees a half-written object).
 * - `ignoreConditionalHeaders`: behave like a broken store that ignores those headers
 *   (the write happens and answers 200), for startup-probe tests.
 * - Fault injection ({@link FaultList}): the next N requests matching method/path answer a
 *   chosen status and XML error code, or perform the operation and lose the response.
 * - A log of every request (`requests`) so tests can assert what was (not) sent.
 *
 * Contract and limits:
 * - Listens on 127.0.0.1 with an OS-chosen port; path-style addressing only
 *   (clients need `forcePathStyle: true`). Data lives in a temp directory removed by `stop()`.
 * - Credentials: access key `S3RVER`, secret `S3RVER` (s3rver's built-in account). s3rver
 *   checks SigV4 signatures on the routes it serves; the routes answered by the middleware
 *   (tagging, location, 412s, faults, foreign buckets) only check the access key id.
 *   Anonymous requests are accepted, as in s3rver.
 * - The AWS SDK must not use aws-chunked uploads (s3rver stores the chunk framing): pass
 *   {@link s3ClientConfig}, which sets `requestChecksumCalculation: 'WHEN_REQUIRED'`.
 * - The machine sets `AWS_CA_BUNDLE`. It is irrelevant for the JS SDK over plain HTTP, but
 *   rclone's S3 backend fails every call while it is set: {@link rcloneS3Env} documents the
 *   env to use and `rcloneEnv()` (rclone.ts) removes it.
 * - Tests must also set `AWS_EC2_METADATA_DISABLED=true` and pass explicit credentials, so
 *   no credential chain ever probes the instance metadata address.
 */
import {createRequire} from 'node:module';
import {mkdtemp, rm} from 'node:fs/promises';
import type {IncomingHttpHeaders, IncomingMessage, Server, ServerResponse} from 'node:http';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {Readable} from 'node:stream';
import type {AddressInfo} from 'node:net';
import type {S3ClientConfig} from '@aws-sdk/client-s3';
import {FaultList, KeyedMutex, type MatchedFault} from './faults.js';

const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------------------
// Minimal typings for the parts of s3rver (CommonJS, untyped) and Koa that we touch.

interface S3rverStore {
  getBucket(name: string): Promise<unknown | null>;
  getMetadata(bucket: string, key: string): Promise<Record<string, string>>;
  reset(): void;
}

type KoaNext = () => Promise<void>;

interface KoaContext {
  method: string;
  path: string;
  querystring: string;
  headers: IncomingHttpHeaders;
  req: IncomingMessage;
  res: ServerResponse;
  status: number;
  body: unknown;
  type: string;
  respond?: boolean;
  set(field: string, value: string): void;
}

type KoaMiddleware = ((ctx: KoaContext, next: KoaNext) => Promise<void>) & {name: string};

interface S3rverInstance {
  middleware: KoaMiddleware[];
  store: S3rverStore;
  httpServer?: Server;
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

type S3rverCtor = new (options: Record<string, unknown>) => S3rverInstance;

interface S3ErrorInstance extends Error {
  status: number;
  expose: boolean;
}
type S3ErrorCtor = new (code: string, message: string, detail?: Record<string, unknown>) => S3ErrorInstance;

const S3rver = require('s3rver') as S3rverCtor;
const S3Error = require('s3rver/lib/models/error.js') as S3ErrorCtor;

/** Statuses of error codes that s3rver's table lacks (it would answer 500). */
const EXTRA_STATUS: Record<string, number> = {
  IllegalLocationConstraintException: 400,
  InvalidTag: 400,
  NoSuchTagSet: 404,
};

/** An S3 error rendered by s3rver's XML error handler, with the right HTTP status. */
function s3Err(code: string, message: string, detail?: Record<string, unknown>): S3ErrorInstance {
  const err = new S3Error(code, message, detail);
  const status = EXTRA_STATUS[code];
  if (status !== undefined) {
    err.status = status;
    err.expose = status < 500;
  }
  return err;
}

// ---------------------------------------------------------------------------------------
// Public types

/** Options for {@link startS3Emulator}. */
export interface S3EmulatorOptions {
  /** Region the emulator reports for clients; default `us-east-1`. */
  region?: string;
  /** Bucket names owned by "another account" (CreateBucket → `BucketAlreadyExists`). */
  foreignBuckets?: Iterable<string>;
  /** Start as a broken store that ignores `If-None-Match` / `If-Match`; default false. */
  ignoreConditionalHeaders?: boolean;
  /** Re-creating an owned us-east-1 bucket answers 200 (AWS legacy) instead of 409. */
  legacyUsEast1Recreate?: boolean;
  /**
   * Leave bucket tagging to plain s3rver, which answers `NotImplemented` (HTTP 501), as Cloudflare
   * R2 and Backblaze B2 do; default false (tagging kept in memory).
   */
  noTagging?: boolean;
}

/** Behaviour switches that tests may flip while the emulator runs. */
export interface S3EmulatorSettings {
  ignoreConditionalHeaders: boolean;
  legacyUsEast1Recreate: boolean;
}

/** What the emulator keeps about a bucket beyond s3rver's store. */
export interface S3BucketState {
  /** Region from the CreateBucket `LocationConstraint` (`us-east-1` when none). */
  region: string;
  /** Tags set with PutBucketTagging, or undefined when none. */
  tags?: Record<string, string>;
  /** How many times a CreateBucket re-created it with 200 (legacyUsEast1Recreate). */
  recreates: number;
}

/** One request seen by the emulator. */
export interface S3RequestRecord {
  method: string;
  /** Path as sent, e.g. `/bucket/key`. */
  path: string;
  /** Raw query string without `?`. */
  query: string;
  /** Final status; 0 when the response was lost or the socket dropped. */
  status: number;
  /** Fault mode applied, if any. */
  fault?: string;
}

/** A running emulator; see the module comment for its behaviour. */
export interface S3Emulator {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Region clients should sign for (the emulator's home region). */
  region: string;
  /** s3rver's data directory (a temp directory removed by `stop()`). */
  dataDir: string;
  /** Mutable behaviour switches. */
  settings: S3EmulatorSettings;
  /** Mutable set of names owned by another account. */
  foreignBuckets: Set<string>;
  /**
   * Access key ids accepted besides the emulator's own (e.g. session credentials an STS fake of
   * the same account minted). Signatures are not verified, as for the emulator's own key.
   */
  extraAccessKeys: Set<string>;
  /** Accepts one more access key (see {@link S3Emulator.extraAccessKeys}): here and in s3rver's account. */
  acceptAccessKey(accessKeyId: string, secretAccessKey: string): void;
  /** Fault-injection rules. */
  faults: FaultList;
  /** Every request seen since start or the last `reset()`, in arrival order. */
  requests: S3RequestRecord[];
  /** Emulator-side state of a bucket (region, tags), or undefined if unknown. */
  bucketState(name: string): S3BucketState | undefined;
  /** Deletes every bucket and object, tags, faults and the request log; keeps settings. */
  reset(): Promise<void>;
  /** Closes the server (and open connections) and deletes the data directory. */
  stop(): Promise<void>;
}

const ACCESS_KEY_ID = 'S3RVER';
const SECRET_ACCESS_KEY = 'S3RVER';
const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
/** Query parameters that select an S3 subresource (anything else is an ordinary parameter). */
const SUBRESOURCES = new Set([
  'accelerate', 'acl', 'analytics', 'cors', 'delete', 'encryption', 'inventory', 'legal-hold', 'lifecycle',
  'location', 'logging', 'metrics', 'notification', 'object-lock', 'ownershipControls', 'partNumber', 'policy',
  'policyStatus', 'publicAccessBlock', 'replication', 'requestPayment', 'restore', 'retention', 'select',
  'tagging', 'torrent', 'uploadId', 'uploads', 'versionId', 'versioning', 'versions', 'website',
]);

/**
 * Starts an S3 emulator on 127.0.0.1 (OS-chosen port) in a fresh temp directory.
 * The caller must `stop()` it (typically in an `after` hook).
 */
export async function startS3Emulator(options: S3EmulatorOptions = {}): Promise<S3Emulator> {
  const region = options.region ?? 'us-east-1';
  const directory = await mkdtemp(join(tmpdir(), 'anycloud-s3rver-'));
  const settings: S3EmulatorSettings = {
    ignoreConditionalHeaders: options.ignoreConditionalHeaders ?? false,
    legacyUsEast1Recreate: options.legacyUsEast1Recreate ?? false,
  };
  const foreignBuckets = new Set(options.foreignBuckets ?? []);
  const buckets = new Map<string, S3BucketState>();
  const faults = new FaultList();
  const requests: S3RequestRecord[] = [];

  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    vhostBuckets: false,
    resetOnClose: false,
  });
  const extraAccessKeys = new Set<string>();
  const middleware = createGapMiddleware({
    store: server.store,
    region,
    settings,
    foreignBuckets,
    extraAccessKeys,
    buckets,
    faults,
    requests,
    noTagging: options.noTagging ?? false,
  });
  // s3rver composes `app.middleware` when it starts listening; run ours right after the
  // vhost rewrite (so paths are path-style) and before its router.
  const vhostIndex = server.middleware.findIndex((m) => m.name === 'vhost');
  const at = vhostIndex >= 0 ? vhostIndex + 1 : server.middleware.length - 1;
  server.middleware.splice(at, 0, middleware);

  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (err) {
    await rm(directory, {recursive: true, force: true});
    throw err;
  }

  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    accessKeyId: ACCESS_KEY_ID,
    secretAccessKey: SECRET_ACCESS_KEY,
    region,
    dataDir: directory,
    settings,
    foreignBuckets,
    extraAccessKeys,
    acceptAccessKey(accessKeyId, secretAccessKey) {
      extraAccessKeys.add(accessKeyId);
      // s3rver looks the key id up in its account registry (it does not verify SigV4).
      const {DUMMY_ACCOUNT} = createRequire(import.meta.url)('s3rver/lib/models/account.js') as {DUMMY_ACCOUNT: {createKeyPair(id: string, secret: string): void}};
      DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
    },
    faults,
    requests,
    bucketState: (name) => buckets.get(name),
    async reset() {
      server.store.reset();
      buckets.clear();
      faults.clear();
      requests.length = 0;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      faults.clear();
      const closed = server.close();
      server.httpServer?.closeAllConnections();
      await closed;
      await rm(directory, {recursive: true, force: true});
    },
  };
}

/**
 * AWS SDK v3 client configuration for the emulator: endpoint, path style, explicit
 * credentials (no credential chain), and checksums only when an operation requires them
 * (s3rver cannot decode aws-chunked bodies).
 */
export function s3ClientConfig(rig: S3Emulator, region = rig.region): S3ClientConfig {
  return {
    endpoint: rig.endpoint,
    region,
    forcePathStyle: true,
    credentials: {accessKeyId: rig.accessKeyId, secretAccessKey: rig.secretAccessKey},
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
}

/**
 * Environment variables defining an rclone S3 remote `<name>:` on the emulator
 * (checked with rclone 1.60.1 from Debian):
 *
 *     RCLONE_CONFIG_<NAME>_TYPE=s3
 *     RCLONE_CONFIG_<NAME>_PROVIDER=Other
 *     RCLONE_CONFIG_<NAME>_ENV_AUTH=false
 *     RCLONE_CONFIG_<NAME>_ACCESS_KEY_ID=S3RVER
 *     RCLONE_CONFIG_<NAME>_SECRET_ACCESS_KEY=S3RVER
 *     RCLONE_CONFIG_<NAME>_ENDPOINT=http://127.0.0.1:PORT
 *     RCLONE_CONFIG_<NAME>_REGION=us-east-1
 *     RCLONE_CONFIG_<NAME>_FORCE_PATH_STYLE=true
 *
 * `AWS_CA_BUNDLE` must be absent from rclone's environment (with it set, every S3 call
 * fails); combine with `rcloneEnv()` from rclone.ts, which removes it. Remote names cannot
 * contain hyphens.
 */
export function rcloneS3Env(rig: S3Emulator, name = 'S3'): Record<string, string> {
  const p = `RCLONE_CONFIG_${name.toUpperCase()}_`;
  return {
    [`${p}TYPE`]: 's3',
    [`${p}PROVIDER`]: 'Other',
    [`${p}ENV_AUTH`]: 'false',
    [`${p}ACCESS_KEY_ID`]: rig.accessKeyId,
    [`${p}SECRET_ACCESS_KEY`]: rig.secretAccessKey,
    [`${p}ENDPOINT`]: rig.endpoint,
    [`${p}REGION`]: rig.region,
    [`${p}FORCE_PATH_STYLE`]: 'true',
  };
}

// ---------------------------------------------------------------------------------------
// The gap-filling middleware

interface GapState {
  store: S3rverStore;
  region: string;
  settings: S3EmulatorSettings;
  foreignBuckets: Set<string>;
  extraAccessKeys: Set<string>;
  buckets: Map<string, S3BucketState>;
  faults: FaultList;
  requests: S3RequestRecord[];
  noTagging?: boolean;
}

function createGapMiddleware(state: GapState): KoaMiddleware {
  const locks = new KeyedMutex();

  return async function anycloudGaps(ctx: KoaContext, next: KoaNext): Promise<void> {
    const record: S3RequestRecord = {method: ctx.method, path: ctx.path, query: ctx.querystring, status: 0};
    state.requests.push(record);
    const query = new URLSearchParams(ctx.querystring);
    const socket = ctx.req.socket; // kept: ctx.req may be replaced by decodeAwsChunked
    const fault = state.faults.take(ctx.method, ctx.path, query, ctx.headers);
    if (fault) record.fault = fault.mode;

    const serve = () => route(ctx, next, query, state, locks);
    /** Answers the injected error (rendered here: s3rver's error handler drops custom headers). */
    const answerFault = (f: MatchedFault) => {
      const code = f.code ?? (f.status === 503 ? 'SlowDown' : 'InternalError');
      const message = f.message ?? `Injected fault: ${code}`;
      for (const name of ctx.res.getHeaderNames()) ctx.res.removeHeader(name);
      for (const [k, v] of Object.entries(f.headers)) ctx.set(k, v);
      ctx.status = f.status;
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${escapeXml(code)}</Code>` +
        `<Message>${escapeXml(message)}</Message></Error>`;
    };

    try {
      switch (fault?.mode) {
        case undefined:
          await serve();
          break;
        case 'error':
          await drain(ctx.req);
          answerFault(fault);
          break;
        case 'error-after':
          await serve().catch(() => undefined);
          discardBody(ctx);
          answerFault(fault);
          break;
        case 'drop':
          ctx.respond = false;
          socket.destroy();
          return;
        case 'lose-response':
          await serve().catch(() => undefined);
          discardBody(ctx);
          ctx.respond = false;
          socket.destroy();
          return;
      }
      record.status = ctx.status;
    } catch (err) {
      record.status = (err as {status?: number}).status ?? 500;
      throw err;
    }
  };
}

/** Dispatches one request: gap routes answered here, the rest passed to s3rver. */
async function route(
  ctx: KoaContext,
  next: KoaNext,
  query: URLSearchParams,
  state: GapState,
  locks: KeyedMutex,
): Promise<void> {
  const segments = ctx.path.split('/');
  const bucket = segments[1] ? decodeURIComponent(segments[1]) : '';
  const rawKey = segments.slice(2).join('/');
  const key = rawKey ? decodeURIComponent(rawKey) : '';
  if (!bucket) return next(); // ListBuckets

  checkAccessKey(ctx, state.extraAccessKeys);
  const method = ctx.method;
  // No S3 subresource in the query (SDKs add harmless parameters such as `x-id=PutObject`).
  const plain = ![...query.keys()].some((k) => SUBRESOURCES.has(k));

  if (state.foreignBuckets.has(bucket)) {
    await drain(ctx.req);
    if (method === 'PUT' && !key && plain) {
      throw s3Err('BucketAlreadyExists', 'The requested bucket name is not available. ' +
        'The bucket namespace is shared by all users of the system. Please select a different name and try again.',
      {BucketName: bucket});
    }
    throw s3Err('AccessDenied', 'Access Denied');
  }

  if (!key) {
    // ---- bucket-level operations
    if (method === 'PUT' && plain) {
      return locks.run(`bucket:${bucket}`, () => createBucket(ctx, next, bucket, state));
    }
    if (method === 'DELETE' && plain) {
      return locks.run(`bucket:${bucket}`, async () => {
        await next();
        if (ctx.status < 300) state.buckets.delete(bucket);
      });
    }
    if (query.has('tagging')) return state.noTagging ? next() : bucketTagging(ctx, bucket, state);
    if (method === 'GET' && query.has('location')) {
      await requireBucket(state, bucket);
      const region = bucketRegion(state, bucket);
      const constraint = region === 'us-east-1' ? '' : escapeXml(region);
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="${XMLNS}">${constraint}</LocationConstraint>`;
      return;
    }
    await next();
    if (ctx.status < 300 && (method === 'HEAD' || method === 'GET')) {
      ctx.set('x-amz-bucket-region', bucketRegion(state, bucket));
    }
    return;
  }

  // ---- object-level operations, serialized per key
  const lockKey = `object:${bucket}/${key}`;
  const isWrite = (method === 'PUT' && plain) || (method === 'POST' && query.has('uploadId'));
  const isDelete = method === 'DELETE' && plain;
  const isRead = (method === 'GET' || method === 'HEAD') && plain;
  const isPart = method === 'PUT' && query.has('uploadId') && query.has('partNumber');
  if (isPart) {
    await decodeAwsChunked(ctx);
    return next();
  }
  if (!isWrite && !isDelete && !isRead) return next();

  return locks.run(lockKey, async () => {
    if ((isWrite || isDelete) && !state.settings.ignoreConditionalHeaders) {
      const failure = await checkConditions(ctx, state, bucket, key, isDelete);
      if (failure) {
        await drain(ctx.req);
        throw failure;
      }
    }
    if (method === 'PUT') await decodeAwsChunked(ctx);
    await next();
    if (isRead) await bufferBody(ctx);
  });
}

/** Evaluates If-None-Match / If-Match on a write or delete; returns the error to answer. */
async function checkConditions(
  ctx: KoaContext,
  state: GapState,
  bucket: string,
  key: string,
  isDelete: boolean,
): Promise<S3ErrorInstance | undefined> {
  const ifNoneMatch = header(ctx, 'if-none-match');
  const ifMatch = header(ctx, 'if-match');
  if (ifNoneMatch === undefined && ifMatch === undefined) return undefined;
  await requireBucket(state, bucket);
  const current = await currentEtag(state.store, bucket, key);
  if (ifNoneMatch !== undefined && !isDelete) {
    if (ifNoneMatch.trim() !== '*') {
      return s3Err('NotImplemented', 'A header you provided implies functionality that is not implemented',
        {Header: 'If-None-Match'});
    }
    if (current !== undefined) {
      return s3Err('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold',
        {Condition: 'If-None-Match'});
    }
  }
  if (ifMatch !== undefined) {
    if (current === undefined) {
      return s3Err('NoSuchKey', 'The specified key does not exist.', {Key: key});
    }
    const wanted = ifMatch.split(',').map((e) => unquote(e.trim()));
    if (!wanted.includes('*') && !wanted.includes(unquote(current))) {
      return s3Err('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold',
        {Condition: 'If-Match'});
    }
  }
  return undefined;
}

async function createBucket(ctx: KoaContext, next: KoaNext, bucket: string, state: GapState): Promise<void> {
  const body = (await readBody(ctx.req)).toString('utf8');
  const constraint = /<LocationConstraint>\s*([^<]*?)\s*<\/LocationConstraint>/.exec(body)?.[1] ?? '';
  if (constraint === 'us-east-1') {
    throw s3Err('InvalidLocationConstraint', 'The specified location-constraint is not valid',
      {LocationConstraint: constraint});
  }
  const wanted = constraint || 'us-east-1';
  const signingRegion = requestRegion(ctx);
  if (signingRegion && signingRegion !== 'us-east-1' && signingRegion !== wanted) {
    throw s3Err('IllegalLocationConstraintException', constraint
      ? `The ${constraint} location constraint is incompatible for the region specific endpoint this request was sent to.`
      : 'The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.');
  }
  if (await state.store.getBucket(bucket)) {
    const existing = state.buckets.get(bucket);
    const region = existing?.region ?? state.region;
    if (state.settings.legacyUsEast1Recreate && region === 'us-east-1' && wanted === 'us-east-1') {
      if (existing) existing.recreates++;
      ctx.status = 200;
      ctx.set('Location', `/${bucket}`);
      ctx.body = '';
      return;
    }
    throw s3Err('BucketAlreadyOwnedByYou',
      'Your previous request to create the named bucket succeeded and you already own it.', {BucketName: bucket});
  }
  await next();
  if (ctx.status < 300) state.buckets.set(bucket, {region: wanted, recreates: 0});
}

async function bucketTagging(ctx: KoaContext, bucket: string, state: GapState): Promise<void> {
  const body = ctx.method === 'PUT' ? (await readBody(ctx.req)).toString('utf8') : '';
  await requireBucket(state, bucket);
  const entry = ensureBucketState(state, bucket);
  switch (ctx.method) {
    case 'PUT': {
      const tags = parseTagging(body);
      entry.tags = tags;
      ctx.status = 204;
      return;
    }
    case 'GET': {
      if (!entry.tags) {
        throw s3Err('NoSuchTagSet', 'The TagSet does not exist', {BucketName: bucket});
      }
      const tagXml = Object.entries(entry.tags)
        .map(([k, v]) => `<Tag><Key>${escapeXml(k)}</Key><Value>${escapeXml(v)}</Value></Tag>`)
        .join('');
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Tagging xmlns="${XMLNS}"><TagSet>${tagXml}</TagSet></Tagging>`;
      return;
    }
    case 'DELETE':
      entry.tags = undefined;
      ctx.status = 204;
      return;
    default:
      throw s3Err('MethodNotAllowed', 'The specified method is not allowed against this resource.');
  }
}

/** Parses a `<Tagging><TagSet><Tag><Key/><Value/></Tag>…` body; rejects duplicates. */
function parseTagging(xml: string): Record<string, string> {
  if (!/<Tagging[\s>]/.test(xml)) {
    throw s3Err('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
  }
  const tags: Record<string, string> = {};
  for (const [, inner] of xml.matchAll(/<Tag>([\s\S]*?)<\/Tag>/g)) {
    const k = /<Key>([\s\S]*?)<\/Key>/.exec(inner!)?.[1];
    const v = /<Value>([\s\S]*?)<\/Value>/.exec(inner!)?.[1] ?? '';
    if (k === undefined) {
      throw s3Err('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
    }
    const key = unescapeXml(k);
    if (key in tags) throw s3Err('InvalidTag', 'Cannot provide multiple Tags with the same key');
    tags[key] = unescapeXml(v);
  }
  if (Object.keys(tags).length > 50) throw s3Err('InvalidTag', 'Bucket tag count cannot be greater than 50');
  return tags;
}

// ---------------------------------------------------------------------------------------
// Small helpers

async function requireBucket(state: GapState, bucket: string): Promise<void> {
  if (!(await state.store.getBucket(bucket))) {
    throw s3Err('NoSuchBucket', 'The specified bucket does not exist', {BucketName: bucket});
  }
}

function ensureBucketState(state: GapState, bucket: string): S3BucketState {
  let entry = state.buckets.get(bucket);
  if (!entry) {
    entry = {region: state.region, recreates: 0};
    state.buckets.set(bucket, entry);
  }
  return entry;
}

function bucketRegion(state: GapState, bucket: string): string {
  return state.buckets.get(bucket)?.region ?? state.region;
}

async function currentEtag(store: S3rverStore, bucket: string, key: string): Promise<string | undefined> {
  try {
    return (await store.getMetadata(bucket, key))['etag'];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Rejects an access key other than the emulator's (signatures are left to s3rver). */
function checkAccessKey(ctx: KoaContext, extra: ReadonlySet<string>): void {
  const auth = header(ctx, 'authorization') ?? '';
  const fromHeader = /Credential=([^/,\s]+)\//.exec(auth)?.[1];
  const fromQuery = new URLSearchParams(ctx.querystring).get('X-Amz-Credential')?.split('/')[0];
  const akid = fromHeader ?? fromQuery;
  if (akid !== undefined && akid !== ACCESS_KEY_ID && !extra.has(akid)) {
    throw s3Err('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.',
      {AWSAccessKeyId: akid});
  }
}

/** Region of the SigV4 credential scope (`Credential=AKID/DATE/REGION/s3/aws4_request`). */
function requestRegion(ctx: KoaContext): string | undefined {
  const auth = header(ctx, 'authorization') ?? '';
  const scope = /Credential=[^/]+\/\d{8}\/([^/]+)\/s3\//.exec(auth)?.[1];
  if (scope) return scope;
  return new URLSearchParams(ctx.querystring).get('X-Amz-Credential')?.split('/')[2];
}

function header(ctx: KoaContext, name: string): string | undefined {
  const v = ctx.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function unquote(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Decodes an `aws-chunked` upload body (what AWS SDK v3 sends for streamed bodies with
 * trailing checksums: `<hex-size>[;chunk-signature=…]\r\n<data>\r\n … 0…\r\n<trailers>\r\n`),
 * which s3rver would otherwise store verbatim. The request is replaced by the decoded bytes
 * (buffered: test objects are small) and the headers are fixed up to describe them.
 */
async function decodeAwsChunked(ctx: KoaContext): Promise<void> {
  const encoding = header(ctx, 'content-encoding') ?? '';
  const sha = header(ctx, 'x-amz-content-sha256') ?? '';
  if (!encoding.includes('aws-chunked') && !sha.startsWith('STREAMING-')) return;
  const raw = await readBody(ctx.req);
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', pos);
    if (eol < 0) throw s3Err('IncompleteBody', 'The request body terminated unexpectedly');
    const size = parseInt(raw.subarray(pos, eol).toString('latin1').split(';')[0]!, 16);
    if (!Number.isFinite(size)) throw s3Err('InvalidRequest', 'Malformed aws-chunked body');
    pos = eol + 2;
    if (size === 0) break; // trailers (e.g. x-amz-checksum-crc32) follow; not verified
    parts.push(raw.subarray(pos, pos + size));
    pos += size + 2;
  }
  const body = Buffer.concat(parts);
  const remaining = encoding.split(',').map((e) => e.trim()).filter((e) => e && e !== 'aws-chunked');
  if (remaining.length) ctx.headers['content-encoding'] = remaining.join(', ');
  else delete ctx.headers['content-encoding'];
  ctx.headers['content-length'] = String(body.length);
  delete ctx.headers['x-amz-decoded-content-length'];
  delete ctx.headers['x-amz-trailer'];
  (ctx as {req: unknown}).req = Object.assign(Readable.from([body]), {headers: ctx.headers});
}

/** Consumes and discards an unread request body so the client sees a clean answer. */
async function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return;
  await readBody(req).catch(() => undefined);
}

/** Replaces a streamed response body with its full contents (read inside the key lock). */
async function bufferBody(ctx: KoaContext): Promise<void> {
  const body = ctx.body;
  if (body instanceof Readable) {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    const length = ctx.res.getHeader('content-length');
    ctx.body = Buffer.concat(chunks);
    // Koa recomputes Content-Length for buffers; keep HEAD/range lengths as s3rver set them.
    if (length !== undefined) ctx.set('Content-Length', String(length));
  }
}

function discardBody(ctx: KoaContext): void {
  if (ctx.body instanceof Readable) ctx.body.destroy();
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({'<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;'})[c]!);
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    switch (e) {
      case 'lt': return '<';
      case 'gt': return '>';
      case 'amp': return '&';
      case 'quot': return '"';
      case 'apos': return "'";
      default:
        return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    }
  });
}
