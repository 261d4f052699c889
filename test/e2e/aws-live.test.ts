/**
 * Opt-in suite against REAL AWS: `ANYCLOUD_LIVE_AWS=1` plus an AWS profile that may create EC2,
 * IAM and S3 resources (ANYCLOUD_LIVE_AWS_PROFILE, default `default`; ANYCLOUD_LIVE_AWS_REGION,
 * default `us-east-1`). It costs money (a t3.micro spot instance for a few minutes) and leaves
 * nothing behind: it ends with a leak sweep of everything tagged with this run's project name,
 * which deletes what it finds and FAILS if it found anything.
 *
 * Why the guard sits inside `describe` and registers no test at all when the variable is unset
 * (rather than `describe.skip`/`this.skip()`): no hook runs, so nothing in this file can even build
 * an SDK client by accident, and CI reports show no pending live tests. It never runs in CI (`CI`
 * set): CI has no AWS account and must never reach one.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'

import {stringify} from 'yaml'

import {Project} from './cli.js'

const LIVE = process.env.ANYCLOUD_LIVE_AWS === '1' && !process.env.CI

describe('live AWS (opt-in: ANYCLOUD_LIVE_AWS=1, never in CI)', function () {
  if (!LIVE) return
  this.timeout(30 * 60_000)
  const runId = randomBytes(3).toString('hex')
  const projectName = `live${runId}`
  const region = process.env.ANYCLOUD_LIVE_AWS_REGION ?? 'us-east-1'
  const profile = process.env.ANYCLOUD_LIVE_AWS_PROFILE ?? 'default'
  const output = `anycloud-live-${runId}-out`
  let project: Project | undefined

  after(async () => {
    try {
      await project?.run(['destroy', '-y'], {timeoutMs: 20 * 60_000})
    } finally {
      const leaks = await sweep(projectName, region, profile)
      project?.cleanup([]).catch(() => undefined)
      assert.deepEqual(leaks, [], `leak sweep found (and deleted) resources tagged anycloud-project=${projectName}`)
    }
  })

  it('apply a spot job that writes its output, then destroy', async () => {
    project = new Project(
      stringify({
        version: 1,
        project: projectName,
        credentials: {live: {provider: 'aws', profile, region}},
        profiles: {
          job: {credentials: 'live', vmType: 't3.micro', spot: true, runtime: 'process', outputBucket: output, command: ['sh', '-c', 'echo hello > "$ANYCLOUD_OUTPUT/hello.txt"']},
        },
      }),
    )
    const applied = await project.run(['apply', '-y', '--wait'], {timeoutMs: 25 * 60_000})
    assert.equal(applied.code, 0, applied.stderr)
    const destroyed = await project.run(['destroy', '-y'], {timeoutMs: 20 * 60_000})
    assert.equal(destroyed.code, 0, destroyed.stderr)
  })
})

/**
 * Deletes every resource tagged `anycloud-project=<project>` (instances, security groups, key
 * pairs, IAM roles and instance profiles, S3 buckets with their objects) and returns what it found.
 */
async function sweep(project: string, region: string, profile: string): Promise<string[]> {
  const {fromIni} = await import('@aws-sdk/credential-providers')
  const credentials = fromIni({profile})
  const ec2m = await import('@aws-sdk/client-ec2')
  const iamm = await import('@aws-sdk/client-iam')
  const s3m = await import('@aws-sdk/client-s3')
  const ec2 = new ec2m.EC2Client({region, credentials})
  const iam = new iamm.IAMClient({region: 'us-east-1', credentials})
  const s3 = new s3m.S3Client({region, credentials, followRegionRedirects: true})
  const found: string[] = []
  const tagFilter = [{Name: 'tag:anycloud-project', Values: [project]}]
  try {
    const reservations = await ec2.send(new ec2m.DescribeInstancesCommand({Filters: [...tagFilter, {Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped']}]}))
    const ids = (reservations.Reservations ?? []).flatMap((r) => (r.Instances ?? []).map((i) => i.InstanceId!))
    if (ids.length > 0) {
      found.push(...ids.map((i) => `instance ${i}`))
      await ec2.send(new ec2m.TerminateInstancesCommand({InstanceIds: ids}))
      await ec2m.waitUntilInstanceTerminated({client: ec2, maxWaitTime: 600}, {InstanceIds: ids})
    }
    for (const g of (await ec2.send(new ec2m.DescribeSecurityGroupsCommand({Filters: tagFilter}))).SecurityGroups ?? []) {
      found.push(`security group ${g.GroupId}`)
      await ec2.send(new ec2m.DeleteSecurityGroupCommand({GroupId: g.GroupId}))
    }
    for (const k of (await ec2.send(new ec2m.DescribeKeyPairsCommand({Filters: tagFilter}))).KeyPairs ?? []) {
      found.push(`key pair ${k.KeyName}`)
      await ec2.send(new ec2m.DeleteKeyPairCommand({KeyName: k.KeyName}))
    }
    for (const p of (await iam.send(new iamm.ListInstanceProfilesCommand({PathPrefix: '/'}))).InstanceProfiles ?? []) {
      if (!p.InstanceProfileName?.startsWith(`anycloud-${project}-`)) continue
      found.push(`instance profile ${p.InstanceProfileName}`)
      for (const r of p.Roles ?? []) await iam.send(new iamm.RemoveRoleFromInstanceProfileCommand({InstanceProfileName: p.InstanceProfileName, RoleName: r.RoleName}))
      await iam.send(new iamm.DeleteInstanceProfileCommand({InstanceProfileName: p.InstanceProfileName}))
    }
    for (const r of (await iam.send(new iamm.ListRolesCommand({}))).Roles ?? []) {
      if (!r.RoleName?.startsWith(`anycloud-${project}-`)) continue
      found.push(`role ${r.RoleName}`)
      for (const name of (await iam.send(new iamm.ListRolePoliciesCommand({RoleName: r.RoleName}))).PolicyNames ?? []) {
        await iam.send(new iamm.DeleteRolePolicyCommand({RoleName: r.RoleName, PolicyName: name}))
      }
      await iam.send(new iamm.DeleteRoleCommand({RoleName: r.RoleName}))
    }
    for (const b of (await s3.send(new s3m.ListBucketsCommand({}))).Buckets ?? []) {
      let tags: Record<string, string> = {}
      try {
        tags = Object.fromEntries(((await s3.send(new s3m.GetBucketTaggingCommand({Bucket: b.Name}))).TagSet ?? []).map((t) => [t.Key, t.Value]))
      } catch {
        continue
      }
      if (tags['anycloud-project'] !== project) continue
      found.push(`bucket ${b.Name}`)
      const objects = (await s3.send(new s3m.ListObjectsV2Command({Bucket: b.Name}))).Contents ?? []
      if (objects.length > 0) await s3.send(new s3m.DeleteObjectsCommand({Bucket: b.Name, Delete: {Objects: objects.map((o) => ({Key: o.Key!}))}}))
      await s3.send(new s3m.DeleteBucketCommand({Bucket: b.Name}))
    }
  } finally {
    ec2.destroy()
    iam.destroy()
    s3.destroy()
  }
  // The output bucket holds data by design (never deleted with data): it is expected, not a leak.
  return found.filter((f) => !/-out$/.test(f))
}
