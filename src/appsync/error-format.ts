import type { GraphQLError, GraphQLFormattedError } from 'graphql';

/** One entry of `errors[]` as AppSync writes it. */
export interface AppSyncFormattedError {
  path: ReadonlyArray<string | number> | null;
  data: unknown;
  errorType: string | null;
  errorInfo: unknown;
  locations: Array<{ line: number; column: number; sourceName: null }> | null;
  message: string;
}

/**
 * Turns a graphql-js error into AppSync's shape: `errorType`, `data` and `errorInfo` at the top level
 * (not under `extensions`), `sourceName: null` in locations. Errors raised before execution (syntax,
 * validation) get the errorType graphql-java would name and AppSync's "Validation error" wording.
 */
export function formatAppSyncError(error: GraphQLError | GraphQLFormattedError): AppSyncFormattedError {
  const extensions = (error.extensions ?? {}) as Record<string, unknown>;
  let errorType = typeof extensions['errorType'] === 'string' ? (extensions['errorType'] as string) : null;
  let message = error.message;
  if (errorType === null && !error.path) {
    if (message.startsWith('Syntax Error')) {
      errorType = 'InvalidSyntax';
      message = `Invalid Syntax : ${message}`;
    } else if (!message.startsWith('Validation error')) {
      errorType = 'ValidationError';
      message = `Validation error: ${message}`;
    } else {
      errorType = 'ValidationError';
    }
  }
  return {
    path: error.path ?? null,
    data: extensions['data'] ?? null,
    errorType: errorType ?? 'InternalError',
    errorInfo: extensions['errorInfo'] ?? null,
    locations: error.locations
      ? error.locations.map((l) => ({ line: l.line, column: l.column, sourceName: null }))
      : null,
    message,
  };
}
