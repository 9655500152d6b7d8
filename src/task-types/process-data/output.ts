/**
 * Where PROCESS_DATA results go: inline in the task result while they are small, and otherwise streamed to one
 * blob in JSON, NDJSON or CSV. No blob is written for a result that fits inline.
 */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import { PermanentTaskError } from '../../domain/errors.ts';
import type { BlobInfo, BlobStore } from '../../ports/blob-store.ts';
import { fieldOf } from './compare.ts';
import type { JsonRecord, JsonValue } from './compare.ts';
import type { ProcessDataResult } from './operations.ts';
import type { Stage } from './pipeline.ts';
import type { DataFormat } from './schema.ts';

/** A result blob, in the shape the API turns into download URLs (`key`, `contentType`, `bytes`), plus details. */
export interface ProcessDataOutput {
  key: string;
  contentType: string;
  bytes: number;
  format: DataFormat;
  /** Records written (for CSV, lines after the header). */
  rows: number;
}

/** What a PROCESS_DATA task returns: the records inline, or where they were written. */
export type ProcessDataTaskResult = ProcessDataResult | { count: number; outputs: ProcessDataOutput[] };

export const CONTENT_TYPES: Readonly<Record<DataFormat, string>> = {
  json: 'application/json',
  ndjson: 'application/x-ndjson',
  csv: 'text/csv',
};

/** Text is handed to the blob stream in pieces of about this many characters. */
const FLUSH_CHARS = 64 * 1024;
/** CSV rows are formatted this many at a time. */
const CSV_BATCH_ROWS = 512;

/** One blob being written from a stream, with backpressure. */
class BlobWriter {
  readonly #out = new PassThrough();
  readonly #stored: Promise<BlobInfo>;
  readonly #signal: AbortSignal;
  #parts: string[] = [];
  #chars = 0;
  #failure: { error: unknown } | undefined;

