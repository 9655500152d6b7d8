import { describe, it, expect } from 'vitest';
import { z } from 'zod';
import {
  ABORT_CHECK_INTERVAL,
  MAX_OPERATIONS,
  MAX_RECORDS,
  processData,
  processDataPayloadSchema,
  runOperations,
} from '../../src/task-types/process-data/operations.ts';
import type { JsonRecord, Operation } from '../../src/task-types/process-data/operations.ts';

const run = (records: JsonRecord[], ...operations: Operation[]): JsonRecord[] =>
  runOperations(records, operations);

/** The readable error text a client would see for an invalid payload. */
function errorText(payload: unknown): string {
  const result = processDataPayloadSchema.safeParse(payload);
  if (result.success) throw new Error('expected the payload to be rejected');
  return z.prettifyError(result.error);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

const people: JsonRecord[] = [
  { name: 'Ada', age: 36, country: 'UK' },
  { name: 'Bob', age: 12, country: 'US' },
  { name: 'Cy', age: 40, country: 'US', extra: true },
  { name: 'Di', age: 18, country: 'FR' },
  { name: 'Ed', age: 25, country: 'UK' },
];

const exampleOperations = [
  { op: 'filter', field: 'age', operator: 'gte', value: 18 },
  { op: 'select', fields: ['name', 'age', 'country'] },
  { op: 'rename', fields: { name: 'fullName' } },
  { op: 'sort', by: [{ field: 'age', order: 'desc' }] },
  {
    op: 'groupBy',
    by: ['country'],
    aggregates: [
      { fn: 'count', as: 'n' },
      { fn: 'avg', field: 'age', as: 'avgAge' },
    ],
  },
  { op: 'distinct', fields: ['country'] },
  { op: 'limit', count: 10 },
];

describe('the example payload end to end', () => {
  it('validates and produces the distinct countries in order of the age-descending groups', () => {
    const payload = processDataPayloadSchema.parse({ records: people, operations: exampleOperations });
    expect(processData(payload)).toEqual({
      records: [{ country: 'US' }, { country: 'UK' }, { country: 'FR' }],
      count: 3,
    });
  });

  it('produces the groupBy counts and averages before the distinct step', () => {
    const payload = processDataPayloadSchema.parse({
      records: people,
      operations: exampleOperations.slice(0, 5),
    });
    expect(processData(payload).records).toEqual([
      { country: 'US', n: 1, avgAge: 40 },
      { country: 'UK', n: 2, avgAge: 30.5 },
      { country: 'FR', n: 1, avgAge: 18 },
    ]);
  });

  it('renames and sorts the selected fields before grouping', () => {
    const payload = processDataPayloadSchema.parse({
      records: people,
      operations: exampleOperations.slice(0, 4),
    });
    expect(processData(payload).records).toEqual([
      { fullName: 'Cy', age: 40, country: 'US' },
      { fullName: 'Ada', age: 36, country: 'UK' },
      { fullName: 'Ed', age: 25, country: 'UK' },
      { fullName: 'Di', age: 18, country: 'FR' },
    ]);
  });

  it('passes the records through when operations are omitted or empty', () => {
    const omitted = processDataPayloadSchema.parse({ records: people });
    expect(processData(omitted)).toEqual({ records: people, count: 5 });
    expect(processData({ records: people, operations: [] })).toEqual({ records: people, count: 5 });
  });
});

describe('filter', () => {
  const mixed: JsonRecord[] = [
    { id: 1, v: 1 },
    { id: 2, v: '1' },
    { id: 3, v: true },
    { id: 4, v: [1] },
    { id: 5, v: { a: 1, b: 2 } },
    { id: 6, v: null },
    { id: 7 },
  ];
  const ids = (records: JsonRecord[]) => records.map((record) => record.id);

  it('eq uses deep equality without coercion', () => {
    expect(ids(run(mixed, { op: 'filter', field: 'v', operator: 'eq', value: 1 }))).toEqual([1]);
    expect(ids(run(mixed, { op: 'filter', field: 'v', operator: 'eq', value: '1' }))).toEqual([2]);
    expect(ids(run(mixed, { op: 'filter', field: 'v', operator: 'eq', value: [1] }))).toEqual([4]);
  });

  it('eq compares objects regardless of key order', () => {
    const op: Operation = { op: 'filter', field: 'v', operator: 'eq', value: { b: 2, a: 1 } };
    expect(ids(run(mixed, op))).toEqual([5]);
  });

  it('eq null matches a null value but not a missing field', () => {
    expect(ids(run(mixed, { op: 'filter', field: 'v', operator: 'eq', value: null }))).toEqual([6]);
  });

  it('ne matches present values that differ, including null, but never a missing field', () => {
    expect(ids(run(mixed, { op: 'filter', field: 'v', operator: 'ne', value: 1 }))).toEqual([2, 3, 4, 5, 6]);
    expect(ids(run(mixed, { op: 'filter', field: 'v', operator: 'ne', value: null }))).toEqual([
      1, 2, 3, 4, 5,
    ]);
  });

  it('gt, gte, lt and lte compare numbers with numbers', () => {
    const records: JsonRecord[] = [{ n: 1 }, { n: 2 }, { n: 3 }];
    const by = (operator: 'gt' | 'gte' | 'lt' | 'lte') =>
      run(records, { op: 'filter', field: 'n', operator, value: 2 }).map((r) => r.n);
    expect(by('gt')).toEqual([3]);
    expect(by('gte')).toEqual([2, 3]);
    expect(by('lt')).toEqual([1]);
    expect(by('lte')).toEqual([1, 2]);
  });

  it('gt, gte, lt and lte compare strings by code units, not locale', () => {
    const records: JsonRecord[] = [{ s: 'a' }, { s: 'B' }, { s: 'é' }, { s: 'b' }];
    expect(run(records, { op: 'filter', field: 's', operator: 'lt', value: 'b' })).toEqual([
      { s: 'a' },
      { s: 'B' },
    ]);
    expect(run(records, { op: 'filter', field: 's', operator: 'gt', value: 'z' })).toEqual([{ s: 'é' }]);
  });

  it('gt, gte, lt and lte never match across types, null, booleans or a missing field', () => {
    const records: JsonRecord[] = [{ v: '10' }, { v: null }, { v: true }, { v: [5] }, {}];
    expect(run(records, { op: 'filter', field: 'v', operator: 'gte', value: 0 })).toEqual([]);
    expect(run(records, { op: 'filter', field: 'v', operator: 'lte', value: '' })).toEqual([]);
    expect(run(records, { op: 'filter', field: 'v', operator: 'gte', value: '' })).toEqual([{ v: '10' }]);
  });

  it('in matches values deep-equal to any element of the list', () => {
    const op: Operation = { op: 'filter', field: 'v', operator: 'in', value: [null, '1', { b: 2, a: 1 }] };
    expect(ids(run(mixed, op))).toEqual([2, 5, 6]);
  });

  it('in with an empty list matches nothing', () => {
    expect(run(mixed, { op: 'filter', field: 'v', operator: 'in', value: [] })).toEqual([]);
  });

  it('contains finds a substring in a string field', () => {
    const records: JsonRecord[] = [{ s: 'hello world' }, { s: 'Hello' }, { s: 'help' }];
    expect(run(records, { op: 'filter', field: 's', operator: 'contains', value: 'ell' })).toEqual([
      { s: 'hello world' },
      { s: 'Hello' },
    ]);
  });

  it('contains finds an element deep-equal to the value in an array field', () => {
    const records: JsonRecord[] = [{ t: ['a', 'b'] }, { t: [1, 2] }, { t: ['1'] }, { t: [] }];
    expect(run(records, { op: 'filter', field: 't', operator: 'contains', value: 1 })).toEqual([
      { t: [1, 2] },
    ]);
    expect(run(records, { op: 'filter', field: 't', operator: 'contains', value: 'b' })).toEqual([
      { t: ['a', 'b'] },
    ]);
  });

  it('contains does not coerce and does not match numbers, objects, null or a missing field', () => {
    const records: JsonRecord[] = [{ s: '123' }, { s: 123 }, { s: { x: 1 } }, { s: null }, {}];
    expect(run(records, { op: 'filter', field: 's', operator: 'contains', value: 2 })).toEqual([]);
    expect(run(records, { op: 'filter', field: 's', operator: 'contains', value: '2' })).toEqual([
      { s: '123' },
    ]);
  });

  it('exists true matches present fields, even null; exists false matches exactly the missing ones', () => {
    expect(ids(run(mixed, { op: 'filter', field: 'v', operator: 'exists', value: true }))).toEqual([
      1, 2, 3, 4, 5, 6,
    ]);
    expect(ids(run(mixed, { op: 'filter', field: 'v', operator: 'exists', value: false }))).toEqual([7]);
  });

  it('treats a field name containing a dot as a plain top-level key', () => {
    const records: JsonRecord[] = [{ 'a.b': 1 }, { a: { b: 1 } }];
    expect(run(records, { op: 'filter', field: 'a.b', operator: 'eq', value: 1 })).toEqual([{ 'a.b': 1 }]);
  });

  it('looks fields up as own keys, so __proto__ and constructor are ordinary names', () => {
    const withProto = JSON.parse('{"__proto__": 1}') as JsonRecord;
    const records: JsonRecord[] = [withProto, {}];
    expect(run(records, { op: 'filter', field: '__proto__', operator: 'exists', value: true })).toEqual([
      withProto,
    ]);
    expect(
      run(records, { op: 'filter', field: 'constructor', operator: 'exists', value: false }),
    ).toHaveLength(2);
  });
});

describe('select', () => {
  it('keeps the listed fields in the listed order and drops those a record lacks', () => {
    const result = run([{ a: 1, b: 2, c: 3 }, { c: null }], { op: 'select', fields: ['c', 'a', 'z'] });
    expect(result).toEqual([{ c: 3, a: 1 }, { c: null }]);
    expect(Object.keys(result[0] ?? {})).toEqual(['c', 'a']);
  });
});

describe('rename', () => {
  it('renames a present field in place', () => {
    const result = run([{ a: 1, b: 2, c: 3 }], { op: 'rename', fields: { b: 'x' } });
    expect(result).toEqual([{ a: 1, x: 2, c: 3 }]);
    expect(Object.keys(result[0] ?? {})).toEqual(['a', 'x', 'c']);
  });

  it('does nothing for a record lacking the source field, even if it has the target', () => {
    expect(run([{ x: 1 }], { op: 'rename', fields: { a: 'x' } })).toEqual([{ x: 1 }]);
  });

  it('overwrites an existing field with the renamed value', () => {
    expect(run([{ a: 1, x: 2 }], { op: 'rename', fields: { a: 'x' } })).toEqual([{ x: 1 }]);
  });

  it('applies all renames at once, so two fields can be swapped', () => {
    expect(run([{ a: 1, b: 2 }], { op: 'rename', fields: { a: 'b', b: 'a' } })).toEqual([{ b: 1, a: 2 }]);
    expect(run([{ a: 1, b: 2 }], { op: 'rename', fields: { a: 'b', b: 'c' } })).toEqual([{ b: 1, c: 2 }]);
  });
});

describe('sort', () => {
  it('orders numbers ascending by default and descending on request', () => {
    const records: JsonRecord[] = [{ n: 2 }, { n: 10 }, { n: -1 }];
    expect(run(records, { op: 'sort', by: [{ field: 'n' }] })).toEqual([{ n: -1 }, { n: 2 }, { n: 10 }]);
    expect(run(records, { op: 'sort', by: [{ field: 'n', order: 'desc' }] })).toEqual([
      { n: 10 },
      { n: 2 },
      { n: -1 },
    ]);
  });

  it('orders across types: missing < null < false < true < numbers < strings < arrays < objects', () => {
    const records: JsonRecord[] = [
      { v: { a: 1 } },
      { v: ['x'] },
      { v: 'b' },
      { v: 'B' },
      { v: 2 },
      { v: true },
      { v: false },
      { v: null },
      {},
    ];
    const asc = run(records, { op: 'sort', by: [{ field: 'v' }] });
    expect(asc).toEqual([
      {},
      { v: null },
      { v: false },
      { v: true },
      { v: 2 },
      { v: 'B' },
      { v: 'b' },
      { v: ['x'] },
      { v: { a: 1 } },
    ]);
  });

  it('desc reverses the whole order, so missing and null come last', () => {
    const records: JsonRecord[] = [{}, { v: null }, { v: 1 }, { v: 'a' }];
    expect(run(records, { op: 'sort', by: [{ field: 'v', order: 'desc' }] })).toEqual([
      { v: 'a' },
      { v: 1 },
      { v: null },
      {},
    ]);
  });

  it('orders arrays and objects by canonical JSON text, ignoring key order', () => {
    const records: JsonRecord[] = [
      { id: 1, v: { b: 1, a: 2 } },
      { id: 2, v: { a: 1 } },
      { id: 3, v: { a: 2, b: 1 } },
      { id: 4, v: [2] },
      { id: 5, v: [1, 9] },
    ];
    expect(run(records, { op: 'sort', by: [{ field: 'v' }] }).map((r) => r.id)).toEqual([5, 4, 2, 1, 3]);
  });

  it('is stable: records with equal keys keep their input order in both directions', () => {
    const records: JsonRecord[] = Array.from({ length: 50 }, (_, i) => ({ k: i % 3, i }));
    for (const order of ['asc', 'desc'] as const) {
      const sorted = run(records, { op: 'sort', by: [{ field: 'k', order }] });
      for (let j = 1; j < sorted.length; j++) {
        const prev = sorted[j - 1];
        const cur = sorted[j];
        if (prev?.k === cur?.k) expect(Number(prev?.i)).toBeLessThan(Number(cur?.i));
      }
    }
  });

  it('breaks ties with the following keys', () => {
    const records: JsonRecord[] = [
      { g: 'a', n: 1 },
      { g: 'b', n: 2 },
      { g: 'a', n: 3 },
    ];
    const op: Operation = { op: 'sort', by: [{ field: 'g' }, { field: 'n', order: 'desc' }] };
    expect(run(records, op)).toEqual([
      { g: 'a', n: 3 },
      { g: 'a', n: 1 },
      { g: 'b', n: 2 },
    ]);
  });
});

describe('groupBy', () => {
  it('emits groups in order of first appearance with the by fields then the aggregates', () => {
    const records: JsonRecord[] = [
      { c: 'x', t: 'p', n: 1 },
      { c: 'y', t: 'p', n: 2 },
      { c: 'x', t: 'q', n: 3 },
      { c: 'x', t: 'p', n: 4 },
    ];
    const result = run(records, {
      op: 'groupBy',
      by: ['t', 'c'],
      aggregates: [{ fn: 'sum', field: 'n', as: 'total' }],
    });
    expect(result).toEqual([
      { t: 'p', c: 'x', total: 5 },
      { t: 'p', c: 'y', total: 2 },
      { t: 'q', c: 'x', total: 3 },
    ]);
    expect(Object.keys(result[0] ?? {})).toEqual(['t', 'c', 'total']);
  });

  it('groups deep-equal values together, whatever their key order', () => {
    const records: JsonRecord[] = [{ k: { a: 1, b: 2 } }, { k: { b: 2, a: 1 } }, { k: [1] }, { k: '1' }];
    expect(run(records, { op: 'groupBy', by: ['k'], aggregates: [{ fn: 'count', as: 'n' }] })).toEqual([
      { k: { a: 1, b: 2 }, n: 2 },
      { k: [1], n: 1 },
      { k: '1', n: 1 },
    ]);
  });

  it('puts records lacking a by field in their own group, apart from null, with the field absent', () => {
    const records: JsonRecord[] = [{ k: null }, {}, { k: null }, { other: 1 }];
    expect(run(records, { op: 'groupBy', by: ['k'], aggregates: [{ fn: 'count', as: 'n' }] })).toEqual([
      { k: null, n: 2 },
      { n: 2 },
    ]);
  });

  it('count counts records; count with a field counts only present, non-null values', () => {
    const records: JsonRecord[] = [{ v: 1 }, { v: null }, {}, { v: 0 }, { v: false }];
    expect(
      run(records, {
        op: 'groupBy',
        by: [],
        aggregates: [
          { fn: 'count', as: 'all' },
          { fn: 'count', field: 'v', as: 'withV' },
        ],
      }),
    ).toEqual([{ all: 5, withV: 3 }]);
  });

  it('sum and avg use numbers only; sum of none is 0 and avg of none is null', () => {
    const records: JsonRecord[] = [{ v: 1 }, { v: '2' }, { v: 3 }, { v: null }, {}, { v: true }];
    const aggregates: Operation = {
      op: 'groupBy',
      by: [],
      aggregates: [
        { fn: 'sum', field: 'v', as: 'sum' },
        { fn: 'avg', field: 'v', as: 'avg' },
        { fn: 'sum', field: 'w', as: 'sumW' },
        { fn: 'avg', field: 'w', as: 'avgW' },
      ],
    };
    expect(run(records, aggregates)).toEqual([{ sum: 4, avg: 2, sumW: 0, avgW: null }]);
  });

  it('sum compensates rounding error over many decimals', () => {
    const records: JsonRecord[] = Array.from({ length: 10 }, () => ({ v: 0.1 }));
    const op: Operation = { op: 'groupBy', by: [], aggregates: [{ fn: 'sum', field: 'v', as: 's' }] };
    expect(run(records, op)).toEqual([{ s: 1 }]);
  });

  it('sum and avg that overflow the double range are null', () => {
    const records: JsonRecord[] = [{ v: Number.MAX_VALUE }, { v: Number.MAX_VALUE }];
    const op: Operation = {
      op: 'groupBy',
      by: [],
      aggregates: [
        { fn: 'sum', field: 'v', as: 's' },
        { fn: 'avg', field: 'v', as: 'a' },
      ],
    };
    expect(run(records, op)).toEqual([{ s: null, a: null }]);
  });

  it('min and max prefer numbers, fall back to strings by code units, and are null otherwise', () => {
    const op = (field: string): Operation => ({
      op: 'groupBy',
      by: [],
      aggregates: [
        { fn: 'min', field, as: 'min' },
        { fn: 'max', field, as: 'max' },
      ],
    });
    expect(run([{ v: 'z' }, { v: 5 }, { v: -2 }, { v: null }], op('v'))).toEqual([{ min: -2, max: 5 }]);
    expect(run([{ v: 'b' }, { v: 'B' }, { v: true }, { v: 'a' }], op('v'))).toEqual([{ min: 'B', max: 'b' }]);
    expect(run([{ v: true }, { v: [1] }, {}], op('v'))).toEqual([{ min: null, max: null }]);
  });

  it('with no by fields forms one group of all records, and no group at all from no records', () => {
    const op: Operation = { op: 'groupBy', by: [], aggregates: [{ fn: 'count', as: 'n' }] };
    expect(run([{}, {}], op)).toEqual([{ n: 2 }]);
    expect(run([], op)).toEqual([]);
  });

  it('without aggregates returns the distinct by combinations', () => {
    const records: JsonRecord[] = [{ c: 'x', n: 1 }, { c: 'y' }, { c: 'x', n: 2 }];
    expect(run(records, { op: 'groupBy', by: ['c'] })).toEqual([{ c: 'x' }, { c: 'y' }]);
  });
});

describe('distinct', () => {
  it('with fields projects to those fields and keeps one record per combination', () => {
    const records: JsonRecord[] = [
      { a: 1, b: 1, c: 1 },
      { a: 1, b: 2, c: 2 },
      { b: 1, a: 1, c: 3 },
    ];
    expect(run(records, { op: 'distinct', fields: ['a', 'b'] })).toEqual([
      { a: 1, b: 1 },
      { a: 1, b: 2 },
    ]);
  });

  it('with fields treats a missing field and a null one as different', () => {
    expect(run([{ a: null }, {}, { a: null }, { b: 1 }], { op: 'distinct', fields: ['a'] })).toEqual([
      { a: null },
      {},
    ]);
  });

  it('without fields keeps the first of deep-equal whole records, ignoring key order', () => {
    const first = { a: 1, b: { x: 1, y: 2 } };
    const records: JsonRecord[] = [first, { b: { y: 2, x: 1 }, a: 1 }, { a: 1 }, { a: 1, b: { x: 1 } }];
    const result = run(records, { op: 'distinct' });
    expect(result).toEqual([first, { a: 1 }, { a: 1, b: { x: 1 } }]);
    expect(result[0]).toBe(first);
  });
});

describe('limit', () => {
  const records: JsonRecord[] = [{ i: 1 }, { i: 2 }, { i: 3 }];

  it('keeps the first count records', () => {
    expect(run(records, { op: 'limit', count: 2 })).toEqual([{ i: 1 }, { i: 2 }]);
  });

  it('with count 0 returns no records', () => {
    expect(processData({ records, operations: [{ op: 'limit', count: 0 }] })).toEqual({
      records: [],
      count: 0,
    });
  });

  it('with a count beyond the length returns all records', () => {
    expect(run(records, { op: 'limit', count: 10 })).toEqual(records);
  });
});

describe('purity', () => {
  it('never mutates the input records or array', () => {
    const records: JsonRecord[] = [
      { name: 'b', tags: ['x', 'y'], nested: { k: 1 }, n: 2 },
      { name: 'a', tags: [], n: 1 },
      { name: 'a', tags: [], n: 1 },
    ];
    const snapshot = structuredClone(records);
    // Frozen input makes any write throw in strict-mode code, whichever operation attempts it.
    deepFreeze(records);
    const operations: Operation[] = [
      { op: 'filter', field: 'n', operator: 'gte', value: 0 },
      { op: 'rename', fields: { name: 'title' } },
      { op: 'sort', by: [{ field: 'title' }] },
      { op: 'distinct' },
      { op: 'select', fields: ['title', 'tags', 'nested'] },
      { op: 'groupBy', by: ['title'], aggregates: [{ fn: 'count', as: 'n' }] },
      { op: 'distinct', fields: ['title'] },
      { op: 'limit', count: 5 },
    ];
    expect(runOperations(records, operations)).toEqual([{ title: 'a' }, { title: 'b' }]);
    expect(records).toEqual(snapshot);
  });

  it('returns a new array even with no operations', () => {
    const records: JsonRecord[] = [{ a: 1 }];
    const result = runOperations(records, []);
    expect(result).toEqual(records);
    expect(result).not.toBe(records);
  });
});

describe('hooks', () => {
  const operations: Operation[] = [
    { op: 'filter', field: 'age', operator: 'gte', value: 18 },
    { op: 'sort', by: [{ field: 'age' }] },
    { op: 'limit', count: 1 },
  ];

  it('reports progress after each operation', () => {
    const calls: [number, number][] = [];
    runOperations(people, operations, { onProgress: (done, total) => calls.push([done, total]) });
    expect(calls).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
  });

  it('throws the abort reason without running anything when the signal is already aborted', () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled by user'));
    let progressed = 0;
    expect(() =>
      runOperations(people, operations, { signal: controller.signal, onProgress: () => progressed++ }),
    ).toThrow('cancelled by user');
    expect(progressed).toBe(0);
  });

  it('stops between operations once the signal is aborted', () => {
    const controller = new AbortController();
    const done: number[] = [];
    const onProgress = (processed: number) => {
      done.push(processed);
      if (processed === 1) controller.abort();
    };
    expect(() => runOperations(people, operations, { signal: controller.signal, onProgress })).toThrow(
      expect.objectContaining({ name: 'AbortError' }),
    );
    expect(done).toEqual([1]);
  });

  it('checks the signal inside an operation over many records', () => {
    let checks = 0;
    // A stand-in signal that trips on its third check: once before the operation, then at records 0 and 10k.
    const signal = {
      throwIfAborted() {
        checks++;
        if (checks === 3) throw new Error('aborted mid-operation');
      },
    } as unknown as AbortSignal;
    const records: JsonRecord[] = Array.from({ length: ABORT_CHECK_INTERVAL * 2 + 1 }, (_, i) => ({ i }));
    expect(() =>
      runOperations(records, [{ op: 'filter', field: 'i', operator: 'exists', value: true }], { signal }),
    ).toThrow('aborted mid-operation');
  });
});

