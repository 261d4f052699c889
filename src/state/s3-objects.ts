import type {S3Client} from '@aws-sdk/client-s3'

import type {ObjectStore, StoredObject} from './object-store.js'
import {s3Sdk} from '../util/aws-sdk.js'

interface S3ErrorLike {
  name?: string
  Code?: string
  $metadata?: {httpStatusCode?: number}
}

function status(error: unknown): number | undefined {
  return (error as S3ErrorLike)?.$metadata?.httpStatusCode
}

function isPreconditionFailed(error: unknown): boolean {
  const e = error as S3ErrorLike
  // 409 ConditionalRequestConflict: a concurrent conditional write on the same key (AWS).
  return status(error) === 412 || e?.name === 'PreconditionFailed' || e?.name === 'ConditionalRequestConflict' || status(error) === 409
}

function isNotFound(error: unknown): boolean {
  const e = error as S3ErrorLike
  return status(error) === 404 || e?.name === 'NoSuchKey' || e?.name === 'NotFound'
}

/** S3 (and S3-compatible stores): If-None-Match: * creates, If-Match ETag replaces and deletes. */
export class S3Objects implements ObjectStore {
  private sdk: Promise<typeof import('@aws-sdk/client-s3')> | undefined

  constructor(private readonly client: () => Promise<S3Client>, private readonly bucket: string) {}

  private load(): Promise<typeof import('@aws-sdk/client-s3')> {
    this.sdk ??= s3Sdk()
    return this.sdk
  }

  url(key: string): string {
    return `s3://${this.bucket}/${key}`
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const {GetObjectCommand} = await this.load()
    const s3 = await this.client()
    try {
      const out = await s3.send(new GetObjectCommand({Bucket: this.bucket, Key: key}))
      const body = Buffer.from(await out.Body!.transformToByteArray())
      return {body, version: out.ETag!}
    } catch (error) {
      if (isNotFound(error)) return undefined
      throw error
    }
  }

  async create(key: string, body: Buffer): Promise<{version: string} | 'exists'> {
    const {PutObjectCommand} = await this.load()
    const s3 = await this.client()
    try {
      const out = await s3.send(new PutObjectCommand({Bucket: this.bucket, Key: key, Body: body, ContentType: 'application/json', IfNoneMatch: '*'}))
      return {version: out.ETag!}
    } catch (error) {
      if (isPreconditionFailed(error)) return 'exists'
      throw error
    }
  }

  async replace(key: string, body: Buffer, version: string): Promise<{version: string} | 'changed'> {
    const {PutObjectCommand} = await this.load()
    const s3 = await this.client()
    try {
      const out = await s3.send(new PutObjectCommand({Bucket: this.bucket, Key: key, Body: body, ContentType: 'application/json', IfMatch: version}))
      return {version: out.ETag!}
    } catch (error) {
      if (isPreconditionFailed(error) || isNotFound(error)) return 'changed'
      throw error
    }
  }

  async remove(key: string, version: string): Promise<'removed' | 'changed' | 'absent'> {
    const {DeleteObjectCommand} = await this.load()
    const s3 = await this.client()
    try {
      await s3.send(new DeleteObjectCommand({Bucket: this.bucket, Key: key, IfMatch: version}))
      return 'removed'
    } catch (error) {
      if (isNotFound(error)) return 'absent'
      if (isPreconditionFailed(error)) return 'changed'
      throw error
    }
  }

  async close(): Promise<void> {}
}
