import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BlobStore } from '../../src/ports/blob-store.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** What a contract run cannot check, and why; each entry skips the tests that depend on it. */
export interface BlobStoreContractLimits {
  /**
   * Set when the server behind the store's URLs does not check signatures or expiry (an emulator
   * that accepts any presigned URL). The reason is printed in the skipped tests' names.
   */
  urlsNotVerified?: string;
  /**
   * Set, with the bug's description, while the store wrongly reports a key that is only a prefix
   * of other keys (`a/b` when `a/b/c.txt` exists) as a blob. The test then runs as `it.fails`, so it
   * turns red once the bug is fixed and this entry should go.
   */
}

/** All of a stream's bytes. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** A short, comparable fingerprint of some bytes, so a mismatch of megabytes reads as one line. */
export function fingerprint(bytes: Buffer): { bytes: number; sha256: string } {
  return { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** A stream of `data` in `chunkBytes` pieces, each yielded on its own turn as a network source would. */
function chunked(data: Buffer, chunkBytes: number): Readable {
  return Readable.from(
    (async function* () {
      for (let at = 0; at < data.length; at += chunkBytes) {
        await Promise.resolve();
        yield data.subarray(at, at + chunkBytes);
      }
    })(),
    { objectMode: false },
  );
}

/** A stream that yields `beforeFailing` bytes in chunks, then fails with `error`. */
function failingAfter(beforeFailing: number, error: Error): Readable {
  const data = randomBytes(beforeFailing);
  return Readable.from(
    (async function* () {
      for (let at = 0; at < data.length; at += 64 * KiB) {
        await Promise.resolve();
        yield data.subarray(at, at + 64 * KiB);
      }
      throw error;
    })(),
    { objectMode: false },
  );
}

/**
 * The BlobStore port's contract, written against the interface only, so the local folder store
 * and S3 run the same suite. `setup` gives an empty store whose URLs can be fetched from this
 * process. `limits` names what the backing server cannot check (see BlobStoreContractLimits).
 */
export function describeBlobStoreContract(
  name: string,
  setup: () => Promise<{ store: BlobStore; teardown(): Promise<void> }>,
  limits: BlobStoreContractLimits = {},
): void {
  describe(`BlobStore contract: ${name}`, () => {
    let store: BlobStore;
    let teardown: () => Promise<void>;

    beforeEach(async () => {
      const made = await setup();
      store = made.store;
      teardown = () => made.teardown();
    });

    afterEach(async () => {
      await teardown();
    });

    describe('write, read and head', () => {
      it('reads back a written Buffer byte for byte, including zero and high bytes', async () => {
        const data = Buffer.concat([Buffer.from([0, 255, 10, 13, 0]), randomBytes(4 * KiB)]);

        const info = await store.write('inputs/data.bin', data, { contentType: 'application/octet-stream' });
        const back = await readAll(await store.read('inputs/data.bin'));

        expect(info).toEqual({
          key: 'inputs/data.bin',
          bytes: data.length,
          contentType: 'application/octet-stream',
        });
        expect(fingerprint(back)).toEqual(fingerprint(data));
      });

      it('stores a written string as its UTF-8 bytes and counts bytes, not characters', async () => {
        const text = 'naïve café — 数据 🚀\n';

        const info = await store.write('notes/today.txt', text, { contentType: 'text/plain; charset=utf-8' });
        const back = await readAll(await store.read('notes/today.txt'));

        expect(info.bytes).toBe(Buffer.byteLength(text));
        expect(info.bytes).toBeGreaterThan(text.length);
        expect(back.toString('utf8')).toBe(text);
      });

      it('streams a multi-megabyte Readable written in chunks and reads it back byte for byte', async () => {
        // Over 5 MiB, so S3 takes it as a multipart upload of more than one part.
        const data = randomBytes(6 * MiB + 123);

        const info = await store.write('big/stream.bin', chunked(data, 64 * KiB), {
          contentType: 'application/octet-stream',
        });
        const back = await readAll(await store.read('big/stream.bin'));

        expect(info.bytes).toBe(data.length);
        expect(fingerprint(back)).toEqual(fingerprint(data));
      });

      it('gives the size and content type of a blob from head', async () => {
        await store.write('report.csv', 'a,b\n1,2\n', { contentType: 'text/csv' });

        const info = await store.head('report.csv');

        expect(info).toEqual({ key: 'report.csv', bytes: 8, contentType: 'text/csv' });
      });

      it('returns null from head for a key that was never written', async () => {
        await store.write('present.txt', 'here', { contentType: 'text/plain' });

        const info = await store.head('absent.txt');

        expect(info).toBeNull();
      });

      it('rejects a read of a missing key with BlobNotFoundError', async () => {
        const reading = store.read('missing/nothing.bin');

        await expect(reading).rejects.toMatchObject({
          name: 'BlobNotFoundError',
          key: 'missing/nothing.bin',
        });
      });

      it('replaces a blob, bytes and content type, when its key is written again', async () => {
        await store.write('result.json', '{"version":1,"padding":"xxxxxxxxxxxxxxxx"}', {
          contentType: 'application/json',
        });

        await store.write('result.json', 'v2', { contentType: 'text/plain' });

        expect(await store.head('result.json')).toEqual({
          key: 'result.json',
          bytes: 2,
          contentType: 'text/plain',
        });
        expect((await readAll(await store.read('result.json'))).toString()).toBe('v2');
      });

      it('keeps nested keys apart from each other', async () => {
        await store.write('a/b/c.txt', 'deep', { contentType: 'text/plain' });
        await store.write('a/b/d.txt', 'sibling', { contentType: 'text/plain' });
        await store.write('a/c.txt', 'shallow', { contentType: 'text/plain' });

        const deep = await readAll(await store.read('a/b/c.txt'));
        const sibling = await readAll(await store.read('a/b/d.txt'));
        const shallow = await readAll(await store.read('a/c.txt'));

        expect(deep.toString()).toBe('deep');
        expect(sibling.toString()).toBe('sibling');
        expect(shallow.toString()).toBe('shallow');
        expect(await store.head('a/b/c.txt')).toMatchObject({ bytes: 4, contentType: 'text/plain' });
      });
    });

    describe('keys that are prefixes of other keys', () => {
      it('treats a key that only prefixes other keys as missing', async () => {
        await store.write('a/b/c.txt', 'deep', { contentType: 'text/plain' });

        const info = await store.head('a/b');
        const reading = await store.read('a/b').then(
          (stream) => {
            stream.destroy();
            return 'a stream';
          },
          (error: unknown) => error,
        );

        expect(info).toBeNull();
        expect(reading).toMatchObject({ name: 'BlobNotFoundError' });
      });
    });

    describe('a write whose source fails', () => {
      // Past 5 MiB, so on S3 the first part is already uploaded when the source fails; the
      // multipart upload is never completed (and is aborted), so no object appears. S3 shows an
      // object only once an upload completes, which is what makes this assertable there.
      const beforeFailing = 5 * MiB + 512 * KiB;

      it('rejects and leaves nothing under the key', async () => {
        const failure = new Error('source went away');

        const writing = store.write('upload/partial.bin', failingAfter(beforeFailing, failure), {
          contentType: 'application/octet-stream',
        });

        await expect(writing).rejects.toThrow('source went away');
        expect(await store.head('upload/partial.bin')).toBeNull();
        await expect(store.read('upload/partial.bin')).rejects.toMatchObject({ name: 'BlobNotFoundError' });
      });

      it('leaves the previous blob under the key untouched', async () => {
        await store.write('upload/kept.txt', 'the old one', { contentType: 'text/plain' });

        const writing = store.write('upload/kept.txt', failingAfter(beforeFailing, new Error('cut off')), {
          contentType: 'application/octet-stream',
        });

        await expect(writing).rejects.toThrow('cut off');
        expect(await store.head('upload/kept.txt')).toEqual({
          key: 'upload/kept.txt',
          bytes: 11,
          contentType: 'text/plain',
        });
        expect((await readAll(await store.read('upload/kept.txt'))).toString()).toBe('the old one');
      });
    });

    describe('signed URLs', () => {
      it('stores the bytes of a PUT to an upload URL with the signed content type', async () => {
        const data = randomBytes(200 * KiB);
        const signed = await store.uploadUrl('uploads/photo.png', {
          contentType: 'image/png',
          maxBytes: 1 * MiB,
          expiresInSeconds: 60,
        });

        const response = await fetch(signed.url, {
          method: 'PUT',
          headers: { 'content-type': 'image/png' },
          body: data,
        });
        await response.arrayBuffer();

        expect(response.status).toBe(200);
        expect(await store.head('uploads/photo.png')).toEqual({
          key: 'uploads/photo.png',
          bytes: data.length,
          contentType: 'image/png',
        });
        expect(fingerprint(await readAll(await store.read('uploads/photo.png')))).toEqual(fingerprint(data));
      });

      it('returns the bytes and content type of a blob from a GET of its download URL', async () => {
        const data = randomBytes(300 * KiB);
        await store.write('outputs/result.bin', data, { contentType: 'application/x-result' });
        const signed = await store.downloadUrl('outputs/result.bin', { expiresInSeconds: 60 });

        const response = await fetch(signed.url);
        const body = Buffer.from(await response.arrayBuffer());

        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toBe('application/x-result');
        expect(fingerprint(body)).toEqual(fingerprint(data));
      });

      it('round-trips a key with spaces and non-ASCII characters through both URLs', async () => {
        const key = 'dir with space/résumé #1 ü+%.txt';
        const upload = await store.uploadUrl(key, {
          contentType: 'text/plain',
          maxBytes: 1 * KiB,
          expiresInSeconds: 60,
        });

        const put = await fetch(upload.url, {
          method: 'PUT',
          headers: { 'content-type': 'text/plain' },
          body: 'odd key',
        });
        await put.arrayBuffer();
        const download = await store.downloadUrl(key, { expiresInSeconds: 60 });
        const get = await fetch(download.url);

        expect(put.status).toBe(200);
        expect(await store.head(key)).toMatchObject({ key, bytes: 7 });
        expect(get.status).toBe(200);
        expect(await get.text()).toBe('odd key');
      });

      it('gives an expiry time as far ahead as asked', async () => {
        const before = Date.now();

        const upload = await store.uploadUrl('x.txt', {
          contentType: 'text/plain',
          maxBytes: 10,
          expiresInSeconds: 900,
        });
        const download = await store.downloadUrl('x.txt', { expiresInSeconds: 300 });

        const after = Date.now();
        const uploadExpiry = Date.parse(upload.expiresAt);
        const downloadExpiry = Date.parse(download.expiresAt);
        expect(uploadExpiry).toBeGreaterThanOrEqual(before + 900_000);
        expect(uploadExpiry).toBeLessThanOrEqual(after + 900_000);
        expect(downloadExpiry).toBeGreaterThanOrEqual(before + 300_000);
        expect(downloadExpiry).toBeLessThanOrEqual(after + 300_000);
      });

      const verified = limits.urlsNotVerified === undefined;
      const limited = verified ? '' : ` [skipped: ${limits.urlsNotVerified}]`;

      it.skipIf(!verified)(`refuses upload and download URLs once they have expired${limited}`, async () => {
        await store.write('old/blob.txt', 'still here', { contentType: 'text/plain' });
        const download = await store.downloadUrl('old/blob.txt', { expiresInSeconds: 1 });
        const upload = await store.uploadUrl('old/new.txt', {
          contentType: 'text/plain',
          maxBytes: 1 * KiB,
          expiresInSeconds: 1,
        });
        // Wait until just past the later expiry. SigV4 dates are whole seconds rounded down, so a
        // presigned URL expires no later than the expiresAt the store reports.
        const lastExpiry = Math.max(Date.parse(download.expiresAt), Date.parse(upload.expiresAt));
        await sleep(Math.max(0, lastExpiry - Date.now()) + 250);

        const get = await fetch(download.url);
        await get.arrayBuffer();
        const put = await fetch(upload.url, {
          method: 'PUT',
          headers: { 'content-type': 'text/plain' },
          body: 'too late',
        });
        await put.arrayBuffer();

        expect(get.status).toBe(403);
        expect(put.status).toBe(403);
        expect(await store.head('old/new.txt')).toBeNull();
      });

      it.skipIf(!verified)(`refuses an upload URL whose key was changed${limited}`, async () => {
        const signed = await store.uploadUrl('mine/allowed.txt', {
          contentType: 'text/plain',
          maxBytes: 1 * KiB,
          expiresInSeconds: 60,
        });
        const forged = signed.url.replace('mine/allowed.txt', 'mine/other.txt');

        const response = await fetch(forged, {
          method: 'PUT',
          headers: { 'content-type': 'text/plain' },
          body: 'sneaky',
        });
        await response.arrayBuffer();

        expect(forged).not.toBe(signed.url);
        expect(response.status).toBe(403);
        expect(await store.head('mine/other.txt')).toBeNull();
        expect(await store.head('mine/allowed.txt')).toBeNull();
      });

      it.skipIf(!verified)(
        `refuses a PUT with another content type than the signed one${limited}`,
        async () => {
          const signed = await store.uploadUrl('typed/input.json', {
            contentType: 'application/json',
            maxBytes: 1 * KiB,
            expiresInSeconds: 60,
          });

          const response = await fetch(signed.url, {
            method: 'PUT',
            headers: { 'content-type': 'text/html' },
            body: '<script>alert(1)</script>',
          });
          await response.arrayBuffer();

          expect(response.status).toBe(403);
          expect(await store.head('typed/input.json')).toBeNull();
        },
      );
    });
  });
}
