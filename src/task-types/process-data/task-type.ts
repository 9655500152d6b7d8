import { defineTaskType } from '../../domain/task-type.ts';
import { processData, processDataPayloadSchema } from './operations.ts';

/**
 * PROCESS_DATA: declarative transformations of JSON records (filter, select, rename, sort, groupBy,
 * distinct, limit), applied in order. The semantics are in docs/process-data.md.
 */
export const processDataTaskType = defineTaskType({
  name: 'PROCESS_DATA',
  description: 'Transform JSON records with filter, select, rename, sort, groupBy, distinct and limit.',
  payloadSchema: processDataPayloadSchema,
  defaults: { maxAttempts: 3, timeoutSeconds: 300 },
  handler: (payload, ctx) =>
    processData(payload, {
      signal: ctx.signal,
      onProgress: (done, total) =>
        ctx.progress(total === 0 ? 1 : done / total, `operation ${done} of ${total}`),
    }),
});
