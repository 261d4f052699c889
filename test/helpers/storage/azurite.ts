/**
 * Azurite (Azure Blob emulator, azurite 3.35) as a child process for tests.
 *
 * `startAzurite()` runs `node_modules/azurite/dist/src/blob/main.js` (the `azurite-blob`
 * bin) with the current Node binary, so the pid we hold is azurite itself:
 *
 *     azurite-blob --blobHost 127.0.0.1 --blobPort 0 --inMemoryPersistence
 *                  --skipApiVersionCheck --disableTelemetry --silent
 *
 * Port 0 lets the OS choose; the real port is read from azurite's start-up line
 * ("successfully listens on http://127.0.0.1:PORT"), then we poll until it answers HTTP.
 * Without `--skipApiVersionCheck` azurite refuses the current SDK's API version. It runs in a
 * fresh temp directory as its cwd (`--location` cannot be combined with
 * `--inMemoryPersistence`), so nothing is written into the repository.
 * `stop()` kills it by pid (SIGTERM, then SIGKILL after a bounded wait) and removes the
 * temp directory; a process `exit` hook kills it too if a test run ends without `stop()`.
 *
 * Account: `devstoreaccount1` with azurite's well-known key. Containers, metadata,
 * conditional headers (`ifNoneMatch: '*'`) and leases (with real expiry) behave like Azure.
 */
import {spawn, type ChildProcess} from 'node:child_process';
import {mkdtemp, rm} from 'node:fs/promises';
import {request} from 'node:http';
import {createRequire} from 'node:module';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';

const require = createRequire(import.meta.url);

/** Azurite's fixed development account. */
export const AZURITE_ACCOUNT_NAME = 'devstoreaccount1';
/** Azurite's well-known development key (public, not a secret). */
export const AZURITE_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** A running azurite blob service. */
export interface AzuriteRig {
  /** `http://127.0.0.1:PORT/devstoreaccount1` */
  blobEndpoint: string;
  accountName: string;
  accountKey: string;
  /** For `BlobServiceClient.fromConnectionString`. */
  connectionString: string;
  /** Child process id (azurite itself). */
  pid: number;
  /** Kills azurite and removes its temp directory. Idempotent. */
  stop(): Promise<void>;
}

/** Options for {@link startAzurite}. */
export interface AzuriteOptions {
  /** How long to wait for azurite to answer; default 30 s. */
  startTimeoutMs?: number;
}

/** Starts azurite-blob on 127.0.0.1 with an OS-chosen port; see the module comment. */
export async function startAzurite(options: AzuriteOptions = {}): Promise<AzuriteRig> {
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  const workDir = await mkdtemp(join(tmpdir(), 'anycloud-azurite-'));
  const main = require.resolve('azurite/dist/src/blob/main.js');
  const child = spawn(
    process.execPath,
    [
      main,
      '--blobHost', '127.0.0.1',
      '--blobPort', '0',
      '--inMemoryPersistence',
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--silent',
    ],
    {cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'], env: withoutCustomAccounts(process.env)},
  );
  const pid = child.pid;
  const killOnExit = () => {
    if (pid !== undefined && child.exitCode === null) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.on('exit', killOnExit);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await killChild(child);
    process.off('exit', killOnExit);
    await rm(workDir, {recursive: true, force: true});
  };

  try {
    if (pid === undefined) throw new Error('azurite did not start');
    const port = await waitForPort(child, deadline);
    const blobEndpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT_NAME}`;
    await waitUntilAnswering(port, deadline);
    return {
      blobEndpoint,
      accountName: AZURITE_ACCOUNT_NAME,
      accountKey: AZURITE_ACCOUNT_KEY,
      connectionString:
        `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};` +
        `AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=${blobEndpoint};`,
      pid,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Container-level SAS URL for `container` (e.g. for rclone's `sas_url`, the only way rclone
 * 1.60 works against azurite). `permissions` uses the SAS letters, e.g. `'racwdl'`. The SAS
 * allows HTTP (azurite serves plain HTTP).
 */
export function containerSasUrl(rig: AzuriteRig, container: string, permissions: string, expiresOn: Date): string {
  const sas = generateBlobSASQueryParameters(
    {
      containerName: container,
      permissions: ContainerSASPermissions.parse(permissions),
      startsOn: new Date(Date.now() - 5 * 60_000),
      expiresOn,
      protocol: SASProtocol.HttpsAndHttp,
    },
    new StorageSharedKeyCredential(rig.accountName, rig.accountKey),
  );
  return `${rig.blobEndpoint}/${container}?${sas.toString()}`;
}

/**
 * Environment variables defining an rclone Azure Blob remote `<name>:` from a container SAS
 * URL (checked with rclone 1.60.1 against azurite):
 *
 *     RCLONE_CONFIG_<NAME>_TYPE=azureblob
 *     RCLONE_CONFIG_<NAME>_SAS_URL=http://127.0.0.1:PORT/devstoreaccount1/<container>?<sas>
 *
 * Paths still name the container: `<name>:<container>/dir`. `use_emulator` hangs and
 * `endpoint` is only a host suffix, so neither works with azurite. Combine with
 * `rcloneEnv()` from rclone.ts.
 */
export function rcloneAzureEnv(sasUrl: string, name = 'AZ'): Record<string, string> {
  const p = `RCLONE_CONFIG_${name.toUpperCase()}_`;
  return {[`${p}TYPE`]: 'azureblob', [`${p}SAS_URL`]: sasUrl};
}

// ---------------------------------------------------------------------------------------

/** The environment minus `AZURITE_ACCOUNTS`, so only the well-known account exists. */
function withoutCustomAccounts(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = {...env};
  delete copy['AZURITE_ACCOUNTS'];
  return copy;
}

/** Reads azurite's stdout until it reports its port, bounded by `deadline`. */
function waitForPort(child: ChildProcess, deadline: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => finish(new Error(`azurite did not report its port in time:\n${output}`)),
      Math.max(0, deadline - Date.now()));
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const m = /listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (m) finish(undefined, Number(m[1]));
    };
    const onExit = (code: number | null, signal: string | null) =>
      finish(new Error(`azurite exited early (code ${code}, signal ${signal}):\n${output}`));
    const finish = (err?: Error, port?: number) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      // keep draining the pipes so azurite never blocks on a full buffer
      child.stdout?.resume();
      child.stderr?.resume();
      if (err) reject(err);
      else resolve(port!);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Polls until azurite answers any HTTP response on its port, bounded by `deadline`. */
async function waitUntilAnswering(port: number, deadline: number): Promise<void> {
  for (;;) {
    const answered = await new Promise<boolean>((resolve) => {
      const req = request({host: '127.0.0.1', port, path: `/${AZURITE_ACCOUNT_NAME}?comp=list`, timeout: 2000}, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
    if (answered) return;
    if (Date.now() > deadline) throw new Error(`azurite on port ${port} did not answer in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM, then SIGKILL if the child is still alive after 5 s; resolves once it exited. */
async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
