import { PassThrough } from 'node:stream';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { BlobInfo, BlobStore } from '../../src/ports/blob-store.ts';
import { castCsvValue } from '../../src/task-types/process-data/input.ts';
import { runOperations } from '../../src/task-types/process-data/operations.ts';
import type { JsonRecord, Operation } from '../../src/task-types/process-data/operations.ts';
import { runProcessDataTask } from '../../src/task-types/process-data/run.ts';
import type { ProcessDataContext, ProcessDataTaskResult } from '../../src/task-types/process-data/run.ts';
import { processDataTaskPayloadSchema } from '../../src/task-types/process-data/schema.ts';
import { MemoryBlobStore } from '../helpers/memory-blob-store.ts';
import { permanentFailureOf } from '../helpers/failures.ts';

const PREFIX = 'outputs/task-1/';

interface Harness {
  ctx: ProcessDataContext;
  progress: { fraction: number; message: string | undefined }[];
  controller: AbortController;
}

function harness(blobs: BlobStore): Harness {
  const controller = new AbortController();
  const progress: Harness['progress'] = [];
  return {
    controller,
    progress,
    ctx: {
      blobs,
      outputPrefix: PREFIX,
      signal: controller.signal,
      progress: (fraction, message) => progress.push({ fraction, message }),
    },
  };
}

/** Validates the payload as the task registry does, then runs it. */
function run(payload: unknown, ctx: ProcessDataContext): Promise<ProcessDataTaskResult> {
  return runProcessDataTask(processDataTaskPayloadSchema.parse(payload), ctx);
}

/** A store whose every blob is one stream the test feeds by hand, and which never ends on its own. */
function stalledStore(): { store: BlobStore; stream: PassThrough } {
  const stream = new PassThrough();
  const blobs = new MemoryBlobStore();
  const store: BlobStore = {
    read: async (): Promise<Readable> => stream,
    head: async (key) => ({ key, bytes: 1_000_000, contentType: null }),
    write: (key, body, options) => blobs.write(key, body, options),
    uploadUrl: (key, options) => blobs.uploadUrl(key, options),
    downloadUrl: (key, options) => blobs.downloadUrl(key, options),
  };
  return { store, stream };
}

function errorText(payload: unknown): string {
  const result = processDataTaskPayloadSchema.safeParse(payload);
  if (result.success) throw new Error('expected the payload to be rejected');
  return z.prettifyError(result.error);
}

const peopleCsv = [
  'name,age,country',
  'Ada,36,UK',
  'Bob,12,US',
  '"Cy, Jr.",40,US',
  'Di,18,FR',
  'Ed,25,UK',
  '',
].join('\n');

const ndjson = (records: readonly JsonRecord[]): string =>
  records.map((r) => `${JSON.stringify(r)}\n`).join('');
const parseNdjson = (text: string): unknown[] =>
  text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as unknown);

