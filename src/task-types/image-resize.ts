import type { Readable } from 'node:stream';
import type { Metadata, OutputInfo, Sharp } from 'sharp';
import { z } from 'zod';
import { BlobNotFoundError, blobKeyProblem } from '../domain/blob-key.ts';
import { isErrorNamed, PermanentTaskError } from '../domain/errors.ts';
import { defineTaskType } from '../domain/task-type.ts';
import type { TaskContext, TaskTypeDefinition } from '../domain/task-type.ts';
import type { BlobInfo } from '../ports/blob-store.ts';

/** Default largest width or height a resize may ask for. */
export const MAX_IMAGE_DIMENSION = 8192;

/**
 * Default largest input, in pixels (width × height as the file declares it), that is decoded at all.
 * Checked against the header before any pixel is decoded, so a small file claiming to be huge (a
 * decompression bomb) costs nothing. 100 megapixels take about 300–400 MB once decoded.
 */
export const MAX_INPUT_PIXELS = 100_000_000;

const size = z
  .string()
  // `abort`: a value that is not WIDTHxHEIGHT gets this message alone, not the range one as well.
  .regex(/^\d{1,5}x\d{1,5}$/, { message: 'must be WIDTHxHEIGHT in pixels, e.g. "800x600"', abort: true })
  .refine((value) => {
    const [w, h] = value.split('x').map(Number);
    return w! >= 1 && h! >= 1 && w! <= MAX_IMAGE_DIMENSION && h! <= MAX_IMAGE_DIMENSION;
  }, `width and height must be from 1 to ${MAX_IMAGE_DIMENSION}`);

