/**
 * Local APPSYNC_JS runtime: bundles resolver files like deployment does and runs their handlers in a sandbox
 * with a working `@aws-appsync/utils` implementation.
 */
export { APPSYNC_ESBUILD_OPTIONS, bundleResolver } from './bundle.ts';
export {
  ResolverCodeTooLargeError,
  ResolverError,
  ResolverLoadError,
  ResolverRuntimeError,
  UnsupportedResolverFeatureError,
} from './errors.ts';
export type { ResolverErrorInfo } from './errors.ts';
export type {
  ApiCacheEviction,
  AuthorizationType,
  OperationType,
  SubscriptionInvalidation,
} from './invocation.ts';
export { APPSYNC_CODE_MAX_LENGTH, loadResolver } from './load-resolver.ts';
export type {
  EarlyReturnOutcome,
  ErrorOutcome,
  LoadedResolver,
  LoadResolverOptions,
  ResolverContextInput,
  RunMeta,
  RunOutcome,
  RunOutcomeBase,
  ValueOutcome,
} from './load-resolver.ts';
export type { ResolverLogger } from './sandbox.ts';
export { toSubscriptionFilter } from './subscription-filter.ts';
export type {
  SubscriptionFilter,
  SubscriptionFilterOperator,
  SubscriptionFilterRule,
} from './subscription-filter.ts';
