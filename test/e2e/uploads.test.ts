import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/adapters/local/fs-blob-store.ts';
import { startRuntime, tempDataDir, type RuntimeProcess } from '../helpers/runtime-process.ts';

let rt: RuntimeProcess;
let dataDir: string;

type UploadAnswer = {
  createUploadUrl: { key: string; url: string; expiresAt: string; maxBytes: number; contentType: string };
};

async function createUpload(contentType: string, fileName?: string) {
  return rt.gql<UploadAnswer>(
    'mutation ($ct: String!, $fn: String) { createUploadUrl(contentType: $ct, fileName: $fn) { key url expiresAt maxBytes contentType } }',
    { ct: contentType, fn: fileName ?? null },
  );
}

beforeAll(async () => {
  dataDir = tempDataDir();
  rt = await startRuntime(dataDir);
});

afterAll(async () => {
  await rt?.stop();
});

describe('uploads through signed URLs', () => {
  it('createUploadUrl gives a key under uploads/ and a URL that takes a PUT of that content type', async () => {
    const { body } = await createUpload('text/csv', '../../etc/data set.csv');
    const upload = body.data!.createUploadUrl;
    expect(upload.key).toMatch(/^uploads\/[0-9a-f-]{36}\/data_set\.csv$/);
    expect(upload.contentType).toBe('text/csv');
    expect(Date.parse(upload.expiresAt)).toBeGreaterThan(Date.now());

    const put = await fetch(upload.url, {
      method: 'PUT',
      headers: { 'content-type': 'text/csv' },
      body: 'a,b\n1,2\n',
    });

    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({ key: upload.key, bytes: 8 });
    const stored = await new FsBlobStore(dataDir, { baseUrl: () => '' }).head(upload.key);
    expect(stored).toEqual({ key: upload.key, bytes: 8, contentType: 'text/csv' });
  });

  it('refuses a PUT with another content type, a tampered signature or a traversal key, and stores nothing', async () => {
    const upload = (await createUpload('image/png', 'a.png')).body.data!.createUploadUrl;
    const wrongType = await fetch(upload.url, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    const tampered = await fetch(upload.url.replace(/sig=[^&]+/, 'sig=AAAA'), {
      method: 'PUT',
      headers: { 'content-type': 'image/png' },
      body: 'x',
    });
    const traversal = await fetch(upload.url.replace(/\/blobs\/[^?]+/, '/blobs/..%2F..%2Fapi-key'), {
      method: 'PUT',
      headers: { 'content-type': 'image/png' },
      body: 'x',
    });

    expect([wrongType.status, tampered.status, traversal.status]).toEqual([403, 403, 403]);
    expect(((await wrongType.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toContain(
      'image/png',
    );
    expect(await new FsBlobStore(dataDir, { baseUrl: () => '' }).head(upload.key)).toBeNull();
  });

  it('refuses an upload over the size the URL allows, keeps nothing, and an expired URL', async () => {
    const signer = new FsBlobStore(dataDir, { baseUrl: () => rt.url.replace(/\/graphql$/, '') });
    const small = await signer.uploadUrl('uploads/test/small.bin', {
      contentType: 'application/octet-stream',
      maxBytes: 10,
      expiresInSeconds: 60,
    });
    const expired = await signer.uploadUrl('uploads/test/late.bin', {
      contentType: 'application/octet-stream',
      maxBytes: 10,
      expiresInSeconds: -1,
    });

    const tooBig = await fetch(small.url, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(11),
    });
    const late = await fetch(expired.url, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(1),
    });

    expect(tooBig.status).toBe(413);
    expect(await signer.head('uploads/test/small.bin')).toBeNull();
    expect(late.status).toBe(403);
    expect(((await late.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toMatch(
      /expired/,
    );
  });

  it('refuses a content type that is not a media type with a ValidationError', async () => {
    const { body } = await createUpload('not a type');
    expect(body.errors?.[0]).toMatchObject({ errorType: 'ValidationError' });
    expect(String(body.errors?.[0]?.message)).toMatch(/contentType/);
  });
});
