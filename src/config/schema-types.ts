/* eslint-disable */
/** Generated from schemas/anycloud.schema.json by `npm run gen:types`. Do not edit. */

/**
 * Where anycloud keeps its state; default: a local file.
 *
 * This interface was referenced by `AnycloudFile`'s JSON-Schema
 * via the `definition` "state".
 */
export type State = LocalStateBackend | S3StateBackend | GcsStateBackend | AzureStateBackend
/**
 * A named credential: references only, never secret values.
 *
 * This interface was referenced by `AnycloudFile`'s JSON-Schema
 * via the `definition` "credential".
 */
export type Credential = AwsCredential | AzureCredential | GcpCredential | SshCredential | LocalCredential

/**
 * anycloud.yaml, format version 1: named profiles, each a containerized job on a cloud VM.
 */
export interface AnycloudFile {
  /**
   * Format version; must be 1.
   */
  version: 1
  /**
   * Project name used in resource names; default: the folder's name, sanitized.
   */
  project?: string
  state?: State
  /**
   * Named credentials: references only, never secret values.
   */
  credentials?: {
    [k: string]: Credential
  }
  defaults?: Defaults
  /**
   * Named profiles; each becomes one deployment.
   */
  profiles: {
    [k: string]: Profile
  }
}
/**
 * State in a local file.
 */
export interface LocalStateBackend {
  /**
   * Local file backend.
   */
  backend: 'local'
  /**
   * Directory of state.json, relative to the anycloud.yaml; default `.anycloud`.
   */
  path?: string
}
/**
 * State in an S3 bucket, locked with conditional writes.
 */
export interface S3StateBackend {
  /**
   * S3 backend.
   */
  backend: 's3'
  /**
   * Bucket (S3 bucket, Azure container, GCS bucket, local directory) name.
   */
  bucket: string
  /**
   * Object key of the state; default `anycloud/<project>.json`.
   */
  key?: string
  /**
   * Region of the bucket.
   */
  region?: string
  /**
   * Name of a credential.
   */
  credentials?: string
}
/**
 * State in a GCS bucket, locked with generation preconditions.
 */
export interface GcsStateBackend {
  /**
   * GCS backend.
   */
  backend: 'gcs'
  /**
   * Bucket (S3 bucket, Azure container, GCS bucket, local directory) name.
   */
  bucket: string
  /**
   * Object prefix; default `anycloud/`.
   */
  prefix?: string
  /**
   * Name of a credential.
   */
  credentials?: string
}
/**
 * State in an Azure Blob container, locked with blob leases.
 */
export interface AzureStateBackend {
  /**
   * Azure Blob backend.
   */
  backend: 'azure'
  /**
   * Bucket (S3 bucket, Azure container, GCS bucket, local directory) name.
   */
  container: string
  /**
   * Storage account name.
   */
  storageAccount?: string
  /**
   * Blob name; default `anycloud/<project>.json`.
   */
  key?: string
  /**
   * Name of a credential.
   */
  credentials?: string
}
/**
 * Amazon Web Services: the default credential chain or a named profile from ~/.aws.
 */
export interface AwsCredential {
  /**
   * Selects the AWS credential shape.
   */
  provider: 'aws'
  /**
   * Named profile in ~/.aws/credentials or ~/.aws/config; the default chain when absent.
   */
  profile?: string
  /**
   * Default region for this credential, e.g. `us-east-1`, `eastus`, `us-central1`.
   */
  region?: string
  /**
   * Access key id. Secret-bearing: only a `${env:NAME}` reference is accepted, never a literal value.
   */
  accessKeyId?: string
  /**
   * Secret access key. Secret-bearing: only a `${env:NAME}` reference is accepted, never a literal value.
   */
  secretAccessKey?: string
  /**
   * Session token of temporary credentials. Secret-bearing: only a `${env:NAME}` reference is accepted, never a literal value.
   */
  sessionToken?: string
  /**
   * Endpoint overrides for S3-compatible stores, emulators and tests.
   */
  endpoints?: {
    /**
     * S3 endpoint URL.
     */
    s3?: string
    /**
     * EC2 endpoint URL.
     */
    ec2?: string
    /**
     * IAM endpoint URL.
     */
    iam?: string
    /**
     * STS endpoint URL.
     */
    sts?: string
  }
  /**
   * Expected AWS account id (12 digits, quoted); anycloud refuses to act when the credentials belong to another account.
   */
  accountId?: string
  /**
   * Where SSH (port 22) to anycloud's VMs may come from: IPv4 CIDR blocks such as `203.0.113.0/24`; default `0.0.0.0/0` (host keys are pinned and logins are key-only). Set on a profile, it overrides the credential's.
   *
   * @minItems 1
   */
  sshAllowFrom?: [string, ...string[]]
  /**
   * Free text shown by `anycloud credentials list`.
   */
  description?: string
}
/**
 * Microsoft Azure: a subscription, with a service principal or the default Azure credential chain.
 */
