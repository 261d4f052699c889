/**
 * Runs the fake Compute Engine + IAM endpoint standalone (with the GCS fake behind the same URL),
 * with real sshd VMs in network namespaces (recording-only instances when namespaces are
 * unavailable), and prints what to put in an anycloud credential. Drive scenarios by hand through
 * `/__fake/…` (see the banner).
 *
 *   node --import tsx scripts/fake-gcp.ts [--port N] [--host ADDR] [--backend auto|netns|loopback|noop] [--forward-port N]... [--quiet]
 *
 * Ctrl-C (SIGINT) or SIGTERM stops every VM and exits.
 */
import {parseArgs} from 'node:util'

import {NoopInstanceBackend, type InstanceBackend} from '../test/helpers/fake-aws/index.js'
import {SshdInstanceBackend} from '../test/helpers/fake-aws/sshd-backend.js'
import {FAKE_GCP_PROJECT, startFakeGcp, type FakeGcp} from '../test/helpers/fake-gcp/index.js'
import {netnsAvailable} from '../test/helpers/sshd/index.js'
import {startGcsFake} from '../test/helpers/storage/index.js'

const USAGE = 'usage: node --import tsx scripts/fake-gcp.ts [--port N] [--host ADDR] [--backend auto|netns|loopback|noop] [--forward-port N]... [--quiet]'

async function main(): Promise<void> {
  const {values} = parseArgs({
    options: {
      port: {type: 'string', default: '0'},
      host: {type: 'string', default: '127.0.0.1'},
      backend: {type: 'string', default: 'auto'},
      'forward-port': {type: 'string', multiple: true, default: []},
      quiet: {type: 'boolean', default: false},
      help: {type: 'boolean', default: false},
    },
  })
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  const log = (line: string): void => {
    if (!values.quiet) process.stderr.write(`[fake-gcp ${new Date().toISOString().slice(11, 19)}] ${line}\n`)
  }
  const forwardPorts = (values['forward-port'] ?? []).map(Number)
  let backend: InstanceBackend
  let note = ''
  const sshd = (netns: boolean) => new SshdInstanceBackend({netns, forwardPorts, log})
  switch (values.backend) {
    case 'noop':
      backend = new NoopInstanceBackend()
      break
    case 'loopback':
      backend = sshd(false)
      note = ' (loopback: each VM listens on 127.0.0.1 and its own port, see /__fake/state)'
      break
    case 'netns':
      backend = sshd(true)
      break
    case 'auto': {
      const probe = await netnsAvailable()
      if (probe.available) backend = sshd(true)
      else {
        backend = new NoopInstanceBackend()
        note = ` (network namespaces unavailable: ${probe.reason ?? 'unknown'}; instances are recorded, nothing boots)`
      }
      break
    }
    default:
      throw new Error(`--backend: expected auto, netns, loopback or noop, got ${values.backend}`)
  }
  const gcs = await startGcsFake()
  const fake: FakeGcp = await startFakeGcp({host: values.host, port: Number(values.port), backend, storage: gcs.apiEndpoint, log})
  const token = fake.issueToken('standalone')
  const url = fake.url
  process.stdout.write(
    [
      `fake GCP (Compute Engine, IAM; GCS proxied to ${gcs.apiEndpoint}) listening on ${url}`,
      `VMs: ${backend.name}${note}`,
      '',
      '# 1. export the token the fake accepts (every API call must carry it)',
      `export GCP_FAKE_TOKEN=${token}`,
      '',
      '# 2. add this credential (anycloud.yaml, under credentials:)',
      'fake-gcp:',
      '  provider: gcp',
      `  project: ${FAKE_GCP_PROJECT}`,
      '  region: us-central1',
      '  accessToken: ${env:GCP_FAKE_TOKEN}',
      `  apiEndpoint: ${url}`,
      '',
      '# 3. drive scenarios by hand',
      `curl -s ${url}/__fake/state      # instances, firewalls, service accounts, operations`,
      `curl -s ${url}/__fake/requests   # every API call (path, query, status, how it authenticated)`,
      `curl -s -XPOST ${url}/__fake/stockout -d '{"zone":"us-central1-a"}'`,
      `curl -s -XPOST ${url}/__fake/preempt -d '{"name":"anycloud-…"}'`,
      `curl -s -XPOST ${url}/__fake/token -d '{"label":"other"}'`,
      `curl -s -XPOST ${url}/__fake/reset`,
      '',
      'VMs log in as root (ANYCLOUD_GCP_SSH_USER=root) with the ssh-keys key and present the host key from the user-data.',
      'Ctrl-C stops the fake and every VM.',
      '',
    ].join('\n'),
  )
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) process.exit(130)
    stopping = true
    log(`${signal}: stopping VMs`)
    Promise.all([fake.close(), gcs.stop()])
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
        process.exit(1)
      })
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`)
  process.exit(2)
})
