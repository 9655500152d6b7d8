import type { ResolverErrorInfo } from './errors.ts';
import { ResolverRuntimeError } from './errors.ts';
import type { SubscriptionFilter } from './subscription-filter.ts';

/** The GraphQL operation type the resolver runs under. */
export type OperationType = 'query' | 'mutation' | 'subscription';

/** AppSync authorization modes, as named in the AppSync API. */
export type AuthorizationType =
  'API_KEY' | 'AWS_IAM' | 'AMAZON_COGNITO_USER_POOLS' | 'OPENID_CONNECT' | 'AWS_LAMBDA';

/** `extensions.invalidateSubscriptions(...)` argument, as recorded. */
export interface SubscriptionInvalidation {
  subscriptionField: string;
  payload: Record<string, unknown>;
}

/** `extensions.evictFromApiCache(...)` arguments, as recorded. */
export interface ApiCacheEviction {
  typeName: string;
  fieldName: string;
  keys: Record<string, unknown>;
}

/**
 * Everything one `run` call accumulates. It is created fresh per call and reached by the shared `util`
 * implementation through an {@link InvocationHolder}, so nothing leaks between requests.
 */
export interface InvocationState {
  readonly handler: 'request' | 'response';
  readonly operation: OperationType | undefined;
  readonly isSubscription: boolean;
  readonly authType: AuthorizationType | undefined;
  readonly fieldName: string | undefined;
  readonly parentTypeName: string | undefined;
  readonly appendedErrors: ResolverErrorInfo[];
  subscriptionFilter: SubscriptionFilter | undefined;
  subscriptionInvalidationFilter: SubscriptionFilter | undefined;
  readonly subscriptionInvalidations: SubscriptionInvalidation[];
  readonly apiCacheEvictions: ApiCacheEviction[];
}

/**
 * The slot through which the (shared, per-resolver) `util` object finds the state of the call that is running
 * now. Sharing one slot is safe only because a handler runs synchronously from start to end: APPSYNC_JS has no
 * async, and `run` refuses to nest.
 */
export class InvocationHolder {
  private state: InvocationState | undefined;

  /** The running call's state; throws when a `util` function that needs one is called outside `run`. */
  current(feature: string): InvocationState {
    if (!this.state) {
      throw new ResolverRuntimeError(
        `${feature} can only be called while a request or response handler runs (not at module top level)`,
      );
    }
    return this.state;
  }

  /** Runs `fn` with `state` as the current invocation. */
  enter<T>(state: InvocationState, fn: () => T): T {
    if (this.state) {
      // Only reachable if a util function re-entered `run`; AppSync has no way to do that either.
      throw new ResolverRuntimeError('nested resolver invocation on the same loaded resolver');
    }
    this.state = state;
    try {
      return fn();
    } finally {
      this.state = undefined;
    }
  }
}
