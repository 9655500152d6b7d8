import { z } from 'zod';
import { blobKeyProblem } from '../../domain/blob-key.ts';
import type { JsonRecord, JsonValue } from './compare.ts';

/** Most records one payload may carry. */
export const MAX_RECORDS = 100_000;
/** Most operations one payload may carry. */
export const MAX_OPERATIONS = 50;
/** Deepest nesting of arrays and objects accepted inside a record or a filter value. */
export const MAX_JSON_DEPTH = 64;
/** A result whose records take more JSON bytes than this goes to a blob unless `output.inlineLimitBytes` says. */
export const DEFAULT_INLINE_LIMIT_BYTES = 65_536;
/** Highest `output.inlineLimitBytes`: an inline result must stay well inside the task result limit. */
export const MAX_INLINE_LIMIT_BYTES = 200_000;

/** Where `findJsonProblem` found something that is not JSON data, and what. */
export interface JsonProblem {
  readonly path: (string | number)[];
  readonly message: string;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Finds the first place where `value` is not JSON data. The depth cap keeps every later recursive walk (equality,
 * canonical text) far from the stack limit, whatever nesting `JSON.parse` accepted. `path` is a shared stack,
 * copied only when a problem is reported, because this runs over every value of up to 100k records.
 */
export function findJsonProblem(value: unknown, path: (string | number)[]): JsonProblem | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') {
    return Number.isFinite(value)
      ? undefined
      : { path: [...path], message: `Expected a finite number, received ${String(value)}` };
  }
  if (value === undefined) return { path: [...path], message: 'Required: expected a JSON value' };
  if (typeof value !== 'object') {
    return { path: [...path], message: `Expected a JSON value, received ${typeof value}` };
  }
  if (path.length >= MAX_JSON_DEPTH) {
    return { path: [...path], message: `Nested more than ${String(MAX_JSON_DEPTH)} levels deep` };
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      const problem = findJsonProblem(value[i], path);
      path.pop();
      if (problem) return problem;
    }
    return undefined;
  }
  if (!isPlainObject(value)) return { path: [...path], message: 'Expected a plain JSON object' };
  for (const key of Object.keys(value)) {
    path.push(key);
    const problem = findJsonProblem((value as Record<string, unknown>)[key], path);
    path.pop();
    if (problem) return problem;
  }
  return undefined;
}

/*
 * Records and values are checked by hand rather than with z.json()/z.record(): that keeps the caller's objects
 * (no copy of up to 100k records), keeps own `__proto__` keys as data, and reports the exact nested path.
 */
const jsonValueSchema = z.custom<JsonValue>().superRefine((value, ctx) => {
  const problem = findJsonProblem(value, []);
  if (problem) ctx.addIssue({ code: 'custom', message: problem.message, path: problem.path, input: value });
});

const jsonRecordSchema = z.custom<JsonRecord>().superRefine((value: unknown, ctx) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    ctx.addIssue({
      code: 'custom',
      message: `Expected a JSON object, received ${describeType(value)}`,
      input: value,
    });
    return;
  }
  const problem = findJsonProblem(value, []);
  if (problem) ctx.addIssue({ code: 'custom', message: problem.message, path: problem.path, input: value });
});

/** Checks the length before looking at any item, so an oversized array is rejected without walking it. */
function boundedArray<T extends z.ZodType>(item: T, max: number, noun: string) {
  return z
    .array(z.unknown())
    .max(max, `At most ${String(max)} ${noun} are allowed`)
    .pipe(z.array(item));
}

const fieldName = z
  .string({
    error: (issue) => (issue.input === undefined ? 'Required' : 'Expected a field name (string)'),
  })
  .min(1, 'A field name must not be empty');

function rejectDuplicates(values: readonly string[], ctx: z.RefinementCtx, what: string): void {
  const seen = new Set<string>();
  values.forEach((value, index) => {
    if (seen.has(value)) {
      ctx.addIssue({ code: 'custom', message: `Duplicate ${what} "${value}"`, path: [index], input: value });
    }
    seen.add(value);
  });
}

