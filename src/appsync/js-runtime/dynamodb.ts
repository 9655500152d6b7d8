/**
 * `util.dynamodb.*` conversions and the built-in `@aws-appsync/utils/dynamodb` module.
 *
 * Number representation: AppSync's documentation writes numbers as JSON numbers (`{ "N": 1234 }`, in the
 * util.dynamodb examples and in the DynamoDB "type system (request mapping)" pages), while the
 * `@aws-appsync/utils` type `DynamoDBNumberResult` says `{ N: string }` and real DynamoDB JSON carries strings.
 * We follow the documented examples and the facts file (§3): `N` holds a number. The local DynamoDB data
 * source must therefore accept `N` as a number or a string, as AppSync's does. UNCONFIRMED which of the two
 * AppSync's `util.dynamodb` really emits; `EvaluateCode` would settle it, and only {@link numberAttribute}
 * needs changing.
 */
import { ResolverRuntimeError, UnsupportedResolverFeatureError } from './errors.ts';

/** A DynamoDB attribute value in AppSync's request notation. */
export type AttributeValue =
  | { S: string }
  | { N: number | string }
  | { BOOL: boolean }
  | { NULL: null }
  | { L: AttributeValue[] }
  | { M: Record<string, AttributeValue> }
  | { SS: string[] }
  | { NS: (number | string)[] }
  | { B: string }
  | { BS: string[] };

function numberAttribute(value: number): { N: number } {
  return { N: value };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  // No `instanceof Object`: values come from the resolver's vm realm.
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `util.dynamodb.toDynamoDB(value)`: lists become `L`, never a set type (§3). */
export function toDynamoDB(value: unknown): AttributeValue {
  if (value === null || value === undefined) return { NULL: null };
  switch (typeof value) {
    case 'string':
      return { S: value };
    case 'number':
      return numberAttribute(value);
    case 'boolean':
      return { BOOL: value };
    case 'object':
      if (Array.isArray(value)) return { L: value.map((item: unknown) => toDynamoDB(item)) };
      return { M: mapValues(value as Record<string, unknown>) };
    default:
      throw new ResolverRuntimeError(
        `util.dynamodb.toDynamoDB: cannot convert a value of type ${typeof value}`,
      );
  }
}

function mapValues(record: Record<string, unknown>): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [key, item] of Object.entries(record)) {
    // Keys holding `undefined` are dropped, as JSON serialisation of the object would. UNCONFIRMED.
    if (item === undefined) continue;
    out[key] = toDynamoDB(item);
  }
  return out;
}

/** `util.dynamodb.toMap(obj)`; `null` for null/undefined input, as the typings allow. */
export function toMap(value: unknown): { M: Record<string, AttributeValue> } | null {
  if (value === null || value === undefined) return null;
  if (!isRecord(value)) throw new ResolverRuntimeError('util.dynamodb.toMap: argument must be an object');
  return { M: mapValues(value) };
}

/** `util.dynamodb.toMapValues(obj)`, which the docs define as `toMap(obj).M`. */
export function toMapValues(value: unknown): Record<string, AttributeValue> | null {
  return toMap(value)?.M ?? null;
}

/** `util.dynamodb.toList(list)`. */
export function toList(value: unknown): { L: AttributeValue[] } | null {
  if (value === null || value === undefined) return null;
  if (!Array.isArray(value)) throw new ResolverRuntimeError('util.dynamodb.toList: argument must be a list');
  return { L: value.map((item: unknown) => toDynamoDB(item)) };
}

