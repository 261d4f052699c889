/**
 * A root-hook plugin (loaded through .mocharc `require`, in every parallel worker): no test may reach
 * a cloud's metadata address, not even from inside a VM's network namespace. Spot VMs started by a
 * test that brings no notice endpoint of its own would otherwise poll 169.254.169.254 from the
 * machine's notice program; this default points them at a closed port on the VM's own loopback.
 * Tests that drive notices set ANYCLOUD_NOTICE_BASE themselves, which wins.
 */
process.env.ANYCLOUD_NOTICE_BASE ??= 'http://127.0.0.1:9'

export const mochaHooks = {}
