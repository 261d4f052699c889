import type {Credential, Profile, State} from './schema-types.js'

export type ProviderKind = Credential['provider']
export type Runtime = 'docker' | 'process'

/** A credential by name, with where it was found. Secret fields hold interpolated values in memory only. */
export interface NamedCredential {
  name: string
  origin: 'file' | 'store' | 'implicit'
  spec: Credential
}

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
  persist: boolean
  syncIntervalSeconds: number
  /** The extends chain, nearest first. */
  extendsChain: string[]
}

/** A whole anycloud.yaml, validated and resolved. */
export interface ResolvedConfig {
  file: string
  dir: string
  project: string
  state: State
  credentials: Record<string, NamedCredential>
  profiles: Record<string, ResolvedProfile>
}

export type {AwsCredential, AzureCredential, Credential, GcpCredential, LocalCredential, Profile, SshCredential, SshHost, State} from './schema-types.js'