describe('PROCESS_DATA over blobs: formats', () => {
  it('reads CSV, filters and selects, and writes CSV with the header and the row count', async () => {
    const blobs = new MemoryBlobStore({ chunkBytes: 7 });
    blobs.put('inputs/people.csv', peopleCsv);
    const { ctx } = harness(blobs);

    const result = await run(
      {
        input: { key: 'inputs/people.csv', format: 'csv' },
        operations: [
          { op: 'filter', field: 'country', operator: 'in', value: ['US', 'UK'] },
          { op: 'select', fields: ['name', 'country'] },
        ],
        output: { format: 'csv', inlineLimitBytes: 0 },
      },
      ctx,
    );

    const text = 'name,country\nAda,UK\nBob,US\n"Cy, Jr.",US\nEd,UK\n';
    expect(result).toEqual({
      count: 4,
      outputs: [
        {
          key: `${PREFIX}result.csv`,
          contentType: 'text/csv',
          bytes: Buffer.byteLength(text),
          format: 'csv',
          rows: 4,
        },
      ],
    });
    expect(blobs.get(`${PREFIX}result.csv`)?.toString()).toBe(text);
  });

  it('reads NDJSON and writes NDJSON, skipping blank lines and accepting CRLF', async () => {
    const blobs = new MemoryBlobStore({ chunkBytes: 5 });
    blobs.put('in/events.ndjson', '{"id":1,"kind":"a"}\r\n\n{"id":2,"kind":"b"}\n  \n{"id":3,"kind":"a"}');
    const { ctx } = harness(blobs);

    const result = await run(
      {
        input: { key: 'in/events.ndjson', format: 'ndjson' },
        operations: [{ op: 'filter', field: 'kind', operator: 'eq', value: 'a' }],
        output: { format: 'ndjson', inlineLimitBytes: 0 },
      },
      ctx,
    );

    expect(result).toMatchObject({
      count: 2,
      outputs: [
        { key: `${PREFIX}result.ndjson`, contentType: 'application/x-ndjson', format: 'ndjson', rows: 2 },
      ],
    });
    expect(blobs.get(`${PREFIX}result.ndjson`)?.toString()).toBe(
      '{"id":1,"kind":"a"}\n{"id":3,"kind":"a"}\n',
    );
  });

  it('reads a top-level JSON array and writes a JSON array', async () => {
    const blobs = new MemoryBlobStore({ chunkBytes: 4 });
    blobs.put('in/data.json', '\uFEFF[{"v":3},{"v":1},{"v":2}]');
    const { ctx } = harness(blobs);

    const result = await run(
      {
        input: { key: 'in/data.json', format: 'json' },
        operations: [{ op: 'sort', by: [{ field: 'v' }] }],
        output: { format: 'json', inlineLimitBytes: 0 },
      },
      ctx,
    );

    expect(result).toMatchObject({ count: 3, outputs: [{ contentType: 'application/json', rows: 3 }] });
    expect(JSON.parse(blobs.get(`${PREFIX}result.json`)?.toString() ?? '')).toEqual([
      { v: 1 },
      { v: 2 },
      { v: 3 },
    ]);
  });

  it('writes an empty JSON array and a header-only CSV for an empty result sent to a blob', async () => {
    const blobs = new MemoryBlobStore();
    blobs.put('in/p.csv', peopleCsv);
    const { ctx } = harness(blobs);
    const nobody = [{ op: 'filter', field: 'country', operator: 'eq', value: 'NZ' }];

    const csv = await run(
      {
        input: { key: 'in/p.csv', format: 'csv' },
        operations: nobody,
        output: { format: 'csv', inlineLimitBytes: 0 },
      },
      ctx,
    );
    const json = await run(
      {
        input: { key: 'in/p.csv', format: 'csv' },
        operations: nobody,
        output: { format: 'json', inlineLimitBytes: 0 },
      },
      ctx,
    );

    expect(csv).toMatchObject({ count: 0, outputs: [{ rows: 0 }] });
    expect(blobs.get(`${PREFIX}result.csv`)?.toString()).toBe('name,age,country\n');
    expect(json).toMatchObject({ count: 0 });
    expect(blobs.get(`${PREFIX}result.json`)?.toString()).toBe('[]\n');
  });

  it('writes CSV cells as text, numbers and booleans as JSON does, null as empty and nested values as JSON', async () => {
    const blobs = new MemoryBlobStore();
    blobs.put('in/x.ndjson', ndjson([{ a: 'x"y', b: 1.5, c: true, d: null, e: [1, { f: 2 }] }, { a: 'z' }]));
    const { ctx } = harness(blobs);

    await run(
      { input: { key: 'in/x.ndjson', format: 'ndjson' }, output: { format: 'csv', inlineLimitBytes: 0 } },
      ctx,
    );

    expect(blobs.get(`${PREFIX}result.csv`)?.toString()).toBe(
      'a,b,c,d,e\n"x""y",1.5,true,,"[1,{""f"":2}]"\nz,,,,\n',
    );
  });

  it('fails with OUTPUT_COLUMNS when a record has a field outside the CSV columns taken from the first record', async () => {
    const blobs = new MemoryBlobStore();
    blobs.put('in/x.ndjson', ndjson([{ a: 1 }, { a: 2, b: 3 }]));
    const { ctx } = harness(blobs);

    const error = await permanentFailureOf(
      run(
        { input: { key: 'in/x.ndjson', format: 'ndjson' }, output: { format: 'csv', inlineLimitBytes: 0 } },
        ctx,
      ),
    );

    expect(error.code).toBe('OUTPUT_COLUMNS');
    expect(error.message).toContain('"b"');
    expect(blobs.keys()).toEqual(['in/x.ndjson']);
  });
});

