import type {ErrorObject} from 'ajv'

import {schemaValidator} from '../config/schema-check.js'


/**
 * Checks a credential against the schema's credential definition. The store may hold literal
 * secret values (it is a 0600 file, like ~/.aws/credentials), so `allowLiteralSecrets` skips the
 * `${env:…}`-only rule that applies inside anycloud.yaml.
 */
export function checkCredentialShape(credential: Record<string, unknown>, options: {allowLiteralSecrets?: boolean} = {}): string[] {
  // Validate a one-credential file through the compiled file schema: one source of truth.
  const probe = {...credential}
  // Only a non-empty string stands in for a secret: other types still fail the schema.
  if (options.allowLiteralSecrets) for (const k of ['accessKeyId', 'secretAccessKey', 'sessionToken', 'clientSecret']) if (typeof probe[k] === 'string' && probe[k] !== '') probe[k] = '${env:X}'
  const validate = schemaValidator()
  if (validate({version: 1, credentials: {c: probe}, profiles: {p: {command: 'true'}}})) return []
  return ((validate.errors ?? []) as ErrorObject[])
    .filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'if')
    .map((e) => {
      const at = e.instancePath.replace(/^\/credentials\/c/, '').replace(/^\//, '').replaceAll('/', '.')
      if (e.keyword === 'additionalProperties') return `${at ? at + ': ' : ''}unknown field '${(e.params as {additionalProperty: string}).additionalProperty}'`
      if (e.keyword === 'required') return `missing ${(e.params as {missingProperty: string}).missingProperty}`
      const msg = (e.parentSchema as Record<string, unknown> | undefined)?.['x-message'] ?? e.message
      return `${at || 'credential'}: ${String(msg)}`
    })
}
