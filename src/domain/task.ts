import type { TaskStatus } from './task-status.ts';

/** Why an attempt failed, kept on the task. */
export interface TaskError {
  code: string;
  message: string;
  retryable: boolean;
  attempt: number | null;
}

/**
 * A task as stored and as the API returns it. Timestamps are ISO 8601 strings (AWSDateTime);
 * `payload` and `result` are JSON text (AWSJSON), kept as text so they are never re-serialized.
 */
export interface Task {
  id: string;
  type: string;
  status: TaskStatus;
  payload: string;
  result: string | null;
  resultSize: number | null;
  error: TaskError | null;
  progress: number | null;
  progressMessage: string | null;
  attempts: number;
  maxAttempts: number;
  timeoutSeconds: number;
  version: number;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  runAt: string;
  idempotencyKey: string | null;
  cancelRequested: boolean;
  leaseExpiresAt: string | null;
  expiresAt: string | null;
}

/** What subscribers receive for a change: the task's state without its payload (see limits). */
export type TaskUpdate = Omit<Task, 'payload'>;

/** The body of a queue message: which task to run. Anything else in the queue is poison. */
export interface TaskMessage {
  taskId: string;
}

export function encodeTaskMessage(message: TaskMessage): string {
  return JSON.stringify({ taskId: message.taskId });
}

/** Parses a queue message body; returns a reason string when the body is not a task message. */
export function decodeTaskMessage(body: string): TaskMessage | { invalid: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { invalid: 'message body is not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { invalid: 'message body is not a JSON object' };
  }
  const taskId = (parsed as Record<string, unknown>)['taskId'];
  if (typeof taskId !== 'string' || taskId.length === 0 || taskId.length > 128) {
    return { invalid: 'message body has no taskId string' };
  }
  return { taskId };
}

/** The text up to the second ("2026-11-28T09:00:00."), by the second's first millisecond. */
const secondPrefixes = new Map<number, string>();
/** Seconds kept: a task's timestamps fall in a few seconds at once (now, a lease end, an expiry). */
const SECOND_PREFIXES_KEPT = 16;

/**
 * An ISO 8601 timestamp, as Date.prototype.toISOString gives it. A busy processor asks for many
 * timestamps a second, in a few different seconds (now, now plus the visibility timeout, now plus
 * the retention period): the text up to the second is made once per second and kept for the last
 * few seconds asked for.
 */
export function isoFromMillis(ms: number): string {
  // Whole milliseconds of years 0 to 9999 only: toISOString writes other years with a sign and six digits.
  if (!Number.isInteger(ms) || ms < 0 || ms >= 253402300800000) return new Date(ms).toISOString();
  const millis = ms % 1000;
  const start = ms - millis;
  let prefix = secondPrefixes.get(start);
  if (prefix === undefined) {
    prefix = new Date(start).toISOString().slice(0, 20);
    if (secondPrefixes.size >= SECOND_PREFIXES_KEPT) {
      secondPrefixes.delete(secondPrefixes.keys().next().value!);
    }
    secondPrefixes.set(start, prefix);
  }
  return `${prefix}${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
}