describe('PROCESS_DATA over blobs: inline or blob result', () => {
  it('returns a small result inline and writes no blob', async () => {
    const blobs = new MemoryBlobStore();
    blobs.put('in/p.csv', peopleCsv);
    const { ctx } = harness(blobs);

    const result = await run(
      {
        input: { key: 'in/p.csv', format: 'csv' },
        operations: [{ op: 'filter', field: 'country', operator: 'eq', value: 'FR' }],
      },
      ctx,
    );

    expect(result).toEqual({ records: [{ name: 'Di', age: '18', country: 'FR' }], count: 1 });
    expect(blobs.keys()).toEqual(['in/p.csv']);
  });

  it('streams a result larger than the inline limit to a blob in the input format by default', async () => {
    const blobs = new MemoryBlobStore();
    const records = Array.from({ length: 5000 }, (_, i) => ({ i, label: `item-${String(i)}` }));
    blobs.put('in/big.ndjson', ndjson(records));
    const { ctx } = harness(blobs);

    const result = await run(
      {
        input: { key: 'in/big.ndjson', format: 'ndjson' },
        operations: [{ op: 'select', fields: ['label'] }],
      },
      ctx,
    );

    expect(result).toMatchObject({ count: 5000, outputs: [{ key: `${PREFIX}result.ndjson`, rows: 5000 }] });
    const written = parseNdjson(blobs.get(`${PREFIX}result.ndjson`)?.toString() ?? '');
    expect(written).toEqual(records.map(({ label }) => ({ label })));
  });

  it('keeps a result inline up to exactly inlineLimitBytes of JSON and spills one byte beyond', async () => {
    const records = [{ k: 'a' }, { k: 'b' }];
    const exact = Buffer.byteLength(JSON.stringify(records));
    const blobs = new MemoryBlobStore();
    const { ctx } = harness(blobs);

    const fits = await run({ records, output: { format: 'ndjson', inlineLimitBytes: exact } }, ctx);
    expect(blobs.keys()).toEqual([]);
    const spills = await run({ records, output: { format: 'ndjson', inlineLimitBytes: exact - 1 } }, ctx);

    expect(fits).toEqual({ records, count: 2 });
    expect(spills).toMatchObject({ count: 2, outputs: [{ key: `${PREFIX}result.ndjson`, rows: 2 }] });
    expect(blobs.get(`${PREFIX}result.ndjson`)?.toString()).toBe('{"k":"a"}\n{"k":"b"}\n');
  });
});