const fieldList = z
  .array(fieldName)
  .min(1, 'At least one field is required')
  .superRefine((fields, ctx) => {
    rejectDuplicates(fields, ctx, 'field');
  });

const filterBase = { op: z.literal('filter'), field: fieldName };

const filterSchema = z.discriminatedUnion('operator', [
  z.strictObject({ ...filterBase, operator: z.enum(['eq', 'ne']), value: jsonValueSchema }),
  z.strictObject({
    ...filterBase,
    operator: z.enum(['gt', 'gte', 'lt', 'lte']),
    value: z.union([z.number(), z.string()], { error: 'gt, gte, lt and lte take a number or a string' }),
  }),
  z.strictObject({
    ...filterBase,
    operator: z.literal('in'),
    value: z.array(jsonValueSchema, { error: 'in takes an array of values' }),
  }),
  z.strictObject({
    ...filterBase,
    operator: z.literal('contains'),
    value: z.union([z.string(), z.number(), z.boolean(), z.null()], {
      error: 'contains takes a string, number, boolean or null',
    }),
  }),
  z.strictObject({
    ...filterBase,
    operator: z.literal('exists'),
    value: z.boolean({ error: 'exists takes true or false' }),
  }),
]);

const selectSchema = z.strictObject({ op: z.literal('select'), fields: fieldList });

const renameSchema = z.strictObject({
  op: z.literal('rename'),
  fields: z
    .record(fieldName, fieldName)
    .refine((fields) => Object.keys(fields).length > 0, 'At least one field to rename is required')
    .superRefine((fields, ctx) => {
      const seen = new Map<string, string>();
      for (const [from, to] of Object.entries(fields)) {
        const other = seen.get(to);
        if (other !== undefined) {
          ctx.addIssue({
            code: 'custom',
            message: `Both "${other}" and "${from}" are renamed to "${to}"`,
            path: [from],
            input: to,
          });
        }
        seen.set(to, from);
      }
    }),
});

const sortSchema = z.strictObject({
  op: z.literal('sort'),
  by: z
    .array(z.strictObject({ field: fieldName, order: z.enum(['asc', 'desc']).optional() }))
    .min(1, 'At least one sort key is required'),
});

const aggregateAs = z
  .string({ error: (issue) => (issue.input === undefined ? 'Required' : 'Expected an output field name') })
  .min(1, 'An output field name must not be empty');

const aggregateSchema = z.discriminatedUnion('fn', [
  z.strictObject({ fn: z.literal('count'), field: fieldName.optional(), as: aggregateAs }),
  z.strictObject({ fn: z.enum(['sum', 'avg', 'min', 'max']), field: fieldName, as: aggregateAs }),
]);

const groupBySchema = z
  .strictObject({
    op: z.literal('groupBy'),
    by: z.array(fieldName).superRefine((fields, ctx) => {
      rejectDuplicates(fields, ctx, 'field');
    }),
    aggregates: z.array(aggregateSchema).optional(),
  })
  .superRefine((op, ctx) => {
    const taken = new Set(op.by);
    op.aggregates?.forEach((aggregate, index) => {
      if (taken.has(aggregate.as)) {
        const clash = op.by.includes(aggregate.as) ? 'a groupBy field' : 'another aggregate';
        ctx.addIssue({
          code: 'custom',
          message: `Output name "${aggregate.as}" is already used by ${clash}`,
          path: ['aggregates', index, 'as'],
          input: aggregate.as,
        });
      }
      taken.add(aggregate.as);
    });
  });

const distinctSchema = z.strictObject({ op: z.literal('distinct'), fields: fieldList.optional() });

const limitSchema = z.strictObject({
  op: z.literal('limit'),
  count: z
    .int({ error: 'count must be a non-negative integer' })
    .min(0, 'count must be a non-negative integer'),
});

/** One step of the pipeline; `op` selects the kind. */
export const operationSchema = z.discriminatedUnion('op', [
  filterSchema,
  selectSchema,
  renameSchema,
  sortSchema,
  groupBySchema,
  distinctSchema,
  limitSchema,
]);