export interface AzureCredential {
  /**
   * Selects the Azure credential shape.
   */
  provider: 'azure'
  /**
   * Subscription id (a GUID).
   */
  subscriptionId: string
  /**
   * Directory (tenant) id of the service principal.
   */
  tenantId?: string
  /**
   * Application (client) id of the service principal.
   */
  clientId?: string
  /**
   * Client secret of the service principal. Secret-bearing: only a `${env:NAME}` reference is accepted, never a literal value.
   */
  clientSecret?: string
  /**
   * Default region for this credential, e.g. `us-east-1`, `eastus`, `us-central1`.
   */
  region?: string
  /**
   * Which Azure cloud: its Resource Manager and login hosts. Default `public`.
   */
  cloud?: 'public' | 'china' | 'usgov'
  /**
   * Overrides of the cloud's endpoints (Azure Stack, emulators, tests). The credential is always sent to them.
   */
  endpoints?: {
    /**
     * Azure Resource Manager base URL, e.g. `https://management.azure.com`.
     */
    resourceManager?: string
    /**
     * Microsoft Entra login (authority host) URL, e.g. `https://login.microsoftonline.com`.
     */
    login?: string
  }
  /**
   * Blob service endpoint of one existing storage account (storage-only use: azurite, or `https://ACCOUNT.blob.core.windows.net`), reached with its shared key.
   */
  endpoint?: string
  /**
   * Free text shown by `anycloud credentials list`.
   */
  description?: string
}
/**
 * Google Cloud: a project, with a service-account key file, a short-lived access token, or application default credentials.
 */
export interface GcpCredential {
  /**
   * Selects the GCP credential shape.
   */
  provider: 'gcp'
  /**
   * Project id.
   */
  project: string
  /**
   * Path to a service-account JSON key file (a path, not the key itself); application default credentials when absent.
   */
  keyFile?: string
  /**
   * A short-lived OAuth 2.0 access token (e.g. from workload identity federation in CI), sent as the bearer to every Google API. Secret-bearing: only a `${env:NAME}` reference is accepted, never a literal value.
   */
  accessToken?: string
  /**
   * Default region for this credential, e.g. `us-east-1`, `eastus`, `us-central1`.
   */
  region?: string
  /**
   * Endpoint override for GCS and GCE (emulators and tests).
   */
  apiEndpoint?: string
  /**
   * Free text shown by `anycloud credentials list`.
   */
  description?: string
}
/**
 * Machines you already have, reached over SSH.
 */
export interface SshCredential {
  /**
   * Selects the ssh credential shape.
   */
  provider: 'ssh'
  /**
   * The machines, in order of preference.
   *
   * @minItems 1
   */
  hosts: [SshHost, ...SshHost[]]
  /**
   * Name of the credential whose storage holds this host's buckets.
   */
  storage?: string
  /**
   * Free text shown by `anycloud credentials list`.
   */
  description?: string
}
/**
 * One machine reachable over SSH.
 */
export interface SshHost {
  /**
   * Host name or IP address.
   */
  host: string
  /**
   * SSH port.
   */
  port?: number
  /**
   * Login user; commands needing root use sudo when it is not root.
   */
  user: string
  /**
   * Path to the private key file used to log in (a path, never the key itself).
   */
  identityFile?: string
  /**
   * The host's public key (`ssh-ed25519 AAAA…`), pinned; when absent it is recorded on first contact and enforced from then on.
   */
  hostKey?: string
}
/**
 * Everything on this machine: buckets are directories, the VM is a workspace, the workload a local process.
 */