describe('PROCESS_DATA over blobs: CSV policy', () => {
  it('groups CSV rows with cast: numbers become numbers, so sums and averages work', async () => {
    const blobs = new MemoryBlobStore();
    blobs.put('in/p.csv', peopleCsv);
    const { ctx } = harness(blobs);

    const result = await run(
      {
        input: { key: 'in/p.csv', format: 'csv', csv: { cast: true } },
        operations: [
          { op: 'filter', field: 'age', operator: 'gte', value: 18 },
          {
            op: 'groupBy',
            by: ['country'],
            aggregates: [
              { fn: 'count', as: 'n' },
              { fn: 'sum', field: 'age', as: 'total' },
              { fn: 'max', field: 'name', as: 'last' },
            ],
          },
        ],
        output: { format: 'csv', inlineLimitBytes: 0 },
      },
      ctx,
    );

    expect(result).toMatchObject({ count: 3, outputs: [{ rows: 3 }] });
    expect(blobs.get(`${PREFIX}result.csv`)?.toString()).toBe(
      'country,n,total,last\nUK,2,61,Ed\nUS,1,40,"Cy, Jr."\nFR,1,18,Di\n',
    );
  });

  it('casts only exact JSON-style numbers, true, false and empty values', () => {
    expect(['42', '-0.5', '1e3', '', 'true', 'false'].map(castCsvValue)).toEqual([
      42,
      -0.5,
      1000,
      null,
      true,
      false,
    ]);
    const kept = [
      '007',
      '+1',
      '.5',
      '5.',
      ' 1',
      '1,5',
      'TRUE',
      'NaN',
      'Infinity',
      '1e999',
      '12345678901234567890',
    ];
    expect(kept.map(castCsvValue)).toEqual(kept);
  });

  it('keeps CSV values as text without cast, so a numeric comparison is refused before any row is read', async () => {
    const blobs = new MemoryBlobStore();
    blobs.put('in/p.csv', peopleCsv);
    const { ctx, progress } = harness(blobs);

    const error = await permanentFailureOf(
      run(
        {
          input: { key: 'in/p.csv', format: 'csv' },
          operations: [
            { op: 'rename', fields: { age: 'years' } },
            { op: 'filter', field: 'years', operator: 'gt', value: 30 },
          ],
        },
        ctx,
      ),
    );

    expect(error.code).toBe('TYPE_MISMATCH');
    expect(error.message).toContain('operations[1]');
    expect(error.message).toContain('input.csv.cast');
    expect(progress).toEqual([]);
  });

  it('refuses an operation naming a column missing from the header before any row has arrived', async () => {
    // Only the header line and part of the first row are available: the check cannot depend on rows.
    const { store, stream } = stalledStore();
    stream.write('name,age\nAda,3');
    const { ctx } = harness(store);

    const error = await permanentFailureOf(
      run(
        {
          input: { key: 'in/p.csv', format: 'csv' },
          operations: [{ op: 'select', fields: ['name', 'agee'] }],
        },
        ctx,
      ),
    );

    expect(error.code).toBe('UNKNOWN_COLUMN');
    expect(error.message).toContain('operations[0].fields[1]');
    expect(error.message).toContain('"agee"');
    expect(error.message).toContain('"name", "age"');
    expect(stream.destroyed).toBe(true);
  });

  it('follows columns through the pipeline: a field renamed away is unknown afterwards', async () => {
    const blobs = new MemoryBlobStore();
    blobs.put('in/p.csv', peopleCsv);
    const { ctx } = harness(blobs);

    const error = await permanentFailureOf(
      run(
        {
          input: { key: 'in/p.csv', format: 'csv' },
          operations: [
            { op: 'rename', fields: { name: 'fullName' } },
            { op: 'sort', by: [{ field: 'name' }] },
          ],
        },
        ctx,
      ),
    );

    expect(error.code).toBe('UNKNOWN_COLUMN');
    expect(error.message).toContain('operations[1].by[0].field');
  });

  it('uses input.csv.columns for a headerless CSV and another delimiter', async () => {
    const blobs = new MemoryBlobStore();
    blobs.put('in/t.tsv', 'a\t1\nb\t2\n');
    const { ctx } = harness(blobs);

    const result = await run(
      {
        input: {
          key: 'in/t.tsv',
          format: 'csv',
          csv: { header: false, columns: ['k', 'v'], delimiter: '\t' },
        },
      },
      ctx,
    );

    expect(result).toEqual({
      records: [
        { k: 'a', v: '1' },
        { k: 'b', v: '2' },
      ],
      count: 2,
    });
  });

  it('keeps a __proto__ column as data', async () => {
    const blobs = new MemoryBlobStore();
    blobs.put('in/p.csv', '__proto__,b\nx,y\n');
    const { ctx } = harness(blobs);

    const result = await run({ input: { key: 'in/p.csv', format: 'csv' } }, ctx);

    expect(result).toMatchObject({ count: 1 });
    const record = 'records' in result ? result.records[0] : undefined;
    expect(Object.keys(record ?? {})).toEqual(['__proto__', 'b']);
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
  });

  it('refuses a header with a duplicate column', async () => {
    const blobs = new MemoryBlobStore();
    blobs.put('in/p.csv', 'a,b,a\n1,2,3\n');
    const { ctx } = harness(blobs);

    const error = await permanentFailureOf(run({ input: { key: 'in/p.csv', format: 'csv' } }, ctx));

    expect(error.code).toBe('BAD_INPUT');
    expect(error.message).toContain('"a" twice');
  });
});

