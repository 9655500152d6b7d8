import { randomUUID } from 'node:crypto';
import { ValidationError } from '../domain/errors.ts';
import { LIMITS } from '../domain/limits.ts';
import type { BlobStore } from '../ports/blob-store.ts';

export interface Upload {
  key: string;
  url: string;
  expiresAt: string;
  maxBytes: number;
  contentType: string;
}

export interface TaskOutput {
  key: string;
  contentType: string | null;
  bytes: number | null;
  url: string;
  urlExpiresAt: string;
}

const CONTENT_TYPE =
  /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}(;\s*[a-z0-9-]+=[a-z0-9-]+)?$/i;

/** A file name made safe as the last segment of a blob key. */
function safeFileName(name: string | null | undefined): string {
  if (name === null || name === undefined) return 'file';
  const base = name.split(/[\\/]/).pop() ?? '';
  const cleaned = base
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^\.+/, '')
    .slice(0, 200);
  if (cleaned.length === 0)
    throw ValidationError.single('fileName', 'has no usable characters (letters, digits, ".", "_", "-")');
  return cleaned;
}

/** createUploadUrl: a fresh key under uploads/ and a signed PUT URL for it. */
export function makeCreateUploadUrl(deps: { blobs: BlobStore }) {
  return async function createUploadUrl(
    contentType: string,
    fileName: string | null | undefined,
  ): Promise<Upload> {
    if (typeof contentType !== 'string' || !CONTENT_TYPE.test(contentType)) {
      throw ValidationError.single('contentType', 'must be a media type such as "image/png" or "text/csv"');
    }
    const key = `uploads/${randomUUID()}/${safeFileName(fileName)}`;
    const signed = await deps.blobs.uploadUrl(key, {
      contentType,
      maxBytes: LIMITS.maxUploadBytes,
      expiresInSeconds: LIMITS.uploadUrlSeconds,
    });
    return { key, ...signed, maxBytes: LIMITS.maxUploadBytes, contentType };
  };
}

/**
 * Task.outputs: the files a task's result lists under `outputs` (the convention of the built-in
 * types), each with a download URL. Only keys under the task's own output prefix are signed, so a
 * result cannot hand out URLs to other blobs.
 */
export function makeTaskOutputs(deps: { blobs: BlobStore }) {
  return async function taskOutputs(task: {
    id: string;
    result: string | null;
  }): Promise<TaskOutput[] | null> {
    if (!task.result) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(task.result);
    } catch {
      return null;
    }
    const outputs = (parsed as { outputs?: unknown } | null)?.outputs;
    if (!Array.isArray(outputs)) return null;
    const prefix = `outputs/${task.id}/`;
    const listed = outputs.filter(
      (o): o is { key: string; contentType?: unknown; bytes?: unknown } =>
        typeof o === 'object' && o !== null && typeof o.key === 'string' && o.key.startsWith(prefix),
    );
    return Promise.all(
      listed.map(async (o) => {
        const signed = await deps.blobs.downloadUrl(o.key, { expiresInSeconds: LIMITS.downloadUrlSeconds });
        return {
          key: o.key,
          contentType: typeof o.contentType === 'string' ? o.contentType : null,
          bytes: typeof o.bytes === 'number' ? o.bytes : null,
          url: signed.url,
          urlExpiresAt: signed.expiresAt,
        };
      }),
    );
  };
}
