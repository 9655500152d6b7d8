// An in-memory BlobStore for tests. It keeps the port's promises: reads and writes stream (a read
// yields the blob in chunks, a write consumes its stream to the end before the blob exists), a
// missing blob is BlobNotFoundError on read and null on head, and invalid keys are refused as the
// real adapters refuse them. URLs are `memory://` and cannot be fetched.
import { Readable } from 'node:stream';
import { BlobNotFoundError, blobKeyProblem } from '../../src/domain/blob-key.ts';
import type { BlobInfo, BlobStore, SignedUrl } from '../../src/ports/blob-store.ts';

interface StoredBlob {
  data: Buffer;
  contentType: string | null;
}

export interface MemoryBlobStoreOptions {
  /** Size of the chunks a read yields (default 16 KiB), so consumers see more than one chunk. */
  chunkBytes?: number;
  /** Milliseconds since the epoch, for URL expiry times (default Date.now). */
  now?: () => number;
}

export class MemoryBlobStore implements BlobStore {
  readonly #blobs = new Map<string, StoredBlob>();
  readonly #chunkBytes: number;
  readonly #now: () => number;

  constructor(options: MemoryBlobStoreOptions = {}) {
    this.#chunkBytes = options.chunkBytes ?? 16 * 1024;
    this.#now = options.now ?? Date.now;
  }

  #check(key: string): void {
    const problem = blobKeyProblem(key);
    if (problem) throw new Error(`Invalid blob key "${key}": ${problem}`);
  }

  async read(key: string): Promise<Readable> {
    this.#check(key);
    const blob = this.#blobs.get(key);
    if (!blob) throw new BlobNotFoundError(key);
    const { data } = blob;
    const chunkBytes = this.#chunkBytes;
    function* chunks(): Generator<Buffer> {
      for (let offset = 0; offset < data.length; offset += chunkBytes) {
        yield Buffer.from(data.subarray(offset, offset + chunkBytes));
      }
    }
    return Readable.from(chunks(), { objectMode: false });
  }

  async write(
    key: string,
    body: Readable | Buffer | string,
    options: { contentType: string },
  ): Promise<BlobInfo> {
    this.#check(key);
    let data: Buffer;
    if (typeof body === 'string' || Buffer.isBuffer(body)) {
      data = Buffer.from(body);
    } else {
      // Rejects when the stream fails or is destroyed before its end; nothing is stored then.
      const parts: Buffer[] = [];
      for await (const chunk of body)
        parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
      data = Buffer.concat(parts);
    }
    this.#blobs.set(key, { data, contentType: options.contentType });
    return { key, bytes: data.length, contentType: options.contentType };
  }

  async head(key: string): Promise<BlobInfo | null> {
    this.#check(key);
    const blob = this.#blobs.get(key);
    return blob ? { key, bytes: blob.data.length, contentType: blob.contentType } : null;
  }

  async uploadUrl(
    key: string,
    options: { contentType: string; maxBytes: number; expiresInSeconds: number },
  ): Promise<SignedUrl> {
    this.#check(key);
    const params = new URLSearchParams({ op: 'put', ct: options.contentType, max: String(options.maxBytes) });
    return this.#url(key, params, options.expiresInSeconds);
  }

  async downloadUrl(key: string, options: { expiresInSeconds: number }): Promise<SignedUrl> {
    this.#check(key);
    return this.#url(key, new URLSearchParams({ op: 'get' }), options.expiresInSeconds);
  }

  #url(key: string, params: URLSearchParams, expiresInSeconds: number): SignedUrl {
    const expiresMs = this.#now() + expiresInSeconds * 1000;
    params.set('exp', String(expiresMs));
    const path = key.split('/').map(encodeURIComponent).join('/');
    return { url: `memory://blobs/${path}?${params}`, expiresAt: new Date(expiresMs).toISOString() };
  }

  // Test conveniences, outside the port.

  /** Stores a blob at once. */
  put(key: string, data: Buffer | string, contentType: string | null = null): void {
    this.#check(key);
    this.#blobs.set(key, { data: Buffer.from(data), contentType });
  }

  /** The stored bytes of a blob, or undefined. */
  get(key: string): Buffer | undefined {
    return this.#blobs.get(key)?.data;
  }

  /** Every stored key, sorted. */
  keys(): string[] {
    return [...this.#blobs.keys()].sort();
  }
}
