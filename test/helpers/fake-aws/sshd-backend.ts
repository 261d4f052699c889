/**
 * An {@link InstanceBackend} that boots every fake EC2 instance as a real sshd "VM" from the
 * sshd rig (`test/helpers/sshd`), in its own network namespace (`10.200.N.2:22`) by default.
 *
 * It reads the instance's cloud-init user data the way the image would: the VM presents the
 * ed25519 host key from `ssh_keys` (so anycloud's pinned key matches) and accepts the key pair's
 * public key plus every `ssh_authorized_keys` entry. With an instance profile and an
 * `instanceCredentials` callback, the role's credentials are mounted at `/root/.aws/credentials`
 * inside that VM only (standing in for the metadata service, which is never emulated).
 *
 * The VM's namespace address (`10.200.N.2`) becomes the instance's `PublicIpAddress`; the private
 * address stays the one allocated from the subnet. In loopback mode (no namespaces) the address
 * is 127.0.0.1 and the port is only in `instance.backend.port`.
 *
 * In a namespace the VM's `/etc/ssh` is its sshd's own directory (config, host keys), so the
 * host-key rotation anycloud does after the first connection edits that sshd, never the host's.
 *
 * Limit of the rig: the VM shares the host's users, so logins are as `root` (cloud-init's
 * `ubuntu` user does not exist on this machine); `instance.backend.sshUser` says so.
 */
import {appendFile} from 'node:fs/promises'
import {join} from 'node:path'
import {fingerprintSha256} from '../../../src/remote/host-keys.js'
import {forwardPortIntoNamespace, netnsAvailable, prepareSshd, type NamespaceForward, type SshdOptions, type SshdRig} from '../sshd/index.js'
import type {InstanceBackend, InstanceLaunchResult} from './backend.js'
import {parseCloudInit, type CloudInitSummary} from './cloud-init.js'
import {publicKeyOf} from './ec2.js'
import type {FakeInstance} from './model.js'

/** Temporary credentials to mount into a VM. */
export interface VmCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

/** Options of {@link SshdInstanceBackend}. */
export interface SshdInstanceBackendOptions {
  /** One network namespace per VM; `'auto'` (default) uses them when {@link netnsAvailable}, else loopback. */
  netns?: boolean | 'auto'
  /** Host ports made reachable inside each VM as `127.0.0.1:PORT` (e.g. an S3 emulator's). */
  forwardPorts?: number[]
  /** Credentials of the instance's profile role (e.g. `(i) => fake.instanceCredentials(i)`). */
  instanceCredentials?: (instance: FakeInstance) => VmCredentials | undefined | Promise<VmCredentials | undefined>
  /** Where the credentials file goes inside the VM; default `/root/.aws/credentials`. */
  credentialsPath?: string
  /** Passed through to the rig (env, privateDirs, mountNamespaceFiles, logLevel). */
  sshd?: Omit<SshdOptions, 'netns' | 'hostKey' | 'port'>
  /** Called with each line worth logging. */
  log?: (line: string) => void
}

interface Vm {
  rig: SshdRig
  forwards: NamespaceForward[]
  cloudInit: CloudInitSummary
}

/** Real sshd VMs behind the fake EC2. */
export class SshdInstanceBackend implements InstanceBackend {
  readonly name: string
  private readonly options: SshdInstanceBackendOptions
  private readonly vms = new Map<string, Vm>()
  private readonly pending = new Map<string, Promise<unknown>>()
  private mode: Promise<boolean> | undefined

  constructor(options: SshdInstanceBackendOptions = {}) {
    this.options = options
    this.name = options.netns === false ? 'sshd-loopback' : 'sshd-netns'
  }

  /** Whether VMs get their own network namespace (resolves `'auto'`). */
  useNetns(): Promise<boolean> {
    this.mode ??= (async () => {
      if (this.options.netns === true || this.options.netns === false) return this.options.netns
      return (await netnsAvailable()).available
    })()
    return this.mode
  }

  /** The rig of a running instance (its `privateKey` is a second key the VM accepts as root). */
  rig(instanceId: string): SshdRig | undefined {
    return this.vms.get(instanceId)?.rig
  }

  /** What the VM read from its user data. */
  cloudInit(instanceId: string): CloudInitSummary | undefined {
    return this.vms.get(instanceId)?.cloudInit
  }

