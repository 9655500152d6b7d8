import {
  canonicalJson,
  compareScalars,
  compareSortKeys,
  deepEqual,
  fieldOf,
  fieldsKey,
  sortKey,
} from './compare.ts';
import type { JsonRecord, JsonValue, SortKey } from './compare.ts';
import type { Aggregate, FilterOperation, Operation, ProcessDataPayload } from './schema.ts';

export {
  DEFAULT_INLINE_LIMIT_BYTES,
  MAX_INLINE_LIMIT_BYTES,
  MAX_JSON_DEPTH,
  MAX_OPERATIONS,
  MAX_RECORDS,
  processDataPayloadSchema,
  processDataTaskPayloadSchema,
} from './schema.ts';
export type { JsonRecord, JsonValue } from './compare.ts';
export type {
  Aggregate,
  DataFormat,
  FilterOperation,
  Operation,
  ProcessDataPayload,
  ProcessDataTaskPayload,
} from './schema.ts';

/** Optional cancellation and progress reporting for {@link runOperations}. */
export interface ProcessDataHooks {
  /** Checked before each operation and every {@link ABORT_CHECK_INTERVAL} records inside an operation. */
  signal?: AbortSignal;
  /** Called after each operation completes, with the number done so far and the total. */
  onProgress?: (processedOps: number, totalOps: number) => void;
}

/** The records a PROCESS_DATA run produced; a task returns this inline when it is small enough. */
export interface ProcessDataResult {
  records: JsonRecord[];
  count: number;
}

/** How many records an operation handles between two abort checks. */
export const ABORT_CHECK_INTERVAL = 10_000;

function checkAbort(signal: AbortSignal | undefined, index: number): void {
  if (signal !== undefined && index % ABORT_CHECK_INTERVAL === 0) signal.throwIfAborted();
}

/** Like `Array.prototype.map`, with abort checks, for the per-record loops. */
function mapRecords<T>(
  records: readonly JsonRecord[],
  signal: AbortSignal | undefined,
  fn: (record: JsonRecord) => T,
): T[] {
  const out: T[] = [];
  for (let i = 0; i < records.length; i++) {
    checkAbort(signal, i);
    const record = records[i];
    if (record !== undefined) out.push(fn(record));
  }
  return out;
}

function assertNever(value: never): never {
  throw new Error(`Unhandled operation: ${JSON.stringify(value)}`);
}

/** The test a `filter` operation applies to each record. */
export function buildPredicate(op: FilterOperation): (record: JsonRecord) => boolean {
  const { field } = op;
  switch (op.operator) {
    case 'eq': {
      const expected = op.value;
      return (record) => {
        const value = fieldOf(record, field);
        return value !== undefined && deepEqual(value, expected);
      };
    }
    case 'ne': {
      const expected = op.value;
      return (record) => {
        const value = fieldOf(record, field);
        return value !== undefined && !deepEqual(value, expected);
      };
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const { operator, value: bound } = op;
      const accept =
        operator === 'gt'
          ? (c: number) => c > 0
          : operator === 'gte'
            ? (c: number) => c >= 0
            : operator === 'lt'
              ? (c: number) => c < 0
              : (c: number) => c <= 0;
      return (record) => {
        const value = fieldOf(record, field);
        if (value === undefined) return false;
        const c = compareScalars(value, bound);
        return c !== undefined && accept(c);
      };
    }
    case 'in': {
      // Canonical text is equal exactly when values are deep-equal, so a set lookup replaces a scan of the list.
      const allowed = new Set(op.value.map((item) => canonicalJson(item)));
      return (record) => {
        const value = fieldOf(record, field);
        return value !== undefined && allowed.has(canonicalJson(value));
      };
    }
    case 'contains': {
      const needle = op.value;
      return (record) => {
        const value = fieldOf(record, field);
        if (typeof value === 'string') return typeof needle === 'string' && value.includes(needle);
        if (Array.isArray(value)) return value.some((item) => deepEqual(item, needle));
        return false;
      };
    }
    case 'exists': {
      const wanted = op.value;
      return (record) => Object.hasOwn(record, field) === wanted;
    }
    default:
      return assertNever(op);
  }
}

function filterRecords(
  records: readonly JsonRecord[],
  op: FilterOperation,
  signal?: AbortSignal,
): JsonRecord[] {
  const matches = buildPredicate(op);
  const out: JsonRecord[] = [];
  for (let i = 0; i < records.length; i++) {
    checkAbort(signal, i);
    const record = records[i];
    if (record !== undefined && matches(record)) out.push(record);
  }
  return out;
}

/**
 * Keeps the listed fields, in the listed order, dropping those the record lacks. Built with
 * `Object.fromEntries` so that a field named `__proto__` stays an ordinary key.
 */
export function project(record: JsonRecord, fields: readonly string[]): JsonRecord {
  const entries: [string, JsonValue][] = [];
  for (const field of fields) {
    const value = fieldOf(record, field);
    if (value !== undefined) entries.push([field, value]);
  }
  return Object.fromEntries(entries);
}

