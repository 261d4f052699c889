/**
 * `PROFILE.identity` on GCP: one service account per deployment, attached to the VM, with a
 * bucket-level binding on each of the deployment's buckets on this credential:
 * `roles/storage.objectAdmin` on the output and checkpoint buckets, `roles/storage.objectViewer`
 * on the input bucket. Buckets on other credentials (an S3 output bucket) are reached with what
 * their provider mints (scoped STS credentials), not with this account.
 *
 * - Create (notes/gcp-provider.md §3): POST (not retried by the client; the account id comes from
 *   the intent token, so a replay asks for the same one and its 409 means "ours": GET it and check
 *   the description names this deployment), then poll GET until IAM shows it (eventual
 *   consistency), then the bindings.
 * - Bindings: read-modify-write of the bucket's IAM policy (version 3) carrying its etag; a stale
 *   etag (409 or 412) re-reads and retries with backoff; `deleted:serviceAccount:ac-…` members
 *   left by earlier deployments are garbage-collected on the way. After a write the policy is
 *   re-read until it shows the change.
 * - Delete: bindings first (a dead member would linger as `deleted:…`), then the account; 404 is
 *   success; the deletion is confirmed by a GET.
 * - Lost state: the account is found by listing (`ac-` prefix, description naming the deployment).
 */
import type {Bucket} from '@google-cloud/storage'

import {ProviderError} from '../../errors/index.js'
import type {ActualResource, DesiredResource, ResourceRecord} from '../../model/resources.js'
import {sleep} from '../../util/process.js'
import type {ProviderCallContext, ResourceLookup} from '../provider.js'
import type {GcpClients} from './clients.js'
import {GCP, gceCall, gcpStatus, isAlreadyExists, isNotFound, toGcpError, type RetryBudget} from './errors.js'
import {deploymentOfDescription, SA_PREFIX, serviceAccountDescription, serviceAccountId} from './names.js'

export interface IdentityContext {
  clients: GcpClients
  project: string
  credential: string
  retry: RetryBudget
  /** Until a new account is visible (GET) and usable. */
  propagationTimeoutMs: number
  /** First pause of propagation / conflict retries (doubles, ≤ 30 s). */
  initialBackoffMs: number
  /** The bucket (storage client of this credential). */
  bucket(name: string): Promise<Bucket>
  /** The buckets of the deployment on this credential: role → name. */
  bucketsHere(call: ProviderCallContext): Array<{role: string; name: string}>
}

export const OBJECT_ADMIN = 'roles/storage.objectAdmin'
export const OBJECT_VIEWER = 'roles/storage.objectViewer'

export function roleFor(bucketRole: string): string {
  return bucketRole === 'input' ? OBJECT_VIEWER : OBJECT_ADMIN
}

interface Account {
  email: string
  uniqueId?: string
  description?: string
}

function member(email: string): string {
  return `serviceAccount:${email}`
}

async function getAccount(ctx: IdentityContext, email: string): Promise<Account | undefined> {
  const iam = await ctx.clients.iam()
  try {
    const {data} = await gceCall(`serviceAccounts.get ${email}`, ctx.credential, () => iam.projects.serviceAccounts.get({name: `projects/${ctx.project}/serviceAccounts/${email}`}), ctx.retry)
    return {email: String(data.email), ...(data.uniqueId ? {uniqueId: String(data.uniqueId)} : {}), ...(data.description ? {description: String(data.description)} : {})}
  } catch (error) {
    if (isNotFound(error) || (error as {code?: string}).code === 'cloud.not-found') return undefined
    throw error
  }
}

/** Every anycloud account of a deployment (or of any deployment), by listing. */
export async function findAccounts(ctx: IdentityContext, deploymentId?: string): Promise<Account[]> {
  const iam = await ctx.clients.iam()
  const out: Account[] = []
  let pageToken: string | undefined
  do {
    const {data} = await gceCall('serviceAccounts.list', ctx.credential, () => iam.projects.serviceAccounts.list({name: `projects/${ctx.project}`, pageSize: 100, ...(pageToken ? {pageToken} : {})}), ctx.retry)
    for (const a of data.accounts ?? []) {
      const email = String(a.email ?? '')
      const dep = deploymentOfDescription(a.description)
      if (!email.startsWith(SA_PREFIX) || !dep || (deploymentId && dep !== deploymentId)) continue
      out.push({email, ...(a.description ? {description: String(a.description)} : {})})
    }
    pageToken = data.nextPageToken || undefined
  } while (pageToken)
  return out
}

