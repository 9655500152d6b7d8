import type { Readable } from 'node:stream';

/** What the store knows about a blob. */
export interface BlobInfo {
  key: string;
  bytes: number;
  contentType: string | null;
}

/** A time-limited URL for one blob. */
export interface SignedUrl {
  url: string;
  expiresAt: string;
}

/**
 * Where task inputs and outputs live: S3 on AWS, a folder under the data folder locally. Keys are
 * validated with `assertBlobKey` before they reach an adapter. Reads and writes stream, so a 200 MB
 * file never sits in memory whole.
 */
export interface BlobStore {
  /** The blob's bytes as a stream. Throws BlobNotFoundError when there is none. */
  read(key: string): Promise<Readable>;
  /** Writes (replaces) a blob from a stream, buffer or string. Resolves once it is durable. */
  write(key: string, body: Readable | Buffer | string, options: { contentType: string }): Promise<BlobInfo>;
  /** The blob's size and type, or null when there is none. */
  head(key: string): Promise<BlobInfo | null>;
  /** A URL a client PUTs the blob to, refusing bodies over `maxBytes` or of another content type. */
  uploadUrl(
    key: string,
    options: { contentType: string; maxBytes: number; expiresInSeconds: number },
  ): Promise<SignedUrl>;
  /** A URL a client GETs the blob from. */
  downloadUrl(key: string, options: { expiresInSeconds: number }): Promise<SignedUrl>;
}
