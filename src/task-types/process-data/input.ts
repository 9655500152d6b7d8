/**
 * Readers of PROCESS_DATA inputs stored as blobs: CSV (through csv-parse), NDJSON (a line splitter) and a JSON
 * top-level array (read whole, up to {@link MAX_JSON_INPUT_BYTES}). Each turns a byte stream into validated
 * records and pushes them, one at a time, into the streaming pipeline.
 */
import { StringDecoder } from 'node:string_decoder';
import { pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { PermanentTaskError } from '../../domain/errors.ts';
import type { JsonPrimitive, JsonRecord } from './compare.ts';
import { PACE_INTERVAL } from './pipeline.ts';
import type { InputShape, Pace } from './pipeline.ts';
import { findJsonProblem } from './schema.ts';
import type { CsvInputOptions, ProcessDataInput } from './schema.ts';

/** Largest JSON (array) input: it is parsed whole, so larger data must come as NDJSON or CSV. */
export const MAX_JSON_INPUT_BYTES = 50 * 1024 * 1024;
/** Longest NDJSON line or CSV record, in characters: a guard against a missing line break or closing quote. */
export const MAX_LINE_CHARS = 8 * 1024 * 1024;

/** A blob input being read. */
export interface RecordSource {
  /** Reads what must be known before the first record (the CSV header) and describes the records. */
  open(): Promise<InputShape>;
  /**
   * Pushes every record, in input order, until the input ends or `push` returns false, calling `pace` every
   * {@link PACE_INTERVAL} records or so and awaiting it when it returns a promise.
   *
   * @throws PermanentTaskError `BAD_INPUT` naming the line of a malformed record
   */
  run(push: (record: JsonRecord) => boolean, pace: Pace): Promise<void>;
  /** How far the reading has got, 0..1, given the blob's size. */
  fraction(): number;
  /** Releases the streams; safe to call at any time, also after an error or an early stop. */
  close(): void;
}

function badInput(message: string, cause?: unknown): PermanentTaskError {
  return new PermanentTaskError(message, { code: 'BAD_INPUT', cause });
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

function errorMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > 300 ? `${message.slice(0, 300)}…` : message;
}

/** The problem with a parsed JSON value as a record, or null when it is a valid one. */
function recordProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `expected a JSON object, got ${describeType(value)}`;
  }
  const problem = findJsonProblem(value, []);
  if (problem === undefined) return null;
  const path = problem.path.map((p) => (typeof p === 'number' ? `[${String(p)}]` : `.${p}`)).join('');
  return path === '' ? problem.message : `${problem.message} at ${path.replace(/^\./, '')}`;
}

async function paced(pace: Pace): Promise<void> {
  const wait = pace();
  if (wait) await wait;
}

const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
const INTEGER = /^-?[0-9]+$/;

/**
 * The `csv.cast` rule for one CSV value: empty → null; `true`/`false` → booleans; a decimal number in JSON syntax
 * (no `+`, no leading zero, no `.5` or `5.`) → a number, unless it is an integer beyond ±2^53−1 (kept as text,
 * as IDs often are) or overflows; anything else stays text.
 */
export function castCsvValue(text: string): JsonPrimitive {
  if (text === '') return null;
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (!NUMBER.test(text)) return text;
  const value = Number(text);
  if (!Number.isFinite(value)) return text;
  if (INTEGER.test(text) && !Number.isSafeInteger(value)) return text;
  return value;
}

function recordBuilder(columns: readonly string[], cast: boolean): (row: readonly string[]) => JsonRecord {
  const convert: (text: string) => JsonPrimitive = cast ? castCsvValue : (text) => text;
  // Plain assignment of `__proto__` would set the prototype; Object.fromEntries defines it as data.
  if (columns.includes('__proto__')) {
    return (row) => Object.fromEntries(columns.map((column, i) => [column, convert(row[i] ?? '')]));
  }
  return (row) => {
    const record: JsonRecord = {};
    for (let i = 0; i < columns.length; i++) {
      const column = columns[i];
      if (column !== undefined) record[column] = convert(row[i] ?? '');
    }
    return record;
  };
}

function checkHeader(names: readonly string[]): void {
  const seen = new Set<string>();
  names.forEach((name, i) => {
    if (name === '') {
      throw badInput(
        `Column ${String(i + 1)} of the CSV header is empty; name it, or give input.csv.columns.`,
      );
    }
    if (seen.has(name)) {
      throw badInput(`The CSV header names column ${JSON.stringify(name)} twice; give input.csv.columns.`);
    }
    seen.add(name);
  });
}

function csvSource(raw: Readable, options: CsvInputOptions, totalBytes: number): RecordSource {
  const header = options.header ?? true;
  const parser = parse({
    delimiter: options.delimiter ?? ',',
    bom: true,
    skip_empty_lines: true,
    max_record_size: MAX_LINE_CHARS,
  });
  // Errors of the blob stream reach the parser, and so the loop below.
  pipeline(raw, parser, () => undefined);
  const rows = parser[Symbol.asyncIterator]() as AsyncIterator<string[]>;
  const nextRow = async (): Promise<string[] | undefined> => {
    try {
      const next = await rows.next();
      return next.done === true ? undefined : next.value;
    } catch (error) {
      if (error instanceof CsvError) {
        const line = typeof error['lines'] === 'number' ? ` at line ${String(error['lines'])}` : '';
        throw badInput(`Malformed CSV${line}: ${error.message}`, error);
      }
      throw error;
    }
  };
  let columns: readonly string[] = [];
  return {
    async open() {
      if (header) {
        const names = await nextRow();
        if (names === undefined) throw badInput('The CSV input is empty: expected a header line.');
        if (options.columns !== undefined && names.length !== options.columns.length) {
          throw badInput(
            `The CSV header has ${String(names.length)} columns but input.csv.columns names ` +
              `${String(options.columns.length)}.`,
          );
        }
        if (options.columns === undefined) checkHeader(names);
        columns = options.columns ?? names;
      } else {
        if (options.columns === undefined)
          throw badInput('input.csv.columns is required when header is false.');
        columns = options.columns;
      }
      return { columns, textOnly: options.cast !== true };
    },
    async run(push, pace) {
      const build = recordBuilder(columns, options.cast === true);
      // csv-parse checks every record against the length of the first one (the header when there is one).
      let first = !header;
      let count = 0;
      for (;;) {
        const row = await nextRow();
        if (row === undefined) return;
        if (first) {
          first = false;
          if (row.length !== columns.length) {
            throw badInput(
              `The first CSV record has ${String(row.length)} fields but input.csv.columns names ` +
                `${String(columns.length)}.`,
            );
          }
        }
        if (!push(build(row))) return;
        if (++count % PACE_INTERVAL === 0) await paced(pace);
      }
    },
    fraction: () => (totalBytes > 0 ? parser.info.bytes / totalBytes : 0),
    close() {
      parser.destroy();
      raw.destroy();
    },
  };
}