/** The `util.dynamodb` object's host implementation. */
export const dynamodbUtil = {
  toDynamoDB,
  toString: (value: unknown) => (value === null || value === undefined ? null : { S: String(value) }),
  toStringSet: (list: unknown) => (list === null || list === undefined ? null : { SS: list }),
  toNumber: (value: unknown) =>
    value === null || value === undefined ? null : numberAttribute(Number(value)),
  // The util.dynamodb docs show `{ "NS": [1, 23, 4.56] }`: numbers stay numbers here too.
  toNumberSet: (list: unknown) => (list === null || list === undefined ? null : { NS: list }),
  toBinary: (value: unknown) => (value === null || value === undefined ? null : { B: value }),
  toBinarySet: (list: unknown) => (list === null || list === undefined ? null : { BS: list }),
  toBoolean: (value: unknown) => (value === null || value === undefined ? null : { BOOL: value }),
  toNull: () => ({ NULL: null }),
  toList,
  toMap,
  toMapValues,
  toS3Object: (key: string, bucket: string, region: string, version?: string) => ({
    S: JSON.stringify({ s3: { key, bucket, region, ...(version === undefined ? {} : { version }) } }),
  }),
  fromS3ObjectJson: (json: string): unknown => {
    const parsed: unknown = JSON.parse(json);
    return isRecord(parsed) ? (parsed['s3'] ?? null) : null;
  },
};

/** Options of the built-in module's helpers that AppSync turns into expressions we do not generate yet. */
const UNSUPPORTED_OPTIONS = [
  'condition',
  'projection',
  'customPartitionKey',
  'populateIndexFields',
  '_version',
];

function rejectUnsupportedOptions(fn: string, input: Record<string, unknown>): void {
  for (const option of UNSUPPORTED_OPTIONS) {
    if (input[option] !== undefined && input[option] !== null) {
      throw new UnsupportedResolverFeatureError(
        `@aws-appsync/utils/dynamodb ${fn}({ ${option} })`,
        'the expression AppSync generates for it is not implemented locally; write the request object by hand',
      );
    }
  }
}

function requireInput(fn: string, input: unknown): Record<string, unknown> {
  if (!isRecord(input))
    throw new ResolverRuntimeError(`@aws-appsync/utils/dynamodb ${fn}: argument must be an object`);
  if (!isRecord(input['key'])) {
    throw new ResolverRuntimeError(`@aws-appsync/utils/dynamodb ${fn}: 'key' must be an object`);
  }
  return input;
}

/**
 * The implemented part of the built-in `@aws-appsync/utils/dynamodb` module (§3, R19): `get`, `put` and
 * `remove` without conditions or projections, and the set helpers. Every other export is a stub that throws
 * {@link UnsupportedResolverFeatureError} (see `load-resolver.ts`).
 */
export const dynamodbModule = {
  get(input: unknown) {
    const args = requireInput('get', input);
    rejectUnsupportedOptions('get', args);
    return {
      operation: 'GetItem',
      key: toMapValues(args['key']),
      ...(args['consistentRead'] === undefined ? {} : { consistentRead: args['consistentRead'] }),
    };
  },
  put(input: unknown) {
    const args = requireInput('put', input);
    rejectUnsupportedOptions('put', args);
    return {
      operation: 'PutItem',
      key: toMapValues(args['key']),
      attributeValues: toMapValues(args['item'] ?? {}),
    };
  },
  remove(input: unknown) {
    const args = requireInput('remove', input);
    rejectUnsupportedOptions('remove', args);
    return { operation: 'DeleteItem', key: toMapValues(args['key']) };
  },
  toStringSet: (list: string[]) => ({ SS: list }),
  // The module's own docs show `{ "NS": ["1", "2", "3"] }` (strings), unlike util.dynamodb.toNumberSet. We
  // follow each helper's documentation; UNCONFIRMED.
  toNumberSet: (list: number[]) => ({ NS: list.map((n) => String(n)) }),
  toBinarySet: (list: string[]) => ({ BS: list }),
};

/** Exports of `@aws-appsync/utils/dynamodb` (per its 2.1.1 typings) that the local runtime does not implement. */
export const UNSUPPORTED_DYNAMODB_MODULE_EXPORTS = [
  'query',
  'scan',
  'update',
  'sync',
  'batchGet',
  'batchPut',
  'batchDelete',
  'transactGet',
  'transactWrite',
  'operations',
] as const;
