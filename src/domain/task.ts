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

let lastMillis = Number.NaN;
let lastIso = '';

/** An ISO 8601 timestamp. Remembers the last one: a busy processor asks for the same millisecond often. */
export function isoFromMillis(ms: number): string {
  if (ms !== lastMillis) {
    lastIso = new Date(ms).toISOString();
    lastMillis = ms;
  }
  return lastIso;
}

export function millisFromIso(iso: string): number {
  return Date.parse(iso);
}
