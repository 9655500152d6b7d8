import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlobNotFoundError, blobKeyProblem } from '../../domain/blob-key.ts';
import type { BlobInfo, BlobStore, SignedUrl } from '../../ports/blob-store.ts';

/** What a signed local URL allows. */
export interface BlobGrant {
  op: 'put' | 'get';
  key: string;
  expiresMs: number;
  contentType?: string;
  maxBytes?: number;
}

function isoAt(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * The local twin of S3: blobs are files under `<dataDir>/blobs`, each with a small metadata file
 * beside it (content type). Writes go to a temporary file, are flushed to disk and then renamed,
 * so a crash never leaves a half-written blob under a real key. Upload and download URLs point at
 * the local server and carry an HMAC signature and an expiry, like presigned S3 URLs; the signing
 * key lives in the data folder. Where it differs from S3: no multipart uploads, no versions.
 */
export class FsBlobStore implements BlobStore {
  readonly root: string;
  readonly #key: Buffer;
  readonly #baseUrl: () => string;

  constructor(dataDir: string, options: { baseUrl: () => string }) {
    this.root = resolve(dataDir, 'blobs');
    mkdirSync(join(this.root, '.tmp'), { recursive: true });
    const keyFile = join(dataDir, 'blob-signing-key');
    if (!existsSync(keyFile))
      writeFileSync(keyFile, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
    this.#key = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'hex');
    this.#baseUrl = options.baseUrl;
  }

  /** The file of a key; the key rule keeps every path inside the root, and this checks it again. */
  #path(key: string): string {
    const problem = blobKeyProblem(key);
    if (problem) throw new Error(`Invalid blob key "${key}": ${problem}`);
    const path = resolve(this.root, key);
    const rel = relative(this.root, path);
    // .tmp (unfinished writes) and .meta (content types) belong to the store, not to keys.
    if (rel.startsWith('..') || ['.tmp', '.meta'].includes(rel.split(sep)[0]!)) {
      throw new Error(`Invalid blob key "${key}"`);
    }
    return path;
  }

  #metaPath(key: string): string {
    return join(this.root, '.meta', `${key}.json`);
  }

  async read(key: string): Promise<Readable> {
    const path = this.#path(key);
    try {
      const handle = await open(path, 'r');
      // A folder (the parent of other keys) is not a blob, as on S3.
      if (!(await handle.stat()).isFile()) {
        await handle.close();
        throw new BlobNotFoundError(key);
      }
      return handle.createReadStream();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(key);
      throw error;
    }
  }

  async write(
    key: string,
    body: Readable | Buffer | string,
    options: { contentType: string },
  ): Promise<BlobInfo> {
    const path = this.#path(key);
    const temp = join(this.root, '.tmp', randomUUID());
    try {
      const source =
        typeof body === 'string' || Buffer.isBuffer(body) ? Readable.from([Buffer.from(body)]) : body;
      await pipeline(source, createWriteStream(temp));
      const handle = await open(temp, 'r+');
      await handle.sync();
      await handle.close();
      mkdirSync(dirname(path), { recursive: true });
      await rename(temp, path);
      // The type is written after the bytes, atomically too; a crash between the two leaves the new
      // bytes with the previous type (or none), never a half-written file.
      const metaTemp = join(this.root, '.tmp', randomUUID());
      await writeFile(metaTemp, JSON.stringify({ contentType: options.contentType }));
      mkdirSync(dirname(this.#metaPath(key)), { recursive: true });
      await rename(metaTemp, this.#metaPath(key));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    const { size } = await stat(path);
    return { key, bytes: size, contentType: options.contentType };
  }

  async head(key: string): Promise<BlobInfo | null> {
    const path = this.#path(key);
    try {
      const info = await stat(path);
      if (!info.isFile()) return null;
      const size = info.size;
      let contentType: string | null = null;
      try {
        contentType =
          (JSON.parse(await readFile(this.#metaPath(key), 'utf8')) as { contentType?: string }).contentType ??
          null;
      } catch {
        // A blob without metadata has no recorded type.
      }
      return { key, bytes: size, contentType };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  #sign(grant: BlobGrant): string {
    const text = [grant.op, grant.key, grant.expiresMs, grant.contentType ?? '', grant.maxBytes ?? ''].join(
      '\n',
    );
    return createHmac('sha256', this.#key).update(text).digest('base64url');
  }

  #url(grant: BlobGrant): SignedUrl {
    const params = new URLSearchParams({ op: grant.op, exp: String(grant.expiresMs) });
    if (grant.contentType !== undefined) params.set('ct', grant.contentType);
    if (grant.maxBytes !== undefined) params.set('max', String(grant.maxBytes));
    params.set('sig', this.#sign(grant));
    const path = grant.key.split('/').map(encodeURIComponent).join('/');
    return { url: `${this.#baseUrl()}/blobs/${path}?${params}`, expiresAt: isoAt(grant.expiresMs) };
  }

  async uploadUrl(
    key: string,
    options: { contentType: string; maxBytes: number; expiresInSeconds: number },
  ): Promise<SignedUrl> {
    this.#path(key);
    return this.#url({
      op: 'put',
      key,
      expiresMs: Date.now() + options.expiresInSeconds * 1000,
      contentType: options.contentType,
      maxBytes: options.maxBytes,
    });
  }

  async downloadUrl(key: string, options: { expiresInSeconds: number }): Promise<SignedUrl> {
    this.#path(key);
    return this.#url({ op: 'get', key, expiresMs: Date.now() + options.expiresInSeconds * 1000 });
  }

  /**
   * Checks a request to a signed URL. Returns the grant, or why it is refused (a message for the
   * client). Used by the local server's /blobs route.
   */
  verify(
    method: string,
    pathname: string,
    params: URLSearchParams,
    nowMs: number,
  ): BlobGrant | { refused: string } {
    const rawOp = params.get('op');
    const op = rawOp === 'put' || rawOp === 'get' ? rawOp : null;
    const key = pathname
      .replace(/^\/blobs\//, '')
      .split('/')
      .map((s) => {
        try {
          return decodeURIComponent(s);
        } catch {
          return '\u0000';
        }
      })
      .join('/');
    if (blobKeyProblem(key)) return { refused: 'The blob key in the URL is not valid.' };
    if (
      (op === 'put' && method !== 'PUT') ||
      (op === 'get' && method !== 'GET' && method !== 'HEAD') ||
      !op
    ) {
      return { refused: `This URL allows ${op === 'put' ? 'PUT' : 'GET'} only.` };
    }
    const grant: BlobGrant = {
      op,
      key,
      expiresMs: Number(params.get('exp')),
      ...(params.has('ct') ? { contentType: params.get('ct')! } : {}),
      ...(params.has('max') ? { maxBytes: Number(params.get('max')) } : {}),
    };
    const given = Buffer.from(params.get('sig') ?? '');
    const expected = Buffer.from(this.#sign(grant));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { refused: 'The URL signature does not match; ask the API for a new URL.' };
    }
    if (!(grant.expiresMs > nowMs)) return { refused: 'The URL has expired; ask the API for a new one.' };
    return grant;
  }

  /** A read stream of a whole file, for the server's GET route. */
  stream(key: string): Readable {
    return createReadStream(this.#path(key));
  }
}
