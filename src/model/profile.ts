// What a profile asks for once config/ has merged defaults and extends: plain data the engine and providers share.
/** The clouds anycloud knows (the `provider` field of a credential; config/types checks they agree). */
export type ProviderKind = 'aws' | 'azure' | 'gcp' | 'ssh' | 'local'
export type Runtime = 'docker' | 'process'

/** Hardware as the user asked for it. */
export type Hardware =
  | {kind: 'vm'; vmType: string}
  | {kind: 'gpu'; gpuType: string; name: string; count: number | 'all'}
  | {kind: 'default'}

/** One profile after defaults, the extends chain and the profile itself are merged. */
export interface ResolvedProfile {
  name: string
  /** Ordered fallback list; at least one entry. */
  credentials: string[]
  hardware: Hardware
  gpus?: 'all' | number
  region?: string
  zone?: string
  spot: boolean
  diskSizeGb?: number
  shmSize?: string | number
  image?: string
  /** A list is exec'd as is; a string runs through `sh -c`. */
  command?: string[] | string
  env: Record<string, string>
  /** Names of env entries whose value came from `${env:…}`: shown as (sensitive), stored only as hashes. */
  sensitiveEnv: string[]
  runtime: Runtime
  inputBucket?: string
  outputBucket?: string
  inputStorage?: {credential: string; region?: string}
  outputStorage?: {credential: string; region?: string}
  persistBucket: boolean
  /** Spot only: when the deployment moves to on-demand capacity. */
  spotFallback?: {afterPreemptions?: number; afterMinutesWithoutCapacity?: number}
  persist: boolean
  /** CIDR blocks SSH to the VM may come from (overrides the credential's); absent: the credential's, else anywhere. */
  sshAllowFrom?: string[]
  syncIntervalSeconds: number
  /** The extends chain, nearest first. */
  extendsChain: string[]
}
