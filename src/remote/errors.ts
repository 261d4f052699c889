import {AnycloudError} from '../errors/index.js'

/**
 * Errors raised by the command runners (`ssh-runner.ts`, `local-runner.ts`). None of them ever
 * carries a private key or a command's stdin.
 */

/**
 * The host presented a key that is not the pinned one. Raised during key exchange, before
 * authentication: no credential was sent and nothing ran.
 */
export class HostKeyMismatchError extends AnycloudError {
  constructor(
    readonly host: string,
    readonly port: number,
    /** `SHA256:…` fingerprints of the keys anycloud trusts for this host. */
    readonly expected: string[],
    /** `SHA256:…` fingerprint of the key the host presented. */
    readonly presented: string,
  ) {
    super(
      `Host key mismatch for ${formatHostPort(host, port)}: expected ${expected.join(' or ')}, ` +
        `the host presented ${presented}. The connection was closed before authentication; ` +
        'no credential was sent and nothing ran.',
      {
        code: 'ssh.host-key-mismatch',
        source: 'cloud',
        suggestions: [
          'This can mean the address now belongs to another machine, or someone is intercepting the connection.',
          'If the machine was really re-created or its host key rotated, verify the new key out of band ' +
            '(serial console, guest attributes, boot diagnostics, or the host owner) and update the pinned key; ' +
            'anycloud never replaces a pinned key on its own.',
        ],
      },
    )
  }
}

/** A connection was attempted without a usable host-key policy (a bug in the caller). */
export class HostKeyPolicyError extends AnycloudError {
  constructor(message: string) {
    super(message, {code: 'ssh.no-host-key-policy', source: 'internal'})
  }
}

/** SSH did not come up (or stayed unreachable) until the deadline. */
export class SshUnreachableError extends AnycloudError {
  constructor(message: string, cause?: unknown) {
    super(message, {
      code: 'ssh.unreachable',
      source: 'cloud',
      cause,
      suggestions: ['Check that the machine is running, that port 22 is open to this machine, and that sshd started.'],
    })
  }
}

/** The host refused our key. */
export class SshAuthError extends AnycloudError {
  constructor(message: string, cause?: unknown) {
    super(message, {
      code: 'ssh.auth-failed',
      source: 'user',
      cause,
      suggestions: ["Check the user name and that anycloud's public key is in the user's authorized_keys."],
    })
  }
}

/** The connection dropped while a command ran and the command could not be (re)run safely. */
export class ConnectionLostError extends AnycloudError {
  constructor(message: string, cause?: unknown) {
    super(message, {code: 'ssh.connection-lost', source: 'cloud', cause})
  }
}

/** A command ran longer than its `timeoutMs`; it was signalled. */
export class RemoteCommandTimeoutError extends AnycloudError {
  constructor(
    readonly where: string,
    readonly timeoutMs: number,
    /** Output received before the timeout (may help the message renderer). */
    readonly partial: {stdout: string; stderr: string},
    /** The limit that ended it when it is not the command's own (`the --timeout 3s budget`). */
    readonly limit?: string,
  ) {
    super(`A command on ${where} did not finish within ${formatMs(timeoutMs)}${limit ? ` (${limit})` : ''}; it was stopped.`, {
      code: 'remote.timeout',
      source: 'cloud',
    })
  }
}

/** The caller's AbortSignal fired; the command was signalled. */
export class RemoteCommandAbortedError extends AnycloudError {
  constructor(readonly where: string, reason?: unknown) {
    super(`A command on ${where} was aborted; it was stopped.`, {code: 'remote.aborted', source: 'user', cause: reason})
  }
}

/** `upload` or `readFile` failed on the remote side (permissions, disk full, a directory in the way…). */
export class RemoteFileError extends AnycloudError {
  constructor(message: string, cause?: unknown) {
    super(message, {code: 'remote.file', source: 'cloud', cause})
  }
}

/** `host:port`, with brackets around IPv6 addresses. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

function formatMs(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}
