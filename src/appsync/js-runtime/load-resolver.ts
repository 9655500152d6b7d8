/**
 * Loads an APPSYNC_JS resolver file and runs its handlers the way AppSync does.
 */
import path from 'node:path';
import { bundleResolver } from './bundle.ts';
import { dynamodbModule, UNSUPPORTED_DYNAMODB_MODULE_EXPORTS } from './dynamodb.ts';
import type { ResolverErrorInfo } from './errors.ts';
import {
  ResolverCodeTooLargeError,
  ResolverError,
  ResolverLoadError,
  ResolverRuntimeError,
  UnsupportedResolverFeatureError,
} from './errors.ts';
import type {
  ApiCacheEviction,
  AuthorizationType,
  InvocationState,
  OperationType,
  SubscriptionInvalidation,
} from './invocation.ts';
import { InvocationHolder } from './invocation.ts';
import { toPlain } from './plain.ts';
import type { RealmObject, ResolverLogger } from './sandbox.ts';
import { Sandbox } from './sandbox.ts';
import type { SubscriptionFilter } from './subscription-filter.ts';
import type { ApiTree } from './util.ts';
import { createAppSyncApi, EarlyReturnSignal } from './util.ts';

/**
 * AppSync's limit on a resolver's or function's `code`: "Length Constraints: Maximum length of 32768"
 * (AppSync API Reference, `Resolver.code` and `FunctionConfiguration.code`,
 * https://docs.aws.amazon.com/appsync/latest/APIReference/API_Resolver.html). It is a string length, so it is
 * checked against the ESM bundle exactly as deployment uploads it, inline source map included.
 */
export const APPSYNC_CODE_MAX_LENGTH = 32_768;

/** The context a handler receives (facts §3). Only `arguments` and `stash` get defaults. */
export interface ResolverContextInput {
  arguments?: Record<string, unknown>;
  /** Alias of `arguments`; used only when `arguments` is absent. */
  args?: Record<string, unknown>;
  identity?: unknown;
  source?: unknown;
  /** Mutated in place by `run`: handlers may add, change and delete stash keys (R16). */
  stash?: Record<string, unknown>;
  prev?: { result: unknown } | null;
  /** Only passed to response handlers; dropped for request handlers. */
  result?: unknown;
  error?: { message: string; type: string } | null;
  request?: { headers: Record<string, unknown>; domainName: string | null };
  info?: {
    fieldName: string;
    parentTypeName: string;
    variables?: Record<string, unknown>;
    selectionSetList?: string[];
    selectionSetGraphQL?: string;
  };
  env?: Record<string, string>;
}

/** Facts about the call that AppSync knows and the resolver code does not pass in. */
export interface RunMeta {
  /** Defaults to `operation === 'subscription'`. */
  isSubscription?: boolean;
  operation?: OperationType;
  /** The request's authorization mode, for `util.authType()`. */
  authType?: AuthorizationType;
}

/** What every outcome carries besides its kind. */
export interface RunOutcomeBase {
  /** `util.appendError` calls, in order. They go into `errors[]` while data is still returned. */
  appendedErrors: ResolverErrorInfo[];
  /** Set by `extensions.setSubscriptionFilter` (subscription response handlers only). */
  subscriptionFilter?: SubscriptionFilter;
  /** Set by `extensions.setSubscriptionInvalidationFilter` (subscription response handlers only). */
  subscriptionInvalidationFilter?: SubscriptionFilter;
  /** `extensions.invalidateSubscriptions` calls (mutations only). */
  subscriptionInvalidations?: SubscriptionInvalidation[];
  /** `extensions.evictFromApiCache` calls (mutations only); there is no local cache, so they only record. */
  apiCacheEvictions?: ApiCacheEviction[];
}

/** The handler returned normally. */
export interface ValueOutcome extends RunOutcomeBase {
  kind: 'value';
  value: unknown;
}

/** The handler called `runtime.earlyReturn(value, { skipTo }?)`. */
export interface EarlyReturnOutcome extends RunOutcomeBase {
  kind: 'earlyReturn';
  value: unknown;
  skipTo?: 'END' | 'NEXT';
}

/** The handler called `util.error(...)` or `util.unauthorized()`. */
export interface ErrorOutcome extends RunOutcomeBase {
  kind: 'error';
  error: ResolverErrorInfo;
}

/** Result of {@link LoadedResolver.run}. Values are plain JSON data; `undefined` is reported as `null`. */
export type RunOutcome = ValueOutcome | EarlyReturnOutcome | ErrorOutcome;

