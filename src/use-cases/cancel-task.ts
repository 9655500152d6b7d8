import {
  ConditionFailedError,
  InvalidTransitionError,
  NotFoundError,
  isErrorNamed,
} from '../domain/errors.ts';
import { isoFromMillis, type Task } from '../domain/task.ts';
import { TaskStatus } from '../domain/task-status.ts';
import type { Clock } from '../ports/clock.ts';
import type { TaskStore } from '../ports/task-store.ts';
import { expiryFor } from './retention.ts';

export interface CancelTaskDeps {
  store: TaskStore;
  clock: Clock;
  retentionSeconds: number;
}

const MAX_RACES = 5;

/**
 * QUEUED or RETRYING: CANCELLED at once (a message still in the queue finds it final and is dropped).
 * RUNNING: marks cancelRequested; the worker's AbortSignal fires and the worker writes CANCELLED.
 * A final task is an InvalidTransitionError. Races with the worker are retried on a fresh read.
 */
export function makeCancelTask(deps: CancelTaskDeps) {
  return async function cancelTask(id: string): Promise<Task> {
    for (let race = 0; ; race++) {
      const task = await deps.store.get(id);
      if (!task) throw new NotFoundError('task', id);
      const nowMs = deps.clock.now();
      const now = isoFromMillis(nowMs);
      try {
        switch (task.status) {
          case TaskStatus.QUEUED:
          case TaskStatus.RETRYING:
            return await deps.store.update(
              id,
              {
                status: TaskStatus.CANCELLED,
                finishedAt: now,
                expiresAt: expiryFor(nowMs, deps.retentionSeconds),
              },
              { version: task.version },
              now,
            );
          case TaskStatus.RUNNING:
            if (task.cancelRequested) return task;
            return await deps.store.update(id, { cancelRequested: true }, { version: task.version }, now);
          default:
            throw new InvalidTransitionError(id, task.status, 'cancel');
        }
      } catch (error) {
        if (isErrorNamed(error, ConditionFailedError) && race < MAX_RACES) continue;
        throw error;
      }
    }
  };
}