export interface LocalCredential {
  /**
   * Selects the local credential shape.
   */
  provider: 'local'
  /**
   * Directory holding buckets/ and machines/, relative to the anycloud.yaml; default `.anycloud/local`.
   */
  root?: string
  /**
   * Free text shown by `anycloud credentials list`.
   */
  description?: string
}
/**
 * Fields merged under every profile.
 *
 * This interface was referenced by `AnycloudFile`'s JSON-Schema
 * via the `definition` "defaults".
 */
export interface Defaults {
  /**
   * Credential name, or an ordered list of names: the first that authenticates is used, the next on an authentication failure.
   */
  credentials?: string | [string, ...string[]]
  /**
   * Exact instance type, e.g. `t3.medium`, `Standard_NC6s_v3`, `n1-standard-8`. Mutually exclusive with gpuType.
   */
  vmType?: string
  /**
   * GPU by name (`a100`, `a100:8`, `h100:all`); anycloud picks the instance type. Mutually exclusive with vmType.
   */
  gpuType?: string
  /**
   * GPUs handed to the container: `all` or a count.
   */
  gpus?: 'all' | number
  /**
   * Region to run in; default: the credential's region.
   */
  region?: string
  /**
   * Zone within the region; default: any zone of the region, tried in order on capacity errors.
   */
  zone?: string
  /**
   * Run on spot/preemptible capacity; gives the deployment a checkpoint bucket.
   */
  spot?: boolean
  /**
   * Root disk size in GB.
   */
  diskSizeGb?: number
  /**
   * Shared memory size for the container, e.g. `16g`, or bytes.
   */
  shmSize?: string | number
  /**
   * Container image, e.g. `ghcr.io/acme/train:latest`.
   */
  image?: string
  /**
   * The command: a list of arguments, or one string run by a shell.
   */
  command?: string | [string, ...string[]]
  /**
   * Environment variables for the workload; values may use `${env:NAME}` (treated as sensitive).
   */
  env?: {
    /**
     * Value of the variable.
     */
    [k: string]: string
  }
  /**
   * `docker` (default when image is set) runs a container; `process` runs the command on the host.
   */
  runtime?: 'docker' | 'process'
  /**
   * Read-only bucket downloaded once at start to /mnt/input; must already exist.
   */
  inputBucket?: string
  /**
   * Bucket /mnt/output is uploaded to every syncIntervalSeconds; created if missing.
   */
  outputBucket?: string
  /**
   * AWS credential holding the input bucket when it is not on the compute credential (cross-cloud storage is S3 only).
   */
  inputStorageCredentials?: string
  /**
   * Region of the input bucket on inputStorageCredentials.
   */
  inputStorageRegion?: string
  /**
   * AWS credential holding the output bucket when it is not on the compute credential (cross-cloud storage is S3 only).
   */
  outputStorageCredentials?: string
  /**
   * Region of the output bucket on outputStorageCredentials.
   */
  outputStorageRegion?: string
  /**
   * Keep the checkpoint bucket after the job completes (spot only).
   */
  persistBucket?: boolean
  /**
   * When a spot deployment moves to on-demand capacity (bounded: no retry loop without an end). Either limit, whichever is reached first; the plan says which.
   */
  spotFallback?: {
    /**
     * Move to on-demand once the deployment has been preempted this many times.
     */
    afterPreemptions?: number
    /**
     * Move to on-demand once no spot capacity was found (in any allowed zone) for this many minutes.
     */
    afterMinutesWithoutCapacity?: number
  }
  /**
   * Keep the VM after the workload exits.
   */
  persist?: boolean
  /**
   * Where SSH (port 22) to anycloud's VMs may come from: IPv4 CIDR blocks such as `203.0.113.0/24`; default `0.0.0.0/0` (host keys are pinned and logins are key-only). Set on a profile, it overrides the credential's.
   *
   * @minItems 1
   */
  sshAllowFrom?: [string, ...string[]]
  /**
   * Seconds between uploads of /mnt/output and /mnt/checkpoint; default 60.
   */
  syncIntervalSeconds?: number
}
/**
 * One containerized job: where and how it runs, and its buckets.
 *
 * This interface was referenced by `AnycloudFile`'s JSON-Schema
 * via the `definition` "profile".
 */
