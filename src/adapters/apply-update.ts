import { ConditionFailedError } from '../domain/errors.ts';
import type { Task } from '../domain/task.ts';
import type { TaskPatch, UpdateCondition } from '../ports/task-store.ts';

/**
 * The semantics of `TaskStore.update`, shared by every adapter: checks `condition` against the task
 * as read inside the adapter's transaction (or before its conditional write), then returns the task
 * as it will be stored (`next`, its version one higher) beside the one read (`previous`). Throws ConditionFailedError naming what differed.
 */
export function applyUpdate(
  id: string,
  current: Task | null,
  patch: TaskPatch,
  condition: UpdateCondition,
  now: string,
): { previous: Task; next: Task } {
  if (!current) throw new ConditionFailedError(id, 'it does not exist');
  if (condition.version !== undefined && current.version !== condition.version) {
    throw new ConditionFailedError(id, `version is ${current.version}, expected ${condition.version}`);
  }
  if (condition.statusIn !== undefined && !condition.statusIn.includes(current.status)) {
    throw new ConditionFailedError(
      id,
      `status is ${current.status}, expected ${condition.statusIn.join(' or ')}`,
    );
  }
  if (condition.attempts !== undefined && current.attempts !== condition.attempts) {
    throw new ConditionFailedError(id, `attempt is ${current.attempts}, expected ${condition.attempts}`);
  }
  if (condition.cancelRequested !== undefined && current.cancelRequested !== condition.cancelRequested) {
    throw new ConditionFailedError(id, `cancelRequested is ${current.cancelRequested}`);
  }
  return { previous: current, next: { ...current, ...patch, version: current.version + 1, updatedAt: now } };
}
