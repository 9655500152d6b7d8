import {
  ConditionFailedError,
  InvalidTransitionError,
  NotFoundError,
  isErrorNamed,
} from '../domain/errors.ts';
import { encodeTaskMessage, isoFromMillis, type Task } from '../domain/task.ts';
import { TaskStatus } from '../domain/task-status.ts';
import type { Clock } from '../ports/clock.ts';
import type { TaskQueue } from '../ports/task-queue.ts';
import type { AtomicEnqueue, TaskPatch, TaskStore } from '../ports/task-store.ts';

export interface RetryTaskDeps {
  store: TaskStore;
  queue: Pick<TaskQueue, 'send'>;
  /** When the store and the queue can share a transaction: the update and its message go in one. */
  atomic?: AtomicEnqueue;
  clock: Clock;
}

/**
 * The dead-letter redrive: a FAILED or CANCELLED task goes back to QUEUED with fresh attempts and
 * is enqueued again. Its last error is cleared (the failed attempts are history). The update and the
 * message are one transaction when the deps offer `atomic`; otherwise, if the enqueue fails, the task
 * is put back as it was.
 */
export function makeRetryTask(deps: RetryTaskDeps) {
  return async function retryTask(id: string): Promise<Task> {
    const task = await deps.store.get(id);
    if (!task) throw new NotFoundError('task', id);
    if (task.status !== TaskStatus.FAILED && task.status !== TaskStatus.CANCELLED) {
      throw new InvalidTransitionError(id, task.status, 'retry');
    }
    const now = isoFromMillis(deps.clock.now());
    const patch: TaskPatch = {
      status: TaskStatus.QUEUED,
      attempts: 0,
      error: null,
      result: null,
      resultSize: null,
      progress: null,
      progressMessage: null,
      startedAt: null,
      finishedAt: null,
      runAt: now,
      cancelRequested: false,
      leaseExpiresAt: null,
      expiresAt: null,
    };
    const message = { body: encodeTaskMessage({ taskId: id }) };
    let queued: Task;
    try {
      queued = deps.atomic
        ? await deps.atomic.updateQueued(id, patch, { version: task.version }, now, [message])
        : await deps.store.update(id, patch, { version: task.version }, now);
    } catch (error) {
      if (isErrorNamed(error, ConditionFailedError))
        throw new InvalidTransitionError(id, 'changing', 'retry');
      throw error;
    }
    if (deps.atomic) return queued;
    try {
      await deps.queue.send([message]);
    } catch (error) {
      await deps.store
        .update(
          id,
          {
            status: task.status,
            attempts: task.attempts,
            error: task.error,
            startedAt: task.startedAt,
            finishedAt: task.finishedAt,
            expiresAt: task.expiresAt,
          },
          { version: queued.version },
          isoFromMillis(deps.clock.now()),
        )
        .catch(() => undefined);
      throw error;
    }
    return queued;
  };
}