/** A resolver ready to run. */
export interface LoadedResolver {
  readonly file: string;
  /** Length of the ESM bundle deployment would upload. */
  readonly codeLength: number;
  /**
   * Runs one handler synchronously (APPSYNC_JS has no async). Calls are independent: each has its own
   * appended errors, filters and a fresh evaluation of the module body.
   *
   * @throws {UnsupportedResolverFeatureError} when the handler uses something the local runtime lacks
   * @throws {ResolverRuntimeError} for any other failure of the handler (TypeError, misuse of `extensions`,
   *   invalid `util` arguments, a returned Promise, ...); the original exception is its `cause`
   */
  run(handler: 'request' | 'response', ctx: ResolverContextInput, meta?: RunMeta): RunOutcome;
}

/** Options for {@link loadResolver}. */
export interface LoadResolverOptions {
  /** Receives `console.*` output of the resolver; without one it is discarded. */
  logger?: ResolverLogger;
  /** Expose VTL-only `$util` helpers; see `AppSyncApiOptions.vtlHelpers`. Off by default, as on AWS. */
  vtlHelpers?: boolean;
}

const ALLOWED_IMPORTS = '@aws-appsync/utils and @aws-appsync/utils/dynamodb';

/** Builds the `@aws-appsync/utils/dynamodb` module: implemented helpers plus throwing stubs. */
function dynamodbModuleTree(): ApiTree {
  const tree: ApiTree = { ...dynamodbModule };
  for (const name of UNSUPPORTED_DYNAMODB_MODULE_EXPORTS) {
    tree[name] = () => {
      throw new UnsupportedResolverFeatureError(`@aws-appsync/utils/dynamodb ${name}`);
    };
  }
  return tree;
}

/** Built-in modules AppSync has that we do not implement: importing works, using any export throws. */
function unsupportedModuleTree(id: string, exports: readonly string[]): ApiTree {
  return Object.fromEntries(
    exports.map((name) => [
      name,
      () => {
        throw new UnsupportedResolverFeatureError(`${id} ${name}`);
      },
    ]),
  );
}

