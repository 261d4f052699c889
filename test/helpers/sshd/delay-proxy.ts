import {connect, createServer, type Socket} from 'node:net'

/**
 * A TCP proxy that delays every chunk by `delayMs` in each direction, so a connection through it
 * has `2 × delayMs` more round-trip time (this kernel has no `netem`). Order is kept per
 * direction; a half-close is forwarded after the data before it.
 */
export interface DelayProxy {
  readonly host: string
  readonly port: number
  /** Connections accepted so far. */
  readonly connections: number
  /** Resets every open connection (both sides), as a dropped link would. The proxy keeps listening. */
  dropConnections(): void
  stop(): Promise<void>
}

/** Options of {@link startDelayProxy}. */
export interface DelayProxyOptions {
  target: {host: string; port: number}
  /** One-way delay per chunk; 25 gives a 50 ms RTT. */
  delayMs: number
  /** Default 127.0.0.1. */
  listenHost?: string
}

/** Starts the proxy on a free port. */
export async function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const listenHost = options.listenHost ?? '127.0.0.1'
  const open = new Set<Socket>()
  let connections = 0
  const server = createServer((inbound) => {
    connections++
    const outbound = connect(options.target)
    for (const socket of [inbound, outbound]) {
      open.add(socket)
      socket.on('close', () => open.delete(socket))
      socket.on('error', () => {
        inbound.destroy()
        outbound.destroy()
      })
    }
    pipeDelayed(inbound, outbound, options.delayMs)
    pipeDelayed(outbound, inbound, options.delayMs)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, listenHost, () => resolve())
  })
  const address = server.address()
  if (typeof address !== 'object' || !address) throw new Error('the delay proxy has no address')
  const dropConnections = (): void => {
    for (const socket of open) socket.resetAndDestroy()
  }
  return {
    host: listenHost,
    port: address.port,
    get connections() {
      return connections
    },
    dropConnections,
    async stop() {
      dropConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

function pipeDelayed(from: Socket, to: Socket, delayMs: number): void {
  const queue: Array<{due: number; chunk: Buffer | null}> = []
  let timer: NodeJS.Timeout | undefined
  const pump = (): void => {
    timer = undefined
    const now = Date.now()
    while (queue.length > 0 && queue[0]!.due <= now) {
      const {chunk} = queue.shift()!
      if (to.destroyed) return
      if (chunk === null) to.end()
      else to.write(chunk)
    }
    if (queue.length > 0) timer = setTimeout(pump, queue[0]!.due - now)
  }
  const enqueue = (chunk: Buffer | null): void => {
    queue.push({due: Date.now() + delayMs, chunk})
    timer ??= setTimeout(pump, delayMs)
  }
  from.on('data', (chunk: Buffer) => enqueue(chunk))
  from.on('end', () => enqueue(null))
  from.on('close', () => {
    if (timer && to.destroyed) clearTimeout(timer)
  })
}