/** The same key rule every blob store enforces, so a bad key is refused at submission, not at run time. */
const blobKey = z.string().superRefine((key, ctx) => {
  const problem = blobKeyProblem(key);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const outputFormats = ['jpeg', 'png', 'webp', 'avif'] as const;

export const imageResizePayloadSchema = z
  .object({
    image: blobKey,
    size: size.optional(),
    sizes: z.array(size).min(1).max(10).optional(),
    fit: z.enum(['cover', 'contain', 'fill', 'inside', 'outside']).optional(),
    format: z.enum(outputFormats).optional(),
    quality: z.number().int().min(1).max(100).optional(),
  })
  .strict()
  .refine((p) => (p.size === undefined) !== (p.sizes === undefined), {
    message: 'give exactly one of "size" or "sizes"',
  });

export type ImageResizePayload = z.output<typeof imageResizePayloadSchema>;
export type ImageOutputFormat = (typeof outputFormats)[number];

/** One stored output. `key`, `contentType` and `bytes` are the fields every blob-producing task reports. */
export interface ImageResizeOutput {
  key: string;
  /** Real dimensions of the stored image (with `inside`/`outside` they differ from the requested size). */
  width: number;
  height: number;
  format: ImageOutputFormat;
  bytes: number;
  contentType: string;
}

export interface ImageResizeResult {
  outputs: ImageResizeOutput[];
}

export interface ImageResizeOptions {
  /** Inputs declaring more pixels than this fail with IMAGE_TOO_LARGE (default MAX_INPUT_PIXELS). */
  maxInputPixels?: number;
}

const CONTENT_TYPES: Record<ImageOutputFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  avif: 'image/avif',
};

const EXTENSIONS: Record<ImageOutputFormat, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', avif: 'avif' };

/** The output format when the payload names none: the input's own when it is one we write, else PNG. */
function defaultFormat(metadata: Metadata): ImageOutputFormat {
  if (metadata.format === 'jpeg' || metadata.format === 'png' || metadata.format === 'webp')
    return metadata.format;
  // libvips reports AVIF as HEIF with AV1 compression.
  if (metadata.format === 'heif' && metadata.compression === 'av1') return 'avif';
  return 'png';
}

function joinKey(prefix: string, name: string): string {
  return prefix === '' || prefix.endsWith('/') ? `${prefix}${name}` : `${prefix}/${name}`;
}

function firstLine(error: Error): string {
  return error.message.split('\n')[0] ?? error.message;
}

function inputNotFound(key: string, cause?: unknown): PermanentTaskError {
  return new PermanentTaskError(
    `Image "${key}" does not exist (it may have expired, or its upload never finished).`,
    { code: 'INPUT_NOT_FOUND', cause },
  );
}

function tooLarge(key: string, maxInputPixels: number, cause: unknown): PermanentTaskError {
  return new PermanentTaskError(
    `Image "${key}" declares more than ${maxInputPixels.toLocaleString('en-US')} pixels, the most this task decodes.`,
    { code: 'IMAGE_TOO_LARGE', cause },
  );
}

const PIXEL_LIMIT = /exceeds pixel limit/i;
/** libvips running out of memory is a property of this machine at this moment, not of the image. */
const RESOURCE_EXHAUSTED = /out of memory|cannot allocate|memory allocation/i;

/** Maps a sharp error raised while reading the header onto the task's error. */
function headerError(key: string, maxInputPixels: number, error: Error): Error {
  if (PIXEL_LIMIT.test(error.message)) return tooLarge(key, maxInputPixels, error);
  if (RESOURCE_EXHAUSTED.test(error.message)) return error;
  return new PermanentTaskError(
    `Blob "${key}" is not an image in a format this task can read (JPEG, PNG, WebP, AVIF/HEIF, GIF, TIFF or SVG): ${firstLine(error)}.`,
    { code: 'NOT_AN_IMAGE', cause: error },
  );
}

/** Maps a sharp error raised while decoding, resizing or encoding onto the task's error. */
function processingError(key: string, maxInputPixels: number, error: Error): Error {
  if (PIXEL_LIMIT.test(error.message)) return tooLarge(key, maxInputPixels, error);
  if (RESOURCE_EXHAUSTED.test(error.message)) return error;
  return new PermanentTaskError(
    `Image "${key}" is damaged or truncated and cannot be decoded: ${firstLine(error)}.`,
    {
      code: 'CORRUPT_IMAGE',
      cause: error,
    },
  );
}

function parseSize(value: string): { width: number; height: number } {
  const [width, height] = value.split('x').map(Number);
  return { width: width!, height: height! };
}

/**
 * Runs `work` until it settles, or rejects as soon as `stop` does (abort, or the input stream failing).
 * The losing promise is left to settle on its own; its streams are destroyed by the caller.
 */
function until<T>(work: Promise<T>, stop: Promise<never>): Promise<T> {
  return Promise.race([work, stop]);
}

async function resizeImage(
  payload: ImageResizePayload,
  ctx: TaskContext,
  maxInputPixels: number,
): Promise<ImageResizeResult> {
  const { signal } = ctx;
  const key = payload.image;
  signal.throwIfAborted();

  const existing = await ctx.blobs.head(key);
  if (!existing) throw inputNotFound(key);
  signal.throwIfAborted();
  let input: Readable;
  try {
    input = await ctx.blobs.read(key);
  } catch (error) {
    // Deleted between head and read.
    if (isErrorNamed(error, BlobNotFoundError)) throw inputNotFound(key, error);
    throw error;
  }

  // Duplicate sizes would write the same key twice; each size is produced once, in the order given.
  const sizes = [...new Set(payload.sizes ?? [payload.size!])];
  const fit = payload.fit ?? 'inside';

  // One decoder takes the input stream; each size gets a clone of it. The clones are made before any
  // input arrives, so sharp hands each the decoder's buffered input when it finishes instead of
  // copying it. A clone decodes only when its output is read, so the sizes are decoded one at a time.
  // Loaded on first use: only processors need the native library, not the API that validates payloads.
  const { default: sharp } = await import('sharp');
  const decoder = sharp({ limitInputPixels: maxInputPixels, failOn: 'error', autoOrient: true });
  const clones = sizes.map(() => decoder.clone());
  const sharpErrors = new Map<Sharp, Error>();
  for (const s of [decoder, ...clones]) {
    // Kept for the whole life of the stream: sharp may still report a failure after we stopped.
    s.on('error', (error: Error) => {
      if (!sharpErrors.has(s)) sharpErrors.set(s, error);
    });
  }

  let onAbort = (): void => {};
  let inputFailure: unknown;
  const stop = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort(); // Aborted while the read was under way.
    input.on('error', (error) => {
      inputFailure ??= error;
      reject(error);
    });
  });
  stop.catch(() => {}); // Observed through until(); never an unhandled rejection.

  try {
    input.pipe(decoder);
    let metadata: Metadata;
    try {
      metadata = await until(decoder.metadata(), stop);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      // A failing input stream is the store's problem and is retried; anything else came from sharp.
      if (inputFailure !== undefined || !(error instanceof Error)) throw error;
      throw headerError(key, maxInputPixels, error);
    }

    const format = payload.format ?? defaultFormat(metadata);
    const contentType = CONTENT_TYPES[format];
    const outputs: ImageResizeOutput[] = [];
    for (const [i, requested] of sizes.entries()) {
      signal.throwIfAborted();
      const clone = clones[i]!;
      const { width, height } = parseSize(requested);
      const opaque = format === 'jpeg';
      // JPEG has no alpha: transparent areas and `contain` bars become white rather than black.
      const background = opaque ? { r: 255, g: 255, b: 255, alpha: 1 } : { r: 0, g: 0, b: 0, alpha: 0 };
      clone.resize(width, height, { fit, background });
      if (opaque) clone.flatten({ background });
      // PNG is lossless here: `quality` on PNG would switch to a lossy palette, so it is not passed on.
      clone.toFormat(
        format,
        format === 'png' || payload.quality === undefined ? {} : { quality: payload.quality },
      );

      const produced = new Promise<OutputInfo>((resolve) => clone.once('info', resolve));
      const outputKey = joinKey(ctx.outputPrefix, `${requested}.${EXTENSIONS[format]}`);
      let stored: BlobInfo;
      let outputInfo: OutputInfo;
      try {
        [stored, outputInfo] = await until(
          Promise.all([ctx.blobs.write(outputKey, clone, { contentType }), produced]),
          stop,
        );
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        const sharpError = sharpErrors.get(clone);
        // A store failure (write or read) is thrown as it is and retried; a sharp failure is the image's.
        if (sharpError) throw processingError(key, maxInputPixels, sharpError);
        throw error;
      }
      outputs.push({
        key: outputKey,
        width: outputInfo.width,
        height: outputInfo.height,
        format,
        bytes: stored.bytes,
        contentType,
      });
      ctx.logger.debug('image resized', {
        key: outputKey,
        width: outputInfo.width,
        height: outputInfo.height,
      });
      ctx.progress((i + 1) / sizes.length, `resized ${requested}`);
    }
    return { outputs };
  } finally {
    signal.removeEventListener('abort', onAbort);
    input.unpipe(decoder);
    input.destroy();
    for (const s of [decoder, ...clones]) s.destroy();
  }
}

/** IMAGE_RESIZE with its limits chosen; `imageResizeTaskType` uses the defaults. */
export function createImageResizeTaskType(
  options: ImageResizeOptions = {},
): TaskTypeDefinition<typeof imageResizePayloadSchema, ImageResizeResult> {
  const maxInputPixels = options.maxInputPixels ?? MAX_INPUT_PIXELS;
  if (!Number.isSafeInteger(maxInputPixels) || maxInputPixels < 1) {
    throw new RangeError(`maxInputPixels must be a positive integer, got ${maxInputPixels}`);
  }
  return defineTaskType({
    name: 'IMAGE_RESIZE',
    description: 'Resize an uploaded image to one or more sizes (sharp).',
    payloadSchema: imageResizePayloadSchema,
    defaults: { maxAttempts: 3, timeoutSeconds: 120 },
    handler: (payload, ctx) => resizeImage(payload, ctx, maxInputPixels),
  });
}

/**
 * IMAGE_RESIZE: resize a stored image to one or more sizes, writing each under the task's output
 * prefix. See docs/task-types.md.
 */
export const imageResizeTaskType = createImageResizeTaskType();
