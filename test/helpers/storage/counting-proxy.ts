/**
 * A loopback HTTP proxy in front of an emulator (azurite): it forwards every request unchanged,
 * logs its method, path and query, and can answer a matching request itself with an error (the
 * emulator never sees it). For tests that count the calls a client makes, or refuse one kind.
 */
import {createServer, request as httpRequest, type IncomingMessage, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

export interface ProxiedRequest {
  method: string
  path: string
  query: URLSearchParams
}

export interface RefusalRule {
  /** Whether the request is refused. */
  match(r: ProxiedRequest): boolean
  status: number
  /** Azure's `x-ms-error-code` and the XML `<Code>`. */
  code: string
  message: string
}

export interface CountingProxy {
  /** The proxy's base URL: `http://127.0.0.1:PORT` (append the emulator's path, e.g. the account). */
  url: string
  readonly requests: ProxiedRequest[]
  refuse(rule: RefusalRule | undefined): void
  close(): Promise<void>
}

/** Starts a proxy on 127.0.0.1 (OS-chosen port) forwarding to `target` (`http://127.0.0.1:PORT`). */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target)
  const requests: ProxiedRequest[] = []
  let refusal: RefusalRule | undefined
  const server: Server = createServer((req: IncomingMessage, res) => {
    const u = new URL(req.url ?? '/', 'http://proxy')
    const entry = {method: req.method ?? 'GET', path: u.pathname, query: u.searchParams}
    requests.push(entry)
    if (refusal?.match(entry)) {
      const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${refusal.code}</Code><Message>${refusal.message}</Message></Error>`
      res.writeHead(refusal.status, {'content-type': 'application/xml', 'x-ms-error-code': refusal.code, 'content-length': Buffer.byteLength(body)})
      req.resume()
      res.end(body)
      return
    }
    const out = httpRequest({host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: {...req.headers, host: upstream.host}}, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    out.on('error', () => res.destroy())
    req.pipe(out)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    refuse: (rule) => (refusal = rule),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
