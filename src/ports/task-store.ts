import type { Task, TaskError } from '../domain/task.ts';
import type { TaskStatus } from '../domain/task-status.ts';
import type { OutgoingMessage } from './task-queue.ts';

/** A task about to be created, with its idempotency key if any. */
export interface NewTask {
  task: Task;
  /** When set, a live key (younger than its TTL) makes create return the existing task instead. */
  idempotencyKeyExpiresAt: string | null;
}

export interface CreateResult {
  task: Task;
  /** False when an idempotency key matched and the existing task was returned. */
  created: boolean;
}

/** The fields an update may set. `version` and `updatedAt` are set by the store itself. */
export type TaskPatch = Partial<
  Pick<
    Task,
    | 'status'
    | 'result'
    | 'resultSize'
    | 'progress'
    | 'progressMessage'
    | 'attempts'
    | 'maxAttempts'
    | 'startedAt'
    | 'finishedAt'
    | 'runAt'
    | 'cancelRequested'
    | 'leaseExpiresAt'
    | 'expiresAt'
  >
> & { error?: TaskError | null };

/**
 * The condition of a conditional write. All given parts must hold, or the store throws
 * `ConditionFailedError` and changes nothing. This is how two deliveries of one message, or a
 * worker and a cancel, cannot move a task backwards.
 */
export interface UpdateCondition {
  version?: number;
  statusIn?: readonly TaskStatus[];
  attempts?: number;
  cancelRequested?: boolean;
}

export interface TaskFilter {
  status?: TaskStatus | null;
  type?: string | null;
}

export interface TaskPage {
  items: Task[];
  /** Opaque; null on the last page. */
  nextToken: string | null;
}

export type StatusCounts = Record<TaskStatus, number>;

export interface QueueCounts {
  counts: StatusCounts;
  /** runAt of the oldest QUEUED or RETRYING task whose runAt has passed; null when none waits. */
  oldestWaitingRunAt: string | null;
}

/**
 * A task write and the queue messages it calls for, in one transaction: both or neither. Only a store
 * that shares transactions with its queue can offer it (the local SQLite store and queue share one
 * database file). Elsewhere the use cases enqueue after writing, and undo the write when the enqueue
 * fails.
 */
export interface AtomicEnqueue {
  /** Creates like TaskStore.create, and sends `messagesFor` the tasks it created. */
  createQueued(
    items: readonly NewTask[],
    messagesFor: (created: Task[]) => OutgoingMessage[],
  ): Promise<CreateResult[]>;
  /** Updates like TaskStore.update, and sends `messages` with it. */
  updateQueued(
    id: string,
    patch: TaskPatch,
    condition: UpdateCondition,
    now: string,
    messages: readonly OutgoingMessage[],
  ): Promise<Task>;
}

/**
 * Where tasks live. Every write is durable when its promise resolves and every committed change is
 * emitted, in order per task, to the update publisher (a DynamoDB Stream on AWS, the local change
 * feed locally), so callers never publish themselves.
 */
export interface TaskStore {
  /** Creates all or none. Items with a live idempotency key return the existing task. */
  create(items: readonly NewTask[]): Promise<CreateResult[]>;
  get(id: string): Promise<Task | null>;
  /** Applies `patch` if `condition` holds; bumps version by one and sets updatedAt. Returns the new task. */
  update(id: string, patch: TaskPatch, condition: UpdateCondition, now: string): Promise<Task>;
  /** Removes a task created moments ago whose enqueue failed, so nothing half-written stays. */
  deleteUnqueued(id: string, version: number): Promise<void>;
  /** Newest first. `nextToken` comes from the previous page. */
  list(filter: TaskFilter, limit: number, nextToken: string | null): Promise<TaskPage>;
  counts(now: string): Promise<QueueCounts>;
}
