/** Types shared by the server and the per-service handlers. */
import type {FakeService} from './faults.js'
import type {FakeCredential} from './model.js'
import type {QueryParams} from './query.js'
import type {XmlObject} from './xml.js'

/** One API request as a handler sees it. */
export interface RequestContext {
  service: FakeService
  action: string
  /** Region of the SigV4 credential scope. */
  region: string
  params: QueryParams
  requestId: string
  /** The authenticated caller. */
  credential: FakeCredential
}

/** A service action: returns the response body (children of the Result/Response element). */
export type ActionHandler = (ctx: RequestContext) => XmlObject | Promise<XmlObject>

/** Matches AWS filter values: `*` any run of characters, `?` one character. */
export function globMatch(pattern: string, value: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === value
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's')
  return re.test(value)
}

/** Opaque pagination tokens (offset plus a check of which listing they belong to). */
export function encodeNextToken(listing: string, offset: number): string {
  return Buffer.from(JSON.stringify({l: listing, o: offset})).toString('base64url')
}

/** Decodes a token from {@link encodeNextToken}; undefined when it is not one for this listing. */
export function decodeNextToken(listing: string, token: string): number | undefined {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as {l?: unknown; o?: unknown}
    return v.l === listing && typeof v.o === 'number' && Number.isInteger(v.o) && v.o >= 0 ? v.o : undefined
  } catch {
    return undefined
  }
}