function ndjsonSource(raw: Readable, totalBytes: number): RecordSource {
  let bytesRead = 0;
  return {
    open: () => Promise.resolve({ columns: null, textOnly: false }),
    async run(push, pace) {
      const decoder = new StringDecoder('utf8');
      let line = 0;
      let carry = '';
      let started = false;
      /** Parses one line (without its `\n`); returns push's answer. */
      const take = (text: string): boolean => {
        line++;
        let body = text.charCodeAt(text.length - 1) === 13 ? text.slice(0, -1) : text;
        if (!started) {
          started = true;
          if (body.charCodeAt(0) === 0xfeff) body = body.slice(1);
        }
        if (body.length === 0 || body.trim() === '') return true;
        let value: unknown;
        try {
          value = JSON.parse(body);
        } catch (error) {
          throw badInput(`NDJSON line ${String(line)} is not valid JSON: ${errorMessage(error)}`, error);
        }
        const problem = recordProblem(value);
        if (problem !== null) throw badInput(`NDJSON line ${String(line)}: ${problem}.`);
        return push(value as JsonRecord);
      };
      for await (const chunk of raw) {
        const buffer = chunk as Buffer;
        bytesRead += buffer.length;
        const text = decoder.write(buffer);
        let start = 0;
        let newline = text.indexOf('\n');
        if (newline !== -1) {
          // The first line of the chunk completes the carried-over part.
          if (!take(carry + text.slice(0, newline))) return;
          carry = '';
          start = newline + 1;
          while ((newline = text.indexOf('\n', start)) !== -1) {
            if (!take(text.slice(start, newline))) return;
            start = newline + 1;
          }
        }
        carry += text.slice(start);
        if (carry.length > MAX_LINE_CHARS) {
          throw badInput(
            `NDJSON line ${String(line + 1)} is longer than ${String(MAX_LINE_CHARS)} characters.`,
          );
        }
        await paced(pace);
      }
      carry += decoder.end();
      if (carry.length > 0) take(carry);
    },
    fraction: () => (totalBytes > 0 ? bytesRead / totalBytes : 0),
    close: () => raw.destroy(),
  };
}

function jsonSource(raw: Readable, totalBytes: number): RecordSource {
  let bytesRead = 0;
  let done = 0;
  let length = 0;
  const tooLarge = (): PermanentTaskError =>
    new PermanentTaskError(
      `The JSON input is over ${String(MAX_JSON_INPUT_BYTES / 1024 / 1024)} MiB. A JSON array is read whole; ` +
        'give larger data as NDJSON (one object per line) or CSV, which are streamed.',
      { code: 'INPUT_TOO_LARGE' },
    );
  return {
    open: () => Promise.resolve({ columns: null, textOnly: false }),
    async run(push, pace) {
      const chunks: Buffer[] = [];
      for await (const chunk of raw) {
        const buffer = chunk as Buffer;
        bytesRead += buffer.length;
        if (bytesRead > MAX_JSON_INPUT_BYTES) throw tooLarge();
        chunks.push(buffer);
      }
      let text = Buffer.concat(chunks).toString('utf8');
      chunks.length = 0;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        throw badInput(`The JSON input is not valid JSON: ${errorMessage(error)}`, error);
      }
      text = '';
      if (!Array.isArray(value)) {
        throw badInput(
          `The JSON input must be an array of objects, got ${describeType(value)}. ` +
            'For one object per line, use format "ndjson".',
        );
      }
      const items: unknown[] = value;
      length = items.length;
      for (let i = 0; i < items.length; i++) {
        const problem = recordProblem(items[i]);
        if (problem !== null) throw badInput(`The JSON input's element [${String(i)}]: ${problem}.`);
        done = i + 1;
        if (!push(items[i] as JsonRecord)) return;
        if (done % PACE_INTERVAL === 0) await paced(pace);
      }
    },
    // Reading is the first half of the work, the records the second.
    fraction: () =>
      length > 0 ? 0.5 + (0.5 * done) / length : totalBytes > 0 ? (0.5 * bytesRead) / totalBytes : 0,
    close: () => raw.destroy(),
  };
}

/** A reader of `input`'s format over the blob's byte stream; `totalBytes` is the blob's size, for progress. */
export function openRecordSource(input: ProcessDataInput, raw: Readable, totalBytes: number): RecordSource {
  switch (input.format) {
    case 'csv':
      return csvSource(raw, input.csv ?? {}, totalBytes);
    case 'ndjson':
      return ndjsonSource(raw, totalBytes);
    case 'json':
      return jsonSource(raw, totalBytes);
  }
}
