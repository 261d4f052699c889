import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {BlobServiceClient} from '@azure/storage-blob'

import {readMachineStatus, removeDeployment, runBootstrap, startWorkload, streamLogs} from '../../src/bootstrap/machine.js'
import {renderBootstrap} from '../../src/bootstrap/render.js'
import type {RcloneRemoteSpec} from '../../src/bootstrap/types.js'
import type {SshRunner} from '../../src/remote/ssh-runner.js'
import {
  containerSasUrl, loopbackOnly, rcloneAzureEnv, rcloneEnv, rcloneGcsEnv, rcloneS3Env, readTree, runRclone, startAzurite, startGcsFake, startS3Emulator, writeTree,
  type AzuriteRig, type GcsFake, type S3Emulator, type Tree,
} from '../helpers/storage/index.js'
import {azureRemote, filesUnder, gcsRemote, leaksOf, PLACEMENT, processArgs, s3Remote, specFor, startVm, until, untilUploaded, type Vm} from './helpers.js'

/**
 * The bootstrap and rclone sync paths against the real emulators (TESTING.md): s3rver as an S3
 * remote with endpoint and keys, azurite through a container SAS URL, the GCS fake anonymously.
 * The VM reaches each emulator at the same http://127.0.0.1:PORT as the host (forwarded into its
 * network namespace over a unix socket when it has one). Buckets are seeded and read back from
 * the host with rclone, so what the VM uploaded is checked on the storage itself.
 */

interface Storage {
  title: string
  start(): Promise<void>
  stop(): Promise<void>
  port(): number
  /** Makes a bucket (container) that rclone on the host and on the VM can use. */
  create(bucket: string): Promise<void>
  remote(bucket: string): RcloneRemoteSpec
  /** Secret options of the remote (what a provider's rcloneSecrets would hand out). */
  secrets(bucket: string): Record<string, string>
  /** Secret values that must never show outside the 0600 rclone env file. */
  canaries(): string[]
  /** rclone env + `REMOTE:path` for host-side seeding and reading. */
  hostRemote(bucket: string): {env: Record<string, string>; path: string}
}

const SESSION_CANARY = 'canary-session-token-3e8f1a7b'

function s3(): Storage {
  let rig: S3Emulator
  return {
    title: 's3rver (S3 remote: endpoint, static keys, session token)',
    start: async () => void (rig = await startS3Emulator()),
    stop: async () => rig?.stop(),
    port: () => Number(new URL(rig.endpoint).port),
    create: async (b) => void (await runRclone(['mkdir', `S3:${b}`], {env: rcloneEnv(rcloneS3Env(rig))})),
    remote: (b) => s3Remote(rig, b, true),
    secrets: () => ({access_key_id: rig.accessKeyId, secret_access_key: rig.secretAccessKey, session_token: SESSION_CANARY}),
    canaries: () => [SESSION_CANARY],
    hostRemote: (b) => ({env: rcloneEnv(rcloneS3Env(rig)), path: `S3:${b}`}),
  }
}

function azure(): Storage {
  let rig: AzuriteRig
  const sas = new Map<string, string>()
  const sasOf = (b: string) => {
    if (!sas.has(b)) sas.set(b, containerSasUrl(rig, b, 'racwdl', new Date(Date.now() + 3600_000)))
    return sas.get(b)!
  }
  return {
    title: 'azurite (azureblob remote: container SAS URL)',
    start: async () => void (rig = await startAzurite()),
    stop: async () => rig?.stop(),
    port: () => Number(new URL(rig.blobEndpoint).port),
    create: async (b) => void (await BlobServiceClient.fromConnectionString(rig.connectionString).getContainerClient(b).create()),
    remote: (b) => azureRemote(b),
    secrets: (b) => ({sas_url: sasOf(b)}),
    // The signature is what makes a SAS URL a secret.
    canaries: () => [...sas.values()].map((u) => /[?&]sig=([^&]+)/.exec(u)![1]),
    hostRemote: (b) => ({env: rcloneEnv(rcloneAzureEnv(sasOf(b))), path: `AZ:${b}`}),
  }
}

function gcs(): Storage {
  let rig: GcsFake
  return {
    title: 'GCS fake (google cloud storage remote: anonymous, custom endpoint)',
    start: async () => void (rig = await startGcsFake()),
    stop: async () => rig?.stop(),
    port: () => Number(new URL(rig.apiEndpoint).port),
    create: async (b) => void (await runRclone(['mkdir', `GCS:${b}`], {env: rcloneEnv(rcloneGcsEnv(rig))})),
    remote: (b) => gcsRemote(rig, b),
    secrets: () => ({}),
    canaries: () => [],
    hostRemote: (b) => ({env: rcloneEnv(rcloneGcsEnv(rig)), path: `GCS:${b}`}),
  }
}