describe('PROCESS_DATA over blobs: bad input', () => {
  it('names the line of a CSV record with the wrong number of fields', async () => {
    const blobs = new MemoryBlobStore();
    blobs.put('in/p.csv', 'a,b\n1,2\n3,4\n5\n');
    const { ctx } = harness(blobs);

    const error = await permanentFailureOf(run({ input: { key: 'in/p.csv', format: 'csv' } }, ctx));

    expect(error.code).toBe('BAD_INPUT');
    expect(error.message).toMatch(/^Malformed CSV at line 4:/);
  });

  it('names the line of a malformed NDJSON line and of a line that is not an object', async () => {
    const blobs = new MemoryBlobStore({ chunkBytes: 3 });
    blobs.put('in/bad.ndjson', '{"a":1}\n\n{"a":2,}\n');
    blobs.put('in/array.ndjson', '{"a":1}\n[1,2]\n');
    const { ctx } = harness(blobs);

    const bad = await permanentFailureOf(run({ input: { key: 'in/bad.ndjson', format: 'ndjson' } }, ctx));
    const array = await permanentFailureOf(run({ input: { key: 'in/array.ndjson', format: 'ndjson' } }, ctx));

    expect(bad.code).toBe('BAD_INPUT');
    expect(bad.message).toMatch(/^NDJSON line 3 is not valid JSON/);
    expect(array.message).toBe('NDJSON line 2: expected a JSON object, got an array.');
  });

  it('refuses a JSON input that is not an array of objects', async () => {
    const blobs = new MemoryBlobStore();
    blobs.put('in/obj.json', '{"records":[]}');
    blobs.put('in/mixed.json', '[{"a":1},2]');
    const { ctx } = harness(blobs);

    const obj = await permanentFailureOf(run({ input: { key: 'in/obj.json', format: 'json' } }, ctx));
    const mixed = await permanentFailureOf(run({ input: { key: 'in/mixed.json', format: 'json' } }, ctx));

    expect(obj.code).toBe('BAD_INPUT');
    expect(obj.message).toContain('must be an array of objects');
    expect(mixed.message).toBe("The JSON input's element [1]: expected a JSON object, got a number.");
  });

  it('refuses a JSON input over the size cap from its size alone, pointing to NDJSON or CSV', async () => {
    const blobs = new MemoryBlobStore();
    blobs.put('in/huge.json', '[]');
    const large: BlobStore = {
      read: (key) => blobs.read(key),
      write: (key, body, options) => blobs.write(key, body, options),
      uploadUrl: (key, options) => blobs.uploadUrl(key, options),
      downloadUrl: (key, options) => blobs.downloadUrl(key, options),
      head: async (key): Promise<BlobInfo | null> => ({ key, bytes: 60 * 1024 * 1024, contentType: null }),
    };
    const { ctx } = harness(large);

    const error = await permanentFailureOf(run({ input: { key: 'in/huge.json', format: 'json' } }, ctx));

    expect(error.code).toBe('INPUT_TOO_LARGE');
    expect(error.message).toContain('NDJSON');
  });

  it('fails with INPUT_NOT_FOUND when the input blob does not exist', async () => {
    const { ctx } = harness(new MemoryBlobStore());

    const error = await permanentFailureOf(run({ input: { key: 'inputs/missing.csv', format: 'csv' } }, ctx));

    expect(error.code).toBe('INPUT_NOT_FOUND');
    expect(error.message).toContain('inputs/missing.csv');
  });

  it('stops reading at a satisfied limit, so a malformed line after it goes unread', async () => {
    const blobs = new MemoryBlobStore({ chunkBytes: 8 });
    blobs.put('in/p.csv', `a\n${'1\n'.repeat(5000)}"broken\n`);
    const { ctx } = harness(blobs);

    const result = await run(
      { input: { key: 'in/p.csv', format: 'csv' }, operations: [{ op: 'limit', count: 2 }] },
      ctx,
    );

    expect(result).toEqual({ records: [{ a: '1' }, { a: '1' }], count: 2 });
  });
});

