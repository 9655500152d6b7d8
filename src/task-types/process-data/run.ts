import { BlobNotFoundError } from '../../domain/blob-key.ts';
import { PermanentTaskError, isErrorNamed } from '../../domain/errors.ts';
import type { TaskContext } from '../../domain/task-type.ts';
import { MAX_JSON_INPUT_BYTES, openRecordSource } from './input.ts';
import type { RecordSource } from './input.ts';
import { runOperations } from './operations.ts';
import { CONTENT_TYPES, ResultSink } from './output.ts';
import type { ProcessDataTaskResult } from './output.ts';
import { PACE_INTERVAL, buildStages, checkColumns } from './pipeline.ts';
import type { Pace } from './pipeline.ts';
import { DEFAULT_INLINE_LIMIT_BYTES } from './schema.ts';
import type { JsonRecord } from './compare.ts';
import type { ProcessDataInput, ProcessDataTaskPayload } from './schema.ts';

export type { ProcessDataOutput, ProcessDataTaskResult } from './output.ts';
export { CONTENT_TYPES, MAX_JSON_INPUT_BYTES };

/** What a PROCESS_DATA run uses of its task context. */
export type ProcessDataContext = Pick<TaskContext, 'blobs' | 'outputPrefix' | 'signal' | 'progress'>;

function inputNotFound(key: string, cause?: unknown): PermanentTaskError {
  return new PermanentTaskError(
    `The input blob "${key}" does not exist (it may have expired, or the upload never finished).`,
    { code: 'INPUT_NOT_FOUND', cause },
  );
}

function sinkFor(
  payload: ProcessDataTaskPayload,
  ctx: ProcessDataContext,
  columns: readonly string[] | null,
) {
  const format = payload.output?.format ?? payload.input?.format ?? 'json';
  return new ResultSink({
    blobs: ctx.blobs,
    key: `${ctx.outputPrefix}result.${format}`,
    format,
    inlineLimitBytes: payload.output?.inlineLimitBytes ?? DEFAULT_INLINE_LIMIT_BYTES,
    columns,
    signal: ctx.signal,
  });
}

/** Inline records: the array engine, then the result inline or to a blob. */
async function runInline(
  records: readonly JsonRecord[],
  payload: ProcessDataTaskPayload,
  ctx: ProcessDataContext,
): Promise<ProcessDataTaskResult> {
  const operations = payload.operations ?? [];
  const result = runOperations(records, operations, {
    signal: ctx.signal,
    onProgress: (done, total) =>
      ctx.progress(total === 0 ? 1 : done / total, `operation ${done} of ${total}`),
  });
  const sink = sinkFor(payload, ctx, checkColumns(operations, { columns: null, textOnly: false }));
  try {
    for (let i = 0; i < result.length; i++) {
      const record = result[i];
      if (record !== undefined) sink.push(record);
      if ((i + 1) % PACE_INTERVAL === 0) {
        ctx.signal.throwIfAborted();
        await sink.wait();
      }
    }
    await sink.end();
    return sink.result();
  } catch (error) {
    await sink.abort(error);
    ctx.signal.throwIfAborted();
    throw error;
  }
}

/** A blob input: read, transform and write record by record. */
async function runStreaming(
  input: ProcessDataInput,
  payload: ProcessDataTaskPayload,
  ctx: ProcessDataContext,
): Promise<ProcessDataTaskResult> {
  const { blobs, signal } = ctx;
  const info = await blobs.head(input.key);
  if (info === null) throw inputNotFound(input.key);
  if (input.format === 'json' && info.bytes > MAX_JSON_INPUT_BYTES) {
    throw new PermanentTaskError(
      `The JSON input is ${String(info.bytes)} bytes, over the ${String(MAX_JSON_INPUT_BYTES / 1024 / 1024)} MiB ` +
        'that a JSON array may have, as it is read whole. Give larger data as NDJSON (one object per line) or ' +
        'CSV, which are streamed.',
      { code: 'INPUT_TOO_LARGE' },
    );
  }
  let source: RecordSource;
  try {
    source = openRecordSource(input, await blobs.read(input.key), info.bytes);
  } catch (error) {
    if (isErrorNamed(error, BlobNotFoundError)) throw inputNotFound(input.key, error);
    throw error;
  }
  // Stopping the input stream ends a read that is waiting for data; the loops check the signal between records.
  const stop = (): void => source.close();
  signal.addEventListener('abort', stop, { once: true });
  let sink: ResultSink | undefined;
  try {
    signal.throwIfAborted();
    const operations = payload.operations ?? [];
    const shape = await source.open();
    const columns = checkColumns(operations, shape);
    const out = sinkFor(payload, ctx, columns);
    sink = out;
    let rows = 0;
    const report = (): void => ctx.progress(Math.min(source.fraction(), 0.99), `${String(rows)} rows`);
    const pace: Pace = () => {
      signal.throwIfAborted();
      return out.wait();
    };
    const first = buildStages(operations, out, pace);
    await source.run(
      (record) => {
        rows++;
        return first.push(record);
      },
      () => {
        signal.throwIfAborted();
        report();
        return out.wait();
      },
    );
    // An abort may have ended the input stream quietly; a limit may have stopped the reading early: release the
    // input before the held records are emitted.
    signal.throwIfAborted();
    source.close();
    await first.end();
    ctx.progress(1, `${String(rows)} rows`);
    return out.result();
  } catch (error) {
    await sink?.abort(error);
    signal.throwIfAborted();
    throw error;
  } finally {
    signal.removeEventListener('abort', stop);
    source.close();
  }
}

/**
 * Runs a PROCESS_DATA task: inline records through the array engine, a blob input through the streaming one, and
 * the result inline when its records' JSON fits in `output.inlineLimitBytes`, else to one blob under
 * `ctx.outputPrefix`. See docs/process-data.md.
 *
 * @throws PermanentTaskError `INPUT_NOT_FOUND`, `INPUT_TOO_LARGE`, `BAD_INPUT`, `UNKNOWN_COLUMN`, `TYPE_MISMATCH`
 *   or `OUTPUT_COLUMNS`; the signal's reason when it aborts; other errors (the blob store's) are worth a retry
 */
export async function runProcessDataTask(
  payload: ProcessDataTaskPayload,
  ctx: ProcessDataContext,
): Promise<ProcessDataTaskResult> {
  ctx.signal.throwIfAborted();
  if (payload.records !== undefined) return runInline(payload.records, payload, ctx);
  if (payload.input !== undefined) return runStreaming(payload.input, payload, ctx);
  throw new PermanentTaskError('Exactly one of records or input is required.', { code: 'BAD_PAYLOAD' });
}
