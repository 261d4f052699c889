/**
 * A fake of Azure Resource Manager and the Entra token endpoint behind the real `@azure/arm-*`
 * and `@azure/identity` clients (see server.ts), with VMs that are sshd hosts (vm-backend.ts).
 */
export {FAKE_SUBSCRIPTION_ID, FAKE_TENANT_ID, FakeAzure, STORAGE_BLOB_DATA_CONTRIBUTOR, startFakeAzure, type ArmResource, type FakeAzureBlob, type FakeAzureOptions, type FaultHandle, type FaultSpec, type RequestLogEntry} from './server.js'
export {NoopVmBackend, SshdVmBackend, type AzureVmBackend, type SshdVmBackendOptions, type VmBootRequest, type VmBootResult} from './vm-backend.js'
