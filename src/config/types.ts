import type {Credential, State} from './schema-types.js'

import type {ProviderKind, ResolvedProfile} from '../model/profile.js'

export type {Hardware, ProviderKind, ResolvedProfile, Runtime} from '../model/profile.js'

// model/ may not import config/: the provider list is written there and checked against the schema here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
type Assert<T extends true> = T
export type ProviderKindsAgree = Assert<Same<ProviderKind, Credential['provider']>>

/** A credential by name, with where it was found. Secret fields hold interpolated values in memory only. */
export interface NamedCredential {
  name: string
  origin: 'file' | 'store' | 'implicit'
  spec: Credential
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
