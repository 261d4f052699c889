/**
 * The rclone release anycloud installs on a machine whose own rclone is older than a remote needs
 * (GCS instance auth needs 1.62). Pinned by version and by the sha256 of each release zip, as
 * published in the release's SHA256SUMS file; the bootstrap refuses any other bytes.
 *
 * Installed to /opt/anycloud/bin/rclone (anycloud's own path: the distribution's rclone is left
 * alone), which the deployment's scripts and supervisord programs then run.
 */

import {UsageError} from '../errors/index.js'

/** A pinned rclone release and where it goes on the machine. */
export interface RclonePin {
  /** Release version without the `v`, e.g. `1.75.1`. */
  version: string
  /** Where releases are served: `<baseUrl>/v<version>/rclone-v<version>-linux-<arch>.zip`. */
  baseUrl: string
  /** sha256 (hex) of each architecture's release zip. */
  sha256: {amd64: string; arm64: string}
  /** The binary on the machine. */
  binary: string
}

export const PINNED_RCLONE_VERSION = '1.75.1'

/** From https://downloads.rclone.org/v1.75.1/SHA256SUMS (the linux zips). */
export const PINNED_RCLONE_SHA256 = {
  amd64: '982b5aa772841168f8e380f139e9e787b2a105403e32b94da8676a0e1c0a13ab',
  arm64: '03f2504174034b6d004152ed7369251c9a9ec1f7e0836eda420f5c7a5ec0dff9',
} as const

export const RCLONE_DOWNLOADS = 'https://downloads.rclone.org'

/** anycloud's rclone on a machine, under the remote prefix (tests) or at /opt/anycloud/bin. */
export const PINNED_RCLONE_PATH = '/opt/anycloud/bin/rclone'

/**
 * anycloud's directory under /opt on a machine laid out with these roots (`<prefix>/opt/anycloud`
 * next to `<prefix>/etc/anycloud`), or undefined for roots of another shape.
 */
export function optDirOf(roots: {etc: string}): string | undefined {
  const m = /^(.*)\/etc\/anycloud$/.exec(roots.etc)
  return m ? `${m[1]}/opt/anycloud` : undefined
}

const HEX64 = /^[0-9a-f]{64}$/

/**
 * The pin, with the overrides a test or an air-gapped site needs:
 * ANYCLOUD_RCLONE_BASE_URL serves the release zips from elsewhere (a mirror; a loopback server in
 * tests), ANYCLOUD_RCLONE_SHA256 (`amd64=HEX,arm64=HEX`, or one HEX for both) names the zips' sums
 * there. The checksum is verified either way. A malformed override is a UsageError (exit 3)
 * naming the variable.
 */
export function rclonePin(env: NodeJS.ProcessEnv, prefix = ''): RclonePin {
  const baseUrl = (env.ANYCLOUD_RCLONE_BASE_URL || RCLONE_DOWNLOADS).replace(/\/+$/, '')
  if (!/^https?:\/\/[^\s'"`$\\]+$/.test(baseUrl)) throw new UsageError(`ANYCLOUD_RCLONE_BASE_URL must be an http:// or https:// URL without quotes, spaces, '$' or '\\' (got '${baseUrl}')`, [], 'config.env-invalid')
  const sha256: RclonePin['sha256'] = {...PINNED_RCLONE_SHA256}
  const raw = env.ANYCLOUD_RCLONE_SHA256?.trim()
  if (raw) {
    if (HEX64.test(raw.toLowerCase())) {
      sha256.amd64 = sha256.arm64 = raw.toLowerCase()
    } else {
      for (const part of raw.split(',')) {
        const m = /^\s*(amd64|arm64)\s*=\s*([0-9a-fA-F]{64})\s*$/.exec(part)
        if (!m) throw new UsageError(`ANYCLOUD_RCLONE_SHA256 must be one sha256 (64 hex digits) or 'amd64=HEX,arm64=HEX' (got '${raw}')`, [], 'config.env-invalid')
        sha256[m[1] as 'amd64' | 'arm64'] = m[2].toLowerCase()
      }
    }
  }
  return {version: PINNED_RCLONE_VERSION, baseUrl, sha256, binary: prefix + PINNED_RCLONE_PATH}
}

/** Compares dotted versions numerically (`1.62` < `1.62.1` < `1.75.1`). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0)
  return 0
}
