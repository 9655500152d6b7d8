import { InvalidTransitionError } from './errors.ts';

/**
 * The statuses of a task, defined once. The GraphQL enum `TaskStatus` in schema.graphql must list the
 * same values; a type-level test fails when the two drift.
 */
export const TaskStatus = Object.freeze({
  QUEUED: 'QUEUED',
  RUNNING: 'RUNNING',
  RETRYING: 'RETRYING',
  SUCCEEDED: 'SUCCEEDED',
  FAILED: 'FAILED',
  CANCELLED: 'CANCELLED',
} as const);

export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

export const ALL_STATUSES: readonly TaskStatus[] = Object.freeze(Object.values(TaskStatus));

/** Statuses a task can still leave on its own: it waits to run or runs. */
export const LIVE_STATUSES: readonly TaskStatus[] = Object.freeze([
  TaskStatus.QUEUED,
  TaskStatus.RUNNING,
  TaskStatus.RETRYING,
]);

/** Final statuses: only retryTask (FAILED, CANCELLED) moves a task out of them. */
export const FINAL_STATUSES: readonly TaskStatus[] = Object.freeze([
  TaskStatus.SUCCEEDED,
  TaskStatus.FAILED,
  TaskStatus.CANCELLED,
]);

/**
 * Every allowed move. RUNNING → RUNNING is a re-delivery after a lost lease (the worker died);
 * FAILED/CANCELLED → QUEUED is retryTask, the dead-letter redrive.
 */
const TRANSITIONS: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = Object.freeze({
  QUEUED: [TaskStatus.RUNNING, TaskStatus.CANCELLED],
  RUNNING: [
    TaskStatus.RUNNING,
    TaskStatus.SUCCEEDED,
    TaskStatus.RETRYING,
    TaskStatus.FAILED,
    TaskStatus.CANCELLED,
  ],
  RETRYING: [TaskStatus.RUNNING, TaskStatus.CANCELLED],
  SUCCEEDED: [],
  FAILED: [TaskStatus.QUEUED],
  CANCELLED: [TaskStatus.QUEUED],
});

export function isFinal(status: TaskStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

export function isTaskStatus(value: unknown): value is TaskStatus {
  return typeof value === 'string' && (ALL_STATUSES as readonly string[]).includes(value);
}

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The statuses from which `to` may be reached: the condition a store puts on a conditional write. */
export function statusesLeadingTo(to: TaskStatus): TaskStatus[] {
  return ALL_STATUSES.filter((from) => TRANSITIONS[from].includes(to));
}

/**
 * Throws {@link InvalidTransitionError} unless `from → to` is allowed.
 *
 * @example
 * assertTransition('QUEUED', 'RUNNING'); // ok
 * assertTransition('SUCCEEDED', 'QUEUED'); // throws
 */
export function assertTransition(taskId: string, from: TaskStatus, to: TaskStatus, action: string): void {
  if (!canTransition(from, to)) {
    throw new InvalidTransitionError(taskId, from, action);
  }
}
