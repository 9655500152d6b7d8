import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { FsBlobStore } from '../../src/adapters/local/fs-blob-store.ts';
import { S3BlobStore } from '../../src/adapters/s3/s3-blob-store.ts';
import { serveBlob } from '../../src/local/server.ts';
import { recordingLogger } from '../helpers/contract-fixtures.ts';
import { describeBlobStoreContract, fingerprint, readAll } from './blob-store-contract.ts';

/**
 * An FsBlobStore in a fresh data folder whose URLs are served as the local runtime serves them:
 * `/blobs/*` goes to the runtime's own `serveBlob`, everything else is a 404.
 */
async function servedFsBlobStore(): Promise<{
  store: FsBlobStore;
  dataDir: string;
  baseUrl: string;
  teardown(): Promise<void>;
}> {
  const dataDir = mkdtempSync(join(tmpdir(), 'blob-store-'));
  let baseUrl = '';
  const store = new FsBlobStore(dataDir, { baseUrl: () => baseUrl });
  const logger = recordingLogger();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
    if (!url.pathname.startsWith('/blobs/')) {
      res.writeHead(404).end();
      return;
    }
    serveBlob(store, req, res, url, logger).catch((error: unknown) => {
      logger.error('serveBlob failed', { error: String(error) });
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the blob server has no port');
  baseUrl = `http://127.0.0.1:${address.port}`;
  return {
    store,
    dataDir,
    baseUrl,
    async teardown() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

describeBlobStoreContract('FsBlobStore served by the local /blobs route', async () => {
  const { store, teardown } = await servedFsBlobStore();
  return { store, teardown };
});

let fauxqs: FauxqsServer;
let s3: S3Client;

beforeAll(async () => {
  fauxqs = await startFauxqs({ port: 0, logger: false });
  s3 = new S3Client({
    region: 'us-east-1',
    endpoint: fauxqs.address,
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});

afterAll(async () => {
  s3?.destroy();
  await fauxqs?.stop();
});

describeBlobStoreContract(
  'S3BlobStore on fauxqs S3',
  async () => {
    const bucket = `blobs-${randomUUID()}`;
    fauxqs.createBucket(bucket);
    return {
      store: new S3BlobStore(s3, bucket),
      teardown: async () => fauxqs.emptyBucket(bucket),
    };
  },
  {
    // fauxqs serves presigned URLs without checking X-Amz-Signature, X-Amz-Date/X-Amz-Expires or
    // the signed content-type header (fauxqs 2.4.1 has no SigV4 verification at all), so refusals
    // of expired, re-pointed or wrongly typed URLs can only be shown against the local store.
    urlsNotVerified: 'fauxqs does not verify presigned signatures or expiry',
  },
);

/** A PUT sent with chunked transfer encoding (no content-length), as a streaming client sends it. */
function putChunked(
  url: string,
  contentType: string,
  chunks: Buffer[],
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'PUT', headers: { 'content-type': contentType } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
      res.on('error', reject);
    });
    // The server may answer before it has read everything; that is not a client failure here.
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

describe('the local /blobs route', () => {
  let served: Awaited<ReturnType<typeof servedFsBlobStore>>;

  beforeEach(async () => {
    served = await servedFsBlobStore();
  });

  afterEach(async () => {
    await served.teardown();
  });

  it('refuses with 403 a PUT whose content type differs from the signed one, and stores nothing', async () => {
    const signed = await served.store.uploadUrl('in/data.csv', {
      contentType: 'text/csv',
      maxBytes: 1024,
      expiresInSeconds: 60,
    });

    const response = await fetch(signed.url, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'a,b\n',
    });
    const body = (await response.json()) as { errors: Array<{ errorType: string }> };

    expect(response.status).toBe(403);
    expect(body.errors[0]?.errorType).toBe('AccessDenied');
    expect(await served.store.head('in/data.csv')).toBeNull();
  });

  it('accepts a body of exactly maxBytes', async () => {
    const data = randomBytes(4096);
    const signed = await served.store.uploadUrl('in/exact.bin', {
      contentType: 'application/octet-stream',
      maxBytes: 4096,
      expiresInSeconds: 60,
    });

    const response = await fetch(signed.url, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: data,
    });
    await response.arrayBuffer();

    expect(response.status).toBe(200);
    expect(fingerprint(await readAll(await served.store.read('in/exact.bin')))).toEqual(fingerprint(data));
  });

  it('refuses with 413 a body whose declared length is over maxBytes, and stores nothing', async () => {
    const signed = await served.store.uploadUrl('in/big.bin', {
      contentType: 'application/octet-stream',
      maxBytes: 4096,
      expiresInSeconds: 60,
    });

    const response = await fetch(signed.url, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: randomBytes(4097),
    });
    const body = (await response.json()) as { errors: Array<{ errorType: string }> };

    expect(response.status).toBe(413);
    expect(body.errors[0]?.errorType).toBe('EntityTooLarge');
    expect(await served.store.head('in/big.bin')).toBeNull();
  });

  it('refuses with 413 a streamed body without a length once it passes maxBytes, and stores nothing', async () => {
    const signed = await served.store.uploadUrl('in/streamed.bin', {
      contentType: 'application/octet-stream',
      maxBytes: 64 * 1024,
      expiresInSeconds: 60,
    });

    const response = await putChunked(
      signed.url,
      'application/octet-stream',
      Array.from({ length: 5 }, () => randomBytes(16 * 1024)),
    );

    expect(response.status).toBe(413);
    expect(JSON.parse(response.body)).toMatchObject({ errors: [{ errorType: 'EntityTooLarge' }] });
    expect(await served.store.head('in/streamed.bin')).toBeNull();
  });

  it('refuses a URL whose maxBytes was raised by hand', async () => {
    const signed = await served.store.uploadUrl('in/capped.bin', {
      contentType: 'application/octet-stream',
      maxBytes: 10,
      expiresInSeconds: 60,
    });
    const raised = new URL(signed.url);
    raised.searchParams.set('max', '1000000');

    const response = await fetch(raised, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: randomBytes(100),
    });
    await response.arrayBuffer();

    expect(response.status).toBe(403);
    expect(await served.store.head('in/capped.bin')).toBeNull();
  });

  it('refuses a download URL used to PUT', async () => {
    await served.store.write('out/report.txt', 'original', { contentType: 'text/plain' });
    const signed = await served.store.downloadUrl('out/report.txt', { expiresInSeconds: 60 });

    const response = await fetch(signed.url, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain' },
      body: 'overwritten',
    });
    await response.arrayBuffer();

    expect(response.status).toBe(403);
    expect((await readAll(await served.store.read('out/report.txt'))).toString()).toBe('original');
  });

  it('refuses with 403 an encoded ../ in the URL path and never serves the file it points at', async () => {
    // The signing key sits one level above the blobs folder: the first thing a traversal would reach.
    const signed = await served.store.downloadUrl('any.txt', { expiresInSeconds: 60 });
    const query = new URL(signed.url).search;

    const responses = await Promise.all(
      [
        '/blobs/..%2Fblob-signing-key',
        '/blobs/a/..%2F..%2Fblob-signing-key',
        '/blobs/%2E%2E%2Fblob-signing-key',
      ].map(async (path) => {
        const response = await fetch(`${served.baseUrl}${path}${query}`);
        return { path, status: response.status, body: await response.text() };
      }),
    );

    const signingKey = readFileSync(join(served.dataDir, 'blob-signing-key'), 'utf8');
    for (const response of responses) {
      expect(response, response.path).toMatchObject({ status: 403 });
      expect(response.body).not.toContain(signingKey.trim());
    }
  });
});
