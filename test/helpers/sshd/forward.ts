import {spawn} from 'node:child_process'
import {mkdtemp, rm} from 'node:fs/promises'
import {connect, createServer, type Server, type Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

/**
 * Makes `http://127.0.0.1:PORT` mean the same service on the host and inside a VM namespace,
 * without routing or leaving loopback (TESTING.md): on the host a unix socket file forwards to
 * `127.0.0.1:hostPort`; inside the namespace a small node process listens on `127.0.0.1:port` and
 * forwards to that socket file (path-based unix sockets cross network namespaces).
 */
export interface NamespaceForward {
  readonly socketPath: string
  /** Kills the in-namespace listener, closes the host side, removes the socket. */
  stop(): Promise<void>
}

/** Runs inside the namespace: argv = port, socket path. Prints `ready` once listening. */
const NAMESPACE_SIDE = `
const net = require('node:net')
const [port, socketPath] = process.argv.slice(1)
const server = net.createServer((inbound) => {
  const outbound = net.connect(socketPath)
  inbound.pipe(outbound).pipe(inbound)
  inbound.on('error', () => outbound.destroy())
  outbound.on('error', () => inbound.destroy())
})
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\\n'))
server.on('error', (error) => { process.stderr.write(String(error) + '\\n'); process.exit(1) })
`

/** Starts both halves; resolves once the namespace side listens. */
export async function forwardPortIntoNamespace(ns: string, port: number, hostPort: number): Promise<NamespaceForward> {
  const dir = await mkdtemp(join(tmpdir(), 'anycloud-fwd-'))
  const socketPath = join(dir, `${port}.sock`)
  const sockets = new Set<Socket>()
  const hostSide: Server = createServer((inbound) => {
    const outbound = connect({host: '127.0.0.1', port: hostPort})
    sockets.add(inbound).add(outbound)
    inbound.pipe(outbound).pipe(inbound)
    inbound.on('error', () => outbound.destroy())
    outbound.on('error', () => inbound.destroy())
    inbound.on('close', () => sockets.delete(inbound))
    outbound.on('close', () => sockets.delete(outbound))
  })
  await new Promise<void>((resolve, reject) => {
    hostSide.once('error', reject)
    hostSide.listen(socketPath, () => resolve())
  })

  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', NAMESPACE_SIDE, String(port), socketPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => hostSide.close(() => resolve()))
    await rm(dir, {recursive: true, force: true})
  }
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (text: string) => text.includes('ready') && resolve())
      void exited.then(() => reject(new Error(`the namespace forwarder for port ${port} exited: ${stderr.trim()}`)))
      setTimeout(() => reject(new Error(`the namespace forwarder for port ${port} did not start`)), 10_000)
    })
  } catch (error) {
    await stop()
    throw error
  }
  return {socketPath, stop}
}
