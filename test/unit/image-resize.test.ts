import { PassThrough, Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import type { Metadata, Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { BlobNotFoundError } from '../../src/domain/blob-key.ts';
import type { Logger, TaskContext } from '../../src/domain/task-type.ts';
import type { BlobStore } from '../../src/ports/blob-store.ts';
import {
  createImageResizeTaskType,
  imageResizePayloadSchema,
  imageResizeTaskType,
  MAX_IMAGE_DIMENSION,
  MAX_INPUT_PIXELS,
} from '../../src/task-types/image-resize.ts';
import type { ImageResizeResult } from '../../src/task-types/image-resize.ts';
import { MemoryBlobStore } from '../helpers/memory-blob-store.ts';
import { permanentFailureOf } from '../helpers/failures.ts';

const PREFIX = 'outputs/task-1/';

const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};

interface Harness {
  ctx: TaskContext;
  controller: AbortController;
  progress: Array<[number, string | undefined]>;
}

function harness(blobs: BlobStore, onProgress?: (fraction: number) => void): Harness {
  const controller = new AbortController();
  const progress: Array<[number, string | undefined]> = [];
  const ctx: TaskContext = {
    blobs,
    outputPrefix: PREFIX,
    taskId: 'task-1',
    attempt: 1,
    maxAttempts: 3,
    signal: controller.signal,
    progress(fraction, message) {
      progress.push([fraction, message]);
      onProgress?.(fraction);
    },
    logger: silentLogger,
  };
  return { ctx, controller, progress };
}

/** Parses the payload as the registry would, then runs the handler. */
async function resize(
  payload: unknown,
  ctx: TaskContext,
  taskType = imageResizeTaskType,
): Promise<ImageResizeResult> {
  return taskType.handler(imageResizePayloadSchema.parse(payload), ctx);
}

function solid(width: number, height: number, channels: 3 | 4 = 3): Sharp {
  const background = channels === 4 ? { r: 200, g: 30, b: 30, alpha: 0 } : { r: 200, g: 30, b: 30 };
  return sharp({ create: { width, height, channels, background } });
}

/** Gaussian noise compresses badly, so encoder settings show in the byte count. */
function noise(width: number, height: number): Sharp {
  return sharp({
    create: {
      width,
      height,
      channels: 3,
      background: '#808080',
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
    },
  });
}

async function storeWith(key: string, image: Sharp | Buffer): Promise<MemoryBlobStore> {
  const store = new MemoryBlobStore();
  store.put(key, Buffer.isBuffer(image) ? image : await image.toBuffer());
  return store;
}

async function decoded(store: MemoryBlobStore, key: string): Promise<Metadata> {
  const data = store.get(key);
  if (!data) throw new Error(`no blob ${key}`);
  return sharp(data).metadata();
}

/** A 1x1 PNG whose header is rewritten to claim width x height (CRC fixed, so it is a valid header). */
async function pngClaiming(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await solid(1, 1).png().toBuffer());
  // Signature (8) + IHDR length (4) + "IHDR" (4), then width and height; the CRC covers type and data.
  expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

describe('IMAGE_RESIZE resizing', () => {
  it('resizes to one size inside the box, keeping the aspect ratio, and reports the stored output', async () => {
    const store = await storeWith('in/photo.png', solid(1600, 1200).png());
    const { ctx, progress } = harness(store);

    const result = await resize({ image: 'in/photo.png', size: '800x800' }, ctx);

    const key = `${PREFIX}800x800.png`;
    expect(result).toEqual({
      outputs: [
        {
          key,
          width: 800,
          height: 600,
          format: 'png',
          bytes: store.get(key)!.length,
          contentType: 'image/png',
        },
      ],
    });
    const meta = await decoded(store, key);
    expect([meta.width, meta.height, meta.format]).toEqual([800, 600, 'png']);
    expect(await store.head(key)).toMatchObject({ contentType: 'image/png' });
    expect(progress).toEqual([[1, 'resized 800x800']]);
  });

  it.each([
    ['inside', 800, 600],
    ['outside', 1067, 800],
    ['fill', 800, 800],
    ['cover', 800, 800],
    ['contain', 800, 800],
  ] as const)('with fit %s turns 1600x1200 into %ix%i for 800x800', async (fit, width, height) => {
    const store = await storeWith('photo.png', solid(1600, 1200).png());
    const { ctx } = harness(store);

    const { outputs } = await resize({ image: 'photo.png', size: '800x800', fit }, ctx);

    expect(outputs.map((o) => [o.width, o.height])).toEqual([[width, height]]);
    const meta = await decoded(store, outputs[0]!.key);
    expect([meta.width, meta.height]).toEqual([width, height]);
  });

  it('produces several sizes in one task, in the order given, reporting progress per output', async () => {
    const store = await storeWith('photo.jpg', solid(1600, 1200).jpeg());
    const { ctx, progress } = harness(store);

    const { outputs } = await resize({ image: 'photo.jpg', sizes: ['800x600', '400x400', '100x50'] }, ctx);

    expect(outputs.map((o) => [o.key, o.width, o.height])).toEqual([
      [`${PREFIX}800x600.jpg`, 800, 600],
      [`${PREFIX}400x400.jpg`, 400, 300],
      [`${PREFIX}100x50.jpg`, 67, 50],
    ]);
    for (const output of outputs) {
      const meta = await decoded(store, output.key);
      expect([meta.width, meta.height, meta.format]).toEqual([output.width, output.height, 'jpeg']);
      expect(output.bytes).toBe(store.get(output.key)!.length);
    }
    expect(progress).toEqual([
      [1 / 3, 'resized 800x600'],
      [2 / 3, 'resized 400x400'],
      [1, 'resized 100x50'],
    ]);
  });

  it('produces a size listed twice only once', async () => {
    const store = await storeWith('photo.png', solid(40, 40).png());
    const { ctx } = harness(store);

    const { outputs } = await resize({ image: 'photo.png', sizes: ['10x10', '20x20', '10x10'] }, ctx);

    expect(outputs.map((o) => o.key)).toEqual([`${PREFIX}10x10.png`, `${PREFIX}20x20.png`]);
  });

  it('converts a PNG to WebP when asked', async () => {
    const store = await storeWith('photo.png', solid(400, 300).png());
    const { ctx } = harness(store);

    const { outputs } = await resize({ image: 'photo.png', size: '200x150', format: 'webp' }, ctx);

    expect(outputs).toEqual([
      expect.objectContaining({ key: `${PREFIX}200x150.webp`, format: 'webp', contentType: 'image/webp' }),
    ]);
    expect((await decoded(store, `${PREFIX}200x150.webp`)).format).toBe('webp');
    expect(await store.head(`${PREFIX}200x150.webp`)).toMatchObject({ contentType: 'image/webp' });
  });

  it.each([
    ['JPEG stays JPEG', (s: Sharp) => s.jpeg(), 'jpeg', 'jpg', 'jpeg'],
    ['WebP stays WebP', (s: Sharp) => s.webp(), 'webp', 'webp', 'webp'],
    ['AVIF stays AVIF', (s: Sharp) => s.avif(), 'avif', 'avif', 'heif'],
    ['GIF becomes PNG', (s: Sharp) => s.gif(), 'png', 'png', 'png'],
    ['TIFF becomes PNG', (s: Sharp) => s.tiff(), 'png', 'png', 'png'],
  ] as const)('without a format, %s', async (_name, encode, format, extension, decodedAs) => {
    const store = await storeWith('in/image', encode(solid(64, 48)));
    const { ctx } = harness(store);

    const { outputs } = await resize({ image: 'in/image', size: '32x32' }, ctx);

    expect(outputs).toEqual([expect.objectContaining({ key: `${PREFIX}32x32.${extension}`, format })]);
    expect((await decoded(store, outputs[0]!.key)).format).toBe(decodedAs);
  });

  it('writes a smaller JPEG at a lower quality', async () => {
    const store = await storeWith('noise.png', noise(400, 300).png());

    const low = await resize(
      { image: 'noise.png', size: '400x300', format: 'jpeg', quality: 20 },
      harness(store).ctx,
    );
    const high = await resize(
      { image: 'noise.png', size: '400x300', format: 'jpeg', quality: 95 },
      harness(store).ctx,
    );

    expect(low.outputs[0]!.bytes).toBeLessThan(high.outputs[0]!.bytes);
  });

  it('fills transparency and contain bars with white when writing JPEG', async () => {
    const store = await storeWith('clear.png', solid(200, 100, 4).png());
    const { ctx } = harness(store);

    const { outputs } = await resize(
      { image: 'clear.png', size: '100x100', fit: 'contain', format: 'jpeg' },
      ctx,
    );

    const { data } = await sharp(store.get(outputs[0]!.key)).raw().toBuffer({ resolveWithObject: true });
    // Top-left is a contain bar, the centre was transparent: both white (JPEG may be off by a little).
    const centre = (50 * 100 + 50) * 3;
    for (const at of [0, centre]) {
      expect([...data.subarray(at, at + 3)].every((v) => v >= 250)).toBe(true);
    }
  });

  it('turns a photo upright according to its EXIF orientation before resizing', async () => {
    // Stored landscape 200x100 with orientation 6 (rotate 90°): it is displayed as portrait 100x200.
    const rotated = await solid(200, 100).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const store = await storeWith('phone.jpg', rotated);
    const { ctx } = harness(store);

    const { outputs } = await resize({ image: 'phone.jpg', size: '50x50' }, ctx);

    expect(outputs.map((o) => [o.width, o.height])).toEqual([[25, 50]]);
  });

  it('strips EXIF metadata from its outputs', async () => {
    const tagged = await solid(40, 40)
      .jpeg()
      .withExif({ IFD0: { Copyright: 'Ada', Artist: 'Ada' } })
      .toBuffer();
    expect((await sharp(tagged).metadata()).exif).toBeDefined();
    const store = await storeWith('tagged.jpg', tagged);
    const { ctx } = harness(store);

    const { outputs } = await resize({ image: 'tagged.jpg', size: '20x20' }, ctx);

    expect((await decoded(store, outputs[0]!.key)).exif).toBeUndefined();
  });

  it('writes outputs under the prefix even when it has no trailing slash', async () => {
    const store = await storeWith('photo.png', solid(20, 20).png());
    const { ctx } = harness(store);

    const { outputs } = await resize(
      { image: 'photo.png', size: '10x10' },
      { ...ctx, outputPrefix: 'out/t9' },
    );

    expect(outputs[0]!.key).toBe('out/t9/10x10.png');
  });
});

describe('IMAGE_RESIZE failures', () => {
  it('fails permanently with INPUT_NOT_FOUND naming a missing key', async () => {
    const store = new MemoryBlobStore();
    const { ctx } = harness(store);

    const error = await permanentFailureOf(resize({ image: 'uploads/missing.png', size: '10x10' }, ctx));

    expect(error.code).toBe('INPUT_NOT_FOUND');
    expect(error.message).toContain('"uploads/missing.png" does not exist');
  });

  it('fails permanently with INPUT_NOT_FOUND when the blob vanishes between head and read', async () => {
    const store = await storeWith('photo.png', solid(20, 20).png());
    const vanishing: BlobStore = {
      ...bound(store),
      read: (key) => Promise.reject(new BlobNotFoundError(key)),
    };
    const { ctx } = harness(vanishing);

    const error = await permanentFailureOf(resize({ image: 'photo.png', size: '10x10' }, ctx));

    expect(error.code).toBe('INPUT_NOT_FOUND');
  });

  it('fails permanently with NOT_AN_IMAGE for a blob that is not an image, writing nothing', async () => {
    const store = new MemoryBlobStore();
    store.put('notes.png', 'These are meeting notes, not a picture.\n', 'image/png');
    const { ctx } = harness(store);

    const error = await permanentFailureOf(resize({ image: 'notes.png', sizes: ['10x10', '20x20'] }, ctx));

    expect(error.code).toBe('NOT_AN_IMAGE');
    expect(error.message).toMatch(/^Blob "notes.png" is not an image/);
    expect(store.keys()).toEqual(['notes.png']);
  });

  it('fails permanently with NOT_AN_IMAGE for an empty blob', async () => {
    const store = new MemoryBlobStore();
    store.put('empty.jpg', Buffer.alloc(0));
    const { ctx } = harness(store);

    const error = await permanentFailureOf(resize({ image: 'empty.jpg', size: '10x10' }, ctx));

    expect(error.code).toBe('NOT_AN_IMAGE');
  });

  it('refuses a tiny PNG that declares 30000x30000 pixels with IMAGE_TOO_LARGE, before decoding it', async () => {
    const bomb = await pngClaiming(30_000, 30_000);
    expect(bomb.length).toBeLessThan(100);
    expect(await sharp(bomb, { limitInputPixels: false }).metadata()).toMatchObject({
      width: 30_000,
      height: 30_000,
    });
    const store = await storeWith('bomb.png', bomb);
    const { ctx } = harness(store);

    const error = await permanentFailureOf(resize({ image: 'bomb.png', size: '100x100' }, ctx));

    expect(error.code).toBe('IMAGE_TOO_LARGE');
    expect(error.message).toContain(`more than ${MAX_INPUT_PIXELS.toLocaleString('en-US')} pixels`);
    expect(store.keys()).toEqual(['bomb.png']);
  });

  it('counts real pixels against the limit: exactly at it passes, one pixel over fails', async () => {
    const store = await storeWith('square.png', solid(200, 200).png());
    const atLimit = createImageResizeTaskType({ maxInputPixels: 200 * 200 });
    const belowLimit = createImageResizeTaskType({ maxInputPixels: 200 * 200 - 1 });

    const passed = await resize({ image: 'square.png', size: '10x10' }, harness(store).ctx, atLimit);
    const error = await permanentFailureOf(
      resize({ image: 'square.png', size: '10x10' }, harness(store).ctx, belowLimit),
    );

    expect(passed.outputs).toHaveLength(1);
    expect(error.code).toBe('IMAGE_TOO_LARGE');
  });

  it('fails permanently with CORRUPT_IMAGE for a truncated JPEG, storing no partial output', async () => {
    const whole = await noise(300, 300).jpeg().toBuffer();
    const store = await storeWith('cut.jpg', whole.subarray(0, whole.length / 2));
    const { ctx } = harness(store);

    const error = await permanentFailureOf(resize({ image: 'cut.jpg', size: '100x100' }, ctx));

    expect(error.code).toBe('CORRUPT_IMAGE');
    expect(error.message).toContain('"cut.jpg"');
    expect(store.keys()).toEqual(['cut.jpg']);
  });

  it('lets a failing input stream fail the attempt as retryable, not permanently', async () => {
    const store = await storeWith('photo.png', solid(20, 20).png());
    const broken = new Error('connection reset while reading');
    const flaky: BlobStore = {
      ...bound(store),
      read: async () =>
        new Readable({
          read() {
            this.destroy(broken);
          },
        }),
    };
    const { ctx } = harness(flaky);

    const outcome = resize({ image: 'photo.png', size: '10x10' }, ctx);

    await expect(outcome).rejects.toBe(broken);
  });
});

describe('IMAGE_RESIZE cancellation', () => {
  it('stops while the input is still arriving when the signal aborts, destroying the input stream', async () => {
    const store = await storeWith('photo.png', solid(20, 20).png());
    const source = new PassThrough();
    source.write(store.get('photo.png')!.subarray(0, 10)); // The rest never comes.
    const slow: BlobStore = { ...bound(store), read: async () => source };
    const { ctx, controller } = harness(slow);
    const reason = new Error('task cancelled');
    source.once('resume', () => controller.abort(reason)); // Piped into sharp: the handler is waiting.

    const outcome = resize({ image: 'photo.png', size: '10x10' }, ctx);

    await expect(outcome).rejects.toBe(reason);
    expect(source.destroyed).toBe(true);
    expect(store.keys()).toEqual(['photo.png']);
  });

  it('stops when the signal aborts while the read is being opened', async () => {
    const store = await storeWith('photo.png', solid(20, 20).png());
    const source = new PassThrough(); // Never ends: only the abort can end the task.
    const reason = new Error('task cancelled');
    const h: Harness = harness({
      ...bound(store),
      read: async () => {
        h.controller.abort(reason);
        return source;
      },
    });

    const outcome = resize({ image: 'photo.png', size: '10x10' }, h.ctx);

    await expect(outcome).rejects.toBe(reason);
    expect(source.destroyed).toBe(true);
  });

  it('stops between sizes when the signal aborts, keeping the outputs already written', async () => {
    const store = await storeWith('photo.png', solid(100, 100).png());
    const reason = new Error('timed out');
    const h: Harness = harness(store, () => h.controller.abort(reason));

    const outcome = resize({ image: 'photo.png', sizes: ['10x10', '20x20', '30x30'] }, h.ctx);

    await expect(outcome).rejects.toBe(reason);
    expect(h.progress).toEqual([[1 / 3, 'resized 10x10']]);
    expect(store.keys()).toEqual([`${PREFIX}10x10.png`, 'photo.png']);
  });

  it('does not read the input when the signal has already aborted', async () => {
    const store = await storeWith('photo.png', solid(20, 20).png());
    let reads = 0;
    const counting: BlobStore = {
      ...bound(store),
      read: (key) => {
        reads += 1;
        return store.read(key);
      },
    };
    const { ctx, controller } = harness(counting);
    const reason = new Error('cancelled before start');
    controller.abort(reason);

    await expect(resize({ image: 'photo.png', size: '10x10' }, ctx)).rejects.toBe(reason);
    expect(reads).toBe(0);
  });
});

describe('IMAGE_RESIZE payload schema', () => {
  function issues(payload: unknown): Array<{ path: string; message: string }> {
    const result = imageResizePayloadSchema.safeParse(payload);
    if (result.success) throw new Error('expected the payload to be rejected');
    return result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  }

  const range = `width and height must be from 1 to ${MAX_IMAGE_DIMENSION}`;

  it.each([
    ['a zero width', { image: 'a.png', size: '0x600' }, 'size', range],
    ['a width over the maximum', { image: 'a.png', size: '9000x10' }, 'size', range],
    [
      'a size in the list over the maximum',
      { image: 'a.png', sizes: ['10x10', '10x9000'] },
      'sizes.1',
      range,
    ],
    ['a size that is not WIDTHxHEIGHT', { image: 'a.png', size: '800*600' }, 'size', 'must be WIDTHxHEIGHT'],
    ['a key climbing out with ..', { image: '../a.png', size: '10x10' }, 'image', '".." segments'],
    ['an absolute key', { image: '/etc/passwd', size: '10x10' }, 'image', 'must be relative'],
    ['both size and sizes', { image: 'a.png', size: '10x10', sizes: ['20x20'] }, '', 'exactly one of'],
    ['neither size nor sizes', { image: 'a.png' }, '', 'exactly one of'],
    ['an unknown fit', { image: 'a.png', size: '10x10', fit: 'stretch' }, 'fit', '"inside"'],
    ['an unknown format', { image: 'a.png', size: '10x10', format: 'bmp' }, 'format', '"avif"'],
    ['a quality of 0', { image: 'a.png', size: '10x10', quality: 0 }, 'quality', '>=1'],
    ['an unknown key', { image: 'a.png', size: '10x10', width: 3 }, '', '"width"'],
  ])('rejects %s with a readable message', (_name, payload, path, message) => {
    expect(issues(payload)).toEqual([{ path, message: expect.stringContaining(message) }]);
  });

  it('accepts the largest size and returns the payload unchanged', () => {
    const payload = { image: 'in/a.png', size: `${MAX_IMAGE_DIMENSION}x1`, fit: 'cover', quality: 100 };

    expect(imageResizePayloadSchema.parse(payload)).toEqual(payload);
  });

  it('keeps its defaults of 3 attempts and 120 seconds', () => {
    expect(imageResizeTaskType.defaults).toEqual({ maxAttempts: 3, timeoutSeconds: 120 });
  });
});

/** The store's methods bound to it, so a test can replace one of them with a spread. */
function bound(store: MemoryBlobStore): BlobStore {
  return {
    read: (key) => store.read(key),
    write: (key, body, options) => store.write(key, body, options),
    head: (key) => store.head(key),
    uploadUrl: (key, options) => store.uploadUrl(key, options),
    downloadUrl: (key, options) => store.downloadUrl(key, options),
  };
}
