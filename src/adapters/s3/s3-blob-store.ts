import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Readable } from 'node:stream';
import { BlobNotFoundError } from '../../domain/blob-key.ts';
import type { BlobInfo, BlobStore, SignedUrl } from '../../ports/blob-store.ts';

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/**
 * The blob store on S3 (AWS twin of FsBlobStore). Writes stream through multipart uploads, reads
 * stream the object body, URLs are presigned. Where it differs: a presigned PUT cannot cap the body
 * size (only a presigned POST policy can), so `maxBytes` is enforced where blobs are used: task
 * types check `head().bytes` before they read. Presigned URLs signed with a Lambda's temporary
 * credentials stop working when those credentials expire, whichever comes first. Build the client
 * with `requestChecksumCalculation: 'WHEN_REQUIRED'`: otherwise the SDK signs an empty-body CRC32
 * into upload URLs, which some S3-compatible stores reject for every real body.
 */
export class S3BlobStore implements BlobStore {
  readonly #s3: S3Client;
  readonly #bucket: string;

  constructor(s3: S3Client, bucket: string) {
    this.#s3 = s3;
    this.#bucket = bucket;
  }

  async read(key: string): Promise<Readable> {
    try {
      const result = await this.#s3.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      const body = result.Body;
      if (body instanceof Readable) return body;
      if (body && 'transformToWebStream' in body)
        return Readable.fromWeb(body.transformToWebStream() as never);
      throw new Error(`S3 returned no body for ${key}`);
    } catch (error) {
      if (isNotFound(error)) throw new BlobNotFoundError(key);
      throw error;
    }
  }

  async write(
    key: string,
    body: Readable | Buffer | string,
    options: { contentType: string },
  ): Promise<BlobInfo> {
    await new Upload({
      client: this.#s3,
      params: { Bucket: this.#bucket, Key: key, Body: body, ContentType: options.contentType },
    }).done();
    const info = await this.head(key);
    if (!info) throw new Error(`S3 does not show ${key} right after writing it`);
    return info;
  }

  async head(key: string): Promise<BlobInfo | null> {
    try {
      const result = await this.#s3.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
      return { key, bytes: result.ContentLength ?? 0, contentType: result.ContentType ?? null };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async uploadUrl(
    key: string,
    options: { contentType: string; maxBytes: number; expiresInSeconds: number },
  ): Promise<SignedUrl> {
    const url = await getSignedUrl(
      this.#s3,
      new PutObjectCommand({ Bucket: this.#bucket, Key: key, ContentType: options.contentType }),
      { expiresIn: options.expiresInSeconds, signableHeaders: new Set(['content-type']) },
    );
    return { url, expiresAt: new Date(Date.now() + options.expiresInSeconds * 1000).toISOString() };
  }

  async downloadUrl(key: string, options: { expiresInSeconds: number }): Promise<SignedUrl> {
    const url = await getSignedUrl(this.#s3, new GetObjectCommand({ Bucket: this.#bucket, Key: key }), {
      expiresIn: options.expiresInSeconds,
    });
    return { url, expiresAt: new Date(Date.now() + options.expiresInSeconds * 1000).toISOString() };
  }
}
