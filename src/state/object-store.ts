/**
 * The few conditional object operations remote state needs, implemented per cloud (s3-objects.ts,
 * gcs-objects.ts, azure-objects.ts). A `version` is what the store compares a condition against:
 * the S3 ETag, the GCS generation, the Azure ETag.
 *
 * Contract: `create` succeeds only when the key does not exist (If-None-Match: *,
 * ifGenerationMatch=0); `replace` and `remove` only when the object is still at `version`.
 * A refused condition is an answer (`'exists'`, `'changed'`), never an exception; transport and
 * permission failures throw.
 */
export interface StoredObject {
  body: Buffer
  version: string
}

export interface ObjectStore {
  /** `s3://bucket/key`, `gs://…`, `https://acct.blob…/container/key`: for messages. */
  url(key: string): string
  get(key: string): Promise<StoredObject | undefined>
  create(key: string, body: Buffer): Promise<{version: string} | 'exists'>
  replace(key: string, body: Buffer, version: string): Promise<{version: string} | 'changed'>
  remove(key: string, version: string): Promise<'removed' | 'changed' | 'absent'>
  close(): Promise<void>
}

/**
 * Runs one conditional call and reads a refusal as the contract's answer: `answers` maps the HTTP
 * status the store refuses with (412 a failed condition, 404 a missing object…) to what the call
 * answers instead; any other failure throws.
 */
export async function conditional<T, const A extends string>(call: () => Promise<T>, statusOf: (error: unknown) => number | undefined, answers: Readonly<Record<number, A>>): Promise<T | A> {
  try {
    return await call()
  } catch (error) {
    const answer = answers[statusOf(error) ?? -1]
    if (answer === undefined) throw error
    return answer
  }
}