describe('PROCESS_DATA over blobs: payload validation', () => {
  it('refuses an input key that could leave its folder', () => {
    expect(errorText({ input: { key: '../secrets.csv', format: 'csv' } })).toContain(
      'The blob key must not contain empty, "." or ".." segments\n  → at input.key',
    );
    expect(errorText({ input: { key: '/etc/passwd', format: 'csv' } })).toContain('must be relative');
  });

  it('requires exactly one of records and input', () => {
    const message = 'Exactly one of records (inline JSON records) or input (a blob to read) is required';
    expect(errorText({ operations: [] })).toContain(message);
    expect(errorText({ records: [], input: { key: 'a.csv', format: 'csv' } })).toContain(message);
  });

  it('refuses csv options on another format, a headerless CSV without columns and an oversized inline limit', () => {
    expect(errorText({ input: { key: 'a.json', format: 'json', csv: { cast: true } } })).toContain(
      'csv options apply only to format "csv"',
    );
    expect(errorText({ input: { key: 'a.csv', format: 'csv', csv: { header: false } } })).toContain(
      'columns is required when header is false\n  → at input.csv.columns',
    );
    expect(errorText({ records: [], output: { format: 'csv', inlineLimitBytes: 200_001 } })).toContain(
      'inlineLimitBytes must be at most 200000',
    );
    expect(errorText({ input: { key: 'a.csv', format: 'csv', csv: { delimiter: ';;' } } })).toContain(
      'delimiter must be a single character',
    );
  });
});

describe('PROCESS_DATA over blobs: progress and abort', () => {
  it('reports progress as rows read and a growing fraction of the blob, ending at 1', async () => {
    const blobs = new MemoryBlobStore();
    blobs.put('in/big.ndjson', ndjson(Array.from({ length: 5000 }, (_, i) => ({ i }))));
    const { ctx, progress } = harness(blobs);

    await run(
      {
        input: { key: 'in/big.ndjson', format: 'ndjson' },
        operations: [{ op: 'filter', field: 'i', operator: 'lt', value: 0 }],
      },
      ctx,
    );

    const fractions = progress.map((p) => p.fraction);
    expect(fractions.length).toBeGreaterThan(2);
    expect([...fractions].sort((a, b) => a - b)).toEqual(fractions);
    expect(fractions.slice(0, -1).every((f) => f > 0 && f < 1)).toBe(true);
    expect(progress.at(-1)).toEqual({ fraction: 1, message: '5000 rows' });
  });

  it('stops reading and writing when the signal aborts mid-stream, leaving no output blob', async () => {
    const blobs = new MemoryBlobStore({ chunkBytes: 256 });
    blobs.put('in/big.ndjson', ndjson(Array.from({ length: 20_000 }, (_, i) => ({ i }))));
    const { ctx, controller, progress } = harness(blobs);
    const reason = new Error('cancelled by user');
    const aborting: ProcessDataContext = {
      ...ctx,
      progress: (fraction, message) => {
        progress.push({ fraction, message });
        if (progress.length === 3) controller.abort(reason);
      },
    };

    const outcome = run(
      {
        input: { key: 'in/big.ndjson', format: 'ndjson' },
        output: { format: 'ndjson', inlineLimitBytes: 0 },
      },
      aborting,
    );

    await expect(outcome).rejects.toBe(reason);
    expect(progress).toHaveLength(3);
    expect(blobs.keys()).toEqual(['in/big.ndjson']);
  });

  it('ends a read that is waiting for data when the signal aborts', async () => {
    const { store, stream } = stalledStore();
    const { ctx, controller } = harness(store);
    const reason = new Error('timed out');
    stream.write('a,b\n1,2\n');

    const outcome = run({ input: { key: 'in/slow.csv', format: 'csv' } }, ctx);
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(reason);

    await expect(outcome).rejects.toBe(reason);
    expect(stream.destroyed).toBe(true);
  });
});

