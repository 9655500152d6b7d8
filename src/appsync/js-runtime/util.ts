/**
 * Host implementation of the `@aws-appsync/utils` runtime objects: `util`, `runtime` and `extensions`.
 *
 * The published package is types only (its `util` is `{}`), so this is what gives resolvers a working `util`
 * locally. The object tree built here is shared by every invocation of one loaded resolver; per-request state
 * (appended errors, subscription filters, ...) is read through an {@link InvocationHolder}.
 *
 * Coverage follows the `Util`, `Extensions` and `Runtime` types of `@aws-appsync/utils` 2.1.1: every member
 * is either implemented or a stub throwing {@link UnsupportedResolverFeatureError} naming it, so nothing that
 * AppSync has silently returns `undefined`.
 */
import { dynamodbUtil } from './dynamodb.ts';
import { ResolverError, ResolverRuntimeError, UnsupportedResolverFeatureError } from './errors.ts';
import { autoId, autoKsuid, autoUlid } from './ids.ts';
import type { InvocationHolder } from './invocation.ts';
import { toPlain } from './plain.ts';
import { assertSubscriptionFilter, toSubscriptionFilter } from './subscription-filter.ts';

/** A tree of host functions, mirrored into the sandbox realm by `sandbox.ts`. */
export interface ApiTree {
  [name: string]: ApiFunction | ApiTree;
}
/** Any host function exposed to resolver code; arguments arrive from the sandbox realm. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- resolver code calls util with any values
export type ApiFunction = (...args: any[]) => unknown;

/** The three runtime objects exported by `@aws-appsync/utils`. */
export interface AppSyncApi {
  util: ApiTree;
  runtime: ApiTree;
  extensions: ApiTree;
}

/** Options for {@link createAppSyncApi}. */
export interface AppSyncApiOptions {
  /**
   * Also provide VTL `$util` helpers (`isNull`, `isNullOrEmpty`, `typeOf`, `str.toUpper`, ...). APPSYNC_JS does
   * not have them (they are absent from the `Util` type of `@aws-appsync/utils` and from the JS built-in
   * utilities page), so a resolver calling them fails on AWS; by default they therefore throw
   * {@link UnsupportedResolverFeatureError} explaining that. Enable only to run code written for a VTL port.
   */
  vtlHelpers?: boolean;
}

/**
 * Not an error: how `runtime.earlyReturn` unwinds the handler. `LoadedResolver.run` catches it and reports
 * `{ kind: 'earlyReturn' }`.
 */
export class EarlyReturnSignal {
  readonly value: unknown;
  readonly skipTo: 'END' | 'NEXT' | undefined;

  constructor(value: unknown, skipTo: 'END' | 'NEXT' | undefined) {
    this.value = value;
    this.skipTo = skipTo;
  }
}

function unsupported(feature: string, detail?: string): ApiFunction {
  return () => {
    throw new UnsupportedResolverFeatureError(feature, detail);
  };
}

function stubs(prefix: string, names: readonly string[], detail?: string): ApiTree {
  return Object.fromEntries(names.map((name) => [name, unsupported(`${prefix}.${name}`, detail)]));
}

function errorInfo(message: unknown, type: unknown, data: unknown, info: unknown) {
  return {
    message: String(message),
    type: type === undefined || type === null ? null : String(type),
    data: toPlain(data, 'util.error data'),
    errorInfo: toPlain(info, 'util.error errorInfo'),
  };
}

/**
 * `application/x-www-form-urlencoded` as Java's `URLEncoder` (which AppSync's docs name) writes it: letters,
 * digits and `.-*_` stay, space becomes `+`, every other UTF-8 byte becomes `%XX`.
 */
