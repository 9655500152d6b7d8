import { ValidationError } from './errors.ts';

/** Longest blob key (S3 allows 1024 bytes). */
export const MAX_BLOB_KEY_LENGTH = 1024;

/** Raised when a task names a blob that does not exist; a permanent task error where it matters. */
export class BlobNotFoundError extends Error {
  readonly key: string;
  constructor(key: string) {
    super(`No blob with key "${key}" exists (it may have expired, or the upload never finished).`);
    this.name = 'BlobNotFoundError';
    this.key = key;
  }
}

/**
 * Why `key` is not a safe blob key, or null when it is. Keys are relative paths of plain segments:
 * no leading slash, no `.` or `..` segment, no backslash or control character, no empty segment.
 * The same rule holds for S3 and for the local folder, so no key can escape its folder locally.
 */
export function blobKeyProblem(key: unknown): string | null {
  if (typeof key !== 'string' || key.length === 0) return 'must be a non-empty string';
  if (Buffer.byteLength(key) > MAX_BLOB_KEY_LENGTH) return `must be at most ${MAX_BLOB_KEY_LENGTH} bytes`;
  if (key.startsWith('/')) return 'must be relative (no leading "/")';
  if (key.includes('\\')) return 'must not contain "\\"';
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'must not contain control characters';
  const segments = key.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..'))
    return 'must not contain empty, "." or ".." segments';
  return null;
}

/** Throws ValidationError at `path` unless `key` is a safe blob key. */
export function assertBlobKey(key: unknown, path: string): asserts key is string {
  const problem = blobKeyProblem(key);
  if (problem) throw ValidationError.single(path, problem);
}
