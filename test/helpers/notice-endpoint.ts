/**
 * A notice endpoint of the test's own, on loopback, answering like the clouds' metadata services
 * do for the interruption notice (AWS IMDSv2 `spot/instance-action`, GCE `instance/preempted`,
 * Azure Scheduled Events). Machines reach it through `ANYCLOUD_NOTICE_BASE` (forward its port into
 * a VM's namespace); the metadata address itself is never used nor emulated.
 */
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

export interface NoticeEndpoint {
  /** `http://127.0.0.1:PORT`: the value of ANYCLOUD_NOTICE_BASE. */
  readonly base: string
  readonly port: number
  /** Polls seen so far (every cloud's notice path). */
  readonly polls: number
  /**
   * Serves a notice from now on (until {@link clear}). `resources`: the VM names an Azure Scheduled
   * Event lists (the notice program ignores events that do not name its VM).
   */
  arm(options?: {resources?: string[]}): void
  clear(): void
  close(): Promise<void>
}

export async function startNoticeEndpoint(): Promise<NoticeEndpoint> {
  let armed = false
  let resources: string[] = []
  let polls = 0
  const server: Server = createServer((req, res) => {
    const url = req.url ?? ''
    if (req.method === 'PUT' && url === '/latest/api/token') return void res.writeHead(200).end('notice-endpoint-token')
    if (url === '/latest/meta-data/spot/instance-action') {
      polls++
      if (req.headers['x-aws-ec2-metadata-token'] !== 'notice-endpoint-token') return void res.writeHead(401).end()
      return void (armed ? res.writeHead(200).end(JSON.stringify({action: 'terminate', time: new Date(Date.now() + 120_000).toISOString()})) : res.writeHead(404).end())
    }
    if (url === '/computeMetadata/v1/instance/preempted') {
      polls++
      return void res.writeHead(200).end(armed ? 'TRUE' : 'FALSE')
    }
    if (url.startsWith('/metadata/scheduledevents')) {
      if (req.method === 'POST') return void res.writeHead(200).end()
      polls++
      const events = armed ? [{EventId: 'ev-1', EventType: 'Preempt', ResourceType: 'VirtualMachine', Resources: resources, EventStatus: 'Scheduled', NotBefore: new Date(Date.now() + 30_000).toUTCString()}] : []
      return void res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({DocumentIncarnation: 1, Events: events}))
    }
    res.writeHead(404).end()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    get polls() {
      return polls
    },
    arm: (options) => {
      armed = true
      resources = options?.resources ?? []
    },
    clear: () => void (armed = false),
    close: () => new Promise<void>((r) => {
      server.closeAllConnections()
      server.close(() => r())
    }),
  }
}