describe('processDataPayloadSchema', () => {
  it('returns the caller’s record objects rather than copies', () => {
    const parsed = processDataPayloadSchema.parse({ records: people });
    expect(parsed.records[0]).toBe(people[0]);
  });

  it('keeps an own __proto__ key of a record as data', () => {
    const parsed = processDataPayloadSchema.parse(JSON.parse('{"records":[{"__proto__":{"x":1}}]}'));
    expect(Object.keys(parsed.records[0] ?? {})).toEqual(['__proto__']);
  });

  it('rejects an unknown op, listing the known ones', () => {
    const text = errorText({ records: [], operations: [{ op: 'explode' }] });
    expect(text).toContain('operations[0].op');
    expect(text).toContain('Invalid discriminator value');
    expect(text).toContain("'groupBy'");
  });

  it('rejects an unknown operator, listing the known ones', () => {
    const text = errorText({
      records: [],
      operations: [{ op: 'filter', field: 'a', operator: 'like', value: 1 }],
    });
    expect(text).toContain('operations[0].operator');
    expect(text).toContain("'contains'");
  });

  it('rejects unknown keys at every level', () => {
    expect(errorText({ records: [], extra: 1 })).toContain('Unrecognized key: "extra"');
    const text = errorText({ records: [], operations: [{ op: 'limit', count: 1, offset: 2 }] });
    expect(text).toContain('Unrecognized key: "offset"');
    expect(text).toContain('operations[0]');
    const nested = errorText({
      records: [],
      operations: [{ op: 'sort', by: [{ field: 'a', direction: 'desc' }] }],
    });
    expect(nested).toContain('Unrecognized key: "direction"');
    expect(nested).toContain('operations[0].by[0]');
  });

  it('rejects a non-array value for in', () => {
    const text = errorText({
      records: [],
      operations: [{ op: 'filter', field: 'a', operator: 'in', value: 1 }],
    });
    expect(text).toContain('in takes an array of values');
    expect(text).toContain('operations[0].value');
  });

  it('rejects a non-boolean or missing value for exists', () => {
    const text = errorText({
      records: [],
      operations: [
        { op: 'filter', field: 'a', operator: 'exists', value: 'yes' },
        { op: 'filter', field: 'a', operator: 'exists' },
      ],
    });
    expect(text).toContain('exists takes true or false\n  → at operations[0].value');
    expect(text).toContain('exists takes true or false\n  → at operations[1].value');
  });

  it('rejects an array or object value for contains', () => {
    const text = errorText({
      records: [],
      operations: [{ op: 'filter', field: 'a', operator: 'contains', value: ['x'] }],
    });
    expect(text).toContain('contains takes a string, number, boolean or null');
    expect(text).toContain('operations[0].value');
  });

  it('rejects a non-scalar bound for gt, gte, lt and lte', () => {
    const text = errorText({
      records: [],
      operations: [{ op: 'filter', field: 'a', operator: 'gt', value: null }],
    });
    expect(text).toContain('gt, gte, lt and lte take a number or a string');
  });

  it('requires a value for eq', () => {
    const text = errorText({ records: [], operations: [{ op: 'filter', field: 'a', operator: 'eq' }] });
    expect(text).toContain('Required');
    expect(text).toContain('operations[0].value');
  });

  it('rejects an empty field name', () => {
    const text = errorText({ records: [], operations: [{ op: 'select', fields: ['a', ''] }] });
    expect(text).toContain('A field name must not be empty');
    expect(text).toContain('operations[0].fields[1]');
  });

  it('rejects a negative or fractional limit count', () => {
    for (const count of [-1, 1.5]) {
      const text = errorText({ records: [], operations: [{ op: 'limit', count }] });
      expect(text).toContain('count must be a non-negative integer');
      expect(text).toContain('operations[0].count');
    }
  });

  it('rejects an empty sort.by', () => {
    const text = errorText({ records: [], operations: [{ op: 'sort', by: [] }] });
    expect(text).toContain('At least one sort key is required');
    expect(text).toContain('operations[0].by');
  });

  it('accepts count with or without a field but requires a field for the other aggregates', () => {
    const ok = processDataPayloadSchema.safeParse({
      records: [],
      operations: [
        {
          op: 'groupBy',
          by: ['c'],
          aggregates: [
            { fn: 'count', as: 'n' },
            { fn: 'count', field: 'v', as: 'nv' },
          ],
        },
      ],
    });
    expect(ok.success).toBe(true);
    const text = errorText({
      records: [],
      operations: [{ op: 'groupBy', by: ['c'], aggregates: [{ fn: 'max', as: 'm' }] }],
    });
    expect(text).toContain('Required\n  → at operations[0].aggregates[0].field');
  });

  it('rejects an unknown aggregate function', () => {
    const text = errorText({
      records: [],
      operations: [{ op: 'groupBy', by: [], aggregates: [{ fn: 'median', field: 'v', as: 'm' }] }],
    });
    expect(text).toContain('operations[0].aggregates[0].fn');
    expect(text).toContain("'avg'");
  });

  it('rejects duplicate aggregate output names and names clashing with by fields', () => {
    const text = errorText({
      records: [],
      operations: [
        {
          op: 'groupBy',
          by: ['country'],
          aggregates: [
            { fn: 'count', as: 'n' },
            { fn: 'sum', field: 'v', as: 'n' },
            { fn: 'max', field: 'v', as: 'country' },
          ],
        },
      ],
    });
    expect(text).toContain('Output name "n" is already used by another aggregate');
    expect(text).toContain('operations[0].aggregates[1].as');
    expect(text).toContain('Output name "country" is already used by a groupBy field');
    expect(text).toContain('operations[0].aggregates[2].as');
  });

  it('rejects duplicate groupBy fields', () => {
    const text = errorText({ records: [], operations: [{ op: 'groupBy', by: ['a', 'a'] }] });
    expect(text).toContain('Duplicate field "a"\n  → at operations[0].by[1]');
  });

  it('rejects two renames onto the same target and an empty rename', () => {
    const text = errorText({
      records: [],
      operations: [
        { op: 'rename', fields: { a: 'x', b: 'x' } },
        { op: 'rename', fields: {} },
      ],
    });
    expect(text).toContain('Both "a" and "b" are renamed to "x"\n  → at operations[0].fields.b');
    expect(text).toContain('At least one field to rename is required\n  → at operations[1].fields');
  });

  it('rejects records that are not plain JSON objects, naming the bad value’s path', () => {
    const text = errorText({
      records: [{ ok: 1 }, [1], 'x', { a: { b: [1, undefined] } }, { n: Number.NaN }, { d: new Date(0) }],
    });
    expect(text).toContain('Expected a JSON object, received array\n  → at records[1]');
    expect(text).toContain('Expected a JSON object, received string\n  → at records[2]');
    expect(text).toContain('Required: expected a JSON value\n  → at records[3].a.b[1]');
    expect(text).toContain('Expected a finite number, received NaN\n  → at records[4].n');
    expect(text).toContain('Expected a plain JSON object\n  → at records[5].d');
  });

  it('rejects records nested too deeply', () => {
    let deep: JsonRecord = { leaf: 1 };
    for (let i = 0; i < 100; i++) deep = { d: deep };
    expect(errorText({ records: [deep] })).toContain('Nested more than 64 levels deep');
  });

  it('rejects too many records or operations before inspecting them', () => {
    const records = new Array<unknown>(MAX_RECORDS + 1).fill(0);
    expect(errorText({ records })).toContain(
      `At most ${String(MAX_RECORDS)} records are allowed\n  → at records`,
    );
    const operations = new Array<unknown>(MAX_OPERATIONS + 1).fill({ op: 'limit', count: 1 });
    expect(errorText({ records: [], operations })).toContain(
      `At most ${String(MAX_OPERATIONS)} operations are allowed\n  → at operations`,
    );
  });

  it('requires records', () => {
    expect(errorText({ operations: [] })).toContain('records');
  });
});
