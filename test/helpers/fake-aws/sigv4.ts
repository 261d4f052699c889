/**
 * AWS Signature Version 4, server side: parse the `Authorization` header (whose credential scope
 * names the region and service, which is how one endpoint serves EC2, IAM and STS) and verify
 * the signature against a known secret key, the way the real services do.
 */
import {createHash, createHmac, timingSafeEqual} from 'node:crypto'
import type {IncomingHttpHeaders} from 'node:http'

/** The parts of a SigV4 `Authorization` header. */
export interface SigV4Authorization {
  accessKeyId: string
  /** `YYYYMMDD` of the scope. */
  date: string
  region: string
  service: string
  signedHeaders: string[]
  signature: string
  /** `date/region/service/aws4_request`. */
  scope: string
}

/** Parses `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=…, Signature=…`. */
export function parseAuthorization(header: string | undefined): SigV4Authorization | undefined {
  if (!header) return undefined
  const m = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(header.trim())
  if (!m || m[1] === undefined) return undefined
  const fields: Record<string, string> = {}
  for (const part of m[1].split(',')) {
    const eq = part.indexOf('=')
    if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim()
  }
  const credential = fields.Credential
  const signedHeaders = fields.SignedHeaders
  const signature = fields.Signature
  if (!credential || !signedHeaders || !signature) return undefined
  const segs = credential.split('/')
  if (segs.length !== 5 || segs[4] !== 'aws4_request') return undefined
  const [accessKeyId, date, region, service] = segs as [string, string, string, string]
  return {
    accessKeyId,
    date,
    region,
    service,
    signedHeaders: signedHeaders.split(';'),
    signature,
    scope: `${date}/${region}/${service}/aws4_request`,
  }
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest()
}

/** RFC 3986 escaping as the SDK's signer does it. */
function escapeUri(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

function canonicalPath(path: string): string {
  const segments: string[] = []
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') segments.pop()
    else segments.push(seg)
  }
  const normalized = `${path.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && path.endsWith('/') ? '/' : ''}`
  return escapeUri(normalized).replace(/%2F/g, '/')
}

function canonicalQuery(search: URLSearchParams): string {
  const pairs: [string, string][] = []
  for (const [k, v] of search) if (k.toLowerCase() !== 'x-amz-signature') pairs.push([escapeUri(k), escapeUri(v)])
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
  return pairs.map(([k, v]) => `${k}=${v}`).join('&')
}

/** What is needed to recompute a request's signature. */
export interface SignedRequest {
  method: string
  /** Path and query as received (`req.url`). */
  url: string
  headers: IncomingHttpHeaders
  body: Buffer
}

/** Why a signature did not verify (undefined when it did). */
export type SignatureProblem = 'missing-date' | 'payload-hash-mismatch' | 'signature-mismatch'

/** Recomputes the signature with `secretAccessKey` and compares it in constant time. */
export function verifySignature(req: SignedRequest, auth: SigV4Authorization, secretAccessKey: string): SignatureProblem | undefined {
  const amzDate = headerValue(req.headers, 'x-amz-date')
  if (!amzDate) return 'missing-date'
  const bodyHash = sha256Hex(req.body)
  const declared = headerValue(req.headers, 'x-amz-content-sha256')
  if (declared !== undefined && declared !== 'UNSIGNED-PAYLOAD' && declared !== bodyHash) return 'payload-hash-mismatch'
  const payloadHash = declared ?? bodyHash
  const url = new URL(req.url, 'http://fake.invalid')
  const names = [...auth.signedHeaders].sort()
  const canonicalHeaders = names.map((n) => `${n}:${(headerValue(req.headers, n) ?? '').trim().replace(/\s+/g, ' ')}`).join('\n')
  const canonicalRequest = [
    req.method.toUpperCase(),
    canonicalPath(decodeURIComponent(url.pathname)),
    canonicalQuery(url.searchParams),
    canonicalHeaders,
    '',
    names.join(';'),
    payloadHash,
  ].join('\n')
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, auth.scope, sha256Hex(canonicalRequest)].join('\n')
  const kDate = hmac(`AWS4${secretAccessKey}`, auth.date)
  const kRegion = hmac(kDate, auth.region)
  const kService = hmac(kRegion, auth.service)
  const kSigning = hmac(kService, 'aws4_request')
  const expected = createHmac('sha256', kSigning).update(stringToSign).digest('hex')
  const a = Buffer.from(expected)
  const b = Buffer.from(auth.signature)
  return a.length === b.length && timingSafeEqual(a, b) ? undefined : 'signature-mismatch'
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()]
  if (v === undefined) return undefined
  return Array.isArray(v) ? v.join(',') : v
}
