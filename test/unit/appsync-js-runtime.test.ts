import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  APPSYNC_CODE_MAX_LENGTH,
  APPSYNC_ESBUILD_OPTIONS,
  bundleResolver,
  loadResolver,
  ResolverCodeTooLargeError,
  ResolverLoadError,
  ResolverRuntimeError,
  toSubscriptionFilter,
  UnsupportedResolverFeatureError,
} from '../../src/appsync/js-runtime/index.ts';
import type {
  LoadedResolver,
  LoadResolverOptions,
  ResolverContextInput,
} from '../../src/appsync/js-runtime/index.ts';
import { autoId, autoKsuid, autoUlid } from '../../src/appsync/js-runtime/ids.ts';
import { InvocationHolder } from '../../src/appsync/js-runtime/invocation.ts';
import {
  createAppSyncApi,
  epochMilliSecondsToISO8601,
  escapeJavaScript,
  parseISO8601ToEpochMilliSeconds,
  urlDecode,
  urlEncode,
} from '../../src/appsync/js-runtime/util.ts';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'resolvers');
const fixture = (name: string) => path.join(FIXTURES, `${name}.ts`);

const cache = new Map<string, Promise<LoadedResolver>>();
/** Loads a fixture once per option set; loaded resolvers are meant to be reused across calls. */
function load(name: string, options: LoadResolverOptions = {}): Promise<LoadedResolver> {
  const key = `${name}:${JSON.stringify(options.vtlHelpers ?? false)}`;
  if (options.logger) return loadResolver(fixture(name), options);
  let loaded = cache.get(key);
  if (!loaded) {
    loaded = loadResolver(fixture(name), options);
    cache.set(key, loaded);
  }
  return loaded;
}

const info = { fieldName: 'task', parentTypeName: 'Query' };

describe('bundleResolver', () => {
  it('rewrites ??= for AppSync and keeps @aws-appsync/utils external, in both formats', async () => {
    expect(APPSYNC_ESBUILD_OPTIONS).toMatchObject({ target: 'es2020', platform: 'neutral', bundle: true });
    const esm = await bundleResolver(fixture('nullish-assign'), 'esm');
    const cjs = await bundleResolver(fixture('nullish-assign'), 'cjs');
    for (const code of [esm, cjs]) {
      expect(code).not.toContain('??=');
      expect(code).toContain('??');
      expect(code).toContain('sourceMappingURL=data:application/json;base64,');
    }
    expect(esm).toMatch(/export\s*\{/);
    const withUtils = await bundleResolver(fixture('errors'), 'esm');
    expect(withUtils).toContain('from "@aws-appsync/utils"');
  });

  it('refuses Node built-ins, which AppSync cannot provide', async () => {
    await expect(bundleResolver(fixture('node-import'), 'esm')).rejects.toThrow(ResolverLoadError);
    await expect(bundleResolver(fixture('node-import'), 'esm')).rejects.toThrow(/node:fs/);
  });
});

describe('loadResolver: loading', () => {
  it('requires both request and response exports', async () => {
    await expect(loadResolver(fixture('missing-response'))).rejects.toThrow(
      /must export a 'response' function/,
    );
  });

  it('rejects code over the 32 KB AppSync quota', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'appsync-js-'));
    try {
      const file = path.join(dir, 'big.ts');
      const padding = 'x'.repeat(APPSYNC_CODE_MAX_LENGTH);
      await writeFile(
        file,
        `export const request = () => ({ s: '${padding}' });\nexport const response = () => null;\n`,
      );
      const error = await loadResolver(file).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ResolverCodeTooLargeError);
      expect((error as ResolverCodeTooLargeError).limit).toBe(32_768);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports the deployable code length', async () => {
    const resolver = await load('round-trip');
    expect(resolver.codeLength).toBeGreaterThan(0);
    expect(resolver.codeLength).toBeLessThan(APPSYNC_CODE_MAX_LENGTH);
  });
});

