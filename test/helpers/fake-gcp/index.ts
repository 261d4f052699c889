/**
 * A fake of Compute Engine and IAM (service accounts) behind the real Google clients, on loopback;
 * see server.ts and README.md.
 */
export {FAKE_GCP_PROJECT, FAKE_GCP_PROJECT_NUMBER, FAKE_GCP_ZONES, FakeGcp, parseFilter, startFakeGcp, type FakeFirewall, type FakeGceInstance, type FakeGceOperation, type FakeGcpOptions, type FakeGcpRequest, type FakeServiceAccount, type HttpFault} from './server.js'