  constructor(blobs: BlobStore, key: string, contentType: string, signal: AbortSignal) {
    this.#signal = signal;
    // Errors reach the caller through #stored; this listener only keeps a destroyed stream from crashing.
    this.#out.on('error', () => undefined);
    this.#stored = blobs.write(key, this.#out, { contentType });
    this.#stored.catch((error: unknown) => {
      this.#failure = { error };
      // Wakes a writer waiting for 'drain' that will never come.
      this.#out.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  }

  write(text: string): void {
    this.#parts.push(text);
    this.#chars += text.length;
    if (this.#chars >= FLUSH_CHARS) this.#flush();
  }

  #flush(): void {
    if (this.#failure) throw this.#failure.error;
    if (this.#parts.length === 0) return;
    this.#out.write(this.#parts.join(''));
    this.#parts = [];
    this.#chars = 0;
  }

  /** A promise while the blob store is behind, so the producer waits; undefined otherwise. */
  wait(): Promise<void> | undefined {
    if (this.#failure) throw this.#failure.error;
    if (!this.#out.writableNeedDrain) return undefined;
    return once(this.#out, 'drain', { signal: this.#signal }).then(() => undefined);
  }

  async close(): Promise<BlobInfo> {
    this.#flush();
    this.#out.end();
    return await this.#stored;
  }

  /** Fails the write, so that the store keeps nothing under the key. */
  async abort(reason: unknown): Promise<void> {
    this.#out.destroy(reason instanceof Error ? reason : new Error(String(reason)));
    await this.#stored.catch(() => undefined);
  }
}

interface FormatWriter {
  write(record: JsonRecord): void;
  finish(): void;
}

function jsonWriter(out: BlobWriter): FormatWriter {
  let first = true;
  return {
    write(record) {
      out.write(`${first ? '[\n' : ',\n'}${JSON.stringify(record)}`);
      first = false;
    },
    finish: () => out.write(first ? '[]\n' : '\n]\n'),
  };
}

function ndjsonWriter(out: BlobWriter): FormatWriter {
  return {
    write: (record) => out.write(`${JSON.stringify(record)}\n`),
    finish: () => undefined,
  };
}

/** A CSV cell: text as is, numbers and booleans as JSON writes them, null and missing empty, else JSON text. */
function csvCell(value: JsonValue | undefined): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/**
 * CSV with a header line. The columns are `known` when the pipeline determines them, otherwise the fields of the
 * first record; a later record with a field outside them cannot be written and fails the task.
 */
function csvWriter(out: BlobWriter, known: readonly string[] | null): FormatWriter {
  let columns: readonly string[] | null = known;
  let allowed = new Set(known ?? []);
  let batch: string[][] = [];
  const flush = (): void => {
    if (batch.length > 0) out.write(stringify(batch));
    batch = [];
  };
  const start = (names: readonly string[]): void => {
    columns = names;
    allowed = new Set(names);
    out.write(stringify([[...names]]));
  };
  if (known !== null) start(known);
  return {
    write(record) {
      if (columns === null) start(Object.keys(record));
      const names = columns ?? [];
      for (const field of Object.keys(record)) {
        if (!allowed.has(field)) {
          throw new PermanentTaskError(
            `A result record has the field ${JSON.stringify(field)}, which is not a column of the CSV output ` +
              `(${names.map((n) => JSON.stringify(n)).join(', ')}). Records differ in their fields: add a select ` +
              'to fix the columns, or use the json or ndjson output format.',
            { code: 'OUTPUT_COLUMNS' },
          );
        }
      }
      batch.push(names.map((column) => csvCell(fieldOf(record, column))));
      if (batch.length >= CSV_BATCH_ROWS) flush();
    },
    finish: flush,
  };
}

/** How the result is delivered. */
export interface ResultSinkOptions {
  blobs: BlobStore;
  /** Key of the blob written when the result does not fit inline. */
  key: string;
  format: DataFormat;
  /** Largest inline result, in bytes of the records' JSON text. */
  inlineLimitBytes: number;
  /** The result's columns when known (see `checkColumns`), for a CSV output. */
  columns: readonly string[] | null;
  signal: AbortSignal;
}

/**
 * The last stage: holds records while their JSON text stays within the inline limit, and once it would not,
 * opens the output blob, writes what it holds and streams the rest.
 */
export class ResultSink implements Stage {
  readonly #options: ResultSinkOptions;
  #held: JsonRecord[] = [];
  /** Bytes of `JSON.stringify(held)`. */
  #heldBytes = 2;
  #count = 0;
  #blob: BlobWriter | undefined;
  #writer: FormatWriter | undefined;
  #result: ProcessDataTaskResult | undefined;

  constructor(options: ResultSinkOptions) {
    this.#options = options;
  }

  push(record: JsonRecord): boolean {
    this.#count++;
    if (this.#writer !== undefined) {
      this.#writer.write(record);
      return true;
    }
    this.#heldBytes += Buffer.byteLength(JSON.stringify(record)) + (this.#held.length > 0 ? 1 : 0);
    this.#held.push(record);
    if (this.#heldBytes > this.#options.inlineLimitBytes) this.#spill();
    return true;
  }

  #spill(): void {
    const { blobs, key, format, columns, signal } = this.#options;
    this.#blob = new BlobWriter(blobs, key, CONTENT_TYPES[format], signal);
    const blob = this.#blob;
    this.#writer =
      format === 'csv'
        ? csvWriter(blob, columns)
        : format === 'ndjson'
          ? ndjsonWriter(blob)
          : jsonWriter(blob);
    for (const record of this.#held) this.#writer.write(record);
    this.#held = [];
  }

  /** A promise while the output blob is behind; see {@link Pace}. */
  wait(): Promise<void> | undefined {
    return this.#blob?.wait();
  }

  async end(): Promise<void> {
    // An empty result is `[]`, 2 bytes: over a limit of 0, which asks for a blob whatever the size.
    if (this.#writer === undefined && this.#heldBytes > this.#options.inlineLimitBytes) this.#spill();
    if (this.#writer === undefined || this.#blob === undefined) {
      this.#result = { records: this.#held, count: this.#count };
      return;
    }
    this.#writer.finish();
    const info = await this.#blob.close();
    const { format } = this.#options;
    this.#result = {
      count: this.#count,
      outputs: [
        { key: info.key, contentType: CONTENT_TYPES[format], bytes: info.bytes, format, rows: this.#count },
      ],
    };
  }

  /** Abandons a blob being written, after an error or an abort. */
  async abort(reason: unknown): Promise<void> {
    await this.#blob?.abort(reason);
  }

  /** The task result, once {@link end} has resolved. */
  result(): ProcessDataTaskResult {
    if (this.#result === undefined) throw new Error('ResultSink.result() called before end()');
    return this.#result;
  }
}
