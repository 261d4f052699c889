/**
 * The key files anycloud keeps for a cloud VM, under `<stateDir>/keys/` (never in state):
 * - the deployment's login key: `<deploymentId>` (private, 0600) and `<deploymentId>.pub`;
 * - the host key of each VM create: `<deploymentId>.host-<token>`, kept until the create
 *   completes so that a replayed create sends byte-identical user data.
 */
import {existsSync, readFileSync, readdirSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import type {DeploymentContext} from '../model/resources.js'
import {fingerprintSha256, generateHostKeyPair, type HostKeyPair} from '../remote/host-keys.js'
import {writeFileAtomic} from '../util/atomic-write.js'

function keysDir(deployment: DeploymentContext): string {
  return join(deployment.stateDir, 'keys')
}

/** `<stateDir>/keys/<deploymentId>`: the login key's private half (0600); `.pub` next to it. */
export function keyPath(deployment: DeploymentContext): string {
  return join(keysDir(deployment), deployment.deploymentId)
}

/** Both halves of a key pair at `file` (+ `.pub`), written 0600/0644 in a 0700 folder. */
function writePair(file: string, pair: HostKeyPair): void {
  writeFileAtomic(file, pair.privateKey, {mode: 0o600, dirMode: 0o700})
  writeFileAtomic(`${file}.pub`, pair.publicKey + '\n', {mode: 0o644, dirMode: 0o700})
}

/** The login key's public half, when both halves are on this machine. */
export function localPublicKey(deployment: DeploymentContext): string | undefined {
  const file = keyPath(deployment)
  if (!existsSync(file) || !existsSync(`${file}.pub`)) return undefined
  return readFileSync(`${file}.pub`, 'utf8').trim()
}

/** The login key's public half; a key written by an interrupted create is reused (a replay sends the same key). */
export function ensureLoginKey(deployment: DeploymentContext): string {
  const existing = localPublicKey(deployment)
  if (existing) return existing
  const pair = generateHostKeyPair(`anycloud-${deployment.deploymentId}`)
  writePair(keyPath(deployment), pair)
  return pair.publicKey
}

export function removeLoginKey(deployment: DeploymentContext): void {
  const file = keyPath(deployment)
  rmSync(file, {force: true})
  rmSync(`${file}.pub`, {force: true})
}

/** The host key of a VM create with `token` (the same pair for every replay of that create). */
export function hostKeyFor(deployment: DeploymentContext, token: string): HostKeyPair {
  const file = join(keysDir(deployment), `${deployment.deploymentId}.host-${token.replace(/[^\w.-]/g, '_')}`)
  if (existsSync(file) && existsSync(`${file}.pub`)) {
    const publicKey = readFileSync(`${file}.pub`, 'utf8').trim()
    return {privateKey: readFileSync(file, 'utf8'), publicKey, fingerprint: fingerprintSha256(publicKey)}
  }
  const pair = generateHostKeyPair(`anycloud-${deployment.deploymentId}`)
  writePair(file, pair)
  return pair
}

/** Drops every kept host key of a deployment (its create completed, or its VM is gone). */
export function forgetHostKeys(deployment: DeploymentContext): void {
  const dir = keysDir(deployment)
  if (!existsSync(dir)) return
  for (const f of readdirSync(dir)) if (f.startsWith(`${deployment.deploymentId}.host-`)) rmSync(join(dir, f), {force: true})
}
