/**
 * `util.transform.toSubscriptionFilter` and the wire form it produces (facts §5, R18, R34):
 * `{ filterGroup: [{ filters: [{ fieldName, operator, value }] }] }`, where the rules inside one entry of
 * `filterGroup` are ANDed and the entries are ORed.
 *
 * The input object is read as a boolean formula and put in disjunctive normal form: sibling keys are ANDed,
 * `and: [...]` ANDs its members, `or: [...]` ORs its members, and every operator under a field is one rule.
 * AWS documents the operators and the wire form but not the exact expansion of nested `and`/`or`; the
 * expansion below is the plain reading of the docs. UNCONFIRMED.
 */
import { ResolverRuntimeError } from './errors.ts';

/** One rule of a filter. */
export interface SubscriptionFilterRule {
  fieldName: string;
  operator: SubscriptionFilterOperator;
  value: unknown;
}

/** The wire form accepted by `extensions.setSubscriptionFilter`. */
export interface SubscriptionFilter {
  filterGroup: { filters: SubscriptionFilterRule[] }[];
}

/**
 * Operators AppSync lists for enhanced filters (R4), plus `containsAny`, which the installed
 * `@aws-appsync/utils` typings and a third-party crate (R38) name. `attributeExists` is UNCONFIRMED, so it is
 * rejected rather than guessed at.
 */
export const SUBSCRIPTION_FILTER_OPERATORS = [
  'eq',
  'ne',
  'lt',
  'le',
  'gt',
  'ge',
  'contains',
  'notContains',
  'beginsWith',
  'in',
  'notIn',
  'between',
  'containsAny',
] as const;

/** A subscription filter operator. */
export type SubscriptionFilterOperator = (typeof SUBSCRIPTION_FILTER_OPERATORS)[number];

const OPERATORS: ReadonlySet<string> = new Set(SUBSCRIPTION_FILTER_OPERATORS);
const LIST_OPERATORS: ReadonlySet<string> = new Set(['in', 'notIn', 'containsAny']);

type Conjunction = SubscriptionFilterRule[];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(message: string): never {
  throw new ResolverRuntimeError(`util.transform.toSubscriptionFilter: ${message}`);
}

/** AND of two formulas in DNF: every conjunction of one paired with every conjunction of the other. */
function and(left: Conjunction[], right: Conjunction[]): Conjunction[] {
  return left.flatMap((l) => right.map((r) => [...l, ...r]));
}

function members(key: 'and' | 'or', value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (isRecord(value)) return [value];
  return fail(`'${key}' must be a list of filter objects`);
}

function rule(fieldName: string, operator: string, value: unknown): SubscriptionFilterRule {
  if (!OPERATORS.has(operator)) fail(`unknown operator '${operator}' on field '${fieldName}'`);
  if (LIST_OPERATORS.has(operator) && !Array.isArray(value))
    fail(`'${operator}' on '${fieldName}' needs a list`);
  if (operator === 'between' && !(Array.isArray(value) && value.length === 2)) {
    fail(`'between' on '${fieldName}' needs a list of two values`);
  }
  return { fieldName, operator: operator as SubscriptionFilterOperator, value };
}

/**
 * Rules for one field. A value whose keys are all operators is a set of rules; a value whose keys are none is
 * a nested object, whose fields are addressed as `a.b.c` (R34 allows up to 5 levels; not enforced here).
 */
function fieldRules(fieldName: string, condition: unknown): Conjunction[] {
  if (!isRecord(condition)) fail(`field '${fieldName}' needs an object of operators, e.g. { eq: value }`);
  const keys = Object.keys(condition);
  const operatorKeys = keys.filter((k) => OPERATORS.has(k));
  if (operatorKeys.length === keys.length) {
    return [keys.map((op) => rule(fieldName, op, condition[op]))];
  }
  if (operatorKeys.length > 0) fail(`field '${fieldName}' mixes operators and nested fields`);
  // A nested field holds an object; a scalar here is almost surely a misspelt operator.
  const scalarKey = keys.find((k) => !isRecord(condition[k]));
  if (scalarKey !== undefined) {
    fail(
      `unknown operator '${scalarKey}' on field '${fieldName}' (known: ${SUBSCRIPTION_FILTER_OPERATORS.join(', ')})`,
    );
  }
  return toDnf(condition, `${fieldName}.`, []);
}

function toDnf(filter: Record<string, unknown>, prefix: string, ignored: readonly string[]): Conjunction[] {
  let result: Conjunction[] = [[]];
  for (const [key, value] of Object.entries(filter)) {
    if (value === undefined || ignored.includes(key)) continue;
    if (key === 'or') {
      const alternatives = members('or', value).flatMap((member) =>
        isRecord(member) ? toDnf(member, prefix, []) : fail(`'or' members must be objects`),
      );
      result = and(result, alternatives);
    } else if (key === 'and') {
      for (const member of members('and', value)) {
        result = and(
          result,
          isRecord(member) ? toDnf(member, prefix, []) : fail(`'and' members must be objects`),
        );
      }
    } else {
      result = and(result, fieldRules(prefix + key, value));
    }
  }
  return result;
}

/**
 * `util.transform.toSubscriptionFilter(obj, ignoredFields?, rules?)`.
 *
 * `ignoredFields` drops top-level fields of `obj`. `rules` are "strict rules ... included in such a way that at
 * least one of the rules will be satisfied" (typings): we read that as `obj AND (rule1 OR rule2 ...)`, i.e. each
 * rule is appended to every filter. UNCONFIRMED.
 */
export function toSubscriptionFilter(
  obj: unknown,
  ignoredFields?: unknown,
  rules?: unknown,
): SubscriptionFilter {
  if (!isRecord(obj)) fail('the first argument must be an object');
  if (ignoredFields !== undefined && ignoredFields !== null && !Array.isArray(ignoredFields)) {
    fail('ignoredFields must be a list of field names');
  }
  const ignored = (ignoredFields ?? []) as unknown[];
  let conjunctions = toDnf(
    obj,
    '',
    ignored.map((f) => String(f)),
  );
  if (rules !== undefined && rules !== null) {
    if (!isRecord(rules)) fail('rules must be an object');
    const strict = Object.entries(rules)
      .filter(([, condition]) => condition !== undefined)
      .flatMap(([field, condition]) => fieldRules(field, condition));
    if (strict.length > 0) conjunctions = and(conjunctions, strict);
  }
  // An empty input yields one empty conjunction; AppSync's output for that is UNCONFIRMED, so we emit no group.
  return { filterGroup: conjunctions.filter((c) => c.length > 0).map((filters) => ({ filters })) };
}

/** Checks that `value` has the wire shape before it is recorded by `extensions.setSubscriptionFilter`. */
export function assertSubscriptionFilter(value: unknown, fn: string): asserts value is SubscriptionFilter {
  const groups = isRecord(value) ? value['filterGroup'] : undefined;
  const ok =
    Array.isArray(groups) &&
    groups.every(
      (g: unknown) =>
        isRecord(g) &&
        Array.isArray(g['filters']) &&
        g['filters'].every(
          (r: unknown) =>
            isRecord(r) && typeof r['fieldName'] === 'string' && OPERATORS.has(String(r['operator'])),
        ),
    );
  if (!ok) {
    throw new ResolverRuntimeError(
      `${fn}: expected { filterGroup: [{ filters: [{ fieldName, operator, value }] }] }, ` +
        'e.g. from util.transform.toSubscriptionFilter(...)',
    );
  }
}
