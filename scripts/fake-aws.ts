/**
 * Runs the fake EC2/IAM/STS endpoint standalone, with real sshd VMs in network namespaces
 * (falls back to recording-only instances when namespaces are unavailable), and prints what to
 * put in an anycloud credential. Drive scenarios by hand through `/__fake/…` (see the banner).
 *
 *   node --import tsx scripts/fake-aws.ts [--port N] [--host ADDR] [--region R]
 *        [--backend auto|netns|loopback|noop] [--forward-port N]... [--iam-propagation-ms N]
 *        [--transitions describe|manual|clock:PENDING_MS:SHUTDOWN_MS] [--quiet]
 *
 * Ctrl-C (SIGINT) or SIGTERM terminates every VM and exits.
 */
import {parseArgs} from 'node:util'
import {NoopInstanceBackend, startFakeAws, type FakeAws, type InstanceBackend, type TransitionMode} from '../test/helpers/fake-aws/index.js'
import {SshdInstanceBackend} from '../test/helpers/fake-aws/sshd-backend.js'
import {netnsAvailable} from '../test/helpers/sshd/index.js'

const USAGE = `usage: node --import tsx scripts/fake-aws.ts [--port N] [--host ADDR] [--region R]
       [--backend auto|netns|loopback|noop] [--forward-port N]... [--iam-propagation-ms N]
       [--transitions describe|manual|clock:PENDING_MS:SHUTDOWN_MS] [--quiet]`

function parseTransitions(value: string): TransitionMode {
  if (value === 'describe') return {mode: 'describe'}
  if (value === 'manual') return {mode: 'manual'}
  const m = /^clock:([0-9]+):([0-9]+)$/.exec(value)
  if (m) return {mode: 'clock', pendingMs: Number(m[1]), shuttingDownMs: Number(m[2])}
  throw new Error(`--transitions: expected describe, manual or clock:PENDING_MS:SHUTDOWN_MS, got ${value}`)
}

async function main(): Promise<void> {
  const {values} = parseArgs({
    options: {
      port: {type: 'string', default: '0'},
      host: {type: 'string', default: '127.0.0.1'},
      region: {type: 'string', default: 'us-east-1'},
      backend: {type: 'string', default: 'auto'},
      'forward-port': {type: 'string', multiple: true, default: []},
      'iam-propagation-ms': {type: 'string', default: '0'},
      transitions: {type: 'string', default: 'describe'},
      quiet: {type: 'boolean', default: false},
      help: {type: 'boolean', default: false},
    },
  })
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  const log = (line: string): void => {
    if (!values.quiet) process.stderr.write(`[fake-aws ${new Date().toISOString().slice(11, 19)}] ${line}\n`)
  }
  process.env.AWS_EC2_METADATA_DISABLED = 'true'

  let fake: FakeAws | undefined
  let backend: InstanceBackend
  let note = ''
  const forwardPorts = (values['forward-port'] ?? []).map(Number)
  const sshdBackend = (netns: boolean): SshdInstanceBackend =>
    new SshdInstanceBackend({netns, forwardPorts, instanceCredentials: (i) => fake?.instanceCredentials(i), log})
  switch (values.backend) {
    case 'noop':
      backend = new NoopInstanceBackend()
      break
    case 'loopback':
      backend = sshdBackend(false)
      note = ' (loopback: each VM listens on 127.0.0.1 and its own port, see /__fake/state)'
      break
    case 'netns':
      backend = sshdBackend(true)
      break
    case 'auto': {
      const probe = await netnsAvailable()
      if (probe.available) backend = sshdBackend(true)
      else {
        backend = new NoopInstanceBackend()
        note = ` (network namespaces unavailable: ${probe.reason ?? 'unknown'}; instances are recorded, nothing boots)`
      }
      break
    }
    default:
      throw new Error(`--backend: expected auto, netns, loopback or noop, got ${values.backend}`)
  }

  fake = await startFakeAws({
    host: values.host,
    port: Number(values.port),
    backend,
    transitions: parseTransitions(values.transitions ?? 'describe'),
    iamPropagationDelayMs: Number(values['iam-propagation-ms']),
    log,
  })
  const url = fake.url
  const {accessKeyId, secretAccessKey} = fake.credentials
  process.stdout.write(
    [
      `fake AWS (EC2, IAM, STS) listening on ${url}`,
      `VMs: ${backend.name}${note}`,
      '',
      '# 1. export the fake credentials',
      `export AWS_ACCESS_KEY_ID=${accessKeyId}`,
      `export AWS_SECRET_ACCESS_KEY=${secretAccessKey}`,
      'export AWS_EC2_METADATA_DISABLED=true',
      '',
      '# 2. add this credential (anycloud.yaml, under credentials:)',
      'fake-aws:',
      '  provider: aws',
      `  region: ${values.region}`,
      '  accountId: "123456789012"',
      '  accessKeyId: ${env:AWS_ACCESS_KEY_ID}',
      '  secretAccessKey: ${env:AWS_SECRET_ACCESS_KEY}',
      `  endpoints: {ec2: ${url}, iam: ${url}, sts: ${url}}`,
      '',
      '# 3. drive scenarios by hand',
      `curl -s ${url}/__fake/state                # instances, roles, policies, sessions, faults`,
      `curl -s ${url}/__fake/requests             # every API call (action, params, attempt, error)`,
      `curl -s -XPOST ${url}/__fake/faults -d '{"type":"throttle","action":"RunInstances","count":2}'`,
      `curl -s -XPOST ${url}/__fake/faults -d '{"type":"insufficient-capacity","availabilityZone":"${values.region}a"}'`,
      `curl -s -XPOST ${url}/__fake/faults -d '{"type":"lose-response","action":"RunInstances"}'`,
      `curl -s -XPOST ${url}/__fake/faults -d '{"type":"iam-propagation","count":3}'`,
      `curl -s -XPOST ${url}/__fake/faults -d '{"type":"expire-credentials","accessKeyId":"${accessKeyId}"}'`,
      `curl -s -XDELETE ${url}/__fake/faults      # clear faults`,
      `curl -s -XPOST ${url}/__fake/preempt -d '{"instanceId":"i-…"}'`,
      `curl -s -XPOST ${url}/__fake/step          # manual transitions: move every instance one state on`,
      `curl -s -XPOST ${url}/__fake/clock -d '{"advanceMs":3600000}'`,
      `curl -s -XPOST ${url}/__fake/reset`,
      '',
      'VMs log in as root with the key pair (or ssh_authorized_keys) and present the host key from the user data.',
      'Ctrl-C stops the fake and terminates every VM.',
      '',
    ].join('\n'),
  )

  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting without waiting\n`)
      process.exit(130)
    }
    stopping = true
    log(`${signal}: terminating VMs and stopping`)
    fake
      ?.close()
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
