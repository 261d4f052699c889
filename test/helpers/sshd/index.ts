/** Test rig: throwaway sshd "VMs" (loopback or network namespace), namespace port forwarding, a delay proxy. */
export {freePort, netnsAvailable, prepareSshd, startSshd, stopAllSshd, waitForTcp} from './sshd.js'
export type {SshdOptions, SshdRig} from './sshd.js'
export {forwardPortIntoNamespace} from './forward.js'
export type {NamespaceForward} from './forward.js'
export {startDelayProxy} from './delay-proxy.js'
export type {DelayProxy, DelayProxyOptions} from './delay-proxy.js'
export {requireNetns, requireRoot} from './require.js'
