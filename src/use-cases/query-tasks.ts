import { ValidationError } from '../domain/errors.ts';
import { LIMITS } from '../domain/limits.ts';
import { isoFromMillis, type Task } from '../domain/task.ts';
import type { Clock } from '../ports/clock.ts';
import type { TaskFilter, TaskPage, TaskStore } from '../ports/task-store.ts';

export interface QueueStats {
  queued: number;
  running: number;
  retrying: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  total: number;
  oldestQueuedAgeSeconds: number | null;
}

export function makeGetTask(deps: { store: TaskStore; clock: Clock }) {
  return async function getTask(id: string): Promise<Task | null> {
    const task = await deps.store.get(id);
    // Expired but not yet swept, as DynamoDB TTL can lag: already gone as far as clients know.
    if (task?.expiresAt && Date.parse(task.expiresAt) <= deps.clock.now()) return null;
    return task;
  };
}

export function makeListTasks(deps: { store: TaskStore }) {
  return async function listTasks(
    filter: TaskFilter | null | undefined,
    limit: number | null | undefined,
    nextToken: string | null | undefined,
  ): Promise<TaskPage> {
    const size = limit ?? LIMITS.listLimit.default;
    if (!Number.isInteger(size) || size < LIMITS.listLimit.min || size > LIMITS.listLimit.max) {
      throw ValidationError.single(
        'limit',
        `must be an integer from ${LIMITS.listLimit.min} to ${LIMITS.listLimit.max}, got ${size}`,
      );
    }
    return deps.store.list(filter ?? {}, size, nextToken ?? null);
  };
}

export function makeQueueStats(deps: { store: TaskStore; clock: Clock }) {
  return async function queueStats(): Promise<QueueStats> {
    const nowMs = deps.clock.now();
    const { counts, oldestWaitingRunAt } = await deps.store.counts(isoFromMillis(nowMs));
    return {
      queued: counts.QUEUED,
      running: counts.RUNNING,
      retrying: counts.RETRYING,
      succeeded: counts.SUCCEEDED,
      failed: counts.FAILED,
      cancelled: counts.CANCELLED,
      total: Object.values(counts).reduce((a, b) => a + b, 0),
      oldestQueuedAgeSeconds:
        oldestWaitingRunAt === null ? null : Math.max(0, (nowMs - Date.parse(oldestWaitingRunAt)) / 1000),
    };
  };
}
