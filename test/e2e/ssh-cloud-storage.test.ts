import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'

import {BlobServiceClient} from '@azure/storage-blob'
import {Storage} from '@google-cloud/storage'

import {filesUnder, leaksOf, PLACEMENT, processArgs, startVm, untilUploaded} from '../bootstrap/helpers.js'
import {gcsClientOptions, loopbackOnly, startAzurite, startGcsFake, type AzuriteRig, type GcsFake} from '../helpers/storage/index.js'
import {sshProject, type SshProject} from './ssh-rig.js'

/**
 * An ssh host whose buckets live on an `azure` credential (azurite, reached with a container SAS
 * the provider mints at apply time) or a `gcp` one (the GCS fake, anonymous endpoint), through the
 * built CLI. What the host uploaded is read back with the clouds' SDKs; secret values found in the
 * host's 0600 rclone env file must appear nowhere else.
 */

interface Cloud {
  title: string
  start(): Promise<void>
  stop(): Promise<void>
  port(): number
  credential(): Record<string, unknown>
  createWith(bucket: string, files: Record<string, string>): Promise<void>
  list(bucket: string): Promise<string[]>
  read(bucket: string, key: string): Promise<string>
  /** rclone env-file keys whose values are secrets, and how many remotes carry one. */
  secretKeys: RegExp
  secretCount: number
}

function azure(): Cloud {
  let rig: AzuriteRig
  const service = () => BlobServiceClient.fromConnectionString(rig.connectionString)
  return {
    title: 'an azure credential (azurite, container SAS minted at apply time)',
    start: async () => void (rig = await startAzurite()),
    stop: async () => rig?.stop(),
    port: () => Number(new URL(rig.blobEndpoint).port),
    credential: () => ({provider: 'azure', subscriptionId: '00000000-0000-0000-0000-000000000000', region: 'eastus', endpoint: rig.blobEndpoint}),
    async createWith(bucket, files) {
      const c = service().getContainerClient(bucket)
      await c.create()
      for (const [k, v] of Object.entries(files)) await c.getBlockBlobClient(k).upload(v, Buffer.byteLength(v))
    },
    async list(bucket) {
      const out: string[] = []
      try {
        for await (const b of service().getContainerClient(bucket).listBlobsFlat()) out.push(b.name)
      } catch {
        return []
      }
      return out.sort()
    },
    read: async (bucket, key) => (await service().getContainerClient(bucket).getBlockBlobClient(key).downloadToBuffer()).toString(),
    secretKeys: /_SAS_URL$/,
    secretCount: 3,
  }
}

function gcp(): Cloud {
  let rig: GcsFake
  let storage: Storage
  return {
    title: 'a gcp credential (GCS fake, anonymous endpoint)',
    start: async () => {
      rig = await startGcsFake()
      storage = new Storage(gcsClientOptions(rig))
    },
    stop: async () => rig?.stop(),
    port: () => Number(new URL(rig.apiEndpoint).port),
    credential: () => ({provider: 'gcp', project: 'anycloud-test', region: 'us-central1', apiEndpoint: rig.apiEndpoint}),
    async createWith(bucket, files) {
      await storage.createBucket(bucket)
      for (const [k, v] of Object.entries(files)) await storage.bucket(bucket).file(k).save(v, {resumable: false})
    },
    async list(bucket) {
      try {
        return (await storage.bucket(bucket).getFiles())[0].map((f) => f.name).sort()
      } catch {
        return []
      }
    },
    read: async (bucket, key) => (await storage.bucket(bucket).file(key).download())[0].toString(),
    secretKeys: /_SERVICE_ACCOUNT_CREDENTIALS$/,
    secretCount: 0,
  }
}

for (const make of [azure, gcp]) {
  const cloud = make()
  describe(`ssh host with its buckets on ${cloud.title}, host ${PLACEMENT.title}`, function () {
    this.timeout(180_000)
    let project: SshProject
    let allowNet: () => void
    const bucket = (role: string) => `ssh-${cloud.title.startsWith('an azure') ? 'az' : 'gc'}-${role}`

    before(async () => {
      allowNet = loopbackOnly()
      await cloud.start()
      await cloud.createWith(bucket('input'), {'data.txt': 'one two three four five\n'})
      const vm = await startVm()
      await vm.forward(cloud.port())
      project = await sshProject({
        vm,
        hostKey: true,
        storage: {name: 'cloudstore', credential: cloud.credential()},
        profiles: {
          job: {
            credentials: 'box', runtime: 'process', spot: true, inputBucket: bucket('input'), outputBucket: bucket('output'), syncIntervalSeconds: 60,
            command: ['sh', '-c', 'wc -w < "$ANYCLOUD_INPUT/data.txt" > "$ANYCLOUD_OUTPUT/count.txt"; echo 1 > "$ANYCLOUD_CHECKPOINT/epoch"; exec sleep 4831'],
          },
        },
      })
    })
    after(async () => {
      await project?.stopAll()
      await cloud.stop()
      allowNet?.()
    })

    it('apply: input downloaded on the host, output and checkpoint uploaded to the cloud; secrets only in the 0600 rclone env file; destroy', async () => {
      await project.expectSampled(['apply', '-y'], 0)
      const id = project.state()!.deployments.job.id
      await untilUploaded('count.txt in the output bucket', project.vm.prefix, async () => (await cloud.list(bucket('output'))).includes('count.txt'), 20_000, 250)
      assert.equal((await cloud.read(bucket('output'), 'count.txt')).trim(), '5')
      await untilUploaded('the checkpoint in its bucket', project.vm.prefix, async () => (await cloud.list(id)).includes('epoch'), 20_000, 250)
      await project.expect(['plan', '--detailed-exitcode'], 0)

      const envFile = `${project.vm.prefix}/etc/anycloud/${id}/rclone.env`
      const secrets = readFileSync(envFile, 'utf8').split('\n').map((l) => l.split('=')).filter(([k]) => k && cloud.secretKeys.test(k)).map(([, ...v]) => v.join('=').replace(/^'|'$/g, ''))
      assert.equal(secrets.length, cloud.secretCount, 'one secret per remote that needs one (input, output, checkpoint)')
      for (const secret of secrets) {
        const sig = /[?&]sig=([^&]+)/.exec(secret)?.[1]
        for (const needle of [secret, ...(sig ? [sig, decodeURIComponent(sig)] : [])]) {
          assert.deepEqual(leaksOf(needle, {
            files: [...filesUnder(project.vm.prefix).filter((f) => !f.endsWith('/rclone.env') && !f.endsWith('/workload.env')), project.path('.anycloud', 'state.json')],
            texts: Object.fromEntries([...project.outputs.map((o, i) => [`CLI output #${i}`, o]), ...project.processLists.map((l, i) => [`process list #${i}`, l]), ['process list now', processArgs().map((p) => p.args).join('\n')]]),
          }), [])
        }
      }

      await project.expect(['destroy', '-y'], 0)
      assert.deepEqual(filesUnder(project.vm.prefix), [])
      assert.deepEqual(await cloud.list(id), [], 'the checkpoint bucket went with the deployment')
      assert.deepEqual(await cloud.list(bucket('output')), ['count.txt'], 'the output bucket keeps its data')
    })
  })
}
