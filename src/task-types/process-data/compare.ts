/**
 * Value semantics shared by the PROCESS_DATA operations: equality, grouping keys and the total order used by
 * `sort`, `min` and `max`. Everything here works on validated JSON values only, where `undefined` never occurs
 * as a value, so the engine uses `undefined` to mean "the field is missing".
 */

/** A JSON scalar. */
export type JsonPrimitive = string | number | boolean | null;

/** Any value that `JSON.parse` can produce (finite numbers only). */
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };

/** A record: a plain JSON object whose top-level keys are the field names. */
export type JsonRecord = { [key: string]: JsonValue };

/**
 * Reads a top-level field. Own properties only, so a field named `__proto__` or `constructor` is looked up as
 * data rather than reaching the prototype.
 *
 * @returns the value, or `undefined` when the record lacks the field (`null` is a present value)
 */
export function fieldOf(record: JsonRecord, field: string): JsonValue | undefined {
  return Object.hasOwn(record, field) ? record[field] : undefined;
}

/**
 * Strict structural equality: no coercion (`1` ≠ `"1"`), arrays element by element, objects by key set and
 * values regardless of key order. `0` equals `-0`, as with `===`.
 */
export function deepEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      const y = b[i];
      if (x === undefined || y === undefined || !deepEqual(x, y)) return false;
    }
    return true;
  }
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(b, key)) return false;
    const x = a[key];
    const y = b[key];
    if (x === undefined || y === undefined || !deepEqual(x, y)) return false;
  }
  return true;
}

/** Orders strings by UTF-16 code units, the way `<` does, so results never depend on the server's locale. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * JSON text with object keys sorted (by code units) at every level, so that two values are {@link deepEqual}
 * exactly when their canonical texts are identical. Used as a hash key for `in`, `groupBy` and `distinct`, and as
 * the sort key of arrays and objects.
 */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  const entries = Object.entries(value).sort(([a], [b]) => compareCodeUnits(a, b));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

/**
 * A key identifying the combination of several fields of a record; a missing field and a `null` one give
 * different keys.
 */
export function fieldsKey(record: JsonRecord, fields: readonly string[]): string {
  // Present values become strings and missing ones null, so the outer JSON array cannot make two combinations
  // collide.
  return JSON.stringify(
    fields.map((field) => {
      const value = fieldOf(record, field);
      return value === undefined ? null : canonicalJson(value);
    }),
  );
}

/**
 * Compares two values of the same primitive kind for `gt`, `gte`, `lt` and `lte`.
 *
 * @returns negative, zero or positive; `undefined` when the pair is not number–number or string–string, which
 *   makes the filter not match
 */
export function compareScalars(a: JsonValue, b: JsonValue): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return compareCodeUnits(a, b);
  return undefined;
}

/**
 * A precomputed position of a value in the `sort` order, so that the canonical text of arrays and objects is
 * built once per record rather than once per comparison.
 */
export interface SortKey {
  /** Type rank: missing 0, null 1, boolean 2, number 3, string 4, array 5, object 6. */
  readonly rank: number;
  /** Booleans (false 0, true 1) and numbers. */
  readonly num: number;
  /** Strings, and the canonical JSON text of arrays and objects. */
  readonly text: string;
}

/** Builds the {@link SortKey} of a field value; `undefined` stands for a missing field. */
export function sortKey(value: JsonValue | undefined): SortKey {
  if (value === undefined) return { rank: 0, num: 0, text: '' };
  if (value === null) return { rank: 1, num: 0, text: '' };
  if (typeof value === 'boolean') return { rank: 2, num: value ? 1 : 0, text: '' };
  if (typeof value === 'number') return { rank: 3, num: value, text: '' };
  if (typeof value === 'string') return { rank: 4, num: 0, text: value };
  return { rank: Array.isArray(value) ? 5 : 6, num: 0, text: canonicalJson(value) };
}

/**
 * The ascending total order of `sort`: missing < null < false < true < numbers < strings < arrays < objects;
 * numbers numerically, strings by code units, arrays and objects by their canonical JSON text.
 */
export function compareSortKeys(a: SortKey, b: SortKey): number {
  if (a.rank !== b.rank) return a.rank - b.rank;
  if (a.num !== b.num) return a.num < b.num ? -1 : 1;
  return compareCodeUnits(a.text, b.text);
}
