/**
 * A stand-in for downloads.rclone.org on loopback: serves a release-shaped zip
 * (`/v<V>/rclone-v<V>-linux-<arch>.zip` holding `rclone-v<V>-linux-<arch>/rclone`) and counts
 * requests. The "release" binary is a small script that reports version <V> and runs the host's
 * real rclone for everything else, logging each invocation so a test can tell which rclone ran.
 */
import {createHash} from 'node:crypto'
import {execFileSync} from 'node:child_process'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {crc32} from 'node:zlib'

/** The release architecture of this machine, as rclone names it. */
export function releaseArch(): 'amd64' | 'arm64' {
  if (process.arch === 'x64') return 'amd64'
  if (process.arch === 'arm64') return 'arm64'
  throw new Error(`no rclone release stand-in for ${process.arch}`)
}

/** The host's real rclone (absolute path), whatever a test puts first on a VM's PATH. */
export function realRclone(): string {
  return execFileSync('sh', ['-c', 'command -v rclone'], {encoding: 'utf8'}).trim()
}

/** A shell script standing in for an rclone binary: prints `version`, logs and delegates the rest. */
export function rcloneScript(version: string, log: string): string {
  return [
    '#!/bin/sh',
    `echo "$*" >> '${log}'`,
    `if [ "$1" = version ]; then echo "rclone v${version}"; echo "- os/version: stand-in"; exit 0; fi`,
    `exec '${realRclone()}' "$@"`,
    '',
  ].join('\n')
}

/** A zip archive (stored, no compression) of the given files; `mode` goes into the Unix attributes. */
export function zipOf(files: Array<{name: string; content: Buffer | string; mode?: number}>): Buffer {
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const f of files) {
    const data = Buffer.from(f.content)
    const name = Buffer.from(f.name)
    const crc = crc32(data)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4) // version needed
    local.writeUInt16LE(0, 6) // flags
    local.writeUInt16LE(0, 8) // stored
    local.writeUInt32LE(0, 10) // time, date
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(data.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(name.length, 26)
    local.writeUInt16LE(0, 28)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0)
    central.writeUInt16LE((3 << 8) | 20, 4) // made by Unix
    central.writeUInt16LE(20, 6)
    central.writeUInt16LE(0, 8)
    central.writeUInt16LE(0, 10)
    central.writeUInt32LE(0, 12)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(data.length, 20)
    central.writeUInt32LE(data.length, 24)
    central.writeUInt16LE(name.length, 28)
    central.writeUInt32LE(0, 30) // extra, comment lengths
    central.writeUInt32LE(0, 34) // disk, internal attributes
    central.writeUInt32LE((((f.mode ?? 0o644) | 0o100000) << 16) >>> 0, 38)
    central.writeUInt32LE(offset, 42)
    locals.push(local, name, data)
    centrals.push(central, name)
    offset += local.length + name.length + data.length
  }
  const cd = Buffer.concat(centrals)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(files.length, 8)
  end.writeUInt16LE(files.length, 10)
  end.writeUInt32LE(cd.length, 12)
  end.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, cd, end])
}

export interface ReleaseServer {
  /** `http://127.0.0.1:PORT` (ANYCLOUD_RCLONE_BASE_URL). */
  baseUrl: string
  port: number
  /** sha256 (hex) of the served zip. */
  sha256: string
  /** Paths requested, in order. */
  requests: string[]
  stop(): Promise<void>
}

/** Serves a release-shaped zip of `version` whose binary logs its invocations to `log`. */
export async function startReleaseServer(version: string, log: string): Promise<ReleaseServer> {
  const arch = releaseArch()
  const dir = `rclone-v${version}-linux-${arch}`
  const zip = zipOf([
    {name: `${dir}/rclone`, content: rcloneScript(version, log), mode: 0o755},
    {name: `${dir}/README.txt`, content: 'stand-in release for anycloud tests\n'},
  ])
  const path = `/v${version}/${dir}.zip`
  const requests: string[] = []
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '')
    if (req.method === 'GET' && req.url === path) {
      res.writeHead(200, {'content-type': 'application/zip', 'content-length': zip.length})
      res.end(zip)
    } else {
      res.writeHead(404, {'content-type': 'text/plain'})
      res.end('not found\n')
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    sha256: createHash('sha256').update(zip).digest('hex'),
    requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
