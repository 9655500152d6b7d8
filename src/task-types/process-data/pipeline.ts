/**
 * The streaming form of the PROCESS_DATA engine: each operation is a stage that takes records one at a time and
 * hands its output to the next stage, so records flow from the input to the output without the whole data set in
 * memory. The semantics are those of `runOperations` (same predicates, projections, keys and accumulators); only
 * `sort` and `groupBy` hold state until the input ends, and `distinct` keeps the keys it has seen.
 */
import { PermanentTaskError } from '../../domain/errors.ts';
import type { JsonRecord, SortKey } from './compare.ts';
import {
  buildPredicate,
  distinctFilter,
  groupTable,
  project,
  renameFields,
  sortComparator,
  sortKeysOf,
} from './operations.ts';
import type { FilterOperation, Operation } from './schema.ts';

/** One step of a streaming run. */
export interface Stage {
  /** Takes one record. Returns false once the stage wants no more input (a `limit` is full). */
  push(record: JsonRecord): boolean;
  /** The input has ended, or was cut short: emit what is held, then end the next stage. */
  end(): Promise<void>;
}

/**
 * Called between records a stage emits from its end (sort, groupBy): throws when the run is aborted, and returns a
 * promise when the output needs time to drain.
 */
export type Pace = () => Promise<void> | undefined;

/** How many records pass between two calls of a {@link Pace}. */
export const PACE_INTERVAL = 1024;

async function emitAll(records: Iterable<JsonRecord>, next: Stage, pace: Pace): Promise<void> {
  let emitted = 0;
  for (const record of records) {
    if (!next.push(record)) break;
    if (++emitted % PACE_INTERVAL === 0) {
      const wait = pace();
      if (wait) await wait;
    }
  }
  await next.end();
}

function filterStage(op: FilterOperation, next: Stage): Stage {
  const matches = buildPredicate(op);
  return { push: (record) => (matches(record) ? next.push(record) : true), end: () => next.end() };
}

function mapStage(fn: (record: JsonRecord) => JsonRecord, next: Stage): Stage {
  return { push: (record) => next.push(fn(record)), end: () => next.end() };
}

function limitStage(count: number, next: Stage): Stage {
  let taken = 0;
  return {
    push(record) {
      if (taken >= count) return false;
      taken++;
      return next.push(record) && taken < count;
    },
    end: () => next.end(),
  };
}

/** Keeps the key of every distinct combination seen; records pass on as soon as they are found new. */
function distinctStage(fields: readonly string[] | undefined, next: Stage): Stage {
  const firstTime = distinctFilter(fields);
  return {
    push(record) {
      const kept = firstTime(record);
      return kept === undefined ? true : next.push(kept);
    },
    end: () => next.end(),
  };
}

/** Keeps one entry per group (its `by` values and accumulators); emits the groups when the input ends. */
function groupByStage(op: Extract<Operation, { op: 'groupBy' }>, next: Stage, pace: Pace): Stage {
  const groups = groupTable(op.by, op.aggregates ?? []);
  return {
    push(record) {
      groups.add(record);
      return true;
    },
    end: () => emitAll(groups.outputs(), next, pace),
  };
}

/** Keeps every record that reaches it, with its sort keys; emits them in order when the input ends. */
function sortStage(op: Extract<Operation, { op: 'sort' }>, next: Stage, pace: Pace): Stage {
  const compare = sortComparator(op.by);
  const held: { record: JsonRecord; keys: SortKey[] }[] = [];
  return {
    push(record) {
      held.push({ record, keys: sortKeysOf(record, op.by) });
      return true;
    },
    async end() {
      // Stable, like runOperations: equal keys keep their input order.
      held.sort((a, b) => compare(a.keys, b.keys));
      function* records(): Generator<JsonRecord> {
        for (const entry of held) yield entry.record;
      }
      await emitAll(records(), next, pace);
      held.length = 0;
    },
  };
}