export function urlEncode(value: unknown): string {
  let out = '';
  for (const byte of Buffer.from(String(value), 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/^[A-Za-z0-9.\-*_]$/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Reverse of {@link urlEncode}. */
export function urlDecode(value: unknown): string {
  try {
    return decodeURIComponent(String(value).replace(/\+/g, ' '));
  } catch (cause) {
    throw new ResolverRuntimeError(`util.urlDecode: malformed input`, { cause });
  }
}

/**
 * `util.escapeJavaScript`, modelled on Apache commons-text `escapeEcmaScript` (AppSync runs on the JVM):
 * quotes, backslash and `/` are backslash-escaped, control characters get their short escapes or `\uXXXX`,
 * and everything above U+007F becomes `\uXXXX` (UTF-16 units). The exact escaper AppSync uses is UNCONFIRMED.
 */
export function escapeJavaScript(value: unknown): string {
  const short: Record<string, string> = {
    "'": "\\'",
    '"': '\\"',
    '\\': '\\\\',
    '/': '\\/',
    '\b': '\\b',
    '\n': '\\n',
    '\t': '\\t',
    '\f': '\\f',
    '\r': '\\r',
  };
  let out = '';
  const s = String(value);
  for (let i = 0; i < s.length; i++) {
    const ch = s.charAt(i);
    const code = s.charCodeAt(i);
    const mapped = short[ch];
    if (mapped !== undefined) out += mapped;
    else if (code < 0x20 || code > 0x7f) out += '\\u' + code.toString(16).toUpperCase().padStart(4, '0');
    else out += ch;
  }
  return out;
}

const ISO8601 = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * `util.time.parseISO8601ToEpochMilliSeconds`. A timestamp without an offset is read as UTC (JavaScript's
 * `Date.parse` would use the machine's zone, which AppSync cannot know). UNCONFIRMED for that case.
 */
export function parseISO8601ToEpochMilliSeconds(value: unknown): number {
  const s = String(value);
  const match = ISO8601.exec(s);
  const hasTime = s.includes('T');
  const ms = match ? Date.parse(hasTime && match[1] === undefined ? `${s}Z` : s) : NaN;
  if (Number.isNaN(ms)) {
    throw new ResolverRuntimeError(
      `util.time.parseISO8601ToEpochMilliSeconds: not an ISO 8601 timestamp: ${s}`,
    );
  }
  return ms;
}

/** `util.time.epochMilliSecondsToISO8601`. */
export function epochMilliSecondsToISO8601(value: unknown): string {
  const date = new Date(Number(value));
  if (Number.isNaN(date.getTime())) {
    throw new ResolverRuntimeError(`util.time.epochMilliSecondsToISO8601: not a number: ${String(value)}`);
  }
  return date.toISOString();
}

const AUTH_TYPE_NAMES: Record<string, string> = {
  AWS_IAM: 'IAM Authorization',
  AMAZON_COGNITO_USER_POOLS: 'User Pool Authorization',
  OPENID_CONNECT: 'Open ID Connect Authorization',
  API_KEY: 'API Key Authorization',
  // Not in the typings' list of four; the string is a guess. UNCONFIRMED.
  AWS_LAMBDA: 'Lambda Authorization',
};

function isBlank(value: unknown): boolean {
  return typeof value === 'string' && value.trim() === '';
}

/** VTL `$util` helpers; only exposed with `vtlHelpers: true`. */
function vtlHelpers(): { util: ApiTree; str: ApiTree } {
  const isNull = (v: unknown) => v === null || v === undefined;
  return {
    util: {
      isNull,
      isNullOrEmpty: (v: unknown) => isNull(v) || v === '',
      isNullOrBlank: (v: unknown) => isNull(v) || isBlank(v),
      defaultIfNull: (v: unknown, d: unknown) => (isNull(v) ? d : v),
      defaultIfNullOrEmpty: (v: unknown, d: unknown) => (isNull(v) || v === '' ? d : v),
      defaultIfNullOrBlank: (v: unknown, d: unknown) => (isNull(v) || isBlank(v) ? d : v),
      isString: (v: unknown) => typeof v === 'string',
      isNumber: (v: unknown) => typeof v === 'number',
      isBoolean: (v: unknown) => typeof v === 'boolean',
      isList: (v: unknown) => Array.isArray(v),
      isMap: (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v),
      typeOf: (v: unknown) => {
        if (isNull(v)) return 'Null';
        if (Array.isArray(v)) return 'List';
        const t = typeof v;
        if (t === 'string') return 'String';
        if (t === 'number') return 'Number';
        if (t === 'boolean') return 'Boolean';
        return t === 'object' ? 'Map' : 'Object';
      },
    },
    str: {
      toUpper: (v: unknown) => String(v).toUpperCase(),
      toLower: (v: unknown) => String(v).toLowerCase(),
      toReplace: (v: unknown, find: unknown, replace: unknown) =>
        String(v).split(String(find)).join(String(replace)),
    },
  };
}

const VTL_ONLY_UTIL = [
  'isNull',
  'isNullOrEmpty',
  'isNullOrBlank',
  'defaultIfNull',
  'defaultIfNullOrEmpty',
  'defaultIfNullOrBlank',
  'isString',
  'isNumber',
  'isBoolean',
  'isList',
  'isMap',
  'typeOf',
];
const VTL_ONLY_STR = ['toUpper', 'toLower', 'toReplace'];
const VTL_ONLY_DETAIL =
  'it is a VTL $util helper; APPSYNC_JS does not provide it (see the Util type of @aws-appsync/utils), ' +
  'so this call would fail on AWS too. Use plain JavaScript instead (e.g. x === null, s.toUpperCase()).';

/**
 * Builds `util`, `runtime` and `extensions` for one loaded resolver. Functions that need per-request state
 * read it from `holder`.
 */
export function createAppSyncApi(holder: InvocationHolder, options: AppSyncApiOptions = {}): AppSyncApi {
  const vtl = vtlHelpers();
  const vtlUtil = options.vtlHelpers ? vtl.util : stubs('util', VTL_ONLY_UTIL, VTL_ONLY_DETAIL);
  const vtlStr = options.vtlHelpers ? vtl.str : stubs('util.str', VTL_ONLY_STR, VTL_ONLY_DETAIL);

  const util: ApiTree = {
    ...vtlUtil,
    escapeJavaScript,
    urlEncode,
    urlDecode,
    base64Encode: (value: unknown) => Buffer.from(String(value), 'utf8').toString('base64'),
    base64Decode: (value: unknown) => Buffer.from(String(value), 'base64').toString('utf8'),
    autoId: () => autoId(),
    autoUlid: () => autoUlid(),
    autoKsuid: () => autoKsuid(),
    unauthorized: () => {
      const state = holder.current('util.unauthorized');
      // AWS's own denial message names the parent type (§2); Amplify-generated resolvers have been seen
      // naming the return type instead, unexplained. We follow the AWS form.
      const where =
        state.fieldName && state.parentTypeName
          ? ` to access ${state.fieldName} on type ${state.parentTypeName}`
          : '';
      throw new ResolverError({
        message: `Not Authorized${where}`,
        type: 'Unauthorized',
        data: null,
        errorInfo: null,
      });
    },
    error: (message: unknown, type?: unknown, data?: unknown, info?: unknown) => {
      throw new ResolverError(errorInfo(message, type, data, info));
    },
    appendError: (message: unknown, type?: unknown, data?: unknown, info?: unknown) => {
      holder.current('util.appendError').appendedErrors.push(errorInfo(message, type, data, info));
    },
    matches: (pattern: unknown, value: unknown) => {
      // Java's String.matches semantics (whole-string match). Java and JavaScript regex dialects differ in
      // corners (possessive quantifiers, \p classes); those corners are not emulated.
      let regex: RegExp;
      try {
        regex = new RegExp(`^(?:${String(pattern)})$`);
      } catch (cause) {
        throw new ResolverRuntimeError(`util.matches: invalid pattern ${String(pattern)}`, { cause });
      }
      return regex.test(String(value));
    },
    authType: () => {
      const state = holder.current('util.authType');
      if (!state.authType) {
        throw new ResolverRuntimeError('util.authType: the caller of run() did not pass meta.authType');
      }
      return AUTH_TYPE_NAMES[state.authType] ?? state.authType;
    },
    time: {
      nowISO8601: () => new Date().toISOString(),
      nowEpochSeconds: () => Math.floor(Date.now() / 1000),
      nowEpochMilliSeconds: () => Date.now(),
      parseISO8601ToEpochMilliSeconds,
      epochMilliSecondsToSeconds: (ms: unknown) => Math.floor(Number(ms) / 1000),
      epochMilliSecondsToISO8601,
      ...stubs(
        'util.time',
        ['nowFormatted', 'parseFormattedToEpochMilliSeconds', 'epochMilliSecondsToFormatted'],
        'Java DateTimeFormatter patterns are not implemented locally',
      ),
    },
    dynamodb: dynamodbUtil,
    transform: {
      toSubscriptionFilter,
      ...stubs('util.transform', [
        'toDynamoDBFilterExpression',
        'toDynamoDBConditionExpression',
        'toElasticsearchQueryDSL',
      ]),
    },
    math: {
      // Java's Math.round also rounds halves up, like Math.round.
      roundNum: (n: unknown) => Math.round(Number(n)),
      minVal: (a: unknown, b: unknown) => Math.min(Number(a), Number(b)),
      maxVal: (a: unknown, b: unknown) => Math.max(Number(a), Number(b)),
      randomDouble: () => Math.random(),
      // Inclusive of both ends; the docs do not say. UNCONFIRMED.
      randomWithinRange: (start: unknown, end: unknown) => {
        const lo = Math.ceil(Number(start));
        const hi = Math.floor(Number(end));
        return lo + Math.floor(Math.random() * (hi - lo + 1));
      },
    },
    str: {
      ...vtlStr,
      normalize: (value: unknown, form: unknown) => {
        const f = String(form).toUpperCase();
        if (f !== 'NFC' && f !== 'NFD' && f !== 'NFKC' && f !== 'NFKD') {
          throw new ResolverRuntimeError(`util.str.normalize: unknown normalization type ${String(form)}`);
        }
        return String(value).normalize(f);
      },
    },
    rds: stubs('util.rds', ['toJsonObject']),
    http: stubs('util.http', ['copyHeaders', 'addResponseHeader', 'addResponseHeaders']),
    xml: stubs('util.xml', ['toMap', 'toJsonString']),
  };

  const runtime: ApiTree = {
    earlyReturn: (value?: unknown, returnOptions?: unknown) => {
      holder.current('runtime.earlyReturn');
      let skipTo: 'END' | 'NEXT' | undefined;
      if (returnOptions !== undefined && returnOptions !== null) {
        const requested = (returnOptions as { skipTo?: unknown }).skipTo;
        if (requested !== 'END' && requested !== 'NEXT' && requested !== undefined) {
          throw new ResolverRuntimeError(`runtime.earlyReturn: skipTo must be 'END' or 'NEXT'`);
        }
        skipTo = requested;
      }
      throw new EarlyReturnSignal(toPlain(value, 'runtime.earlyReturn value'), skipTo);
    },
  };

  /** Subscription filters are only honoured in a subscription resolver's response handler (§3, R18). */
  const subscriptionResponseOnly = (fn: string) => {
    const state = holder.current(fn);
    if (!state.isSubscription || state.handler !== 'response') {
      // What AppSync does on misuse (ignore or fail) is UNCONFIRMED; failing loudly finds the bug locally.
      throw new ResolverRuntimeError(`${fn} is only allowed in a subscription resolver's response handler`);
    }
    return state;
  };
  const mutationOnly = (fn: string) => {
    const state = holder.current(fn);
    if (state.operation !== 'mutation') {
      throw new ResolverRuntimeError(`${fn} is only allowed in mutation resolvers`);
    }
    return state;
  };

  const extensions: ApiTree = {
    setSubscriptionFilter: (filter: unknown) => {
      const state = subscriptionResponseOnly('extensions.setSubscriptionFilter');
      const plain = toPlain(filter, 'extensions.setSubscriptionFilter argument');
      assertSubscriptionFilter(plain, 'extensions.setSubscriptionFilter');
      state.subscriptionFilter = plain;
    },
    setSubscriptionInvalidationFilter: (filter: unknown) => {
      const state = subscriptionResponseOnly('extensions.setSubscriptionInvalidationFilter');
      const plain = toPlain(filter, 'extensions.setSubscriptionInvalidationFilter argument');
      assertSubscriptionFilter(plain, 'extensions.setSubscriptionInvalidationFilter');
      state.subscriptionInvalidationFilter = plain;
    },
    invalidateSubscriptions: (invalidation: unknown) => {
      const state = mutationOnly('extensions.invalidateSubscriptions');
      const plain = toPlain(invalidation, 'extensions.invalidateSubscriptions argument') as {
        subscriptionField?: unknown;
        payload?: unknown;
      } | null;
      if (
        typeof plain?.subscriptionField !== 'string' ||
        typeof plain.payload !== 'object' ||
        !plain.payload
      ) {
        throw new ResolverRuntimeError(
          'extensions.invalidateSubscriptions: expected { subscriptionField, payload }',
        );
      }
      // AppSync allows at most 5 calls per request (§3). Only this handler's calls are counted here; a caller
      // running several handlers of one request has to add the outcomes up itself.
      if (state.subscriptionInvalidations.length >= 5) {
        throw new ResolverRuntimeError('extensions.invalidateSubscriptions: at most 5 calls per request');
      }
      state.subscriptionInvalidations.push({
        subscriptionField: plain.subscriptionField,
        payload: plain.payload as Record<string, unknown>,
      });
    },
    // There is no API cache locally, so eviction only records the call (and checks it is allowed).
    evictFromApiCache: (typeName: unknown, fieldName: unknown, keys: unknown) => {
      const state = mutationOnly('extensions.evictFromApiCache');
      state.apiCacheEvictions.push({
        typeName: String(typeName),
        fieldName: String(fieldName),
        keys: (toPlain(keys, 'extensions.evictFromApiCache keys') ?? {}) as Record<string, unknown>,
      });
    },
  };

  return { util, runtime, extensions };
}
