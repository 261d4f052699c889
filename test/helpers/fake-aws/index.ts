/**
 * A fake of the EC2, IAM and STS HTTP APIs for driving the real `@aws-sdk/*` v3 clients:
 *
 * ```ts
 * const fake = await startFakeAws()
 * const ec2 = new EC2Client(sdkConfig(fake))            // endpoint, region, fake credentials
 * fake.faults.throttle('RunInstances', {count: 2})      // inject faults
 * fake.state.instances                                   // inspect the model
 * fake.calls('RunInstances')                             // and the request log
 * await fake.close()
 * ```
 */
export {NoopInstanceBackend, type InstanceBackend, type InstanceLaunchResult} from './backend.js'
export {decodeUserData, parseCloudInit, type CloudInitHostKey, type CloudInitSummary, type CloudInitUser} from './cloud-init.js'
export {FakeClock} from './clock.js'
export type {TransitionMode, VcpuLimits} from './ec2.js'
export {AwsApiError} from './errors.js'
export {
  FaultInjector,
  type CapacityFaultOptions,
  type ErrorFaultOptions,
  type FakeService,
  type FaultHandle,
  type FaultMatch,
  type FaultRequest,
  type LaunchRequest,
  type PropagationFaultOptions,
  type ThrottleOptions,
} from './faults.js'
export {
  CANONICAL_OWNER_ID,
  FAKE_ACCOUNT_ID,
  FakeAwsState,
  INSTANCE_TYPES,
  imagesFor,
  zonesFor,
  type FakeCredential,
  type FakeImage,
  type FakeInstance,
  type FakeInstanceProfile,
  type FakeKeyPair,
  type FakeRole,
  type FakeSecurityGroup,
  type FakeVolume,
  type InstanceStateName,
  type IssuedSession,
} from './model.js'
export {disableSdkAmbientConfig, expectSdkError, fastRetryStrategy, sdkConfig, type SdkConfigOptions, type SdkError, type SdkRetryStrategy} from './sdk.js'
export {
  FAKE_ACCESS_KEY_ID,
  FAKE_SECRET_ACCESS_KEY,
  FakeAws,
  startFakeAws,
  type FakeAwsEndpoints,
  type FakeAwsOptions,
  type FakeUserKey,
  type RequestLogEntry,
} from './server.js'
export {acceptMintedKeys} from './accept-minted.js'
