import {netnsAvailable} from './sshd.js'

/**
 * For a suite whose "VMs" need root, or root and network namespaces: skips it on a developer's
 * machine without them, and fails it where `CI` is set, so CI never goes green without running it.
 */
export async function requireRoot(ctx: Mocha.Context): Promise<void> {
  if (process.getuid?.() !== 0) unavailable(ctx, 'it needs root')
}

/** As {@link requireRoot}, and network namespaces too (see {@link netnsAvailable}). */
export async function requireNetns(ctx: Mocha.Context): Promise<void> {
  await requireRoot(ctx)
  const netns = await netnsAvailable()
  if (!netns.available) unavailable(ctx, `network namespaces are unavailable (${netns.reason})`)
}

function unavailable(ctx: Mocha.Context, why: string): never {
  const title = ctx.currentTest?.parent?.fullTitle() || ctx.test?.parent?.fullTitle() || 'this suite'
  if (process.env.CI) throw new Error(`${title}: ${why}, and CI must run it (unset CI to skip it locally)`)
  ctx.skip()
}
