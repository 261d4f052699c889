/**
 * Opt-in suite against REAL Azure: `ANYCLOUD_LIVE_AZURE=1` plus a service principal that may
 * create resources and role assignments in the subscription (ANYCLOUD_LIVE_AZURE_SUBSCRIPTION,
 * ANYCLOUD_LIVE_AZURE_TENANT, ANYCLOUD_LIVE_AZURE_CLIENT, the secret in
 * ANYCLOUD_LIVE_AZURE_SECRET; or, without the three SP variables, the Azure CLI login;
 * ANYCLOUD_LIVE_AZURE_REGION, default `eastus`). It costs money (a small spot VM for a few
 * minutes) and leaves nothing behind but the shared continent storage account: it ends with a tag
 * sweep of everything tagged with this run's project (VMs, NICs, IPs, NSGs, identities and
 * disks in the region group, and this run's role assignments and containers), which deletes what
 * it finds and FAILS if it found anything.
 *
 * As in the AWS live suite, the guard sits inside `describe` and registers nothing when the variable
 * is unset, and it never runs in CI (`CI` set): CI has no Azure subscription and must never reach one.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'

import {stringify} from 'yaml'

import {Project} from './cli.js'

const LIVE = process.env.ANYCLOUD_LIVE_AZURE === '1' && !process.env.CI

describe('live Azure (opt-in: ANYCLOUD_LIVE_AZURE=1, never in CI)', function () {
  if (!LIVE) return
  this.timeout(40 * 60_000)
  const runId = randomBytes(3).toString('hex')
  const projectName = `live${runId}`
  const region = process.env.ANYCLOUD_LIVE_AZURE_REGION ?? 'eastus'
  const subscriptionId = process.env.ANYCLOUD_LIVE_AZURE_SUBSCRIPTION ?? ''
  const sp = process.env.ANYCLOUD_LIVE_AZURE_TENANT && process.env.ANYCLOUD_LIVE_AZURE_CLIENT && process.env.ANYCLOUD_LIVE_AZURE_SECRET
  const output = `anycloud-live-${runId}-out`
  let project: Project | undefined

  after(async () => {
    try {
      await project?.run(['destroy', '-y'], {timeoutMs: 25 * 60_000})
    } finally {
      const leaks = await sweep(projectName, region, subscriptionId)
      project?.cleanup([]).catch(() => undefined)
      assert.deepEqual(leaks, [], `tag sweep found (and deleted) resources tagged anycloud-project=${projectName}`)
    }
  })

  it('apply a spot job that writes its output through its managed identity, then destroy', async () => {
    assert.ok(subscriptionId, 'set ANYCLOUD_LIVE_AZURE_SUBSCRIPTION')
    project = new Project(
      stringify({
        version: 1,
        project: projectName,
        credentials: {
          live: {
            provider: 'azure',
            subscriptionId,
            region,
            ...(sp ? {tenantId: process.env.ANYCLOUD_LIVE_AZURE_TENANT, clientId: process.env.ANYCLOUD_LIVE_AZURE_CLIENT, clientSecret: '${env:ANYCLOUD_LIVE_AZURE_SECRET}'} : {}),
          },
        },
        profiles: {
          job: {credentials: 'live', vmType: 'Standard_D2s_v5', spot: true, runtime: 'process', outputBucket: output, command: ['sh', '-c', 'echo hello > "$ANYCLOUD_OUTPUT/hello.txt"']},
        },
      }),
    )
    const applied = await project.run(['apply', '-y', '--wait'], {timeoutMs: 30 * 60_000})
    assert.equal(applied.code, 0, applied.stderr)
    const destroyed = await project.run(['destroy', '-y'], {timeoutMs: 25 * 60_000})
    assert.equal(destroyed.code, 0, destroyed.stderr)
  })
})

/**
 * Deletes every resource of the region group tagged `anycloud-project=<project>` (VMs first, then
 * NICs, IPs, NSGs, identities, disks), the role assignments anycloud made for it (described
 * `anycloud-deployment=<project>-…`) and its containers other than the output, and returns what it
 * found. The shared storage account and region group/VNet are kept.
 */
async function sweep(project: string, region: string, subscriptionId: string): Promise<string[]> {
  if (!subscriptionId) return []
  const identity = await import('@azure/identity')
  const sp = process.env.ANYCLOUD_LIVE_AZURE_TENANT && process.env.ANYCLOUD_LIVE_AZURE_CLIENT && process.env.ANYCLOUD_LIVE_AZURE_SECRET
  const cred = sp
    ? new identity.ClientSecretCredential(process.env.ANYCLOUD_LIVE_AZURE_TENANT!, process.env.ANYCLOUD_LIVE_AZURE_CLIENT!, process.env.ANYCLOUD_LIVE_AZURE_SECRET!)
    : new identity.AzureCliCredential()
  const {ResourceManagementClient} = await import('@azure/arm-resources')
  const {AuthorizationManagementClient} = await import('@azure/arm-authorization')
  const {StorageManagementClient} = await import('@azure/arm-storage')
  const resources = new ResourceManagementClient(cred, subscriptionId)
  const auth = new AuthorizationManagementClient(cred, subscriptionId)
  const storage = new StorageManagementClient(cred, subscriptionId)
  const found: string[] = []
  const order = ['microsoft.compute/virtualmachines', 'microsoft.network/networkinterfaces', 'microsoft.network/publicipaddresses', 'microsoft.network/networksecuritygroups', 'microsoft.managedidentity/userassignedidentities', 'microsoft.compute/disks']
  const tagged: Array<{id: string; type: string}> = []
  try {
    for await (const r of resources.resources.listByResourceGroup(`anycloud-${region}`)) {
      if (r.tags?.['anycloud-project'] === project && r.id && r.type) tagged.push({id: r.id, type: r.type.toLowerCase()})
    }
  } catch (error) {
    if ((error as {statusCode?: number}).statusCode !== 404) throw error
  }
  tagged.sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type))
  for (const r of tagged) {
    found.push(`${r.type} ${r.id}`)
    const apiVersion = r.type.startsWith('microsoft.compute') ? '2024-07-01' : r.type.startsWith('microsoft.network') ? '2024-05-01' : '2023-01-31'
    await resources.resources.beginDeleteByIdAndWait(r.id, apiVersion)
  }
  for await (const ra of auth.roleAssignments.listForSubscription()) {
    if (ra.description?.startsWith(`anycloud-deployment=${project}-`) && ra.id) {
      found.push(`role assignment ${ra.id}`)
      await auth.roleAssignments.deleteById(ra.id)
    }
  }
  for await (const a of storage.storageAccounts.list()) {
    if (a.tags?.['anycloud-managed'] !== 'true' || !a.id || !a.name) continue
    const group = /\/resourceGroups\/([^/]+)/i.exec(a.id)?.[1] ?? ''
    for await (const c of storage.blobContainers.list(group, a.name)) {
      if (!c.name?.startsWith(`${project}-`)) continue
      found.push(`container ${a.name}/${c.name}`)
      await storage.blobContainers.delete(group, a.name, c.name)
    }
  }
  return found
}
