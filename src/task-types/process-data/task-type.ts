import { defineTaskType } from '../../domain/task-type.ts';
import { runProcessDataTask } from './run.ts';
import { processDataTaskPayloadSchema } from './schema.ts';

/**
 * PROCESS_DATA: declarative transformations of records (filter, select, rename, sort, groupBy, distinct, limit),
 * applied in order, to inline JSON records or to a JSON, NDJSON or CSV blob, streamed. The result comes back
 * inline when small and as a blob otherwise. The semantics are in docs/process-data.md.
 */
export const processDataTaskType = defineTaskType({
  name: 'PROCESS_DATA',
  description:
    'Transform records (inline, or a JSON, NDJSON or CSV blob) with filter, select, rename, sort, groupBy, ' +
    'distinct and limit.',
  payloadSchema: processDataTaskPayloadSchema,
  defaults: { maxAttempts: 3, timeoutSeconds: 300 },
  handler: (payload, ctx) => runProcessDataTask(payload, ctx),
});
