import type {Storage} from '@google-cloud/storage'

import type {ObjectStore, StoredObject} from './object-store.js'

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
    try {
      return await this.save(key, body, 0)
    } catch (error) {
      if (status(error) === 412) return 'exists'
      throw error
    }
  }

  async replace(key: string, body: Buffer, version: string): Promise<{version: string} | 'changed'> {
    try {
      return await this.save(key, body, version)
    } catch (error) {
      if (status(error) === 412 || status(error) === 404) return 'changed'
      throw error
    }
  }

  async remove(key: string, version: string): Promise<'removed' | 'changed' | 'absent'> {
    const file = (await this.storage()).bucket(this.bucket).file(key)
    try {
      await file.delete({ifGenerationMatch: version})
      return 'removed'
    } catch (error) {
      if (status(error) === 404) return 'absent'
      if (status(error) === 412) return 'changed'
      throw error
    }
  }

  async close(): Promise<void> {}
}