/** Applies a `rename` operation's map (from → to) to one record; see docs/process-data.md. */
export function renameFields(record: JsonRecord, renames: ReadonlyMap<string, string>): JsonRecord {
  // Renames apply simultaneously: a target that a present source moves onto is overwritten, but only sources the
  // record actually has take effect.
  const overwritten = new Set<string>();
  for (const [from, to] of renames) {
    if (Object.hasOwn(record, from)) overwritten.add(to);
  }
  if (overwritten.size === 0) return record;
  const entries: [string, JsonValue][] = [];
  for (const [key, value] of Object.entries(record)) {
    const to = renames.get(key);
    if (to !== undefined) entries.push([to, value]);
    else if (!overwritten.has(key)) entries.push([key, value]);
  }
  return Object.fromEntries(entries);
}

/** A `sort` key list: fields with their direction. */
export type SortBy = readonly { field: string; order?: 'asc' | 'desc' | undefined }[];

/**
 * The comparison of `sort` over precomputed keys (see {@link sortKeysOf}): keys are computed once per record,
 * because arrays and objects compare by canonical text, which is costly to rebuild at every comparison.
 */
export function sortComparator(by: SortBy): (a: readonly SortKey[], b: readonly SortKey[]) => number {
  const directions = by.map((key) => (key.order === 'desc' ? -1 : 1));
  return (a, b) => {
    for (let i = 0; i < directions.length; i++) {
      const x = a[i];
      const y = b[i];
      if (x === undefined || y === undefined) continue;
      const c = compareSortKeys(x, y);
      if (c !== 0) return c * (directions[i] ?? 1);
    }
    return 0;
  };
}

/** The sort keys of one record, in `by` order. */
export function sortKeysOf(record: JsonRecord, by: SortBy): SortKey[] {
  return by.map((key) => sortKey(fieldOf(record, key.field)));
}

function sortRecords(records: readonly JsonRecord[], by: SortBy, signal?: AbortSignal): JsonRecord[] {
  const compare = sortComparator(by);
  const decorated = mapRecords(records, signal, (record) => ({ record, keys: sortKeysOf(record, by) }));
  // Array.prototype.sort is stable (ES2019), which is what makes equal keys keep their input order.
  decorated.sort((a, b) => compare(a.keys, b.keys));
  return decorated.map((entry) => entry.record);
}

/** The running state of one `groupBy` aggregate within one group. */
interface Accumulator {
  add(record: JsonRecord): void;
  result(): JsonValue;
}

/** Neumaier-compensated sum, so that long columns of decimals do not drift. */
function createSum() {
  let sum = 0;
  let compensation = 0;
  let count = 0;
  return {
    add(x: number): void {
      const t = sum + x;
      compensation += Math.abs(sum) >= Math.abs(x) ? sum - t + x : x - t + sum;
      sum = t;
      count++;
    },
    get count(): number {
      return count;
    },
    get total(): number {
      return sum + compensation;
    },
  };
}

/** JSON has no Infinity; a result that overflows the double range is reported as null instead. */
function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

/** A fresh accumulator for one aggregate of one group. */
function createAccumulator(aggregate: Aggregate): Accumulator {
  switch (aggregate.fn) {
    case 'count': {
      const { field } = aggregate;
      let count = 0;
      return {
        add(record) {
          if (field === undefined) count++;
          else {
            const value = fieldOf(record, field);
            if (value !== undefined && value !== null) count++;
          }
        },
        result: () => count,
      };
    }
    case 'sum':
    case 'avg': {
      const { fn, field } = aggregate;
      const sum = createSum();
      return {
        add(record) {
          const value = fieldOf(record, field);
          if (typeof value === 'number') sum.add(value);
        },
        result() {
          if (fn === 'sum') return finiteOrNull(sum.total);
          return sum.count === 0 ? null : finiteOrNull(sum.total / sum.count);
        },
      };
    }
    case 'min':
    case 'max': {
      const { fn, field } = aggregate;
      const sign = fn === 'min' ? -1 : 1;
      let bestNumber: number | undefined;
      let bestString: string | undefined;
      return {
        add(record) {
          const value = fieldOf(record, field);
          if (typeof value === 'number') {
            if (bestNumber === undefined || sign * (value - bestNumber) > 0) bestNumber = value;
          } else if (typeof value === 'string') {
            if (bestString === undefined || sign * (compareScalars(value, bestString) ?? 0) > 0) {
              bestString = value;
            }
          }
        },
        // Numbers win over strings: a column holding both is numeric data with stray text.
        result: () => bestNumber ?? bestString ?? null,
      };
    }
    default:
      return assertNever(aggregate);
  }
}

