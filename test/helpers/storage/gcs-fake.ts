/**
 * In-memory fake of the Google Cloud Storage JSON API (node:http, no framework), good enough
 * for `@google-cloud/storage` 7 and rclone 1.60 (see /work/shared/TESTING.md).
 *
 * Served paths: every route is accepted with and without the `/storage/v1` prefix (the SDK's
 * `apiEndpoint` keeps it, `STORAGE_EMULATOR_HOST` and rclone's `endpoint` drop it), and
 * uploads with or without `/upload` in front; `/download/storage/v1/...` serves media
 * (the objects' `mediaLink`).
 *
 * Buckets: insert (`POST /b?project=`; 409 when it exists — ours or a name in
 * `foreignBuckets`), get, list (prefix, maxResults, pageToken), patch and update (labels,
 * storageClass, versioning, iamConfiguration), delete (409 when not empty). Buckets carry
 * `location` (upper case, default `US`), `locationType`, `labels`, string `metageneration`.
 * Names in `foreignBuckets` belong to another project: insert → 409, anything else → 403.
 * Bucket IAM: `GET/PUT /b/B/iam` with etag check (stale etag → 409 ABORTED by default,
 * configurable to 412), member syntax validation, and `iam/testPermissions`.
 *
 * Objects: uploads with `uploadType=media|multipart|resumable` (resumable sessions accept
 * chunks, `bytes *\/N` status queries answered with 308 + Range, and cancel via DELETE),
 * list (prefix, delimiter, includeTrailingDelimiter, startOffset, endOffset, maxResults,
 * pageToken), get metadata, `alt=media` (with Range), patch, delete, copyTo, rewriteTo and
 * compose. Objects carry `crc32c` (base64 big-endian CRC32C), `md5Hash` (base64), string
 * `generation`/`metageneration`/`size`, `etag`, `timeCreated`, `updated`, `selfLink` and
 * `mediaLink`; media responses carry `x-goog-hash`, `x-goog-generation`, etc.
 * Preconditions `ifGenerationMatch` (0 = must not exist), `ifGenerationNotMatch`,
 * `ifMetagenerationMatch`, `ifMetagenerationNotMatch` (and `ifSource…` on copies) answer 412
 * (304 on reads for the NotMatch forms). An upload that declares `crc32c`/`md5Hash` (in its
 * metadata or an `X-Goog-Hash` header) that does not match the data is refused with 400.
 *
 * Every request is handled atomically: the body is read first, then the operation runs
 * synchronously against the in-memory state. Only the live generation of an object is kept
 * (no versioning). Authorization headers are ignored (anonymous and bearer both work).
 * Fault injection: the same {@link FaultList} rules as the S3 emulator, with JSON errors.
 */
import {createHash, randomBytes} from 'node:crypto';
import {createServer, type IncomingMessage, type ServerResponse} from 'node:http';
import type {AddressInfo} from 'node:net';
import type {StorageOptions} from '@google-cloud/storage';
import {OAuth2Client} from 'google-auth-library';
import {FaultList, type MatchedFault} from './faults.js';

// ---------------------------------------------------------------------------------------
// CRC32C (Castagnoli), as GCS reports it

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32C of `data` as an unsigned 32-bit integer (`crc32c('123456789') === 0xe3069283`). */
export function crc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC32C_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC32C in GCS's format: base64 of the 4 big-endian bytes. */
export function crc32cBase64(data: Uint8Array): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32c(data));
  return out.toString('base64');
}

// ---------------------------------------------------------------------------------------
// State

/** One stored object (only the live generation is kept). */
export interface GcsObject {
  bucket: string;
  name: string;
  data: Buffer;
  /** Decimal string, unique and increasing across the fake. */
  generation: string;
  metageneration: number;
  contentType: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  storageClass: string;
  metadata?: Record<string, string>;
  md5Hash: string;
  crc32c: string;
  timeCreated: string;
  updated: string;
}

/** One IAM binding. */
export interface GcsIamBinding {
  role: string;
  members: string[];
  condition?: unknown;
}

/** One bucket and its objects. */
export interface GcsBucket {
  name: string;
  location: string;
  locationType: string;
  storageClass: string;
  labels: Record<string, string>;
  metageneration: number;
  timeCreated: string;
  updated: string;
  versioning?: {enabled: boolean};
  iamConfiguration: {uniformBucketLevelAccess: {enabled: boolean}};
  objects: Map<string, GcsObject>;
  iam: {version: number; etagSerial: number; bindings: GcsIamBinding[]};
}

/** An unfinished (or finished, kept for status queries) resumable upload session. */
export interface GcsUploadSession {
  id: string;
  bucket: string;
  name: string;
  metadata: Record<string, unknown>;
  /** Precondition query parameters given when the session was created. */
  preconditions: URLSearchParams;
  chunks: Buffer[];
  received: number;
  /** Declared total size, once known. */
  total?: number;
  /** Final object resource once the upload completed. */
  result?: GcsObject;
}

/** One request seen by the fake. */
export interface GcsRequestRecord {
  method: string;
  path: string;
  query: string;
  status: number;
  fault?: string;
}

/** Everything the fake holds; tests may read and modify it directly. */
export interface GcsFakeState {
  buckets: Map<string, GcsBucket>;
  uploads: Map<string, GcsUploadSession>;
  /** Every request since start or the last `reset()`. */
  requests: GcsRequestRecord[];
  /** Names owned by another project. */
  foreignBuckets: Set<string>;
}

/** Options for {@link startGcsFake}. */
export interface GcsFakeOptions {
  /** Project number reported on buckets; default `123456789012`. */
  projectNumber?: string;
  /** Bucket names owned by another project (insert → 409, other access → 403). */
  foreignBuckets?: Iterable<string>;
  /** Status for `setIamPolicy` with a stale etag: 409 (ABORTED, default) or 412. */
  iamConflictStatus?: 409 | 412;
}

