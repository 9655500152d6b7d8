/**
 * Error classes of the local APPSYNC_JS runtime.
 *
 * Two families live here: errors that model what a resolver *asks for* (`util.error`, `util.unauthorized`),
 * which become a field error in the GraphQL response, and errors that say the resolver (or this emulator)
 * cannot run, which callers should treat as a bug to fix rather than data to return.
 */

/** The `{message, type, data, errorInfo}` quadruple that `util.error` / `util.appendError` carry. */
export interface ResolverErrorInfo {
  message: string;
  type: string | null;
  data: unknown;
  errorInfo: unknown;
}

/**
 * Thrown by `util.error(...)` and `util.unauthorized()` to abort the handler. `LoadedResolver.run` turns it
 * into `{ kind: 'error' }`; it never escapes `run`.
 */
export class ResolverError extends Error {
  readonly type: string | null;
  readonly data: unknown;
  readonly errorInfo: unknown;

  constructor(info: ResolverErrorInfo) {
    super(info.message);
    this.name = 'ResolverError';
    this.type = info.type;
    this.data = info.data;
    this.errorInfo = info.errorInfo;
  }

  /** The plain payload, as it goes into the outcome. */
  toInfo(): ResolverErrorInfo {
    return { message: this.message, type: this.type, data: this.data, errorInfo: this.errorInfo };
  }
}

/**
 * A part of the APPSYNC_JS surface that AppSync has but this local runtime does not implement (or a VTL-only
 * `$util` helper that APPSYNC_JS does not have). Thrown when the feature is *used*, so a resolver that never
 * calls it still loads.
 */
export class UnsupportedResolverFeatureError extends Error {
  readonly feature: string;

  constructor(feature: string, detail?: string) {
    super(
      `${feature} is not supported by the local APPSYNC_JS runtime` +
        (detail ? `: ${detail}` : '. Implement it in src/appsync/js-runtime/ or avoid it in resolvers.'),
    );
    this.name = 'UnsupportedResolverFeatureError';
    this.feature = feature;
  }
}

/** The resolver file could not be bundled, evaluated, or does not have the shape AppSync requires. */
export class ResolverLoadError extends Error {
  readonly file: string;

  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
    this.name = 'ResolverLoadError';
    this.file = file;
  }
}

/** The bundled code is over AppSync's per-resolver code size quota, so deployment would be rejected. */
export class ResolverCodeTooLargeError extends ResolverLoadError {
  readonly size: number;
  readonly limit: number;

  constructor(file: string, size: number, limit: number) {
    super(file, `bundled code is ${size} characters; AppSync accepts at most ${limit}`);
    this.name = 'ResolverCodeTooLargeError';
    this.size = size;
    this.limit = limit;
  }
}

/**
 * The handler failed for a reason other than `util.error`: a TypeError in resolver code, a bad argument to a
 * `util` function, an extension used where AppSync forbids it, an async handler, and so on. The original
 * exception (possibly from the sandbox realm) is kept as `cause`.
 */
export class ResolverRuntimeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ResolverRuntimeError';
  }
}
