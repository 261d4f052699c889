import {Args, Flags, type Interfaces} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import type {Credential} from '../../config/schema-types.js'
import {credentialFieldText, CredentialStore, redactCredential, SECRET_FIELDS} from '../../credentials/store.js'
import {UsageError} from '../../errors/index.js'
import {checkCredentialShape} from '../../credentials/shape.js'

const CREDENTIAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/

export default class CredentialsAdd extends BaseCommand<typeof CredentialsAdd> {
  static override description = `Save a named credential in the local store ($ANYCLOUD_HOME/credentials.json, mode 0600).
Secret fields (accessKeyId, secretAccessKey, sessionToken, clientSecret) are never taken from the command line, where other users could see them: pass them as a JSON object on stdin with --secrets-stdin.`
  static override examples = [
    '<%= config.bin %> credentials add aws-prod --provider aws --profile prod --region us-east-1',
    "echo '{\"accessKeyId\":\"…\",\"secretAccessKey\":\"…\"}' | <%= config.bin %> credentials add ci --provider aws --region eu-west-1 --secrets-stdin",
    '<%= config.bin %> credentials add gcp-prod --provider gcp --project acme-ml --key-file ~/keys/sa.json --region us-central1',
    '<%= config.bin %> credentials add laptop --provider local',
  ]
  static override args = {name: Args.string({description: 'Name of the credential.', required: true})}
  static override flags = {
    provider: Flags.string({description: 'Cloud of the credential.', options: ['aws', 'azure', 'gcp', 'ssh', 'local'], required: true}),
    region: Flags.string({description: 'Default region.'}),
    profile: Flags.string({description: 'aws: named profile in ~/.aws.'}),
    'subscription-id': Flags.string({description: 'azure: subscription id.'}),
    'tenant-id': Flags.string({description: 'azure: tenant id.'}),
    'client-id': Flags.string({description: 'azure: client id.'}),
    project: Flags.string({description: 'gcp: project id.'}),
    'key-file': Flags.string({description: 'gcp: path of a service-account key file.'}),
    host: Flags.string({description: 'ssh: user@host[:port] (repeatable).', multiple: true}),
    'identity-file': Flags.string({description: 'ssh: private key file used to log in.'}),
    storage: Flags.string({description: 'ssh: credential holding the buckets.'}),
    root: Flags.string({description: 'local: directory of buckets and machines.'}),
    'secrets-stdin': Flags.boolean({description: 'Read secret fields as a JSON object from stdin.', default: false}),
    force: Flags.boolean({description: 'Replace an existing credential of the same name.', default: false}),
  }

  public async run(): Promise<void> {
    const {args, flags} = await this.parse(CredentialsAdd)
    // The same rule as credential names in anycloud.yaml, so a saved credential can be referenced.
    if (!CREDENTIAL_NAME.test(args.name)) {
      throw new UsageError(`invalid credential name '${args.name}': use letters, digits, \`_\`, \`.\` and \`-\`, starting with a letter or digit (at most 63 characters)`)
    }
    const c = credentialFromFlags(flags)
    if (flags['secrets-stdin']) Object.assign(c, parseSecrets(await readStdin()))
    const problems = checkCredentialShape(c, {allowLiteralSecrets: true})
    if (problems.length > 0) throw new UsageError(`credential '${args.name}' is not valid:\n  ${problems.join('\n  ')}`)
    const store = new CredentialStore()
    store.add(args.name, c as unknown as Credential, {overwrite: flags.force})
    this.out(`Saved credential '${args.name}' (${flags.provider}) in ${store.path}:`)
    const fields = Object.entries(redactCredential(c as unknown as Credential)).filter(([k]) => k !== 'provider')
    const width = Math.max(0, ...fields.map(([k]) => k.length))
    for (const [k, v] of fields) this.out(`  ${k.padEnd(width)}  ${credentialFieldText(v)}`)
  }
}

type AddFlags = Interfaces.InferredFlags<typeof CredentialsAdd.flags>

/** The credential the flags describe (no secrets: those come only from stdin). */
function credentialFromFlags(flags: AddFlags): Record<string, unknown> {
  const c: Record<string, unknown> = {provider: flags.provider}
  const set = (key: string, value: unknown) => {
    if (value !== undefined) c[key] = value
  }
  set('region', flags.region)
  set('profile', flags.profile)
  set('subscriptionId', flags['subscription-id'])
  set('tenantId', flags['tenant-id'])
  set('clientId', flags['client-id'])
  set('project', flags.project)
  set('keyFile', flags['key-file'])
  set('storage', flags.storage)
  set('root', flags.root)
  if (flags.host) {
    c.hosts = flags.host.map((h) => {
      const m = /^(?:([^@]+)@)?([^:]+)(?::(\d+))?$/.exec(h)
      if (!m || !m[1]) throw new UsageError(`--host '${h}': expected user@host[:port]`)
      return {host: m[2], user: m[1], ...(m[3] ? {port: Number(m[3])} : {}), ...(flags['identity-file'] ? {identityFile: flags['identity-file']} : {})}
    })
  }
  return c
}

/** `--secrets-stdin`: a JSON object of secret fields only, each a non-empty string. */
function parseSecrets(text: string): Record<string, string> {
  let secrets: unknown
  try {
    secrets = JSON.parse(text)
  } catch {
    secrets = undefined
  }
  if (!secrets || typeof secrets !== 'object' || Array.isArray(secrets)) {
    throw new UsageError('--secrets-stdin: stdin is not a JSON object (e.g. {"accessKeyId": "…", "secretAccessKey": "…"})')
  }
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(secrets)) {
    if (!SECRET_FIELDS.has(k)) throw new UsageError(`--secrets-stdin: '${k}' is not a secret field; secret fields: ${[...SECRET_FIELDS].join(', ')}`)
    if (typeof v !== 'string' || v === '') throw new UsageError(`--secrets-stdin: '${k}' must be a non-empty string`)
    out[k] = v
  }
  return out
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError('--secrets-stdin: nothing on stdin (pipe a JSON object into the command)')
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
