/**
 * Runs the fake of Azure Resource Manager and the Entra token endpoint standalone (HTTPS with a
 * throwaway CA), with azurite as every storage account's blob endpoint and real sshd VMs in
 * network namespaces (recording-only VMs when namespaces are unavailable), and prints what to put
 * in an anycloud credential. Drive scenarios by hand through `/__fake/…` (see the banner).
 *
 *   node --import tsx scripts/fake-azure.ts [--port N] [--backend auto|netns|loopback|noop] [--no-azurite] [--quiet]
 *
 * Ctrl-C (SIGINT) or SIGTERM stops every VM, azurite and the fake.
 */
import {parseArgs} from 'node:util'

import {NoopVmBackend, SshdVmBackend, startFakeAzure, type AzureVmBackend, type FakeAzure} from '../test/helpers/fake-azure/index.js'
import {netnsAvailable} from '../test/helpers/sshd/index.js'
import {startAzurite, type AzuriteRig} from '../test/helpers/storage/azurite.js'

const USAGE = 'usage: node --import tsx scripts/fake-azure.ts [--port N] [--backend auto|netns|loopback|noop] [--no-azurite] [--quiet]'
const CLIENT_ID = '22222222-2222-2222-2222-222222222222'
const CLIENT_SECRET = 'fake-azure-secret'

async function main(): Promise<void> {
  const {values} = parseArgs({
    options: {
      port: {type: 'string', default: '0'},
      backend: {type: 'string', default: 'auto'},
      'no-azurite': {type: 'boolean', default: false},
      quiet: {type: 'boolean', default: false},
      help: {type: 'boolean', default: false},
    },
  })
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  const log = (line: string): void => {
    if (!values.quiet) process.stderr.write(`[fake-azure ${new Date().toISOString().slice(11, 19)}] ${line}\n`)
  }
  const azurite: AzuriteRig | undefined = values['no-azurite'] ? undefined : await startAzurite()
  const forwardPorts = azurite ? [Number(new URL(azurite.blobEndpoint).port)] : []
  let backend: AzureVmBackend
  let note = ''
  switch (values.backend) {
    case 'noop':
      backend = new NoopVmBackend()
      break
    case 'loopback':
      backend = new SshdVmBackend({netns: false, log})
      note = ' (loopback: each VM listens on 127.0.0.1 and its own port, see /__fake/state)'
      break
    case 'netns':
      backend = new SshdVmBackend({netns: true, forwardPorts, log})
      break
    case 'auto': {
      const probe = await netnsAvailable()
      if (probe.available) backend = new SshdVmBackend({netns: true, forwardPorts, log})
      else {
        backend = new NoopVmBackend()
        note = ` (network namespaces unavailable: ${probe.reason ?? 'unknown'}; VMs are recorded, nothing boots)`
      }
      break
    }
    default:
      throw new Error(`--backend: expected auto, netns, loopback or noop, got ${values.backend}`)
  }
  const fake: FakeAzure = await startFakeAzure({
    port: Number(values.port),
    backend,
    clients: {[CLIENT_ID]: CLIENT_SECRET},
    ...(azurite ? {blob: {endpoint: azurite.blobEndpoint, accountName: azurite.accountName, accountKey: azurite.accountKey}} : {}),
    log,
  })
  const url = fake.url
  process.stdout.write(
    [
      `fake Azure Resource Manager and login listening on ${url}`,
      `blob: ${azurite ? azurite.blobEndpoint : 'none (--no-azurite)'}; VMs: ${backend.name}${note}`,
      '',
      '# 1. trust the fake CA and export the secret',
      `export NODE_EXTRA_CA_CERTS=${fake.caFile}`,
      `export AZURE_CLIENT_SECRET=${CLIENT_SECRET}`,
      'export ANYCLOUD_AZURE_SSH_USER=root ANYCLOUD_AZURE_BLOB_AUTH=sas ANYCLOUD_AZURE_POLL_MS=50',
      '',
      '# 2. add this credential (anycloud.yaml, under credentials:)',
      'fake-azure:',
      '  provider: azure',
      `  subscriptionId: ${fake.subscriptionId}`,
      `  tenantId: ${fake.tenantId}`,
      `  clientId: ${CLIENT_ID}`,
      '  clientSecret: ${env:AZURE_CLIENT_SECRET}',
      '  region: eastus',
      `  endpoints: {resourceManager: ${url}, login: ${url}}`,
      '',
      '# 3. drive scenarios by hand',
      `curl -sk ${url}/__fake/state      # resources, role assignments, VMs, evictions`,
      `curl -sk ${url}/__fake/requests   # every call (method, path, status, code, lost)`,
      `curl -sk -XPOST ${url}/__fake/faults -d '{"method":"PUT","path":"/virtualmachines/","lro":true,"code":"AllocationFailed","message":"no capacity"}'`,
      `curl -sk -XPOST ${url}/__fake/faults -d '{"method":"PUT","path":"/roleassignments/","status":400,"code":"PrincipalNotFound","message":"not yet","count":3}'`,
      `curl -sk -XPOST ${url}/__fake/faults -d '{"path":"/networkinterfaces/","status":429,"code":"TooManyRequests","message":"slow down","retryAfterSeconds":1}'`,
      `curl -sk -XPOST ${url}/__fake/evict -d '{"name":"anycloud-<deployment>-vm"}'`,
      `curl -sk -XPOST ${url}/__fake/reset`,
      '',
      'VMs log in as root with the osProfile key and present the host key from the custom data.',
      'Ctrl-C stops the fake, azurite and every VM.',
      '',
    ].join('\n'),
  )
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) process.exit(130)
    stopping = true
    log(`${signal}: stopping`)
    Promise.allSettled([fake.close(), azurite?.stop()]).then(() => process.exit(0))
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`)
  process.exit(2)
})