  async launch(instance: FakeInstance, userData: string): Promise<InstanceLaunchResult> {
    const work = this.boot(instance, userData)
    this.pending.set(instance.instanceId, work)
    try {
      return await work
    } finally {
      this.pending.delete(instance.instanceId)
    }
  }

  private async boot(instance: FakeInstance, userData: string): Promise<InstanceLaunchResult> {
    const netns = await this.useNetns()
    const cloudInit = parseCloudInit(userData)
    const hostKey = cloudInit.hostKeys.ed25519
    let pinned: SshdOptions['hostKey']
    if (hostKey) {
      const publicKey = hostKey.publicKey ?? publicKeyOf(hostKey.privateKey)
      if (!publicKey) throw new Error(`cloud-init ssh_keys.ed25519_private of ${instance.instanceId} is not a private key`)
      const privateKey = hostKey.privateKey.endsWith('\n') ? hostKey.privateKey : `${hostKey.privateKey}\n`
      pinned = {privateKey, publicKey, fingerprint: fingerprintSha256(publicKey)}
    }
    const files: Record<string, string> = {...(this.options.sshd?.mountNamespaceFiles ?? {})}
    const creds = await this.options.instanceCredentials?.(instance)
    if (creds) {
      files[this.options.credentialsPath ?? '/root/.aws/credentials'] = [
        '[default]',
        `aws_access_key_id = ${creds.accessKeyId}`,
        `aws_secret_access_key = ${creds.secretAccessKey}`,
        ...(creds.sessionToken ? [`aws_session_token = ${creds.sessionToken}`] : []),
        '',
      ].join('\n')
    }
    const rig = await prepareSshd({
      // In a namespace the VM's /etc/ssh is its own sshd's (anycloud rotates the host key there).
      ...(netns ? {etcSsh: true} : {}),
      ...this.options.sshd,
      netns,
      ...(pinned ? {hostKey: pinned} : {}),
      ...(Object.keys(files).length > 0 ? {mountNamespaceFiles: files} : {}),
    })
    const forwards: NamespaceForward[] = []
    try {
      const keys = new Set<string>([...cloudInit.authorizedKeys, ...cloudInit.users.flatMap((u) => u.authorizedKeys)])
      if (instance.keyPairPublicKey) keys.add(instance.keyPairPublicKey)
      if (keys.size > 0) await appendFile(join(rig.dir, 'authorized_keys'), [...keys].map((k) => `${k}\n`).join(''))
      await rig.start()
      if (rig.netns) for (const port of this.options.forwardPorts ?? []) forwards.push(await forwardPortIntoNamespace(rig.netns, port, port))
    } catch (err) {
      for (const f of forwards) await f.stop().catch(() => undefined)
      await rig.stop()
      throw err
    }
    this.vms.set(instance.instanceId, {rig, forwards, cloudInit})
    this.options.log?.(`VM ${instance.instanceId}: sshd ${rig.host}:${rig.port} (${rig.mode}), host key ${rig.hostFingerprint}`)
    return {
      publicIpAddress: rig.host,
      details: {
        mode: rig.mode,
        host: rig.host,
        port: rig.port,
        sshUser: rig.user,
        hostFingerprint: rig.hostFingerprint,
        hostKeyFromUserData: pinned !== undefined,
        ...(rig.netns ? {netns: rig.netns, hostAddress: rig.hostAddress} : {}),
        ...(creds ? {instanceCredentials: true} : {}),
        cloudInitUsers: cloudInit.users.map((u) => u.name),
      },
    }
  }

  async terminate(instance: FakeInstance): Promise<void> {
    await this.pending.get(instance.instanceId)?.catch(() => undefined)
    const vm = this.vms.get(instance.instanceId)
    if (!vm) return
    this.vms.delete(instance.instanceId)
    for (const f of vm.forwards) await f.stop().catch(() => undefined)
    await vm.rig.stop()
    this.options.log?.(`VM ${instance.instanceId}: stopped`)
  }

  async close(): Promise<void> {
    await Promise.all([...this.pending.values()].map((p) => p.catch(() => undefined)))
    const vms = [...this.vms.values()]
    this.vms.clear()
    await Promise.all(
      vms.map(async (vm) => {
        for (const f of vm.forwards) await f.stop().catch(() => undefined)
        await vm.rig.stop()
      }),
    )
  }
}
