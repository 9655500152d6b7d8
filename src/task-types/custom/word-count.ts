// An example of your own task type, and a useful one: counts words in a text or in an uploaded file.
// The README's "Add a task type" section walks through this file.
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { blobKeyProblem } from '../../domain/blob-key.ts';
import { PermanentTaskError } from '../../domain/errors.ts';
import { defineTaskType } from '../../domain/task-type.ts';

const payloadSchema = z
  .object({
    text: z.string().max(200_000).optional(),
    key: z
      .string()
      .refine((k) => blobKeyProblem(k) === null, { message: 'must be a blob key from createUploadUrl' })
      .optional(),
    top: z.number().int().min(0).max(100).default(10),
  })
  .strict()
  .refine((p) => (p.text === undefined) !== (p.key === undefined), {
    message: 'give exactly one of "text" or "key"',
  });

export const wordCountTaskType = defineTaskType({
  name: 'WORD_COUNT',
  description:
    'Count lines, words and characters of a text or an uploaded file, with the most frequent words.',
  payloadSchema,
  defaults: { maxAttempts: 3, timeoutSeconds: 60 },
  async handler(payload, ctx) {
    let input: Readable;
    let total = payload.text === undefined ? 0 : Buffer.byteLength(payload.text);
    if (payload.key !== undefined) {
      const info = await ctx.blobs.head(payload.key);
      if (!info)
        throw new PermanentTaskError(`No file with key "${payload.key}"`, { code: 'INPUT_NOT_FOUND' });
      total = info.bytes;
      input = await ctx.blobs.read(payload.key);
    } else {
      input = Readable.from([payload.text ?? '']);
    }
    const counts = new Map<string, number>();
    let lines = 0;
    let words = 0;
    let characters = 0;
    let bytes = 0;
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      ctx.signal.throwIfAborted();
      lines += 1;
      characters += line.length;
      bytes += Buffer.byteLength(line) + 1;
      for (const word of line.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? []) {
        words += 1;
        counts.set(word, (counts.get(word) ?? 0) + 1);
      }
      if (lines % 10_000 === 0 && total > 0) ctx.progress(Math.min(1, bytes / total), `${lines} lines`);
    }
    const top = [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, payload.top)
      .map(([word, count]) => ({ word, count }));
    return { lines, words, characters, distinctWords: counts.size, top };
  },
});