/**
 * The inline form of the PROCESS_DATA payload, which {@link processData} runs: `records` (plain JSON objects, at
 * most {@link MAX_RECORDS}) and `operations` (at most {@link MAX_OPERATIONS}, applied in order; omitted or empty
 * means the records pass through). Unknown keys are errors at every level. Parsing returns the caller's record
 * objects, not copies. The task accepts more: see {@link processDataTaskPayloadSchema}.
 */
export const processDataPayloadSchema = z.strictObject({
  records: boundedArray(jsonRecordSchema, MAX_RECORDS, 'records'),
  operations: boundedArray(operationSchema, MAX_OPERATIONS, 'operations').optional(),
});

const blobKeySchema = z.string({ error: 'Expected a blob key (string)' }).superRefine((key, ctx) => {
  const problem = blobKeyProblem(key);
  if (problem) ctx.addIssue({ code: 'custom', message: `The blob key ${problem}`, input: key });
});

const formatSchema = z.enum(['json', 'ndjson', 'csv']);

const csvOptionsSchema = z.strictObject({
  delimiter: z
    .string()
    .length(1, 'delimiter must be a single character')
    .refine((d) => d !== '"' && d !== '\r' && d !== '\n', 'delimiter must not be a quote or a line break')
    .optional(),
  header: z.boolean().optional(),
  columns: fieldList.optional(),
  cast: z.boolean().optional(),
});

const inputSchema = z
  .strictObject({ key: blobKeySchema, format: formatSchema, csv: csvOptionsSchema.optional() })
  .superRefine((input, ctx) => {
    if (input.csv === undefined) return;
    if (input.format !== 'csv') {
      ctx.addIssue({
        code: 'custom',
        message: 'csv options apply only to format "csv"',
        path: ['csv'],
        input,
      });
    } else if (input.csv.header === false && input.csv.columns === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'columns is required when header is false',
        path: ['csv', 'columns'],
        input: input.csv,
      });
    }
  });

const outputSchema = z.strictObject({
  format: formatSchema,
  inlineLimitBytes: z
    .int({ error: 'inlineLimitBytes must be an integer' })
    .min(0, 'inlineLimitBytes must not be negative')
    .max(MAX_INLINE_LIMIT_BYTES, `inlineLimitBytes must be at most ${String(MAX_INLINE_LIMIT_BYTES)}`)
    .optional(),
});

/**
 * The PROCESS_DATA task payload: exactly one of `records` (inline, as in {@link processDataPayloadSchema}) or
 * `input` (a blob in JSON, NDJSON or CSV), `operations`, and an optional `output` saying in which format a result
 * too large to return inline is written to a blob. The semantics are in docs/process-data.md.
 */
export const processDataTaskPayloadSchema = z
  .strictObject({
    records: boundedArray(jsonRecordSchema, MAX_RECORDS, 'records').optional(),
    input: inputSchema.optional(),
    operations: boundedArray(operationSchema, MAX_OPERATIONS, 'operations').optional(),
    output: outputSchema.optional(),
  })
  .superRefine((payload, ctx) => {
    if ((payload.records === undefined) === (payload.input === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'Exactly one of records (inline JSON records) or input (a blob to read) is required',
        path: payload.records === undefined ? [] : ['input'],
        input: payload,
      });
    }
  });

/** A validated inline PROCESS_DATA payload. */
export type ProcessDataPayload = z.infer<typeof processDataPayloadSchema>;
/** A validated PROCESS_DATA task payload (inline records or a blob input). */
export type ProcessDataTaskPayload = z.infer<typeof processDataTaskPayloadSchema>;
/** Where a PROCESS_DATA task reads its records from when they are not inline. */
export type ProcessDataInput = z.infer<typeof inputSchema>;
/** CSV reading options. */
export type CsvInputOptions = z.infer<typeof csvOptionsSchema>;
/** A file format for input and output. */
export type DataFormat = z.infer<typeof formatSchema>;
/** One validated operation. */
export type Operation = z.infer<typeof operationSchema>;
/** A validated `filter` operation. */
export type FilterOperation = Extract<Operation, { op: 'filter' }>;
/** A validated `groupBy` aggregate. */
export type Aggregate = z.infer<typeof aggregateSchema>;
