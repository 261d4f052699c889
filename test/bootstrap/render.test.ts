import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'

import {machinePaths, renderBootstrap, renderStartScript, renderWorkload} from '../../src/bootstrap/render.js'
import {PINNED_RCLONE_SHA256, rclonePin} from '../../src/bootstrap/rclone-release.js'
import {machineLayout} from '../../src/bootstrap/spec.js'
import type {BootstrapSpec} from '../../src/bootstrap/types.js'
import {ExitCode} from '../../src/cli/exit-codes.js'
import {UsageError} from '../../src/errors/index.js'
import {sensitiveMarker} from '../../src/util/hash.js'
import {localRemote, s3Remote, specFor} from './helpers.js'

/** Pure rendering: what the files say, what the hash covers, where secrets may (not) go. */

const P = '/p'
const CANARY_KEY = 'canary-storage-key-5b7d1e'
const CANARY_ENV = 'canary-env-token-9c2f4a'
const S3 = {endpoint: 'http://127.0.0.1:9000', region: 'us-east-1'}

function spec(overrides: Partial<BootstrapSpec> = {}): BootstrapSpec {
  return specFor(P, {
    remotes: {input: s3Remote(S3, 'in-bucket'), output: s3Remote(S3, 'out-bucket'), checkpoint: localRemote('/buckets/ckpt')},
    env: {MODE: 'fast', TOKEN: CANARY_ENV},
    sensitiveEnv: ['TOKEN'],
    ...overrides,
  })
}
const secrets = {ACINPUT: {access_key_id: 'AKIAEXAMPLE', secret_access_key: CANARY_KEY}, ACOUTPUT: {access_key_id: 'AKIAEXAMPLE', secret_access_key: CANARY_KEY}}

function fileOf(r: {files: Array<{path: string}>}, suffix: string) {
  const f = r.files.find((x) => x.path.endsWith(suffix))
  assert.ok(f, `no rendered file ending in ${suffix}`)
  return f as ReturnType<typeof renderBootstrap>['files'][number]
}

function bashSyntaxOk(script: string): void {
  const r = spawnSync('bash', ['-n'], {input: script, encoding: 'utf8'})
  assert.equal(r.status, 0, `bash -n: ${r.stderr}`)
}