function isThenable(value: unknown): boolean {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function describe(thrown: unknown): string {
  if (typeof thrown === 'object' && thrown !== null && 'message' in thrown) {
    const { name, message } = thrown as { name?: unknown; message?: unknown };
    return `${String(name ?? 'Error')}: ${String(message)}`;
  }
  return String(thrown);
}

/**
 * Bundles `file` and evaluates it in a fresh sandbox realm that offers what APPSYNC_JS offers: ECMAScript
 * built-ins minus the ones AppSync lacks, `util` / `runtime` / `extensions` (as globals and through
 * `@aws-appsync/utils`), the built-in `@aws-appsync/utils/dynamodb` module, and a `console` forwarding to
 * `options.logger`. There is no `process`, no Node `require`, no timers and no `fetch`.
 *
 * @throws {ResolverLoadError} if the file does not bundle, does not evaluate, or lacks `request`/`response`
 * @throws {ResolverCodeTooLargeError} if the deployable bundle exceeds {@link APPSYNC_CODE_MAX_LENGTH}
 */
export async function loadResolver(file: string, options: LoadResolverOptions = {}): Promise<LoadedResolver> {
  const absolute = path.resolve(file);
  const [esm, cjs] = await Promise.all([bundleResolver(absolute, 'esm'), bundleResolver(absolute, 'cjs')]);
  if (esm.length > APPSYNC_CODE_MAX_LENGTH) {
    throw new ResolverCodeTooLargeError(absolute, esm.length, APPSYNC_CODE_MAX_LENGTH);
  }

  const holder = new InvocationHolder();
  const api = createAppSyncApi(holder, { vtlHelpers: options.vtlHelpers ?? false });
  const sandbox = new Sandbox(absolute);
  const util = sandbox.expose(api.util);
  const runtime = sandbox.expose(api.runtime);
  const extensions = sandbox.expose(api.extensions);
  // The @aws-appsync/utils typings declare these as globals too, so resolvers may use them without importing.
  sandbox.setGlobal('util', util);
  sandbox.setGlobal('runtime', runtime);
  sandbox.setGlobal('extensions', extensions);
  sandbox.installConsole(options.logger);

  const modules: Record<string, RealmObject> = {
    '@aws-appsync/utils': Object.freeze(
      Object.assign(sandbox.toRealm({}) as RealmObject, { util, runtime, extensions }),
    ),
    '@aws-appsync/utils/dynamodb': sandbox.expose(dynamodbModuleTree()),
    '@aws-appsync/utils/rds': sandbox.expose(
      unsupportedModuleTree('@aws-appsync/utils/rds', [
        'select',
        'insert',
        'update',
        'remove',
        'createPgStatement',
        'createMySQLStatement',
        'sql',
        'toJsonObject',
      ]),
    ),
    '@aws-appsync/utils/ai': sandbox.expose(
      unsupportedModuleTree('@aws-appsync/utils/ai', ['invokeModel', 'converse']),
    ),
  };
  const instantiate = sandbox.compileCommonJs(cjs, modules, (id: string): never => {
    throw new ResolverRuntimeError(
      `Cannot find module '${id}': APPSYNC_JS resolvers can only import ${ALLOWED_IMPORTS}`,
    );
  });

  // Evaluate once now, so that a broken module or missing handler is reported at load time.
  let exported: RealmObject;
  try {
    exported = instantiate();
  } catch (cause) {
    throw new ResolverLoadError(absolute, `evaluating the module failed: ${describe(cause)}`, { cause });
  }
  for (const handler of ['request', 'response'] as const) {
    if (typeof exported[handler] !== 'function') {
      throw new ResolverLoadError(
        absolute,
        `must export a '${handler}' function (AppSync requires both request and response handlers)`,
      );
    }
  }

  const run = (
    handler: 'request' | 'response',
    ctx: ResolverContextInput,
    meta: RunMeta = {},
  ): RunOutcome => {
    const state: InvocationState = {
      handler,
      operation: meta.operation,
      isSubscription: meta.isSubscription ?? meta.operation === 'subscription',
      authType: meta.authType,
      fieldName: ctx.info?.fieldName,
      parentTypeName: ctx.info?.parentTypeName,
      appendedErrors: [],
      subscriptionFilter: undefined,
      subscriptionInvalidationFilter: undefined,
      subscriptionInvalidations: [],
      apiCacheEvictions: [],
    };

    const { args, result, ...rest } = ctx;
    const realmCtx = sandbox.toRealm({
      ...rest,
      arguments: ctx.arguments ?? args ?? {},
      stash: ctx.stash ?? {},
      // `result` exists only in response handlers (R16).
      ...(handler === 'response' ? { result: result ?? null } : {}),
    }) as RealmObject;
    Object.defineProperty(realmCtx, 'args', {
      value: realmCtx['arguments'],
      enumerable: true,
      writable: true,
    });
    // Handlers may change the stash but not replace it (R16); in strict mode the assignment throws. What AppSync
    // does on `ctx.stash = ...` is UNCONFIRMED.
    Object.defineProperty(realmCtx, 'stash', { writable: false, configurable: false });
    if (typeof realmCtx['env'] === 'object' && realmCtx['env'] !== null) Object.freeze(realmCtx['env']);

    let outcome: ValueOutcome | EarlyReturnOutcome | ErrorOutcome;
    try {
      outcome = holder.enter(state, () => {
        try {
          // A fresh module instance per call, so module-level variables never carry over between requests.
          // AppSync keeping no module state between requests is an assumption. UNCONFIRMED.
          const fn = instantiate()[handler] as (ctx: unknown) => unknown;
          const returned = fn(realmCtx);
          if (isThenable(returned)) {
            throw new ResolverRuntimeError(
              `the ${handler} handler returned a Promise; APPSYNC_JS has no async`,
            );
          }
          return {
            kind: 'value',
            value: toPlain(returned, `${handler} handler return value`),
            appendedErrors: [],
          };
        } catch (thrown) {
          if (thrown instanceof ResolverError)
            return { kind: 'error', error: thrown.toInfo(), appendedErrors: [] };
          if (thrown instanceof EarlyReturnSignal) {
            return {
              kind: 'earlyReturn',
              value: thrown.value,
              ...(thrown.skipTo ? { skipTo: thrown.skipTo } : {}),
              appendedErrors: [],
            };
          }
          if (thrown instanceof UnsupportedResolverFeatureError || thrown instanceof ResolverRuntimeError) {
            throw thrown;
          }
          // Usually an error object of the sandbox realm (TypeError, ReferenceError, ...).
          throw new ResolverRuntimeError(`${absolute}: ${handler} handler failed: ${describe(thrown)}`, {
            cause: thrown,
          });
        }
      });
    } finally {
      // Write stash changes back into the caller's object, which later pipeline steps share.
      const stash = toPlain(realmCtx['stash'], 'ctx.stash') as Record<string, unknown>;
      if (ctx.stash) {
        for (const key of Object.keys(ctx.stash)) delete ctx.stash[key];
        Object.assign(ctx.stash, stash);
      } else {
        ctx.stash = stash;
      }
    }

    outcome.appendedErrors = state.appendedErrors;
    if (state.subscriptionFilter) outcome.subscriptionFilter = state.subscriptionFilter;
    if (state.subscriptionInvalidationFilter) {
      outcome.subscriptionInvalidationFilter = state.subscriptionInvalidationFilter;
    }
    if (state.subscriptionInvalidations.length > 0)
      outcome.subscriptionInvalidations = state.subscriptionInvalidations;
    if (state.apiCacheEvictions.length > 0) outcome.apiCacheEvictions = state.apiCacheEvictions;
    return outcome;
  };

  return { file: absolute, codeLength: esm.length, run };
}