describe('LoadedResolver.run', () => {
  it('round-trips request and response, with a usable ctx and stash written back', async () => {
    const resolver = await load('round-trip');
    const ctx: ResolverContextInput = {
      arguments: { id: 't1', tags: ['a', 'b'] },
      stash: { toDelete: true },
      info,
      result: 'must not be visible to the request handler',
    };
    const request = resolver.run('request', ctx, { operation: 'query' });
    expect(request).toEqual({
      kind: 'value',
      value: {
        operation: 'GetItem',
        key: { id: { S: 't1' } },
        tagsIsArray: true,
        argsIsArguments: true,
        hasResult: false,
        keyIsObject: true,
      },
      appendedErrors: [],
    });
    expect(ctx.stash).toEqual({ toDelete: true, seenByRequest: 't1' });

    const stashBefore = ctx.stash;
    const response = resolver.run(
      'response',
      { ...ctx, result: { id: 't1', title: 'T' } },
      { operation: 'query' },
    );
    expect(response.kind).toBe('value');
    // `undefined` members vanish, as in AppSync's JSON hand-off.
    expect(response.kind === 'value' && response.value).toEqual({
      id: 't1',
      title: 'T',
      stash: { seenByRequest: 't1' },
      field: 'task',
    });
    // The caller's stash object is mutated in place, so later pipeline steps see the changes.
    expect(stashBefore).toEqual({ seenByRequest: 't1' });
  });

  it('returns plain host objects', async () => {
    const resolver = await load('round-trip');
    const outcome = resolver.run('request', { arguments: { id: 'x', tags: [] } });
    const value = outcome.kind === 'value' ? (outcome.value as { key: object }) : undefined;
    expect(value?.key).toBeInstanceOf(Object);
    expect(Object.getPrototypeOf(value?.key)).toBe(Object.prototype);
  });

  it('turns util.error into an error outcome with type, data and errorInfo', async () => {
    const resolver = await load('errors');
    const outcome = resolver.run('request', { arguments: { mode: 'error' } });
    expect(outcome).toEqual({
      kind: 'error',
      error: { message: 'boom', type: 'Custom:Error', data: { field: 1 }, errorInfo: { hint: 'info' } },
      appendedErrors: [{ message: 'before the error', type: null, data: null, errorInfo: null }],
    });
  });

  it('raises a data source error only when the response handler calls util.error (facts §4)', async () => {
    const resolver = await load('errors');
    const error = {
      message: 'The conditional request failed',
      type: 'DynamoDB:ConditionalCheckFailedException',
    };
    const outcome = resolver.run('response', { arguments: {}, result: null, error });
    expect(outcome).toMatchObject({ kind: 'error', error: { ...error, data: null, errorInfo: null } });
  });

  it('turns util.unauthorized into an Unauthorized error naming field and parent type', async () => {
    const resolver = await load('errors');
    const outcome = resolver.run('request', { arguments: { mode: 'unauthorized' }, info });
    expect(outcome).toMatchObject({
      kind: 'error',
      error: { type: 'Unauthorized', message: 'Not Authorized to access task on type Query' },
    });
  });

  it('collects appendError and keeps it per invocation, also for interleaved async callers', async () => {
    const resolver = await load('errors');
    const first = resolver.run('request', { arguments: { mode: 'append', n: 1 } });
    expect(first).toEqual({
      kind: 'value',
      value: { n: 1 },
      appendedErrors: [
        { message: 'warning 1', type: 'Warn', data: null, errorInfo: { n: 1 } },
        { message: 'second 1', type: null, data: null, errorInfo: null },
      ],
    });
    expect(resolver.run('request', { arguments: { mode: 'plain' } }).appendedErrors).toEqual([]);
    expect(resolver.run('request', { arguments: { mode: 'error' } }).appendedErrors).toHaveLength(1);
    expect(resolver.run('request', { arguments: { mode: 'plain' } }).appendedErrors).toEqual([]);
    expect(first.appendedErrors).toHaveLength(2);

    const outcomes = await Promise.all(
      Array.from({ length: 20 }, async (_, n) => {
        await new Promise((resolve) => setTimeout(resolve, (n * 7) % 5));
        return {
          n,
          outcome: resolver.run('request', { arguments: { mode: n % 2 ? 'append' : 'plain', n } }),
        };
      }),
    );
    for (const { n, outcome } of outcomes) {
      const expected = n % 2 ? [`warning ${n}`, `second ${n}`] : [];
      expect(outcome.appendedErrors.map((e) => e.message)).toEqual(expected);
    }
  });

  it('reports runtime.earlyReturn with its value and skipTo', async () => {
    const resolver = await load('early-return');
    expect(resolver.run('request', { arguments: { mode: 'next' } })).toEqual({
      kind: 'earlyReturn',
      value: { cached: true },
      skipTo: 'NEXT',
      appendedErrors: [],
    });
    expect(resolver.run('request', { arguments: { mode: 'bare' } })).toEqual({
      kind: 'earlyReturn',
      value: null,
      appendedErrors: [],
    });
    expect(resolver.run('request', { arguments: {} })).toMatchObject({
      kind: 'value',
      value: { payload: 'went on' },
    });
  });

  it('evaluates the module afresh for each call, so module state does not leak between requests', async () => {
    const resolver = await load('module-state');
    resolver.run('request', {});
    expect(resolver.run('request', {})).toMatchObject({ value: { calls: 1 } });
  });

  it('does not let a handler replace ctx.stash', async () => {
    const resolver = await load('errors');
    expect(() => resolver.run('request', { arguments: { mode: 'replace-stash' } })).toThrow(
      ResolverRuntimeError,
    );
  });

  it('wraps JavaScript errors from resolver code in ResolverRuntimeError', async () => {
    const resolver = await load('errors');
    const error = (() => {
      try {
        resolver.run('request', { arguments: { mode: 'type-error' } });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ResolverRuntimeError);
    expect((error as Error).message).toMatch(/request handler failed: TypeError/);
    expect((error as Error).cause).toBeDefined();
  });

  it('rejects async handlers (APPSYNC_JS has no async)', async () => {
    const resolver = await load('async-handler');
    expect(() => resolver.run('request', {})).toThrow(/returned a Promise/);
  });
});

describe('util.dynamodb and @aws-appsync/utils/dynamodb', () => {
  it('produces the documented attribute value shapes (N as a JSON number, lists as L)', async () => {
    const resolver = await load('dynamodb');
    const outcome = resolver.run('request', { arguments: {} });
    expect(outcome.kind).toBe('value');
    expect(outcome.kind === 'value' && outcome.value).toEqual({
      toDynamoDB: { M: { foo: { S: 'bar' }, baz: { N: 1234 } } },
      toMapValues: { foo: { S: 'bar' }, baz: { N: 1234 }, beep: { L: [{ S: 'boop' }] } },
      list: {
        L: [{ S: 'a' }, { N: 1 }, { BOOL: true }, { NULL: null }, { M: { x: { L: [{ N: 2 }] } } }],
      },
      scalars: [{ S: 's' }, { N: 5 }, { BOOL: false }],
      nulls: [null, { NULL: null }],
      get: { operation: 'GetItem', key: { id: { S: 'k1' } }, consistentRead: true },
      put: {
        operation: 'PutItem',
        key: { id: { S: 'k1' } },
        attributeValues: { title: { S: 't' }, done: { BOOL: false } },
      },
      remove: { operation: 'DeleteItem', key: { id: { S: 'k1' }, sk: { N: 2 } } },
    });
  });

  it('throws a clear error for built-in module helpers that are not implemented', async () => {
    const resolver = await load('dynamodb');
    expect(() => resolver.run('request', { arguments: { mode: 'query' } })).toThrow(
      UnsupportedResolverFeatureError,
    );
    expect(() => resolver.run('request', { arguments: { mode: 'query' } })).toThrow(
      /@aws-appsync\/utils\/dynamodb query/,
    );
  });
});

describe('subscription filters', () => {
  it('records the wire form set in a subscription response handler', async () => {
    const resolver = await load('subscription');
    const outcome = resolver.run(
      'response',
      { arguments: { group: 'ops' }, identity: { sub: 'user-1' }, result: null },
      { operation: 'subscription' },
    );
    expect(outcome).toEqual({
      kind: 'value',
      value: null,
      appendedErrors: [],
      subscriptionFilter: {
        filterGroup: [
          {
            filters: [
              { fieldName: 'group', operator: 'eq', value: 'ops' },
              { fieldName: 'severity', operator: 'ge', value: 7 },
            ],
          },
          {
            filters: [
              { fieldName: 'group', operator: 'eq', value: 'ops' },
              { fieldName: 'owner', operator: 'eq', value: 'user-1' },
            ],
          },
        ],
      },
    });
  });

  it('allows setSubscriptionFilter only in a subscription response handler', async () => {
    const resolver = await load('filter-in-request');
    expect(() => resolver.run('request', {}, { operation: 'subscription' })).toThrow(
      /only allowed in a subscription resolver's response handler/,
    );
    expect(() => resolver.run('response', {}, { operation: 'query' })).toThrow(ResolverRuntimeError);
    expect(resolver.run('response', {}, { isSubscription: true }).subscriptionFilter).toEqual({
      filterGroup: [{ filters: [{ fieldName: 'a', operator: 'eq', value: 1 }] }],
    });
  });

  it('expands and/or, nested fields, ignoredFields and rules', () => {
    expect(
      toSubscriptionFilter(
        {
          a: { gt: 1, lt: 5 },
          b: { c: { eq: 'x' } },
          skip: { eq: 1 },
          and: [{ or: [{ d: { eq: 1 } }, { d: { eq: 2 } }] }],
        },
        ['skip'],
        { owner: { eq: 'u' }, group: { in: ['g1', 'g2'] } },
      ).filterGroup.map((g) =>
        g.filters.map((f) => `${f.fieldName} ${f.operator} ${JSON.stringify(f.value)}`),
      ),
    ).toEqual([
      ['a gt 1', 'a lt 5', 'b.c eq "x"', 'd eq 1', 'owner eq "u"'],
      ['a gt 1', 'a lt 5', 'b.c eq "x"', 'd eq 1', 'group in ["g1","g2"]'],
      ['a gt 1', 'a lt 5', 'b.c eq "x"', 'd eq 2', 'owner eq "u"'],
      ['a gt 1', 'a lt 5', 'b.c eq "x"', 'd eq 2', 'group in ["g1","g2"]'],
    ]);
    expect(() => toSubscriptionFilter({ a: { like: 'x' } })).toThrow(/unknown operator 'like'/);
    expect(() => toSubscriptionFilter({ a: { between: [1] } })).toThrow(/two values/);
    expect(() => toSubscriptionFilter({ a: { in: 'x' } })).toThrow(/needs a list/);
  });
});

describe('extensions in mutations', () => {
  it('records invalidateSubscriptions and evictFromApiCache in mutations only', async () => {
    const resolver = await load('mutation-extensions');
    const outcome = resolver.run(
      'response',
      { arguments: { id: 't1' }, result: null },
      { operation: 'mutation' },
    );
    expect(outcome).toMatchObject({
      kind: 'value',
      subscriptionInvalidations: [{ subscriptionField: 'onTaskUpdated', payload: { id: 't1' } }],
      apiCacheEvictions: [{ typeName: 'Query', fieldName: 'task', keys: { 'ctx.args.id': 't1' } }],
    });
    expect(() => resolver.run('response', { arguments: { id: 't1' } }, { operation: 'query' })).toThrow(
      /only allowed in mutation resolvers/,
    );
  });
});

describe('sandbox', () => {
  it('offers no Node globals, timers, fetch or Promise, and forwards console to the logger', async () => {
    const entries: [string, string, unknown][] = [];
    const record = (level: string) => (message: string, fields?: unknown) =>
      entries.push([level, message, fields]);
    const logger = {
      debug: record('debug'),
      info: record('info'),
      warn: record('warn'),
      error: record('error'),
    };
    const resolver = await load('sandbox-probe', { logger });
    const outcome = resolver.run('request', { arguments: {} });
    expect(outcome.kind === 'value' && outcome.value).toEqual({
      process: 'undefined',
      require: 'undefined',
      setTimeout: 'undefined',
      fetch: 'undefined',
      Buffer: 'undefined',
      Promise: 'undefined',
      structuredClone: 'undefined',
      globalUtilAutoId: 'function',
      json: '[1]',
    });
    expect(entries).toEqual([
      ['info', "probe { mode: 'globals' }", { resolverFile: fixture('sandbox-probe') }],
    ]);
  });

  it("answers require('fs') with a clear error", async () => {
    const resolver = await load('sandbox-probe');
    expect(() => resolver.run('request', { arguments: { mode: 'require-fs' } })).toThrow(
      /Cannot find module 'fs': APPSYNC_JS resolvers can only import/,
    );
  });

  it('disallows eval', async () => {
    const resolver = await load('sandbox-probe');
    expect(() => resolver.run('request', { arguments: { mode: 'eval' } })).toThrow(/EvalError/);
  });
});

describe('unsupported features', () => {
  it('throws UnsupportedResolverFeatureError naming the util function', async () => {
    const resolver = await load('unsupported');
    for (const [mode, name] of [
      ['http', 'util.http.copyHeaders'],
      ['time', 'util.time.nowFormatted'],
    ] as const) {
      const error = (() => {
        try {
          resolver.run('request', { arguments: { mode }, request: { headers: {}, domainName: null } });
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(UnsupportedResolverFeatureError);
      expect((error as UnsupportedResolverFeatureError).feature).toBe(name);
    }
  });

  it('treats VTL-only helpers as absent unless vtlHelpers is enabled', async () => {
    const strict = await load('unsupported');
    expect(() => strict.run('request', { arguments: { mode: 'vtl' } })).toThrow(/VTL \$util helper/);
    const lenient = await load('unsupported', { vtlHelpers: true });
    expect(lenient.run('request', { arguments: { mode: 'vtl' } })).toMatchObject({
      kind: 'value',
      value: true,
    });
  });
});

describe('util helpers', () => {
  const api = createAppSyncApi(new InvocationHolder());
  const util = api.util as unknown as {
    matches: (p: string, v: string) => boolean;
    base64Encode: (v: string) => string;
    base64Decode: (v: string) => string;
    appendError: (m: string) => void;
  };

  it('encodes like Java URLEncoder, base64 over UTF-8, and escapes JavaScript', () => {
    expect(urlEncode('a b&c=d/é*~')).toBe('a+b%26c%3Dd%2F%C3%A9*%7E');
    expect(urlDecode('a+b%26c%3Dd%2F%C3%A9*%7E')).toBe('a b&c=d/é*~');
    expect(util.base64Encode('héllo')).toBe('aMOpbGxv');
    expect(util.base64Decode('aMOpbGxv')).toBe('héllo');
    expect(escapeJavaScript(`it's "x"\n/é`)).toBe(`it\\'s \\"x\\"\\n\\/\\u00E9`);
  });

  it('matches whole strings, like Java String.matches', () => {
    expect(util.matches('a*b', 'aaaab')).toBe(true);
    expect(util.matches('a*b', 'xaaaab')).toBe(false);
  });

  it('generates UUID v4, ULID and KSUID identifiers', () => {
    expect(autoId()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const earlier = autoUlid(Date.UTC(2020, 0, 1));
    const later = autoUlid(Date.UTC(2024, 0, 1));
    expect(earlier).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(earlier.slice(0, 10) < later.slice(0, 10)).toBe(true);
    expect(autoKsuid()).toMatch(/^[0-9A-Za-z]{27}$/);
  });

  it('parses and formats ISO 8601 timestamps', () => {
    expect(parseISO8601ToEpochMilliSeconds('2018-02-01T17:21:05.180+08:00')).toBe(
      Date.UTC(2018, 1, 1, 9, 21, 5, 180),
    );
    expect(parseISO8601ToEpochMilliSeconds('2018-02-01T17:21:05Z')).toBe(Date.UTC(2018, 1, 1, 17, 21, 5));
    expect(epochMilliSecondsToISO8601(Date.UTC(2018, 1, 1, 17, 21, 5, 180))).toBe('2018-02-01T17:21:05.180Z');
    expect(() => parseISO8601ToEpochMilliSeconds('Feb 1 2018')).toThrow(ResolverRuntimeError);
  });

  it('refuses per-request functions outside a running handler', () => {
    expect(() => util.appendError('x')).toThrow(/only be called while a request or response handler runs/);
  });
});
