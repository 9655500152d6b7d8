import { ConditionFailedError, TaskQueueError, isErrorNamed } from '../domain/errors.ts';
import type { Logger } from '../domain/task-type.ts';

/**
 * What the resolver Lambda returns. Handled errors travel as data, because AppSync passes only the
 * message of a thrown Lambda error; the APPSYNC_JS resolver turns `error` into
 * `util.error(message, type, null, info)`, which gives clients a stable `errorType`.
 */
export type ResolverEnvelope =
  { data: unknown } | { error: { message: string; type: string; info: Record<string, unknown> | null } };

/** The one table from our errors to GraphQL error types. Unknown errors are logged and hidden. */
export function envelopeFromError(error: unknown, logger: Logger): ResolverEnvelope {
  if (isErrorNamed(error, ConditionFailedError)) {
    return {
      error: {
        message: 'The task changed while this request ran; send the request again.',
        type: 'ConflictError',
        info: null,
      },
    };
  }
  // The store could not write (disk full, read-only): not the client's fault, and not a bug either.
  if (error instanceof Error && error.name === 'StorageError') {
    logger.error('storage failure in resolver', { error: error.message });
    return {
      error: {
        message:
          'The server cannot write to its storage right now (for example, the disk is full). Nothing was stored; try again later.',
        type: 'StorageUnavailableError',
        info: null,
      },
    };
  }
  if (error instanceof TaskQueueError) {
    return { error: { message: error.message, type: error.errorType, info: error.info ?? null } };
  }
  logger.error('unexpected error in resolver', {
    error:
      error instanceof Error
        ? { name: error.name, message: error.message, stack: error.stack }
        : String(error),
  });
  return {
    error: {
      message: 'Internal error. The request may be retried; the server log has the details.',
      type: 'InternalError',
      info: null,
    },
  };
}
