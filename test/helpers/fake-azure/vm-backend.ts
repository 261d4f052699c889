/**
 * What a fake Azure VM is. `NoopVmBackend` records an address and starts nothing;
 * `SshdVmBackend` boots each VM as a real sshd host from the sshd rig (`test/helpers/sshd`), in
 * its own network namespace when available, reading the VM's cloud-init custom data the way the
 * Ubuntu image would: the VM presents the ed25519 host key from `ssh_keys`, and accepts the keys of
 * `osProfile.linuxConfiguration.ssh.publicKeys` plus any `ssh_authorized_keys`.
 *
 * The VM's namespace address (`10.200.N.2`) becomes its public IP's `ipAddress` (the fake
 * assigns it when the VM boots, not when the static IP is created: a deviation from Azure the
 * rig needs, since the namespace address is only known then). The rig shares the host's users,
 * so logins are as `root`.
 */
import {appendFile} from 'node:fs/promises'
import {join} from 'node:path'

import {fingerprintSha256, parsePublicKey} from '../../../src/remote/host-keys.js'
import {parseCloudInit, type CloudInitSummary} from '../fake-aws/cloud-init.js'
import {publicKeyOf} from '../fake-aws/ec2.js'
import {forwardPortIntoNamespace, netnsAvailable, prepareSshd, type NamespaceForward, type SshdOptions, type SshdRig} from '../sshd/index.js'

export interface VmBootRequest {
  /** The VM's ARM id (lower-cased). */
  id: string
  name: string
  /** Decoded cloud-init custom data, if any. */
  customData?: string
  /** Public keys from osProfile.linuxConfiguration.ssh.publicKeys. */
  sshPublicKeys: string[]
}

export interface VmBootResult {
  address: string
  details: Record<string, unknown>
}

export interface AzureVmBackend {
  readonly name: string
  boot(vm: VmBootRequest): Promise<VmBootResult>
  stop(id: string): Promise<void>
  close(): Promise<void>
}

/** Records an address per VM (`10.201.0.N`), starts nothing. */
export class NoopVmBackend implements AzureVmBackend {
  readonly name = 'noop'
  private n = 0
  async boot(_vm: VmBootRequest): Promise<VmBootResult> {
    this.n++
    return {address: `10.201.${Math.floor(this.n / 250)}.${(this.n % 250) + 2}`, details: {}}
  }
  async stop(): Promise<void> {}
  async close(): Promise<void> {}
}

export interface SshdVmBackendOptions {
  netns?: boolean | 'auto'
  /** Host ports reachable inside each VM as 127.0.0.1:PORT (azurite). */
  forwardPorts?: number[]
  sshd?: Omit<SshdOptions, 'netns' | 'hostKey' | 'port'>
  log?: (line: string) => void
}

interface Vm {
  rig: SshdRig
  forwards: NamespaceForward[]
  cloudInit: CloudInitSummary
}

export class SshdVmBackend implements AzureVmBackend {
  readonly name: string
  private readonly vms = new Map<string, Vm>()
  private readonly pending = new Map<string, Promise<unknown>>()
  private mode: Promise<boolean> | undefined

  constructor(private readonly options: SshdVmBackendOptions = {}) {
    this.name = options.netns === false ? 'sshd-loopback' : 'sshd-netns'
  }

  useNetns(): Promise<boolean> {
    this.mode ??= (async () => {
      if (this.options.netns === true || this.options.netns === false) return this.options.netns
      return (await netnsAvailable()).available
    })()
    return this.mode
  }

  rig(id: string): SshdRig | undefined {
    return this.vms.get(id.toLowerCase())?.rig
  }

  cloudInit(id: string): CloudInitSummary | undefined {
    return this.vms.get(id.toLowerCase())?.cloudInit
  }

  async boot(vm: VmBootRequest): Promise<VmBootResult> {
    const work = this.start(vm)
    this.pending.set(vm.id, work)
    try {
      return await work
    } finally {
      this.pending.delete(vm.id)
    }
  }

  private async start(vm: VmBootRequest): Promise<VmBootResult> {
    const netns = await this.useNetns()
    const cloudInit = parseCloudInit(vm.customData ?? '')
    const hostKey = cloudInit.hostKeys.ed25519
    let pinned: SshdOptions['hostKey']
    if (hostKey) {
      const publicKey = hostKey.publicKey ?? publicKeyOf(hostKey.privateKey)
      if (!publicKey) throw new Error(`cloud-init ssh_keys.ed25519_private of ${vm.name} is not a private key`)
      parsePublicKey(publicKey)
      const privateKey = hostKey.privateKey.endsWith('\n') ? hostKey.privateKey : `${hostKey.privateKey}\n`
      pinned = {privateKey, publicKey, fingerprint: fingerprintSha256(publicKey)}
    }
    // In a namespace the VM's /etc/ssh is its own sshd's (anycloud rotates the host key there).
    const rig = await prepareSshd({...(netns ? {etcSsh: true} : {}), ...this.options.sshd, netns, ...(pinned ? {hostKey: pinned} : {})})
    const forwards: NamespaceForward[] = []
    try {
      const keys = new Set<string>([...vm.sshPublicKeys, ...cloudInit.authorizedKeys, ...cloudInit.users.flatMap((u) => u.authorizedKeys)])
      if (keys.size > 0) await appendFile(join(rig.dir, 'authorized_keys'), [...keys].map((k) => `${k.trim()}\n`).join(''))
      await rig.start()
      if (rig.netns) for (const port of this.options.forwardPorts ?? []) forwards.push(await forwardPortIntoNamespace(rig.netns, port, port))
    } catch (error) {
      for (const f of forwards) await f.stop().catch(() => undefined)
      await rig.stop()
      throw error
    }
    this.vms.set(vm.id, {rig, forwards, cloudInit})
    this.options.log?.(`VM ${vm.name}: sshd ${rig.host}:${rig.port} (${rig.mode}), host key ${rig.hostFingerprint}`)
    return {
      address: rig.host,
      details: {mode: rig.mode, port: rig.port, sshUser: rig.user, hostFingerprint: rig.hostFingerprint, hostKeyFromCustomData: pinned !== undefined, ...(rig.netns ? {netns: rig.netns} : {})},
    }
  }

  async stop(id: string): Promise<void> {
    await this.pending.get(id)?.catch(() => undefined)
    const vm = this.vms.get(id)
    if (!vm) return
    this.vms.delete(id)
    for (const f of vm.forwards) await f.stop().catch(() => undefined)
    await vm.rig.stop()
    this.options.log?.(`VM ${id}: stopped`)
  }

  async close(): Promise<void> {
    await Promise.all([...this.pending.values()].map((p) => p.catch(() => undefined)))
    const ids = [...this.vms.keys()]
    await Promise.all(ids.map((id) => this.stop(id)))
  }
}