export interface Profile {
  /**
   * Credential name, or an ordered list of names: the first that authenticates is used, the next on an authentication failure.
   */
  credentials?: string | [string, ...string[]]
  /**
   * Exact instance type, e.g. `t3.medium`, `Standard_NC6s_v3`, `n1-standard-8`. Mutually exclusive with gpuType.
   */
  vmType?: string
  /**
   * GPU by name (`a100`, `a100:8`, `h100:all`); anycloud picks the instance type. Mutually exclusive with vmType.
   */
  gpuType?: string
  /**
   * GPUs handed to the container: `all` or a count.
   */
  gpus?: 'all' | number
  /**
   * Region to run in; default: the credential's region.
   */
  region?: string
  /**
   * Zone within the region; default: any zone of the region, tried in order on capacity errors.
   */
  zone?: string
  /**
   * Run on spot/preemptible capacity; gives the deployment a checkpoint bucket.
   */
  spot?: boolean
  /**
   * Root disk size in GB.
   */
  diskSizeGb?: number
  /**
   * Shared memory size for the container, e.g. `16g`, or bytes.
   */
  shmSize?: string | number
  /**
   * Container image, e.g. `ghcr.io/acme/train:latest`.
   */
  image?: string
  /**
   * The command: a list of arguments, or one string run by a shell.
   */
  command?: string | [string, ...string[]]
  /**
   * Environment variables for the workload; values may use `${env:NAME}` (treated as sensitive).
   */
  env?: {
    /**
     * Value of the variable.
     */
    [k: string]: string
  }
  /**
   * `docker` (default when image is set) runs a container; `process` runs the command on the host.
   */
  runtime?: 'docker' | 'process'
  /**
   * Read-only bucket downloaded once at start to /mnt/input; must already exist.
   */
  inputBucket?: string
  /**
   * Bucket /mnt/output is uploaded to every syncIntervalSeconds; created if missing.
   */
  outputBucket?: string
  /**
   * AWS credential holding the input bucket when it is not on the compute credential (cross-cloud storage is S3 only).
   */
  inputStorageCredentials?: string
  /**
   * Region of the input bucket on inputStorageCredentials.
   */
  inputStorageRegion?: string
  /**
   * AWS credential holding the output bucket when it is not on the compute credential (cross-cloud storage is S3 only).
   */
  outputStorageCredentials?: string
  /**
   * Region of the output bucket on outputStorageCredentials.
   */
  outputStorageRegion?: string
  /**
   * Keep the checkpoint bucket after the job completes (spot only).
   */
  persistBucket?: boolean
  /**
   * When a spot deployment moves to on-demand capacity (bounded: no retry loop without an end). Either limit, whichever is reached first; the plan says which.
   */
  spotFallback?: {
    /**
     * Move to on-demand once the deployment has been preempted this many times.
     */
    afterPreemptions?: number
    /**
     * Move to on-demand once no spot capacity was found (in any allowed zone) for this many minutes.
     */
    afterMinutesWithoutCapacity?: number
  }
  /**
   * Keep the VM after the workload exits.
   */
  persist?: boolean
  /**
   * Where SSH (port 22) to anycloud's VMs may come from: IPv4 CIDR blocks such as `203.0.113.0/24`; default `0.0.0.0/0` (host keys are pinned and logins are key-only). Set on a profile, it overrides the credential's.
   *
   * @minItems 1
   */
  sshAllowFrom?: [string, ...string[]]
  /**
   * Seconds between uploads of /mnt/output and /mnt/checkpoint; default 60.
   */
  syncIntervalSeconds?: number
  /**
   * Name of another profile to inherit from; this profile's fields override it.
   */
  extends?: string
}
