import type { z } from 'zod';
import type { BlobStore } from '../ports/blob-store.ts';

/** What a handler may log through. Adapters map it onto Powertools Logger or the local logger. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/** What a running handler gets besides its payload. */
export interface TaskContext {
  /** Where inputs are read from and outputs written to (S3 on AWS, a local folder locally). */
  blobs: BlobStore;
  /** Prefix under which this task writes its outputs, e.g. `outputs/<taskId>/`. */
  outputPrefix: string;
  taskId: string;
  /** 1-based number of this attempt. */
  attempt: number;
  maxAttempts: number;
  /** Fires on timeout or cancellation; a handler should stop promptly when it does. */
  signal: AbortSignal;
  /** Report progress, 0..1, with an optional message. Cheap to call often: updates are throttled. */
  progress(fraction: number, message?: string): void;
  logger: Logger;
}

export interface TaskTypeDefaults {
  maxAttempts: number;
  timeoutSeconds: number;
}

/**
 * A task type: its name (a value of the GraphQL `TaskType` enum), the schema its payload must match,
 * defaults, and the handler that does the work. A thrown error is retried; a
 * `PermanentTaskError` fails the task at once.
 *
 * @example
 * export const echo = defineTaskType({
 *   name: 'ECHO',
 *   payloadSchema: z.object({ text: z.string() }),
 *   defaults: { maxAttempts: 3, timeoutSeconds: 30 },
 *   handler: async (payload) => ({ echoed: payload.text }),
 * });
 */
export interface TaskTypeDefinition<S extends z.ZodType = z.ZodType, R = unknown> {
  name: string;
  description?: string;
  payloadSchema: S;
  defaults: TaskTypeDefaults;
  handler: (payload: z.output<S>, ctx: TaskContext) => Promise<R> | R;
}

/** Identity function that gives a definition its types. */
export function defineTaskType<S extends z.ZodType, R>(
  definition: TaskTypeDefinition<S, R>,
): TaskTypeDefinition<S, R> {
  return definition;
}