function identityActual(a: Account, attributes: Record<string, unknown>, bindings: Record<string, string>): ActualResource {
  return {id: a.email, attributes, outputs: {email: a.email, ...(a.uniqueId ? {uniqueId: a.uniqueId} : {}), bindings}}
}

export async function readIdentity(ctx: IdentityContext, lookup: ResourceLookup, call: ProviderCallContext): Promise<ActualResource | null> {
  const {deploymentId} = call.deployment
  const recorded = typeof lookup.record?.outputs?.email === 'string' ? lookup.record.outputs.email : undefined
  let acct = recorded ? await getAccount(ctx, recorded) : undefined
  if (!acct) acct = (await findAccounts(ctx, deploymentId))[0]
  if (!acct || deploymentOfDescription(acct.description) !== deploymentId) return null
  const bindings: Record<string, string> = {}
  const names: Record<string, string> = {}
  for (const b of ctx.bucketsHere(call)) {
    names[b.role] = b.name
    if (await hasBinding(ctx, b.name, roleFor(b.role), acct.email)) bindings[b.name] = roleFor(b.role)
  }
  // The desired `buckets` attribute holds every bucket of the deployment; the bindings read here
  // are those on this credential. A missing binding shows as a change of `buckets`.
  const attributes = {...(lookup.record?.attributes ?? {})}
  const complete = ctx.bucketsHere(call).every((b) => bindings[b.name])
  if (!complete) attributes.buckets = {...(attributes.buckets as Record<string, string> | undefined), bindings: 'incomplete'}
  return identityActual(acct, attributes, bindings)
}

async function hasBinding(ctx: IdentityContext, bucketName: string, role: string, email: string): Promise<boolean> {
  const bucket = await ctx.bucket(bucketName)
  try {
    const [policy] = await bucket.iam.getPolicy({requestedPolicyVersion: 3})
    return (policy.bindings ?? []).some((b) => b.role === role && (b.members ?? []).includes(member(email)))
  } catch (error) {
    if (gcpStatus(error) === 404) return false
    throw toGcpError(error, `reading the IAM policy of bucket '${bucketName}'`, ctx.credential, ctx.clients.settings.apiEndpoint)
  }
}

/**
 * Read-modify-write of a bucket policy with its etag, retried on 409/412 (another writer got in
 * between). `change` edits the bindings in place and says whether anything changed.
 */
