import { z } from 'zod';
import type { JsonRecord, JsonValue } from './compare.ts';

/** Most records one payload may carry. */
export const MAX_RECORDS = 100_000;
/** Most operations one payload may carry. */
export const MAX_OPERATIONS = 50;
/** Deepest nesting of arrays and objects accepted inside a record or a filter value. */
export const MAX_JSON_DEPTH = 64;

interface JsonProblem {
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
function findJsonProblem(value: unknown, path: (string | number)[]): JsonProblem | undefined {
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
 * The PROCESS_DATA payload: `records` (plain JSON objects, at most {@link MAX_RECORDS}) and `operations` (at most
 * {@link MAX_OPERATIONS}, applied in order; omitted or empty means the records pass through). Unknown keys are
 * errors at every level. Parsing returns the caller's record objects, not copies.
 */
export const processDataPayloadSchema = z.strictObject({
  records: boundedArray(jsonRecordSchema, MAX_RECORDS, 'records'),
  operations: boundedArray(operationSchema, MAX_OPERATIONS, 'operations').optional(),
});

/** A validated PROCESS_DATA payload. */
export type ProcessDataPayload = z.infer<typeof processDataPayloadSchema>;
/** One validated operation. */
export type Operation = z.infer<typeof operationSchema>;
/** A validated `filter` operation. */
export type FilterOperation = Extract<Operation, { op: 'filter' }>;
/** A validated `groupBy` aggregate. */
export type Aggregate = z.infer<typeof aggregateSchema>;
