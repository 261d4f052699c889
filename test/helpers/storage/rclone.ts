/**
 * Running the machine's rclone (Debian rclone 1.60.1 at /usr/bin/rclone) against the
 * storage rigs. Remotes are defined only through `RCLONE_CONFIG_<NAME>_*` environment
 * variables (see `rcloneS3Env`, `rcloneAzureEnv`, `rcloneGcsEnv`); no config file is read
 * or written.
 */
import {execa} from 'execa';

/** Path of the rclone binary; override with `ANYCLOUD_TEST_RCLONE`. */
export const RCLONE_BIN = process.env['ANYCLOUD_TEST_RCLONE'] ?? '/usr/bin/rclone';

/**
 * Builds a complete environment for rclone: the current environment without
 * `AWS_CA_BUNDLE` (rclone's S3 backend fails every call while it is set on this machine)
 * and without any inherited `RCLONE_*` variable, plus the given remote definitions.
 * `RCLONE_CONFIG` is set to the empty string, which makes rclone 1.60 use an in-memory
 * config (no user config file is read, none is written, no "config not found" notice).
 */
export function rcloneEnv(...remotes: Array<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k === 'AWS_CA_BUNDLE' || k.startsWith('RCLONE_')) continue;
    env[k] = v;
  }
  env['RCLONE_CONFIG'] = '';
  return Object.assign(env, ...remotes);
}

/** Options for {@link runRclone}. */
export interface RunRcloneOptions {
  /** Full environment, normally from {@link rcloneEnv}. */
  env: Record<string, string>;
  /** Kill rclone after this long; default 60 s. */
  timeoutMs?: number;
}

/** Result of a successful rclone run. */
export interface RcloneResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs `rclone <args>` with few retries (the rigs are local; a failure should surface
 * fast) and resolves with its output. Rejects with rclone's stderr in the message when it
 * exits non-zero or times out.
 */
export async function runRclone(args: string[], options: RunRcloneOptions): Promise<RcloneResult> {
  const fullArgs = ['--retries', '1', '--low-level-retries', '2', '--contimeout', '5s', '--timeout', '30s', ...args];
  const result = await execa(RCLONE_BIN, fullArgs, {
    env: options.env,
    extendEnv: false,
    timeout: options.timeoutMs ?? 60_000,
    reject: false,
    stdin: 'ignore',
  });
  if (result.exitCode !== 0 || result.timedOut) {
    const why = result.timedOut ? 'timed out' : `exited ${result.exitCode}`;
    throw new Error(`rclone ${args.join(' ')} ${why}:\n${result.stderr}`);
  }
  return {stdout: result.stdout, stderr: result.stderr};
}