describe('bootstrap rendering', () => {
  it('is pure: the same spec and secrets give the same files, hash and script', () => {
    const a = renderBootstrap(spec(), secrets)
    const b = renderBootstrap(spec(), secrets)
    assert.equal(a.hash, b.hash)
    assert.equal(a.script, b.script)
    assert.deepEqual(a.files, b.files)
    assert.match(a.hash, /^[0-9a-f]{16}$/)
  })

  it('hashes the public rendering: secret values do not move the hash, their fingerprint does', () => {
    const plan = renderBootstrap(spec(), {})
    const apply = renderBootstrap(spec(), secrets)
    assert.equal(apply.hash, plan.hash, 'plan time (no secrets) and apply time must agree')
    const rotated = spec()
    rotated.buckets[0].spec = {...rotated.buckets[0].spec, secretsFingerprint: 'fp-rotated'}
    assert.notEqual(renderBootstrap(rotated, secrets).hash, plan.hash)
  })

  it('the bootstrap hash ignores the workload (command, image, env, sensitive values, GPUs, shm); the workload hash does not', () => {
    const dockerSpec = {runtime: 'docker' as const, image: 'img:1'}
    const variants: Array<Partial<BootstrapSpec>> = [
      {command: ['python', 'other.py']},
      {env: {MODE: 'slow', TOKEN: CANARY_ENV}},
      {env: {MODE: 'fast', TOKEN: 'another-secret'}},
      {...dockerSpec, gpus: 'all'},
      {...dockerSpec, shmSize: '8g'},
      {...dockerSpec, image: 'img:2'},
    ]
    for (const v of variants) {
      const base = renderBootstrap(spec(v.runtime === 'docker' ? dockerSpec : {}))
      const r = renderBootstrap(spec(v))
      assert.equal(r.hash, base.hash, `bootstrap hash moved for ${JSON.stringify(v)}`)
      assert.notEqual(r.workload.hash, base.workload.hash, `workload hash did not move for ${JSON.stringify(v)}`)
    }
    const base = renderBootstrap(spec())
    assert.notEqual(renderBootstrap(spec(dockerSpec)).hash, base.hash, 'docker needs the docker package: the bootstrap changes')
  })

  it('the bootstrap hash follows buckets, sync interval and storage check', () => {
    const base = renderBootstrap(spec()).hash
    const other = spec()
    other.buckets[1].spec = {...other.buckets[1].spec, path: 'other-out'}
    for (const s of [spec({syncIntervalSeconds: 30}), spec({storageCheck: {retries: 30, sleepSeconds: 15}}), other, spec({buckets: []})]) {
      assert.notEqual(renderBootstrap(s).hash, base)
    }
  })

  it('writes secrets only into the two 0600 env files; public renderings and other files carry markers', () => {
    const r = renderBootstrap(spec(), secrets)
    const p = r.paths
    for (const f of r.files) {
      const secretFile = f.path === p.rcloneEnv || f.path === p.workloadEnv
      assert.equal(f.mode, secretFile ? 0o600 : f.path.endsWith('.sh') ? 0o755 : 0o644, f.path)
      assert.ok(!f.publicContent.includes(CANARY_KEY) && !f.publicContent.includes(CANARY_ENV), `public rendering of ${f.path} holds a secret`)
      if (!secretFile) assert.ok(!f.content.includes(CANARY_KEY) && !f.content.includes(CANARY_ENV), `${f.path} holds a secret`)
    }
    assert.ok(fileOf(r, 'rclone.env').content.includes(`RCLONE_CONFIG_ACINPUT_SECRET_ACCESS_KEY=${CANARY_KEY}`))
    // The provider's fingerprint of its keys goes through the lineage-salted marker, never as is.
  assert.ok(fileOf(r, 'rclone.env').publicContent.includes(`RCLONE_CONFIG_ACINPUT_SECRET_ACCESS_KEY='${sensitiveMarker('fp-s3', 'test-lineage')}'`))
  assert.ok(!fileOf(r, 'rclone.env').publicContent.includes('fp-s3'))
    assert.ok(fileOf(r, 'workload.env').content.includes(`TOKEN=${CANARY_ENV}`))
    assert.match(fileOf(r, 'workload.env').publicContent, /^TOKEN=\(sensitive\):[0-9a-f]{12}$/m)
    // The script carries the files base64-encoded on stdin; never a plain secret (it is not an argv anyway).
    assert.ok(!r.script.includes(CANARY_KEY) && !r.script.includes(CANARY_ENV))
    assert.ok(!renderStartScript(p, 'h', r.workload).includes(CANARY_ENV))
  })

  it('keeps secrets out of supervisord configuration (where % would also need escaping)', () => {
    const r = renderBootstrap(spec(), {ACINPUT: {secret_access_key: 'a%b'}, ACOUTPUT: {}})
    const conf = fileOf(r, r.paths.programConf)
    assert.ok(!conf.content.includes('a%b'))
    assert.ok(!conf.content.includes('environment='))
  })

  it('quotes values of the sourced rclone env file; env files refuse newlines', () => {
    const s = spec()
    s.buckets[0].spec = {...s.buckets[0].spec, options: {...s.buckets[0].spec.options, endpoint: 'http://h/?a=1&b=2'}}
    const env = fileOf(renderBootstrap(s), 'rclone.env').content
    assert.ok(env.includes("RCLONE_CONFIG_ACINPUT_ENDPOINT='http://h/?a=1&b=2'"))
    assert.throws(() => renderBootstrap(spec({env: {BAD: 'a\nb'}})), /newline/)
  })

  it('puts the workload in its own supervisord group and the uploads in theirs, every program name carrying the deployment', () => {
    const r = renderBootstrap(spec())
    const conf = fileOf(r, r.paths.programConf).content
    assert.match(conf, new RegExp(`^\\[group:${r.paths.group}\\]\\nprograms=bt-test-abc123-rclone-output,bt-test-abc123-rclone-checkpoint$`, 'm'))
    assert.match(conf, new RegExp(`^\\[group:${r.paths.workloadGroup}\\]\\nprograms=bt-test-abc123-workload$`, 'm'))
    assert.match(conf, /\[program:bt-test-abc123-workload\]\ncommand=\/p\/etc\/anycloud\/bt-test-abc123\/run-workload\.sh\nautostart=false/)
    assert.match(conf, /\[program:bt-test-abc123-rclone-output\]\ncommand=\/bin\/bash -c "while true; do \/p\/etc\/anycloud\/bt-test-abc123\/sync\.sh output && sleep 1; done"/)
    assert.equal(r.paths.programs.workload, `${r.paths.workloadGroup}:bt-test-abc123-workload`)
    // supervisord merges same-named [program:…] sections across conf.d files: no two deployments may share one.
    const other = renderBootstrap(spec({deploymentId: 'bt-other-def456'}))
    const sections = (x: typeof r) => [...fileOf(x, x.paths.programConf).content.matchAll(/^\[program:([^\]]+)\]$/gm)].map((m) => m[1])
    assert.equal(sections(r).length, 3)
    assert.deepEqual(sections(r).filter((n) => sections(other).includes(n)), [])
    const noUploads = renderBootstrap(spec({buckets: []}))
    assert.ok(!fileOf(noUploads, r.paths.programConf).content.includes(`[group:${r.paths.group}]`))
  })

  it('uploads with rclone copy (never sync), downloads input with sync and restores the checkpoint with copy', () => {
    const r = renderBootstrap(spec())
    const sync = fileOf(r, 'sync.sh').content
    assert.match(sync, /rclone copy "\$src" "\$dst" --fast-list --no-update-modtime --modify-window 1s --verbose/)
    assert.ok(!/rclone sync/.test(sync))
    assert.match(sync, /output\) src=\/p\/mnt\/output; dst=ACOUTPUT:out-bucket ;;/)
    assert.match(sync, /checkpoint\) src=\/p\/mnt\/checkpoint; dst=ACCHECKPOINT:\/buckets\/ckpt ;;/)
    assert.match(r.script, /rclone sync ACINPUT:in-bucket \/p\/mnt\/input /)
    assert.match(r.script, /rclone copy ACCHECKPOINT:\/buckets\/ckpt \/p\/mnt\/checkpoint /)
    assert.match(r.script, /--retries 2 --retries-sleep 1s/)
    assert.match(renderBootstrap(spec({storageCheck: {retries: 30, sleepSeconds: 15}})).script, /rclone lsf ACINPUT:in-bucket --max-depth 1 --retries 30 --retries-sleep 15s/)
  })

  it('process runtime: the workload sees the machine paths and runs in the output directory', () => {
    const w = renderWorkload(spec())
    assert.match(fileOf(w, 'workload.env').content, /^ANYCLOUD_INPUT=\/p\/mnt\/input$/m)
    assert.match(fileOf(w, 'workload.env').content, /^ANYCLOUD_DEPLOYMENT_ID=bt-test-abc123$/m)
    const run = fileOf(w, 'run-workload.sh').content
    assert.match(run, /^cd \/p\/mnt\/output$/m)
    assert.match(run, /^sh -c 'exec sleep 300' >> \/p\/var\/log\/anycloud\/bt-test-abc123\/workload\.log 2>&1 & child=\$!$/m)
    assert.match(run, /sync\.sh all \|\| echo "final upload failed"/)
  })

  it('docker runtime: exact docker run line (read-only input, mounts, labels, env file, GPUs, shm); the container sees /mnt paths', () => {
    const s = spec({runtime: 'docker', image: 'ghcr.io/acme/train:1', command: ['python', 'train.py', '--epochs', '3'], gpus: 'all', shmSize: '8g'})
    const w = renderWorkload(s)
    const p = machinePaths(s)
    const run = fileOf(w, 'run-workload.sh').content
    const line = [
      'docker run -d --name anycloud-bt-test-abc123',
      '--label anycloud-deployment=bt-test-abc123 --label anycloud-managed=true',
      '-v /p/mnt/input:/mnt/input:ro -v /p/mnt/output:/mnt/output -v /p/mnt/checkpoint:/mnt/checkpoint',
      `--env-file ${p.workloadEnv} --gpus all --shm-size 8g ghcr.io/acme/train:1 python train.py --epochs 3`,
    ].join(' ')
    assert.ok(run.includes(line), `run script lacks:\n${line}\n---\n${run}`)
    assert.match(fileOf(w, 'workload.env').content, /^ANYCLOUD_INPUT=\/mnt\/input$/m)
    assert.match(fileOf(w, 'workload.env').content, /^ANYCLOUD_CHECKPOINT=\/mnt\/checkpoint$/m)
    assert.ok(!renderWorkload(spec({runtime: 'docker', image: 'i'})).files.some((f) => f.content.includes('--gpus')))
    assert.ok(renderWorkload(spec({runtime: 'docker', image: 'i', gpus: 2})).files.some((f) => f.content.includes(' --gpus 2 ')))
  })

  it('renders scripts bash accepts', () => {
    for (const s of [spec(), spec({runtime: 'docker', image: 'i', gpus: 'all'}), spec({buckets: []}), spec({rcloneMinVersion: '1.62', rclonePin: rclonePin({}, P)})]) {
      const r = renderBootstrap(s, secrets)
      bashSyntaxOk(r.script)
      bashSyntaxOk(renderStartScript(r.paths, 'abc', r.workload))
      bashSyntaxOk(renderStartScript(r.paths, 'abc'))
      for (const f of r.files.filter((x) => x.path.endsWith('.sh'))) bashSyntaxOk(f.content)
    }
  })

  it('a minimum rclone brings the pinned release: its binary in every rclone command, its sums in the script and the hash', () => {
    const plain = renderBootstrap(spec(), secrets)
    assert.ok(!plain.script.includes('/opt/anycloud/bin/rclone'))
    assert.ok(!plain.files.some((f) => f.content.includes('/opt/anycloud/bin/rclone')))
    assert.equal(plain.rclonePin, undefined)

    const pin = machineLayout({ANYCLOUD_REMOTE_PREFIX: P}).rclonePin()
    assert.equal(pin.binary, '/p/opt/anycloud/bin/rclone')
    assert.deepEqual(pin.sha256, PINNED_RCLONE_SHA256)
    assert.equal(pin.baseUrl, 'https://downloads.rclone.org')
    const pinned = renderBootstrap(spec({rcloneMinVersion: '1.62', rclonePin: pin}), secrets)
    assert.ok(fileOf(pinned, 'sync.sh').content.includes('/p/opt/anycloud/bin/rclone copy '))
    assert.ok(!/^\s*rclone /m.test(pinned.script), 'no bare rclone command in the script')
    for (const sum of Object.values(PINNED_RCLONE_SHA256)) assert.ok(pinned.script.includes(sum))
    assert.ok(!pinned.script.includes('missing="$missing rclone"'), 'no distribution rclone installed when the pinned release is needed')
    // Another pin (a mirror, other sums) is another bootstrap.
    const mirrored = renderBootstrap(spec({rcloneMinVersion: '1.62', rclonePin: rclonePin({ANYCLOUD_RCLONE_BASE_URL: 'http://127.0.0.1:1/mirror/', ANYCLOUD_RCLONE_SHA256: `amd64=${'1'.repeat(64)}`}, P)}), secrets)
    assert.notEqual(mirrored.hash, pinned.hash)
    assert.ok(mirrored.script.includes('url="http://127.0.0.1:1/mirror/v'))
    assert.ok(mirrored.script.includes('1'.repeat(64)) && mirrored.script.includes(PINNED_RCLONE_SHA256.arm64))
  })

  it('refuses malformed rclone overrides, naming the variable', () => {
    assert.throws(() => rclonePin({ANYCLOUD_RCLONE_SHA256: 'abc'}), /ANYCLOUD_RCLONE_SHA256 must be/)
    assert.throws(() => rclonePin({ANYCLOUD_RCLONE_BASE_URL: 'ftp://x'}), /ANYCLOUD_RCLONE_BASE_URL must be/)
    assert.throws(() => rclonePin({ANYCLOUD_RCLONE_BASE_URL: 'https://x/$(id)'}), /ANYCLOUD_RCLONE_BASE_URL must be/)
  })

  it('a malformed rclone override is a usage error (exit 3), read only when a bootstrap needs the pin', () => {
    for (const env of [{ANYCLOUD_RCLONE_SHA256: 'abc'}, {ANYCLOUD_RCLONE_BASE_URL: 'ftp://x'}]) {
      // Building the layout (plan, logs, destroy of any deployment) does not read the pin.
      const layout = machineLayout({ANYCLOUD_REMOTE_PREFIX: P, ...env})
      assert.equal(layout.roots.etc, '/p/etc/anycloud')
      assert.throws(() => layout.rclonePin(), (err: unknown) => {
        assert.ok(err instanceof UsageError, `not a UsageError: ${String(err)}`)
        assert.equal(err.exitCode, ExitCode.Invalid)
        assert.equal(err.code, 'config.env-invalid')
        assert.match(err.message, new RegExp(Object.keys(env)[0]))
        return true
      })
    }
  })
})
