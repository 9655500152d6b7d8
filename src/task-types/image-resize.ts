import { z } from 'zod';
import { PermanentTaskError } from '../domain/errors.ts';
import { defineTaskType } from '../domain/task-type.ts';

/** Default largest width or height a resize may ask for. */
export const MAX_IMAGE_DIMENSION = 8192;

const size = z
  .string()
  .regex(/^\d{1,5}x\d{1,5}$/, 'must be WIDTHxHEIGHT in pixels, e.g. "800x600"')
  .refine((value) => {
    const [w, h] = value.split('x').map(Number);
    return w! >= 1 && h! >= 1 && w! <= MAX_IMAGE_DIMENSION && h! <= MAX_IMAGE_DIMENSION;
  }, `width and height must be from 1 to ${MAX_IMAGE_DIMENSION}`);

const blobKey = z
  .string()
  .min(1)
  .max(1024)
  .refine((key) => !key.startsWith('/') && !key.split('/').includes('..') && !key.includes('\\'), {
    message: 'must be a relative blob key without ".." segments or backslashes',
  });

export const imageResizePayloadSchema = z
  .object({
    image: blobKey,
    size: size.optional(),
    sizes: z.array(size).min(1).max(10).optional(),
    fit: z.enum(['cover', 'contain', 'fill', 'inside', 'outside']).optional(),
    format: z.enum(['jpeg', 'png', 'webp', 'avif']).optional(),
    quality: z.number().int().min(1).max(100).optional(),
  })
  .strict()
  .refine((p) => (p.size === undefined) !== (p.sizes === undefined), {
    message: 'give exactly one of "size" or "sizes"',
  });

/**
 * IMAGE_RESIZE: resize a stored image to one or more sizes. The payload schema is final; the handler
 * arrives with the blob store, and until then every task fails permanently saying so.
 */
export const imageResizeTaskType = defineTaskType({
  name: 'IMAGE_RESIZE',
  description: 'Resize an uploaded image to one or more sizes (sharp).',
  payloadSchema: imageResizePayloadSchema,
  defaults: { maxAttempts: 3, timeoutSeconds: 120 },
  handler: () => {
    throw new PermanentTaskError('IMAGE_RESIZE is not implemented yet: it needs the blob store (planned).', {
      code: 'NOT_IMPLEMENTED',
    });
  },
});
