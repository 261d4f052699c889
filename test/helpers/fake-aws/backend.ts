/**
 * What stands behind a fake EC2 instance. The fake calls `launch` during RunInstances (the
 * instance is `pending` until it resolves) and `terminate` when the instance starts shutting
 * down. The default backend starts nothing; the sshd backend (`sshd-backend.ts`) runs a real
 * sshd in a network namespace per instance.
 */
import type {FakeInstance} from './model.js'

/** Addresses and details a backend reports for a launched instance. */
export interface InstanceLaunchResult {
  /** Address anycloud should connect to (shown as `PublicIpAddress`). */
  publicIpAddress?: string
  /** Overrides the private address the fake allocated from the subnet. */
  privateIpAddress?: string
  /** Free-form details kept on `instance.backend` (netns name, sshd pid, ports, …). */
  details?: Record<string, unknown>
}

/** Pluggable "hypervisor" of the fake EC2. */
export interface InstanceBackend {
  /** A short name for logs (`noop`, `sshd-netns`). */
  readonly name: string
  /**
   * Starts the VM for `instance`. `userData` is the decoded user data (UTF-8 text, gunzipped),
   * empty when none was sent. A rejection puts the instance into `terminated` with
   * `Server.InternalError`.
   */
  launch(instance: FakeInstance, userData: string): Promise<InstanceLaunchResult>
  /** Stops the VM; must be idempotent. */
  terminate(instance: FakeInstance): Promise<void>
  /** Stops every VM still running (called by `fake.close()` and `fake.reset()`). */
  close?(): Promise<void>
}

/**
 * The default backend: nothing is started; each instance gets a public address `10.200.N.2` (N = 1, 2, …)
 * (the address the N-th netns VM would have), recorded but unreachable.
 */
export class NoopInstanceBackend implements InstanceBackend {
  readonly name = 'noop'
  private next = 1
  /** Instances launched and not yet terminated, by id. */
  readonly running = new Set<string>()

  async launch(instance: FakeInstance): Promise<InstanceLaunchResult> {
    const n = this.next++
    this.running.add(instance.instanceId)
    return {publicIpAddress: `10.200.${((n - 1) % 254) + 1}.2`, details: {index: n}}
  }

  async terminate(instance: FakeInstance): Promise<void> {
    this.running.delete(instance.instanceId)
  }

  async close(): Promise<void> {
    this.running.clear()
  }
}
