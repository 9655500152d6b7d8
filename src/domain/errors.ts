/**
 * The error hierarchy of the task queue. Every error the API can return has a stable `errorType`,
 * which the GraphQL edge reports as AppSync does (`errors[].errorType`). Classes are matched by
 * `name` as well as `instanceof` (see {@link isErrorNamed}) so two bundled copies still agree.
 */
export abstract class TaskQueueError extends Error {
  /** Stable, documented code reported as the GraphQL `errorType`. */
  abstract readonly errorType: string;
  /** Extra facts for the client (`errors[].errorInfo`), e.g. which input field was wrong. */
  readonly info: Record<string, unknown> | undefined;

  constructor(message: string, options?: { cause?: unknown; info?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.info = options?.info;
  }
}

/** One problem with an input: where (`path`, e.g. `input.delaySeconds`) and what. */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** The request is wrong and will stay wrong: the caller must change it. Nothing was stored. */
export class ValidationError extends TaskQueueError {
  readonly errorType = 'ValidationError';
  readonly issues: readonly ValidationIssue[];

  constructor(issues: readonly ValidationIssue[], options?: { cause?: unknown }) {
    const text = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
    super(text, { ...options, info: { issues } });
    this.issues = issues;
  }

  static single(path: string, message: string): ValidationError {
    return new ValidationError([{ path, message }]);
  }
}

/** A payload or request is larger than the limit AppSync or SQS would accept. */
export class PayloadTooLargeError extends TaskQueueError {
  readonly errorType = 'PayloadTooLargeError';
  constructor(what: string, bytes: number, limit: number) {
    super(
      `${what} is ${bytes} bytes, over the limit of ${limit} bytes. Upload large inputs as blobs instead.`,
      {
        info: { bytes, limit },
      },
    );
  }
}

export class NotFoundError extends TaskQueueError {
  readonly errorType = 'NotFoundError';
  constructor(what: string, id: string) {
    super(`No ${what} with id "${id}" exists (it may have expired).`, { info: { id } });
  }
}

/** The task is in a status the action does not apply to (e.g. cancelling a SUCCEEDED task). */
export class InvalidTransitionError extends TaskQueueError {
  readonly errorType = 'InvalidTransitionError';
  constructor(taskId: string, status: string, action: string) {
    super(`Cannot ${action} task ${taskId}: it is ${status}.`, { info: { id: taskId, status } });
  }
}

/**
 * A conditional write lost a race: the task changed since it was read. Callers re-read and decide
 * again; it never reaches a client except as a retryable internal error.
 */
export class ConditionFailedError extends TaskQueueError {
  readonly errorType = 'ConditionFailedError';
  constructor(taskId: string, detail: string) {
    super(`Task ${taskId} changed concurrently: ${detail}.`, { info: { id: taskId } });
  }
}

/** Something the deployment or the runtime set up wrongly; the message names what to fix. */
export class ConfigurationError extends TaskQueueError {
  readonly errorType = 'ConfigurationError';
}

/**
 * Thrown by a task handler when retrying cannot help (bad input discovered late, a feature
 * that does not exist). The task fails at once and goes to the dead-letter queue.
 *
 * @example
 * throw new PermanentTaskError('Image "a.png" does not exist', { code: 'INPUT_NOT_FOUND' });
 */
export class PermanentTaskError extends Error {
  readonly code: string;
  constructor(message: string, options?: { code?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PermanentTaskError';
    this.code = options?.code ?? 'PERMANENT_ERROR';
  }
}

/** True when `error` is an instance of `ctor` or, across bundle copies, carries its name. */
export function isErrorNamed<T extends Error>(
  error: unknown,
  ctor: abstract new (...args: never[]) => T,
): error is T {
  return error instanceof ctor || (error instanceof Error && error.name === ctor.name);
}

/** Turns anything thrown into an Error, so catch blocks never lose the value. */
export function coerceError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value);
  try {
    return new Error(`Non-error thrown: ${JSON.stringify(value)}`);
  } catch {
    return new Error(`Non-error thrown: ${String(value)}`);
  }
}