/** A running fake; see the module comment. */
export interface GcsFake {
  /** `http://127.0.0.1:PORT`, for `new Storage({apiEndpoint})` and rclone's `endpoint`. */
  apiEndpoint: string;
  /** Project number reported on buckets (also rclone's `project_number`). */
  projectNumber: string;
  /** Inspectable, mutable state. */
  state: GcsFakeState;
  /** Fault-injection rules (errors are GCS JSON errors; `code` is the `reason`). */
  faults: FaultList;
  /** Clears buckets, uploads, faults and the request log. */
  reset(): void;
  /** Closes the server and every open connection. */
  stop(): Promise<void>;
}

/**
 * Starts the fake on 127.0.0.1 with an OS-chosen port. The caller must `stop()` it.
 */
export async function startGcsFake(options: GcsFakeOptions = {}): Promise<GcsFake> {
  const state: GcsFakeState = {
    buckets: new Map(),
    uploads: new Map(),
    requests: [],
    foreignBuckets: new Set(options.foreignBuckets ?? []),
  };
  const faults = new FaultList();
  const projectNumber = options.projectNumber ?? '123456789012';
  const api = new GcsApi(state, projectNumber, options.iamConflictStatus ?? 409);

  const server = createServer((req, res) => {
    void serve(api, faults, state, req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        sendJson(res, errorBody(500, 'backendError', `Fake GCS internal error: ${String(err)}`), 500);
      } else {
        res.destroy();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const {port} = server.address() as AddressInfo;

  let stopped = false;
  return {
    apiEndpoint: `http://127.0.0.1:${port}`,
    projectNumber,
    state,
    faults,
    reset() {
      state.buckets.clear();
      state.uploads.clear();
      state.requests.length = 0;
      faults.clear();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      faults.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/**
 * Options for `new Storage(...)` against the fake: the endpoint, a fixed project, no
 * retries of 412s, and an auth client holding a fixed access token that never refreshes,
 * so nothing ever contacts Google's token or metadata servers. (With a custom
 * `apiEndpoint` the SDK does not authenticate requests at all unless
 * `useAuthWithCustomEndpoint` is set; the fixed-token client is a second safety net.)
 */
export function gcsClientOptions(rig: GcsFake, overrides: StorageOptions = {}): StorageOptions {
  const authClient = new OAuth2Client();
  authClient.setCredentials({
    access_token: 'anycloud-test-token',
    token_type: 'Bearer',
    expiry_date: Date.now() + 365 * 24 * 3600 * 1000,
  });
  return {
    apiEndpoint: rig.apiEndpoint,
    projectId: 'anycloud-test',
    authClient,
    useAuthWithCustomEndpoint: false,
    ...overrides,
  };
}

/**
 * Environment variables defining an rclone GCS remote `<name>:` on the fake
 * (checked with rclone 1.60.1 from Debian):
 *
 *     RCLONE_CONFIG_<NAME>_TYPE=google cloud storage
 *     RCLONE_CONFIG_<NAME>_ENDPOINT=http://127.0.0.1:PORT
 *     RCLONE_CONFIG_<NAME>_ANONYMOUS=true
 *     RCLONE_CONFIG_<NAME>_PROJECT_NUMBER=123456789012   (rig.projectNumber)
 *     RCLONE_CONFIG_<NAME>_BUCKET_POLICY_ONLY=true
 *
 * `anonymous=true` makes rclone use a plain HTTP client with no OAuth at all, so nothing
 * contacts Google's token or metadata servers (a `token` would eventually be refreshed
 * against oauth2.googleapis.com, so none is used). rclone's `endpoint` replaces the API
 * base path: its JSON calls arrive without the `/storage/v1` prefix (`GET /b/B/o?…`,
 * `POST /b?project=…`) while uploads keep theirs (`POST /upload/storage/v1/b/B/o?
 * uploadType=multipart`) and downloads follow the objects' `mediaLink`; the fake serves all
 * of these. `project_number` is required for `rclone mkdir` of a bucket;
 * `bucket_policy_only` stops rclone from sending ACLs. Combine with `rcloneEnv()` from
 * rclone.ts.
 */
export function rcloneGcsEnv(rig: GcsFake, name = 'GCS'): Record<string, string> {
  const p = `RCLONE_CONFIG_${name.toUpperCase()}_`;
  return {
    [`${p}TYPE`]: 'google cloud storage',
    [`${p}ENDPOINT`]: rig.apiEndpoint,
    [`${p}ANONYMOUS`]: 'true',
    [`${p}PROJECT_NUMBER`]: rig.projectNumber,
    [`${p}BUCKET_POLICY_ONLY`]: 'true',
  };
}

// ---------------------------------------------------------------------------------------
// HTTP plumbing

/** A response computed by the API, written (or lost) by `serve`. */
interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  /** JSON value, raw bytes, or nothing. */
  json?: unknown;
  raw?: Buffer;
}

/** Request as seen by the API: decoded route plus body. */
interface FakeRequest {
  method: string;
  origin: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: Buffer;
  /** Path below the optional `/upload|/download` and `/storage/v1` prefixes, still encoded. */
  segments: string[];
  upload: boolean;
  download: boolean;
}

class GcsError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
  }
}

function errorBody(status: number, reason: string, message: string, extra: Record<string, string> = {}) {
  return {error: {code: status, message, errors: [{message, domain: 'global', reason, ...extra}]}};
}

async function serve(
  api: GcsApi,
  faults: FaultList,
  state: GcsFakeState,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const method = (req.method ?? 'GET').toUpperCase();
  const record: GcsRequestRecord = {method, path: url.pathname, query: url.search.slice(1), status: 0};
  state.requests.push(record);
  const fault = faults.take(method, url.pathname, url.searchParams, req.headers);
  if (fault) record.fault = fault.mode;

  if (fault?.mode === 'drop') {
    req.socket.destroy();
    return;
  }
  const body = await readBody(req);
  if (fault?.mode === 'error') {
    record.status = fault.status;
    return sendFault(res, fault);
  }

  const response = api.handle(parseRequest(method, url, req, body));
  if (fault?.mode === 'error-after') {
    record.status = fault.status;
    return sendFault(res, fault);
  }
  if (fault?.mode === 'lose-response') {
    req.socket.destroy();
    return;
  }
  record.status = response.status;
  res.writeHead(response.status, response.headers ?? {});
  if (response.json !== undefined && method !== 'HEAD') {
    res.end(JSON.stringify(response.json));
  } else if (response.raw !== undefined && method !== 'HEAD') {
    res.end(response.raw);
  } else {
    res.end();
  }
}

function sendFault(res: ServerResponse, fault: MatchedFault): void {
  const reason = fault.code ?? 'backendError';
  const body = errorBody(fault.status, reason, fault.message ?? `Injected fault: ${reason}`);
  sendJson(res, body, fault.status, fault.headers);
}

function sendJson(res: ServerResponse, body: unknown, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, {'content-type': 'application/json; charset=UTF-8', ...headers});
  res.end(JSON.stringify(body));
}

function parseRequest(method: string, url: URL, req: IncomingMessage, body: Buffer): FakeRequest {
  let segments = url.pathname.split('/').slice(1);
  let upload = false;
  let download = false;
  if (segments[0] === 'upload') {
    upload = true;
    segments = segments.slice(1);
  } else if (segments[0] === 'download') {
    download = true;
    segments = segments.slice(1);
  }
  if (segments[0] === 'storage' && segments[1] === 'v1') segments = segments.slice(2);
  if (segments.length > 0 && segments[segments.length - 1] === '' && segments.length > 1) segments.pop();
  return {
    method,
    origin: `http://${req.headers.host ?? '127.0.0.1'}`,
    query: url.searchParams,
    headers: req.headers,
    body,
    segments,
    upload,
    download,
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------------------------------
// The API

const JSON_HEADERS = {'content-type': 'application/json; charset=UTF-8'};

class GcsApi {
  private lastGeneration = 0;

  constructor(
    private readonly state: GcsFakeState,
    private readonly projectNumber: string,
    private readonly iamConflictStatus: number,
  ) {}

  handle(req: FakeRequest): FakeResponse {
    try {
      return this.route(req);
    } catch (err) {
      if (err instanceof GcsError) {
        return {status: err.status, headers: JSON_HEADERS, json: errorBody(err.status, err.reason, err.message, err.extra)};
      }
      if (err instanceof NotModified) return {status: 304};
      throw err;
    }
  }

  private route(req: FakeRequest): FakeResponse {
    const {method, segments: s, query} = req;
    // Resumable session traffic is identified by upload_id, whatever the path.
    if (query.has('upload_id')) return this.resumableSession(req, query.get('upload_id')!);

    if (s[0] !== 'b') throw new GcsError(404, 'notFound', `Not Found: /${s.join('/')}`);
    if (s.length === 1) {
      if (method === 'GET') return this.listBuckets(req);
      if (method === 'POST') return this.insertBucket(req);
      throw methodNotAllowed();
    }
    const bucketName = decodeURIComponent(s[1]!);
    this.checkForeign(bucketName);
    if (s.length === 2) {
      switch (method) {
        case 'GET':
          return ok(this.bucketResource(req, this.bucket(bucketName, req.query)));
        case 'PATCH':
        case 'PUT':
          return this.patchBucket(req, bucketName, method === 'PUT');
        case 'DELETE':
          return this.deleteBucket(req, bucketName);
        default:
          throw methodNotAllowed();
      }
    }
    if (s[2] === 'iam') {
      if (s[3] === 'testPermissions' && method === 'GET') {
        this.bucket(bucketName);
        return ok({kind: 'storage#testIamPermissionsResponse', permissions: query.getAll('permissions')});
      }
      if (s.length === 3 && method === 'GET') return ok(this.policyResource(this.bucket(bucketName)));
      if (s.length === 3 && method === 'PUT') return this.setIamPolicy(req, bucketName);
      throw methodNotAllowed();
    }
    if (s[2] !== 'o') throw new GcsError(404, 'notFound', `Not Found: /${s.join('/')}`);
    if (s.length === 3) {
      if (method === 'GET') return this.listObjects(req, bucketName);
      if (method === 'POST' && (req.upload || query.has('uploadType'))) return this.upload(req, bucketName);
      throw new GcsError(400, 'invalid', 'Upload requests must include an uploadType URL parameter and a URL path beginning with /upload/');
    }

    // /b/B/o/NAME[/copyTo|rewriteTo/b/DB/o/DNAME | /compose]
    const rest = s.slice(3);
    const op = rest.findIndex((seg, i) => (seg === 'copyTo' || seg === 'rewriteTo') && rest[i + 1] === 'b' && rest[i + 3] === 'o');
    if (op > 0 && method === 'POST') {
      const source = decodeURIComponent(rest.slice(0, op).join('/'));
      const destBucket = decodeURIComponent(rest[op + 2]!);
      const destName = decodeURIComponent(rest.slice(op + 4).join('/'));
      return this.copy(req, bucketName, source, destBucket, destName, rest[op] === 'rewriteTo');
    }
    if (rest[rest.length - 1] === 'compose' && rest.length > 1 && method === 'POST') {
      return this.compose(req, bucketName, decodeURIComponent(rest.slice(0, -1).join('/')));
    }
    const name = decodeURIComponent(rest.join('/'));
    switch (method) {
      case 'GET':
      case 'HEAD':
        return this.getObject(req, bucketName, name);
      case 'PATCH':
      case 'PUT':
        return this.patchObject(req, bucketName, name, method === 'PUT');
      case 'DELETE':
        return this.deleteObject(req, bucketName, name);
      default:
        throw methodNotAllowed();
    }
  }

  // ---- buckets

  private listBuckets(req: FakeRequest): FakeResponse {
    requireProject(req.query);
    const prefix = req.query.get('prefix') ?? '';
    const names = [...this.state.buckets.keys()].filter((n) => n.startsWith(prefix)).sort();
    const page = paginate(names, req.query);
    return ok({
      kind: 'storage#buckets',
      items: page.items.map((n) => this.bucketResource(req, this.state.buckets.get(n)!)),
      ...(page.next ? {nextPageToken: page.next} : {}),
    });
  }

  private insertBucket(req: FakeRequest): FakeResponse {
    requireProject(req.query);
    const body = parseJsonBody(req.body);
    const name = typeof body['name'] === 'string' ? body['name'] : '';
    validateBucketName(name);
    if (this.state.foreignBuckets.has(name)) {
      throw new GcsError(409, 'conflict', 'The requested bucket name is not available. The bucket namespace is ' +
        'shared by all users of the system. Please select a different name and try again.');
    }
    if (this.state.buckets.has(name)) {
      throw new GcsError(409, 'conflict', 'Your previous request to create the named bucket succeeded and you already own it.');
    }
    const location = String(body['location'] ?? 'US').toUpperCase();
    const now = new Date().toISOString();
    const project = req.query.get('project')!;
    const bucket: GcsBucket = {
      name,
      location,
      locationType: locationType(location),
      storageClass: String(body['storageClass'] ?? 'STANDARD').toUpperCase(),
      labels: {...(body['labels'] as Record<string, string> | undefined)},
      metageneration: 1,
      timeCreated: now,
      updated: now,
      iamConfiguration: {
        uniformBucketLevelAccess: {
          enabled: Boolean((body['iamConfiguration'] as {uniformBucketLevelAccess?: {enabled?: boolean}} | undefined)
            ?.uniformBucketLevelAccess?.enabled),
        },
      },
      objects: new Map(),
      iam: {
        version: 1,
        etagSerial: 1,
        bindings: [
          {role: 'roles/storage.legacyBucketOwner', members: [`projectEditor:${project}`, `projectOwner:${project}`]},
          {role: 'roles/storage.legacyBucketReader', members: [`projectViewer:${project}`]},
        ],
      },
    };
    const versioning = body['versioning'] as {enabled?: boolean} | undefined;
    if (versioning) bucket.versioning = {enabled: Boolean(versioning.enabled)};
    validateLabels(bucket.labels);
    this.state.buckets.set(name, bucket);
    return ok(this.bucketResource(req, bucket));
  }

  private patchBucket(req: FakeRequest, name: string, replace: boolean): FakeResponse {
    const bucket = this.bucket(name, req.query);
    const body = parseJsonBody(req.body);
    if ('labels' in body) {
      const labels = (body['labels'] ?? {}) as Record<string, string | null>;
      const next: Record<string, string> = replace ? {} : {...bucket.labels};
      for (const [k, v] of Object.entries(labels)) {
        if (v === null) delete next[k];
        else next[k] = String(v);
      }
      validateLabels(next);
      bucket.labels = next;
    } else if (replace) {
      bucket.labels = {};
    }
    if (typeof body['storageClass'] === 'string') bucket.storageClass = body['storageClass'].toUpperCase();
    if (body['versioning'] && typeof body['versioning'] === 'object') {
      bucket.versioning = {enabled: Boolean((body['versioning'] as {enabled?: boolean}).enabled)};
    }
    const ubla = (body['iamConfiguration'] as {uniformBucketLevelAccess?: {enabled?: boolean}} | undefined)
      ?.uniformBucketLevelAccess;
    if (ubla) bucket.iamConfiguration = {uniformBucketLevelAccess: {enabled: Boolean(ubla.enabled)}};
    bucket.metageneration++;
    bucket.updated = new Date().toISOString();
    return ok(this.bucketResource(req, bucket));
  }

  private deleteBucket(req: FakeRequest, name: string): FakeResponse {
    const bucket = this.bucket(name, req.query);
    if (bucket.objects.size > 0) throw new GcsError(409, 'conflict', 'The bucket you tried to delete is not empty.');
    this.state.buckets.delete(name);
    for (const [id, session] of this.state.uploads) if (session.bucket === name) this.state.uploads.delete(id);
    return {status: 204};
  }

  private setIamPolicy(req: FakeRequest, name: string): FakeResponse {
    const bucket = this.bucket(name);
    const body = parseJsonBody(req.body);
    if (body['etag'] !== undefined && body['etag'] !== iamEtag(bucket)) {
      throw this.iamConflictStatus === 412
        ? new GcsError(412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.')
        : new GcsError(409, 'conflict', 'There were concurrent policy changes. Please retry the whole ' +
            'read-modify-write with exponential backoff.', {status: 'ABORTED'});
    }
    const bindings = body['bindings'] ?? [];
    if (!Array.isArray(bindings)) throw new GcsError(400, 'invalid', 'Invalid argument: bindings must be a list.');
    const parsed: GcsIamBinding[] = bindings.map((b: unknown) => {
      const {role, members, condition} = (b ?? {}) as {role?: unknown; members?: unknown; condition?: unknown};
      if (typeof role !== 'string' || !/^(roles|projects\/[^/]+\/roles|organizations\/[^/]+\/roles)\/[\w.]+$/.test(role)) {
        throw new GcsError(400, 'invalid', `Role ${String(role)} is not a valid role.`);
      }
      if (!Array.isArray(members) || members.some((m) => typeof m !== 'string' || !validMember(m))) {
        throw new GcsError(400, 'invalid', `Invalid argument: invalid member in binding for ${role}.`);
      }
      return condition === undefined ? {role, members: [...members]} : {role, members: [...members], condition};
    });
    bucket.iam = {version: Number(body['version'] ?? 1), etagSerial: bucket.iam.etagSerial + 1, bindings: parsed};
    return ok(this.policyResource(bucket));
  }

  // ---- objects

  private listObjects(req: FakeRequest, bucketName: string): FakeResponse {
    const bucket = this.bucket(bucketName);
    const q = req.query;
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const startOffset = q.get('startOffset') ?? '';
    const endOffset = q.get('endOffset');
    const includeTrailing = q.get('includeTrailingDelimiter') === 'true';
    // A name with the delimiter after the prefix rolls up into a prefix; an object whose
    // name *is* such a prefix ("dir/") is listed as an item only with includeTrailingDelimiter.
    const objects = new Set<string>();
    const rolledUp = new Set<string>();
    for (const name of bucket.objects.keys()) {
      if (!name.startsWith(prefix) || name < startOffset || (endOffset && name >= endOffset)) continue;
      const idx = delimiter ? name.indexOf(delimiter, prefix.length) : -1;
      if (idx < 0) {
        objects.add(name);
        continue;
      }
      const rolled = name.slice(0, idx + delimiter.length);
      rolledUp.add(rolled);
      if (rolled === name && includeTrailing) objects.add(name);
    }
    const page = paginate([...new Set([...objects, ...rolledUp])].sort(), q);
    const items = page.items.filter((k) => objects.has(k)).map((k) => this.objectResource(req, bucket.objects.get(k)!));
    const prefixes = page.items.filter((k) => rolledUp.has(k));
    return ok({
      kind: 'storage#objects',
      ...(items.length ? {items} : {}),
      ...(prefixes.length ? {prefixes} : {}),
      ...(page.next ? {nextPageToken: page.next} : {}),
    });
  }

  /** `uploadType=media|multipart|resumable` on `POST /upload/storage/v1/b/B/o`. */
  private upload(req: FakeRequest, bucketName: string): FakeResponse {
    const bucket = this.bucket(bucketName);
    const type = req.query.get('uploadType') ?? 'media';
    let metadata: Record<string, unknown> = {};
    let data: Buffer;
    switch (type) {
      case 'media':
        data = req.body;
        metadata = {contentType: header(req, 'content-type')};
        break;
      case 'multipart': {
        const parts = parseMultipart(req.body, header(req, 'content-type') ?? '');
        if (parts.length < 2) throw new GcsError(400, 'invalid', 'Multipart upload needs a metadata part and a media part.');
        metadata = parseJsonBody(parts[0]!.body);
        data = parts[1]!.body;
        if (metadata['contentType'] === undefined && parts[1]!.contentType) metadata['contentType'] = parts[1]!.contentType;
        break;
      }
      case 'resumable': {
        metadata = req.body.length ? parseJsonBody(req.body) : {};
        const name = req.query.get('name') ?? (metadata['name'] as string | undefined);
        if (!name) throw new GcsError(400, 'required', 'Required: object name.');
        this.checkPreconditions(bucket.objects.get(name), req.query, 'write');
        const id = randomBytes(16).toString('hex');
        const declared = header(req, 'x-upload-content-length');
        if (metadata['contentType'] === undefined && header(req, 'x-upload-content-type')) {
          metadata['contentType'] = header(req, 'x-upload-content-type');
        }
        this.state.uploads.set(id, {
          id,
          bucket: bucketName,
          name,
          metadata,
          preconditions: new URLSearchParams(req.query),
          chunks: [],
          received: 0,
          ...(declared !== undefined ? {total: Number(declared)} : {}),
        });
        const location = `${req.origin}/upload/storage/v1/b/${encodeURIComponent(bucketName)}/o?uploadType=resumable` +
          `&name=${encodeURIComponent(name)}&upload_id=${id}`;
        return {status: 200, headers: {location, 'x-guploader-uploadid': id, 'content-length': '0'}};
      }
      default:
        throw new GcsError(400, 'invalidParameter', `Invalid upload type: ${type}`);
    }
    const name = req.query.get('name') ?? (metadata['name'] as string | undefined);
    if (!name) throw new GcsError(400, 'required', 'Required: object name.');
    const object = this.store(bucket, name, data, metadata, req.query, header(req, 'x-goog-hash'));
    return ok(this.objectResource(req, object));
  }

  /** PUT/DELETE on a resumable session URL. */
  private resumableSession(req: FakeRequest, id: string): FakeResponse {
    const session = this.state.uploads.get(id);
    if (!session) throw new GcsError(404, 'notFound', 'No such upload session.');
    if (req.method === 'DELETE') {
      this.state.uploads.delete(id);
      return {status: 499, headers: JSON_HEADERS, json: errorBody(499, 'canceled', 'Upload canceled.')};
    }
    if (req.method !== 'PUT' && req.method !== 'POST') throw methodNotAllowed();
    if (session.result) return ok(this.objectResource(req, session.result));

    const range = header(req, 'content-range');
    let first = 0;
    let total: number | undefined;
    let statusQuery = false;
    if (range === undefined) {
      total = req.body.length; // the whole object in one request
    } else {
      // `bytes A-B/T`, `bytes A-B/*` (more chunks follow), `bytes */T` and `bytes */*`
      // (status queries), and the Node SDK's single-request `bytes A-*/T|*` ("the rest").
      const m = /^bytes (\*|(\d+)-(\d+|\*))\/(\*|\d+)$/.exec(range.trim());
      if (!m) throw new GcsError(400, 'invalid', `Invalid Content-Range: ${range}`);
      if (m[1] === '*') statusQuery = true;
      else first = Number(m[2]);
      if (m[4] !== '*') total = Number(m[4]);
      else if (m[3] === '*') total = first + req.body.length;
    }
    if (total !== undefined) session.total = total;
    if (!statusQuery) {
      if (first > session.received) {
        throw new GcsError(400, 'invalid', `Chunk starts at ${first} but only ${session.received} bytes were received.`);
      }
      const fresh = req.body.subarray(session.received - first);
      session.chunks.push(fresh);
      session.received += fresh.length;
    }
    if (session.total !== undefined && session.received >= session.total) {
      const bucket = this.bucket(session.bucket);
      const data = Buffer.concat(session.chunks).subarray(0, session.total);
      const object = this.store(bucket, session.name, data, session.metadata, session.preconditions, header(req, 'x-goog-hash'));
      session.result = object;
      session.chunks = [];
      return ok(this.objectResource(req, object));
    }
    const headers: Record<string, string> = {'content-length': '0'};
    if (session.received > 0) headers['range'] = `bytes=0-${session.received - 1}`;
    return {status: 308, headers};
  }

  private getObject(req: FakeRequest, bucketName: string, name: string): FakeResponse {
    const bucket = this.bucket(bucketName);
    const object = this.object(bucket, name, req.query);
    this.checkPreconditions(object, req.query, 'read');
    const media = req.download || req.query.get('alt') === 'media';
    if (!media) return ok(this.objectResource(req, object));

    const headers: Record<string, string> = {
      'content-type': object.contentType,
      etag: objectEtag(object),
      'last-modified': new Date(object.updated).toUTCString(),
      'x-goog-generation': object.generation,
      'x-goog-metageneration': String(object.metageneration),
      'x-goog-hash': `crc32c=${object.crc32c},md5=${object.md5Hash}`,
      'x-goog-stored-content-length': String(object.data.length),
      'x-goog-stored-content-encoding': object.contentEncoding ?? 'identity',
      'x-goog-storage-class': object.storageClass,
      'accept-ranges': 'bytes',
    };
    if (object.contentEncoding) headers['content-encoding'] = object.contentEncoding;
    const range = parseRange(header(req, 'range'), object.data.length);
    if (range === 'unsatisfiable') {
      throw new GcsError(416, 'requestedRangeNotSatisfiable', 'The requested range cannot be satisfied.');
    }
    if (range) {
      const slice = object.data.subarray(range.start, range.end + 1);
      headers['content-range'] = `bytes ${range.start}-${range.end}/${object.data.length}`;
      headers['content-length'] = String(slice.length);
      return {status: 206, headers, raw: slice};
    }
    headers['content-length'] = String(object.data.length);
    return {status: 200, headers, raw: object.data};
  }

  private patchObject(req: FakeRequest, bucketName: string, name: string, replace: boolean): FakeResponse {
    const bucket = this.bucket(bucketName);
    const object = this.object(bucket, name, req.query);
    this.checkPreconditions(object, req.query, 'write');
    const body = parseJsonBody(req.body);
    if ('metadata' in body) {
      const patch = (body['metadata'] ?? {}) as Record<string, string | null>;
      const next: Record<string, string> = replace ? {} : {...object.metadata};
      for (const [k, v] of Object.entries(patch)) {
        if (v === null) delete next[k];
        else next[k] = String(v);
      }
      object.metadata = Object.keys(next).length ? next : undefined;
    } else if (replace) {
      object.metadata = undefined;
    }
    for (const field of ['contentType', 'contentEncoding', 'contentDisposition', 'contentLanguage', 'cacheControl'] as const) {
      if (field in body) {
        const v = body[field];
        if (field === 'contentType') object.contentType = v == null ? 'application/octet-stream' : String(v);
        else if (v == null) delete object[field];
        else object[field] = String(v);
      }
    }
    object.metageneration++;
    object.updated = new Date().toISOString();
    return ok(this.objectResource(req, object));
  }

  private deleteObject(req: FakeRequest, bucketName: string, name: string): FakeResponse {
    const bucket = this.bucket(bucketName);
    const object = this.object(bucket, name, req.query);
    this.checkPreconditions(object, req.query, 'write');
    bucket.objects.delete(name);
    return {status: 204};
  }

  private copy(req: FakeRequest, srcBucketName: string, srcName: string, destBucketName: string, destName: string,
    rewrite: boolean): FakeResponse {
    const srcBucket = this.bucket(srcBucketName);
    this.checkForeign(destBucketName);
    const destBucket = this.bucket(destBucketName);
    const src = this.object(srcBucket, srcName, sourceParams(req.query));
    this.checkPreconditions(src, sourceParams(req.query), 'write');
    const body = req.body.length ? parseJsonBody(req.body) : {};
    const metadata: Record<string, unknown> = {
      contentType: src.contentType,
      contentEncoding: src.contentEncoding,
      contentDisposition: src.contentDisposition,
      contentLanguage: src.contentLanguage,
      cacheControl: src.cacheControl,
      metadata: src.metadata,
      ...body,
    };
    const object = this.store(destBucket, destName, src.data, metadata, req.query, undefined);
    const resource = this.objectResource(req, object);
    if (!rewrite) return ok(resource);
    const size = String(object.data.length);
    return ok({kind: 'storage#rewriteResponse', totalBytesRewritten: size, objectSize: size, done: true, resource});
  }

  private compose(req: FakeRequest, bucketName: string, destName: string): FakeResponse {
    const bucket = this.bucket(bucketName);
    const body = parseJsonBody(req.body);
    const sources = body['sourceObjects'];
    if (!Array.isArray(sources) || sources.length === 0 || sources.length > 32) {
      throw new GcsError(400, 'invalid', 'sourceObjects must list 1 to 32 objects.');
    }
    const datas = sources.map((s: {name?: string; generation?: string; objectPreconditions?: {ifGenerationMatch?: string}}) => {
      const source = this.object(bucket, String(s.name), new URLSearchParams(s.generation ? {generation: String(s.generation)} : {}));
      const want = s.objectPreconditions?.ifGenerationMatch;
      if (want !== undefined && String(want) !== source.generation) {
        throw new GcsError(412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');
      }
      return source.data;
    });
    const destination = (body['destination'] ?? {}) as Record<string, unknown>;
    const object = this.store(bucket, destName, Buffer.concat(datas), destination, req.query, undefined);
    return ok(this.objectResource(req, object));
  }

  /** Creates or replaces an object after checking preconditions and declared hashes. */
  private store(bucket: GcsBucket, name: string, data: Buffer, metadata: Record<string, unknown>,
    preconditions: URLSearchParams, xGoogHash: string | undefined): GcsObject {
    validateObjectName(name);
    const existing = bucket.objects.get(name);
    this.checkPreconditions(existing, preconditions, 'write');
    const md5 = createHash('md5').update(data).digest('base64');
    const crc = crc32cBase64(data);
    const declared = parseGoogHash(xGoogHash);
    const wantCrc = (metadata['crc32c'] as string | undefined) ?? declared.crc32c;
    const wantMd5 = (metadata['md5Hash'] as string | undefined) ?? declared.md5;
    if (wantCrc !== undefined && wantCrc !== crc) {
      throw new GcsError(400, 'invalid', `Provided CRC32C "${wantCrc}" doesn't match calculated CRC32C "${crc}".`);
    }
    if (wantMd5 !== undefined && wantMd5 !== md5) {
      throw new GcsError(400, 'invalid', `Provided MD5 hash "${wantMd5}" doesn't match calculated MD5 hash "${md5}".`);
    }
    const now = new Date().toISOString();
    const custom = metadata['metadata'] as Record<string, unknown> | null | undefined;
    const object: GcsObject = {
      bucket: bucket.name,
      name,
      data: Buffer.from(data),
      generation: this.nextGeneration(),
      metageneration: 1,
      contentType: typeof metadata['contentType'] === 'string' && metadata['contentType']
        ? metadata['contentType']
        : 'application/octet-stream',
      storageClass: typeof metadata['storageClass'] === 'string' ? metadata['storageClass'] : bucket.storageClass,
      md5Hash: md5,
      crc32c: crc,
      timeCreated: now,
      updated: now,
    };
    for (const field of ['contentEncoding', 'contentDisposition', 'contentLanguage', 'cacheControl'] as const) {
      if (typeof metadata[field] === 'string') object[field] = metadata[field];
    }
    if (custom && typeof custom === 'object' && Object.keys(custom).length) {
      object.metadata = Object.fromEntries(Object.entries(custom).filter(([, v]) => v != null).map(([k, v]) => [k, String(v)]));
    }
    bucket.objects.set(name, object);
    return object;
  }

  /**
   * Evaluates ifGeneration(Not)Match / ifMetageneration(Not)Match against `object`
   * (undefined = no live object). Writes fail with 412; failed NotMatch on reads is 304.
   */
  private checkPreconditions(object: GcsObject | undefined, q: URLSearchParams, kind: 'read' | 'write'): void {
    const failed = () => new GcsError(412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.',
      {locationType: 'header', location: 'If-Match'});
    const genMatch = q.get('ifGenerationMatch');
    const genNotMatch = q.get('ifGenerationNotMatch');
    const metaMatch = q.get('ifMetagenerationMatch');
    const metaNotMatch = q.get('ifMetagenerationNotMatch');
    const gen = object?.generation ?? '0';
    if (genMatch !== null && genMatch !== gen) throw failed();
    if (metaMatch !== null && (!object || String(object.metageneration) !== metaMatch)) throw failed();
    if (genNotMatch !== null && genNotMatch === gen) {
      throw kind === 'read' ? new NotModified() : failed();
    }
    if (metaNotMatch !== null && object && String(object.metageneration) === metaNotMatch) {
      throw kind === 'read' ? new NotModified() : failed();
    }
  }

  // ---- lookups and resources

  private checkForeign(name: string): void {
    if (this.state.foreignBuckets.has(name)) {
      throw new GcsError(403, 'forbidden',
        `anycloud-test@anycloud-test.iam.gserviceaccount.com does not have storage.buckets.get access to the Google Cloud Storage bucket. Permission 'storage.buckets.get' denied on resource (or it may not exist).`);
    }
  }

  private bucket(name: string, preconditions?: URLSearchParams): GcsBucket {
    const bucket = this.state.buckets.get(name);
    if (!bucket) throw new GcsError(404, 'notFound', 'The specified bucket does not exist.');
    if (preconditions) {
      const match = preconditions.get('ifMetagenerationMatch');
      const notMatch = preconditions.get('ifMetagenerationNotMatch');
      if ((match !== null && match !== String(bucket.metageneration)) ||
        (notMatch !== null && notMatch === String(bucket.metageneration))) {
        throw new GcsError(412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');
      }
    }
    return bucket;
  }

  private object(bucket: GcsBucket, name: string, q: URLSearchParams): GcsObject {
    const object = bucket.objects.get(name);
    const generation = q.get('generation');
    if (!object || (generation !== null && generation !== object.generation)) {
      throw new GcsError(404, 'notFound', `No such object: ${bucket.name}/${name}`);
    }
    return object;
  }

  private nextGeneration(): string {
    this.lastGeneration = Math.max(Date.now() * 1000, this.lastGeneration + 1);
    return String(this.lastGeneration);
  }

  private bucketResource(req: FakeRequest, b: GcsBucket): Record<string, unknown> {
    return {
      kind: 'storage#bucket',
      selfLink: `${req.origin}/storage/v1/b/${encodeURIComponent(b.name)}`,
      id: b.name,
      name: b.name,
      projectNumber: this.projectNumber,
      metageneration: String(b.metageneration),
      location: b.location,
      locationType: b.locationType,
      storageClass: b.storageClass,
      etag: Buffer.from(`bucket/${b.name}/${b.metageneration}`).toString('base64'),
      timeCreated: b.timeCreated,
      updated: b.updated,
      ...(Object.keys(b.labels).length ? {labels: {...b.labels}} : {}),
      ...(b.versioning ? {versioning: {...b.versioning}} : {}),
      iamConfiguration: {
        bucketPolicyOnly: {...b.iamConfiguration.uniformBucketLevelAccess},
        uniformBucketLevelAccess: {...b.iamConfiguration.uniformBucketLevelAccess},
        publicAccessPrevention: 'inherited',
      },
    };
  }

  private objectResource(req: FakeRequest, o: GcsObject): Record<string, unknown> {
    const path = `b/${encodeURIComponent(o.bucket)}/o/${encodeURIComponent(o.name)}`;
    return {
      kind: 'storage#object',
      id: `${o.bucket}/${o.name}/${o.generation}`,
      selfLink: `${req.origin}/storage/v1/${path}`,
      mediaLink: `${req.origin}/download/storage/v1/${path}?generation=${o.generation}&alt=media`,
      name: o.name,
      bucket: o.bucket,
      generation: o.generation,
      metageneration: String(o.metageneration),
      contentType: o.contentType,
      storageClass: o.storageClass,
      size: String(o.data.length),
      md5Hash: o.md5Hash,
      crc32c: o.crc32c,
      etag: objectEtag(o),
      timeCreated: o.timeCreated,
      updated: o.updated,
      timeStorageClassUpdated: o.timeCreated,
      ...(o.contentEncoding ? {contentEncoding: o.contentEncoding} : {}),
      ...(o.contentDisposition ? {contentDisposition: o.contentDisposition} : {}),
      ...(o.contentLanguage ? {contentLanguage: o.contentLanguage} : {}),
      ...(o.cacheControl ? {cacheControl: o.cacheControl} : {}),
      ...(o.metadata ? {metadata: {...o.metadata}} : {}),
    };
  }

  private policyResource(b: GcsBucket): Record<string, unknown> {
    return {
      kind: 'storage#policy',
      resourceId: `projects/_/buckets/${b.name}`,
      version: b.iam.version,
      etag: iamEtag(b),
      bindings: b.iam.bindings.map((x) => ({...x, members: [...x.members]})),
    };
  }
}

/** Thrown for reads whose NotMatch precondition failed (HTTP 304). */
class NotModified extends Error {}

// ---------------------------------------------------------------------------------------
// Helpers

function ok(json: unknown): FakeResponse {
  return {status: 200, headers: JSON_HEADERS, json};
}

function methodNotAllowed(): GcsError {
  return new GcsError(405, 'methodNotAllowed', 'Method not allowed.');
}

function header(req: FakeRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function requireProject(q: URLSearchParams): void {
  if (!q.get('project')) throw new GcsError(400, 'required', 'Required parameter: project');
}

function parseJsonBody(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new GcsError(400, 'parseError', 'Parse Error');
}

/** Maps `ifSourceGeneration…` parameters of a copy to the plain names for the source check. */
function sourceParams(q: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams();
  for (const [k, v] of q) {
    if (k === 'sourceGeneration') out.set('generation', v);
    else if (k.startsWith('ifSource')) out.set(`if${k.slice('ifSource'.length)}`, v);
  }
  return out;
}

function paginate(keys: string[], q: URLSearchParams): {items: string[]; next?: string} {
  const max = Math.min(Math.max(Number(q.get('maxResults') ?? 1000) || 1000, 1), 1000);
  const token = q.get('pageToken');
  const after = token ? Buffer.from(token, 'base64url').toString('utf8') : undefined;
  const start = after === undefined ? 0 : keys.findIndex((k) => k > after);
  const rest = start < 0 ? [] : keys.slice(start);
  const items = rest.slice(0, max);
  return rest.length > max ? {items, next: Buffer.from(items[items.length - 1]!, 'utf8').toString('base64url')} : {items};
}

function parseRange(range: string | undefined, size: number): {start: number; end: number} | 'unsatisfiable' | undefined {
  if (!range) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (size === 0) return undefined;
  if (start >= size || end < start) return 'unsatisfiable';
  return {start, end};
}

function parseGoogHash(value: string | undefined): {crc32c?: string; md5?: string} {
  const out: {crc32c?: string; md5?: string} = {};
  for (const part of (value ?? '').split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === 'crc32c') out.crc32c = v;
    else if (k === 'md5') out.md5 = v;
  }
  return out;
}

/** Splits a `multipart/related` body into parts (headers are only read for Content-Type). */
function parseMultipart(body: Buffer, contentType: string): Array<{contentType?: string; body: Buffer}> {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!m) throw new GcsError(400, 'invalid', 'Multipart upload without a boundary.');
  const delimiter = Buffer.from(`--${m[1] ?? m[2]}`);
  const parts: Array<{contentType?: string; body: Buffer}> = [];
  let pos = body.indexOf(delimiter);
  while (pos >= 0) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, pos);
    if (next < 0) break;
    // Between delimiters: CRLF, header lines, CRLF, content, CRLF. A part may have no
    // header lines at all (Go's googleapi sends the media part that way).
    let part = body.subarray(pos, next);
    if (part.subarray(0, 2).toString() === '\r\n') part = part.subarray(2);
    if (part.subarray(-2).toString() === '\r\n') part = part.subarray(0, -2);
    let head = '';
    let content: Buffer;
    if (part.subarray(0, 2).toString() === '\r\n') {
      content = part.subarray(2);
    } else {
      const split = part.indexOf('\r\n\r\n');
      if (split < 0) throw new GcsError(400, 'invalid', 'Malformed multipart body.');
      head = part.subarray(0, split).toString('utf8');
      content = part.subarray(split + 4);
    }
    const type = /^content-type:\s*(.+)$/im.exec(head)?.[1]?.trim();
    parts.push(type ? {contentType: type, body: content} : {body: content});
    pos = next;
  }
  return parts;
}

function validateBucketName(name: string): void {
  const valid = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/.test(name) && !name.startsWith('goog') &&
    !/g[o0][o0]g[l1]e/.test(name) && !/^\d+\.\d+\.\d+\.\d+$/.test(name);
  if (!valid) throw new GcsError(400, 'invalid', `Invalid bucket name: '${name}'`);
}

function validateObjectName(name: string): void {
  if (!name || Buffer.byteLength(name) > 1024 || name === '.' || name === '..' || /[\r\n]/.test(name)) {
    throw new GcsError(400, 'invalid', `Invalid object name: '${name}'`);
  }
}

function validateLabels(labels: Record<string, string>): void {
  const entries = Object.entries(labels);
  if (entries.length > 64) throw new GcsError(400, 'invalid', 'Too many labels (max 64).');
  for (const [k, v] of entries) {
    if (!/^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u.test(k) || !/^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u.test(v)) {
      throw new GcsError(400, 'invalid', `Invalid label: ${k}=${v}`);
    }
  }
}

function validMember(m: string): boolean {
  return /^(allUsers|allAuthenticatedUsers|(user|serviceAccount|group|domain|projectOwner|projectEditor|projectViewer|deleted:(user|serviceAccount|group)):\S+|principal(Set)?:\/\/\S+)$/.test(m);
}

function locationType(location: string): string {
  if (['US', 'EU', 'ASIA'].includes(location)) return 'multi-region';
  if (['NAM4', 'EUR4', 'ASIA1', 'EUR5', 'EUR7', 'EUR8'].includes(location) || location.includes('+')) return 'dual-region';
  return 'region';
}

function objectEtag(o: GcsObject): string {
  return Buffer.from(`${o.generation}/${o.metageneration}`).toString('base64');
}

function iamEtag(b: GcsBucket): string {
  return Buffer.from(`iam/${b.name}/${b.iam.etagSerial}`).toString('base64');
}
