/**
 * The rig the aws spot e2e files share (spot.test.ts, spot-recovery.test.ts): the aws rig
 * (./aws-rig.ts) with VMs that log in as root and an S3 emulator that accepts the keys STS mints.
 * Call {@link useSpotRig} inside a `describe`: it registers that describe's before/after hooks, so
 * each file stands up (and tears down) a rig of its own and the files can run in parallel.
 */
import {useAwsRig, type AwsRig} from './aws-rig.js'

export type SpotRig = AwsRig

export function useSpotRig(): SpotRig {
  return useAwsRig({rootLogin: true, acceptMintedKeys: true})
}