describe('PROCESS_DATA streaming engine', () => {
  const records: JsonRecord[] = [
    { name: 'Ada', age: 36, country: 'UK', tags: ['a'] },
    { name: 'Bob', age: 12, country: 'US' },
    { name: 'Cy', age: 40, country: 'US', extra: true },
    { name: 'Di', age: null, country: 'FR', tags: ['b', 'a'] },
    { name: 'Ed', age: 25, country: 'UK' },
    { name: 'Ed', age: 25, country: 'UK' },
    { name: 'Fay', country: 'FR', tags: [] },
  ];
  const pipelines: Record<string, Operation[]> = {
    'filter, rename, sort desc': [
      { op: 'filter', field: 'age', operator: 'gte', value: 18 },
      { op: 'rename', fields: { name: 'fullName', age: 'name' } },
      { op: 'sort', by: [{ field: 'name', order: 'desc' }] },
    ],
    'sort then limit': [
      { op: 'sort', by: [{ field: 'country' }, { field: 'age', order: 'desc' }] },
      { op: 'limit', count: 3 },
    ],
    'limit then sort': [
      { op: 'limit', count: 4 },
      { op: 'sort', by: [{ field: 'age' }] },
    ],
    'groupBy with every aggregate, then sort': [
      {
        op: 'groupBy',
        by: ['country'],
        aggregates: [
          { fn: 'count', as: 'n' },
          { fn: 'count', field: 'age', as: 'withAge' },
          { fn: 'sum', field: 'age', as: 'sum' },
          { fn: 'avg', field: 'age', as: 'avg' },
          { fn: 'min', field: 'name', as: 'first' },
          { fn: 'max', field: 'age', as: 'oldest' },
        ],
      },
      { op: 'sort', by: [{ field: 'n', order: 'desc' }] },
    ],
    'distinct whole records and by fields': [
      { op: 'distinct' },
      { op: 'select', fields: ['country', 'tags'] },
      { op: 'distinct', fields: ['country'] },
    ],
    'contains and exists': [
      { op: 'filter', field: 'tags', operator: 'contains', value: 'a' },
      { op: 'filter', field: 'extra', operator: 'exists', value: false },
    ],
  };

  for (const [name, operations] of Object.entries(pipelines)) {
    it(`gives the same records as runOperations: ${name}`, async () => {
      const blobs = new MemoryBlobStore({ chunkBytes: 16 });
      blobs.put('in/r.ndjson', ndjson(records));
      const { ctx } = harness(blobs);

      const streamed = await run({ input: { key: 'in/r.ndjson', format: 'ndjson' }, operations }, ctx);

      const expected = runOperations(records, operations);
      expect(streamed).toEqual({ records: expected, count: expected.length });
      expect(expected.length).toBeGreaterThan(0);
    });
  }
});