function stageFor(op: Operation, next: Stage, pace: Pace): Stage {
  switch (op.op) {
    case 'filter':
      return filterStage(op, next);
    case 'select': {
      const { fields } = op;
      return mapStage((record) => project(record, fields), next);
    }
    case 'rename': {
      const renames = new Map(Object.entries(op.fields));
      return mapStage((record) => renameFields(record, renames), next);
    }
    case 'sort':
      return sortStage(op, next, pace);
    case 'groupBy':
      return groupByStage(op, next, pace);
    case 'distinct':
      return distinctStage(op.fields, next);
    case 'limit':
      return limitStage(op.count, next);
    default: {
      const unknown: never = op;
      throw new Error(`Unhandled operation: ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * Chains the operations in front of `sink`.
 *
 * @returns the first stage: push the input records into it, then call `end` once
 */
export function buildStages(operations: readonly Operation[], sink: Stage, pace: Pace): Stage {
  let next = sink;
  for (let i = operations.length - 1; i >= 0; i--) {
    const op = operations[i];
    if (op !== undefined) next = stageFor(op, next, pace);
  }
  return next;
}

/** What is known about the input records before any is read. */
export interface InputShape {
  /** Exactly the fields of every record, in order (a CSV header), or null when records may differ. */
  columns: readonly string[] | null;
  /** Every value is a string (CSV without `cast`). */
  textOnly: boolean;
}

function listColumns(columns: readonly string[]): string {
  const shown = columns.slice(0, 20).map((c) => JSON.stringify(c));
  return columns.length > 20
    ? `${shown.join(', ')} and ${String(columns.length - 20)} more`
    : shown.join(', ');
}

/** Why comparing a text-only field with this filter's value is decided by type alone, or null. */
function textMismatch(op: FilterOperation): string | null {
  switch (op.operator) {
    case 'exists':
      return null;
    case 'in':
      return op.value.length === 0 || op.value.some((v) => typeof v === 'string')
        ? null
        : 'a list of non-strings';
    default: {
      const { value } = op;
      if (typeof value === 'string') return null;
      return value === null
        ? 'null'
        : Array.isArray(value)
          ? 'an array'
          : `the ${typeof value} ${String(value)}`;
    }
  }
}

/**
 * Checks the operations against the columns of an input whose records all have the same fields (CSV), before any
 * row is read: every field an operation names must be a column at that point of the pipeline, and a filter must
 * not compare a text column with a non-string (it would be decided by type alone). Also works out the fields of
 * the result, which a CSV output uses as its header.
 *
 * @returns the result's columns when known (a superset when the input's fields vary), else null
 * @throws PermanentTaskError `UNKNOWN_COLUMN` or `TYPE_MISMATCH`
 */
export function checkColumns(operations: readonly Operation[], shape: InputShape): string[] | null {
  // Only a CSV input says exactly which fields every record has; after a select or groupBy on JSON records the
  // list is an upper bound, good for an output header but not for refusing a field.
  const strict = shape.columns !== null;
  let columns: string[] | null = shape.columns === null ? null : [...shape.columns];
  let text = new Set<string>(shape.textOnly && columns !== null ? columns : []);

  const need = (field: string, path: string): void => {
    if (!strict || columns === null || columns.includes(field)) return;
    throw new PermanentTaskError(
      `${path}: there is no column ${JSON.stringify(field)} at this point (the columns are ${listColumns(columns)}).`,
      { code: 'UNKNOWN_COLUMN' },
    );
  };
  // After select or distinct with fields, records hold at most those fields (exactly those for a CSV input).
  const narrow = (fields: readonly string[]): void => {
    columns = [...fields];
    text = new Set(fields.filter((f) => text.has(f)));
  };

  operations.forEach((op, i) => {
    const at = `operations[${String(i)}]`;
    switch (op.op) {
      case 'filter': {
        need(op.field, `${at}.field`);
        const mismatch = text.has(op.field) ? textMismatch(op) : null;
        if (mismatch !== null) {
          const outcome = op.operator === 'ne' ? 'keeps every row' : 'matches no row';
          throw new PermanentTaskError(
            `${at}: column ${JSON.stringify(op.field)} holds text (CSV values are strings unless input.csv.cast ` +
              `is true), so comparing it with ${mismatch} ${outcome}. Set input.csv.cast to true, or compare ` +
              'with a string.',
            { code: 'TYPE_MISMATCH' },
          );
        }
        break;
      }
      case 'select':
        op.fields.forEach((field, j) => need(field, `${at}.fields[${String(j)}]`));
        narrow(op.fields);
        break;
      case 'rename': {
        const renames = new Map(Object.entries(op.fields));
        for (const from of renames.keys()) need(from, `${at}.fields.${from}`);
        if (columns === null) break;
        const current: string[] = columns;
        const overwritten = new Set(
          [...renames].filter(([from]) => current.includes(from)).map(([, to]) => to),
        );
        const next: string[] = [];
        const nextText = new Set<string>();
        for (const column of current) {
          const to = renames.get(column);
          // With exact columns an overwritten target disappears; with an upper bound a record may lack the source
          // and keep the target, so the target stays listed.
          if (to === undefined && strict && overwritten.has(column)) continue;
          const name = to ?? column;
          if (next.includes(name)) continue;
          next.push(name);
          if (text.has(column)) nextText.add(name);
        }
        columns = next;
        text = nextText;
        break;
      }
      case 'sort':
        op.by.forEach((key, j) => need(key.field, `${at}.by[${String(j)}].field`));
        break;
      case 'groupBy': {
        op.by.forEach((field, j) => need(field, `${at}.by[${String(j)}]`));
        const aggregates = op.aggregates ?? [];
        aggregates.forEach((aggregate, j) => {
          if (aggregate.field !== undefined) need(aggregate.field, `${at}.aggregates[${String(j)}].field`);
        });
        text = new Set(op.by.filter((f) => text.has(f)));
        columns = [...op.by, ...aggregates.map((aggregate) => aggregate.as)];
        break;
      }
      case 'distinct':
        if (op.fields !== undefined) {
          op.fields.forEach((field, j) => need(field, `${at}.fields[${String(j)}]`));
          narrow(op.fields);
        }
        break;
      case 'limit':
        break;
    }
  });
  return columns;
}