export async function updateBucketPolicy(
  ctx: IdentityContext,
  bucketName: string,
  change: (bindings: Array<{role: string; members: string[]; condition?: unknown}>) => boolean,
  check: (bindings: Array<{role: string; members: string[]}>) => boolean,
  call?: ProviderCallContext,
): Promise<void> {
  const bucket = await ctx.bucket(bucketName)
  const deadline = Date.now() + Math.max(ctx.propagationTimeoutMs, 30_000)
  let backoff = ctx.initialBackoffMs
  for (;;) {
    let policy
    try {
      ;[policy] = await bucket.iam.getPolicy({requestedPolicyVersion: 3})
    } catch (error) {
      if (gcpStatus(error) === 404) return
      throw toGcpError(error, `reading the IAM policy of bucket '${bucketName}'`, ctx.credential, ctx.clients.settings.apiEndpoint)
    }
    const bindings = (policy.bindings ?? []).map((b) => ({...b, role: String(b.role), members: [...(b.members ?? [])]}))
    // Garbage: members of deleted anycloud accounts (they count toward the 1,500-member limit).
    let changed = false
    for (const b of bindings) {
      const kept = b.members.filter((m) => !m.startsWith(`deleted:serviceAccount:${SA_PREFIX}`))
      if (kept.length !== b.members.length) {
        b.members = kept
        changed = true
      }
    }
    changed = change(bindings) || changed
    if (!changed) return
    if (!policy.etag) throw new ProviderError(`the IAM policy of bucket '${bucketName}' came without an etag: refusing to overwrite it blindly`, 'gcp.iam-etag', GCP, ctx.credential)
    try {
      await bucket.iam.setPolicy({...policy, version: 3, etag: policy.etag, bindings: bindings.filter((b) => b.members.length > 0)})
    } catch (error) {
      const status = gcpStatus(error)
      if ((status === 409 || status === 412) && Date.now() < deadline) {
        call?.progress(`the IAM policy of bucket '${bucketName}' changed meanwhile (HTTP ${status}); reading it again`)
        await sleep(backoff * (0.5 + Math.random() / 2), call?.signal)
        backoff = Math.min(backoff * 2, 30_000)
        continue
      }
      throw toGcpError(error, `writing the IAM policy of bucket '${bucketName}'`, ctx.credential, ctx.clients.settings.apiEndpoint)
    }
    // Re-read until the change shows (writes are read-after-write consistent in practice; bounded).
    for (let i = 0; i < 5; i++) {
      const [after] = await bucket.iam.getPolicy({requestedPolicyVersion: 3})
      if (check((after.bindings ?? []).map((b) => ({role: String(b.role), members: b.members ?? []})))) return
      await sleep(backoff, call?.signal)
    }
    throw new ProviderError(`the IAM policy of bucket '${bucketName}' does not show anycloud's change after writing it`, 'gcp.iam-propagation', GCP, ctx.credential)
  }
}

async function bind(ctx: IdentityContext, bucketName: string, role: string, email: string, call: ProviderCallContext): Promise<void> {
  const m = member(email)
  await updateBucketPolicy(
    ctx,
    bucketName,
    (bindings) => {
      let b = bindings.find((x) => x.role === role && !x.condition)
      if (b?.members.includes(m)) return false
      if (!b) {
        b = {role, members: []}
        bindings.push(b)
      }
      b.members.push(m)
      return true
    },
    (bindings) => bindings.some((b) => b.role === role && b.members.includes(m)),
    call,
  )
}

async function unbind(ctx: IdentityContext, bucketName: string, email: string, call: ProviderCallContext): Promise<void> {
  const m = member(email)
  await updateBucketPolicy(
    ctx,
    bucketName,
    (bindings) => {
      let changed = false
      for (const b of bindings) {
        if (b.members.includes(m)) {
          b.members = b.members.filter((x) => x !== m)
          changed = true
        }
      }
      return changed
    },
    (bindings) => bindings.every((b) => !b.members.includes(m)),
    call,
  )
}

export async function createIdentity(ctx: IdentityContext, resource: DesiredResource, call: ProviderCallContext): Promise<ActualResource> {
  const {deploymentId} = call.deployment
  const description = serviceAccountDescription(deploymentId)
  let acct: Account | undefined = (await findAccounts(ctx, deploymentId))[0]
  if (!acct) {
    const accountId = serviceAccountId(deploymentId, call.token)
    const email = `${accountId}@${ctx.project}.iam.gserviceaccount.com`
    call.progress(`creating service account ${email}`)
    const iam = await ctx.clients.iam()
    try {
      await gceCall(`serviceAccounts.create ${accountId}`, ctx.credential, () =>
        iam.projects.serviceAccounts.create({name: `projects/${ctx.project}`, requestBody: {accountId, serviceAccount: {displayName: `anycloud ${deploymentId}`.slice(0, 100), description}}}),
        // POST: retried only because a replay's 409 is read back below (same account id).
        ctx.retry,
      )
    } catch (error) {
      if (!isAlreadyExists(error)) {
        const status = (error as {cause?: {status?: number}}).cause?.status
        if (status === 429 || /Maximum number of service accounts/i.test((error as Error).message)) {
          throw new ProviderError(`gcp: project ${ctx.project} has reached its service-account limit (100 by default): ${(error as Error).message}`, 'gcp.quota', GCP, ctx.credential, error, [
            'Destroy finished deployments (each holds one service account), or request a higher limit.',
          ])
        }
        throw error
      }
    }
    // IAM is eventually consistent: poll until the new account is visible.
    const deadline = Date.now() + ctx.propagationTimeoutMs
    let wait = ctx.initialBackoffMs
    for (;;) {
      acct = await getAccount(ctx, email)
      if (acct) break
      if (Date.now() > deadline) throw new ProviderError(`service account ${email} is not visible ${Math.round(ctx.propagationTimeoutMs / 1000)} s after its creation`, 'gcp.iam-propagation', GCP, ctx.credential)
      call.progress(`waiting for service account ${email} to propagate`)
      await sleep(wait, call.signal)
      wait = Math.min(wait * 2, 15_000)
    }
    if (deploymentOfDescription(acct.description) !== deploymentId) {
      throw new ProviderError(`service account ${email} exists but is not anycloud's for deployment ${deploymentId}`, 'gcp.identity-foreign', GCP, ctx.credential)
    }
  }
  const bindings: Record<string, string> = {}
  for (const b of ctx.bucketsHere(call)) {
    call.progress(`granting ${roleFor(b.role)} on bucket '${b.name}' to ${acct.email}`)
    await bind(ctx, b.name, roleFor(b.role), acct.email, call)
    bindings[b.name] = roleFor(b.role)
  }
  return identityActual(acct, resource.attributes, bindings)
}