/** The output record of one group: the `by` values it was created with, then the aggregates in listed order. */
function groupOutput(
  byValues: JsonRecord,
  aggregates: readonly Aggregate[],
  accumulators: readonly Accumulator[],
): JsonRecord {
  const entries = Object.entries(byValues);
  aggregates.forEach((aggregate, index) => {
    const accumulator = accumulators[index];
    if (accumulator !== undefined) entries.push([aggregate.as, accumulator.result()]);
  });
  return Object.fromEntries(entries);
}

/**
 * The groups of a groupBy: one entry per distinct combination of `by` values, in order of first
 * appearance (a Map iterates in insertion order), with its accumulators. Shared by the in-memory
 * run and the streaming pipeline.
 */
export function groupTable(by: readonly string[], aggregates: readonly Aggregate[]) {
  const groups = new Map<string, { byValues: JsonRecord; accumulators: Accumulator[] }>();
  return {
    add(record: JsonRecord): void {
      const key = fieldsKey(record, by);
      let group = groups.get(key);
      if (group === undefined) {
        group = { byValues: project(record, by), accumulators: aggregates.map(createAccumulator) };
        groups.set(key, group);
      }
      for (const accumulator of group.accumulators) accumulator.add(record);
    },
    *outputs(): Generator<JsonRecord> {
      for (const { byValues, accumulators } of groups.values()) {
        yield groupOutput(byValues, aggregates, accumulators);
      }
    },
  };
}

function groupRecords(
  records: readonly JsonRecord[],
  by: readonly string[],
  aggregates: readonly Aggregate[],
  signal?: AbortSignal,
): JsonRecord[] {
  const groups = groupTable(by, aggregates);
  for (let i = 0; i < records.length; i++) {
    checkAbort(signal, i);
    const record = records[i];
    if (record !== undefined) groups.add(record);
  }
  return [...groups.outputs()];
}

/**
 * For distinct: returns what to keep of a record the first time its combination of `fields` (all of
 * it when `fields` is absent) is seen, and undefined every later time.
 */
export function distinctFilter(fields: readonly string[] | undefined) {
  const seen = new Set<string>();
  return (record: JsonRecord): JsonRecord | undefined => {
    const key = fields === undefined ? canonicalJson(record) : fieldsKey(record, fields);
    if (seen.has(key)) return undefined;
    seen.add(key);
    return fields === undefined ? record : project(record, fields);
  };
}

function distinctRecords(
  records: readonly JsonRecord[],
  fields: readonly string[] | undefined,
  signal?: AbortSignal,
): JsonRecord[] {
  const firstTime = distinctFilter(fields);
  const out: JsonRecord[] = [];
  for (let i = 0; i < records.length; i++) {
    checkAbort(signal, i);
    const record = records[i];
    const kept = record === undefined ? undefined : firstTime(record);
    if (kept !== undefined) out.push(kept);
  }
  return out;
}

function applyOperation(records: readonly JsonRecord[], op: Operation, signal?: AbortSignal): JsonRecord[] {
  switch (op.op) {
    case 'filter':
      return filterRecords(records, op, signal);
    case 'select':
      return mapRecords(records, signal, (record) => project(record, op.fields));
    case 'rename': {
      const renames = new Map(Object.entries(op.fields));
      return mapRecords(records, signal, (record) => renameFields(record, renames));
    }
    case 'sort':
      return sortRecords(records, op.by, signal);
    case 'groupBy':
      return groupRecords(records, op.by, op.aggregates ?? [], signal);
    case 'distinct':
      return distinctRecords(records, op.fields, signal);
    case 'limit':
      return records.slice(0, op.count);
    default:
      return assertNever(op);
  }
}

/**
 * Applies `operations` to `records` in order. Pure: neither the input array nor any record is modified; records
 * that pass through unchanged (filter, sort, limit) are returned as the same objects, and changed ones are new.
 *
 * @param records validated records (see `processDataPayloadSchema`)
 * @param operations validated operations; an empty list returns a copy of `records`
 * @param hooks `signal` aborts the run by throwing its reason; `onProgress` is told after each operation
 * @returns a new array
 * @throws the signal's abort reason when it is aborted
 */
export function runOperations(
  records: readonly JsonRecord[],
  operations: readonly Operation[],
  hooks: ProcessDataHooks = {},
): JsonRecord[] {
  const { signal, onProgress } = hooks;
  let current: JsonRecord[] = [...records];
  for (let i = 0; i < operations.length; i++) {
    signal?.throwIfAborted();
    const op = operations[i];
    if (op !== undefined) current = applyOperation(current, op, signal);
    onProgress?.(i + 1, operations.length);
  }
  return current;
}

/**
 * Runs a validated PROCESS_DATA payload; see {@link runOperations} for purity, cancellation and progress.
 *
 * @returns the resulting records and their number
 */
export function processData(payload: ProcessDataPayload, hooks?: ProcessDataHooks): ProcessDataResult {
  const records = runOperations(payload.records, payload.operations ?? [], hooks);
  return { records, count: records.length };
}