async function seed(storage: Storage, bucket: string, tree: Tree): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'anycloud-seed-'))
  try {
    await writeTree(dir, tree)
    const r = storage.hostRemote(bucket)
    await runRclone(['copy', dir, r.path], {env: r.env})
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

async function contents(storage: Storage, bucket: string): Promise<Tree> {
  const dir = mkdtempSync(join(tmpdir(), 'anycloud-read-'))
  try {
    const r = storage.hostRemote(bucket)
    await runRclone(['copy', r.path, dir], {env: r.env})
    return await readTree(dir)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

for (const make of [s3, azure, gcs]) {
  const storage = make()
  describe(`bootstrap + rclone sync against ${storage.title}, host ${PLACEMENT.title}`, function () {
    this.timeout(120_000)
    let vm: Vm
    let runner: SshRunner
    let allowNet: () => void
    const id = `bt-${storage.title.slice(0, 3).toLowerCase().replace(/[^a-z]/g, 'x')}-cccccc`
    const buckets = {input: `in-${id}`, output: `out-${id}`, checkpoint: `ckpt-${id}`}

    before(async () => {
      allowNet = loopbackOnly()
      await storage.start()
      vm = await startVm()
      await vm.forward(storage.port())
      runner = await vm.runner()
      for (const b of Object.values(buckets)) await storage.create(b)
    })
    after(async () => {
      await vm?.stop()
      await storage.stop()
      allowNet?.()
    })

    it('downloads the input, restores the checkpoint, uploads output and checkpoint (periodically and at the end); no secret leaks', async () => {
      await seed(storage, buckets.input, {'data.txt': 'one two three\n', 'sub/more.txt': 'four\n'})
      await seed(storage, buckets.checkpoint, {'epoch': '7\n'})
      const spec = specFor(vm.prefix, {
        deploymentId: id,
        // A long interval: the waits below start the programs' next upload early (untilUploaded).
        syncIntervalSeconds: 60,
        remotes: {input: storage.remote(buckets.input), output: storage.remote(buckets.output), checkpoint: storage.remote(buckets.checkpoint)},
        command: ['sh', '-c', [
          'mkdir -p "$ANYCLOUD_OUTPUT/copied" && cp -r "$ANYCLOUD_INPUT"/. "$ANYCLOUD_OUTPUT/copied/"',
          'e=$(cat "$ANYCLOUD_CHECKPOINT/epoch"); echo $((e+1)) > "$ANYCLOUD_CHECKPOINT/epoch"',
          'echo "early" > "$ANYCLOUD_OUTPUT/early.txt"',
          // Stay up until the periodic upload has carried early.txt, then write a last file only the final upload can carry.
          'while [ ! -f "$ANYCLOUD_OUTPUT/.go" ]; do sleep 0.2; done',
          'echo "last" > "$ANYCLOUD_OUTPUT/last.txt"; echo finished from epoch $e',
        ].join('; ')],
      })
      const secrets = {ACINPUT: storage.secrets(buckets.input), ACOUTPUT: storage.secrets(buckets.output), ACCHECKPOINT: storage.secrets(buckets.checkpoint)}
      const rendered = renderBootstrap(spec, secrets)
      const run = await runBootstrap(runner, rendered, () => {})
      assert.deepEqual(run.steps.filter((s) => s.outcome !== 'skipped').map((s) => s.step), ['files', 'supervisord', 'storage-check', 'input-sync', 'checkpoint-restore', 'programs', 'done'])
      assert.equal(readFileSync(join(rendered.paths.mounts.input, 'sub', 'more.txt'), 'utf8'), 'four\n')
      assert.equal(readFileSync(join(rendered.paths.mounts.checkpoint, 'epoch'), 'utf8'), '7\n')

      await startWorkload(runner, rendered.paths, 'spec', rendered.workload)
      const argsDuringRun = processArgs().map((p) => p.args).join('\n')
      await untilUploaded('early.txt uploaded by the periodic program', vm.prefix, async () => (await contents(storage, buckets.output))['early.txt'] === 'early\n', 30_000, 500)
      // The checkpoint has its own upload program (its own timing): the job is still blocked, so
      // whatever reaches the bucket now came from the periodic upload, not the final one.
      await untilUploaded('the checkpoint uploaded by its periodic program while the job runs', vm.prefix, async () => (await contents(storage, buckets.checkpoint))['epoch'] === '8\n', 30_000, 500)
      assert.equal((await readMachineStatus(runner, rendered.paths)).workload.phase, 'running', 'the job was still running when the checkpoint arrived')
      await import('node:fs/promises').then((fs) => fs.writeFile(join(rendered.paths.mounts.output, '.go'), ''))
      await until('the workload to complete', async () => (await readMachineStatus(runner, rendered.paths)).workload.phase === 'completed', 30_000, 300)
      const out = await contents(storage, buckets.output)
      assert.equal(out['last.txt'], 'last\n', 'the final upload ran before the exit code was recorded')
      assert.equal(out['copied/sub/more.txt'], 'four\n')
      assert.equal(out['copied/data.txt'], 'one two three\n')
      const status = await readMachineStatus(runner, rendered.paths)
      assert.ok(status.lastSync.output && status.lastSync.checkpoint)
      let logs = ''
      await streamLogs(runner, rendered.paths, {follow: false, write: (c) => (logs += c)})
      assert.match(logs, /finished from epoch 7/)

      // Secrets: only in the 0600 rclone env file — not in any command line, other file or log.
      const canaries = storage.canaries()
      const files = filesUnder(vm.prefix).filter((f) => f !== rendered.paths.rcloneEnv && f !== rendered.paths.workloadEnv)
      assert.ok(files.some((f) => f.endsWith('supervisord.log')) && files.some((f) => f.endsWith('rclone-output.log')), 'the logs are among the files checked')
      for (const c of canaries) {
        assert.ok(readFileSync(rendered.paths.rcloneEnv, 'utf8').includes(c), 'the canary is really used')
        assert.deepEqual(leaksOf(c, {files, texts: {'process list during the run': argsDuringRun, 'process list after': processArgs().map((p) => p.args).join('\n'), 'workload logs': logs}}), [])
      }

      // Re-running the bootstrap by hand: everything is skipped (nothing downloaded again).
      const again = await runBootstrap(runner, renderBootstrap(spec, secrets), () => {})
      assert.deepEqual(again.steps.filter((s) => s.outcome !== 'skipped').map((s) => s.step), ['done'])

      await removeDeployment(runner, rendered.paths, spec.roots)
      assert.deepEqual(filesUnder(vm.prefix), [])
      assert.equal((await contents(storage, buckets.output))['last.txt'], 'last\n', 'removing the deployment leaves the buckets alone')
    })
  })
}
