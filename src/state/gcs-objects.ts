import type {Storage} from '@google-cloud/storage'

import {conditional, type ObjectStore, type StoredObject} from './object-store.js'

function status(error: unknown): number | undefined {
  const e = error as {code?: unknown; response?: {status?: number}}
  return typeof e?.code === 'number' ? e.code : e?.response?.status
}

/** GCS: creates with ifGenerationMatch=0, replaces and deletes with the generation read. */
export class GcsObjects implements ObjectStore {
  constructor(private readonly storage: () => Promise<Storage>, private readonly bucket: string) {}

  url(key: string): string {
    return `gs://${this.bucket}/${key}`
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const bucket = (await this.storage()).bucket(this.bucket)
    // Metadata, then that exact generation: a replacement in between is a 404 of the old one; read again.
    for (let attempt = 0; attempt < 5; attempt++) {
      let generation: string
      try {
        const [metadata] = await bucket.file(key).getMetadata()
        generation = String(metadata.generation)
      } catch (error) {
        if (status(error) === 404) return undefined
        throw error
      }
      try {
        const [body] = await bucket.file(key, {generation}).download()
        return {body, version: generation}
      } catch (error) {
        if (status(error) !== 404) throw error
      }
    }
    throw new Error(`gs://${this.bucket}/${key} kept changing while it was read`)
  }

  private async save(key: string, body: Buffer, ifGenerationMatch: number | string): Promise<{version: string}> {
    const file = (await this.storage()).bucket(this.bucket).file(key)
    await file.save(body, {resumable: false, contentType: 'application/json', preconditionOpts: {ifGenerationMatch}})
    return {version: String(file.metadata.generation)}
  }

  async create(key: string, body: Buffer): Promise<{version: string} | 'exists'> {
    return conditional(() => this.save(key, body, 0), status, {412: 'exists'})
  }

  async replace(key: string, body: Buffer, version: string): Promise<{version: string} | 'changed'> {
    return conditional(() => this.save(key, body, version), status, {412: 'changed', 404: 'changed'})
  }

  async remove(key: string, version: string): Promise<'removed' | 'changed' | 'absent'> {
    const file = (await this.storage()).bucket(this.bucket).file(key)
    return conditional(async () => (await file.delete({ifGenerationMatch: version}), 'removed' as const), status, {404: 'absent', 412: 'changed'})
  }

  async close(): Promise<void> {}
}