/** The buckets changed: bind the new ones, unbind those no longer listed. */
export async function updateIdentity(ctx: IdentityContext, resource: DesiredResource, record: ResourceRecord, call: ProviderCallContext): Promise<ActualResource> {
  const email = typeof record.outputs?.email === 'string' ? record.outputs.email : record.id
  const acct = await getAccount(ctx, email)
  if (!acct) throw new ProviderError(`service account ${email} of ${record.address} no longer exists: run \`anycloud plan\` again`, 'gcp.missing', GCP, ctx.credential)
  const wanted = ctx.bucketsHere(call)
  const before = (record.outputs?.bindings as Record<string, string> | undefined) ?? {}
  for (const name of Object.keys(before)) if (!wanted.some((b) => b.name === name)) await unbind(ctx, name, email, call)
  const bindings: Record<string, string> = {}
  for (const b of wanted) {
    await bind(ctx, b.name, roleFor(b.role), email, call)
    bindings[b.name] = roleFor(b.role)
  }
  return identityActual(acct, resource.attributes, bindings)
}

/** Bindings first, then the account; confirmed gone. */
export async function deleteIdentity(ctx: IdentityContext, record: ResourceRecord, call: ProviderCallContext): Promise<void> {
  const {deploymentId} = call.deployment
  const emails = new Set<string>()
  const recorded = typeof record.outputs?.email === 'string' ? record.outputs.email : undefined
  if (recorded) {
    const a = await getAccount(ctx, recorded)
    if (a && deploymentOfDescription(a.description) === deploymentId) emails.add(a.email)
    else if (a) call.progress(`kept service account ${a.email}: not anycloud's for deployment ${deploymentId}`)
  }
  for (const a of await findAccounts(ctx, deploymentId)) emails.add(a.email)
  const buckets = new Set([...Object.keys((record.outputs?.bindings as Record<string, string> | undefined) ?? {}), ...ctx.bucketsHere(call).map((b) => b.name)])
  const iam = await ctx.clients.iam()
  for (const email of emails) {
    for (const name of buckets) {
      call.progress(`removing ${email} from bucket '${name}'`)
      await unbind(ctx, name, email, call)
    }
    call.progress(`deleting service account ${email}`)
    try {
      await gceCall(`serviceAccounts.delete ${email}`, ctx.credential, () => iam.projects.serviceAccounts.delete({name: `projects/${ctx.project}/serviceAccounts/${email}`}), ctx.retry)
    } catch (error) {
      if (!isNotFound(error) && (error as {code?: string}).code !== 'cloud.not-found') throw error
    }
    if (await getAccount(ctx, email)) throw new ProviderError(`service account ${email} still exists after its deletion`, 'gcp.identity-delete', GCP, ctx.credential)
  }
}
