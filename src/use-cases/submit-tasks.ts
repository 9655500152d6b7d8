import { PayloadTooLargeError, ValidationError, type ValidationIssue } from '../domain/errors.ts';
import { LIMITS } from '../domain/limits.ts';
import { encodeTaskMessage, isoFromMillis, type Task } from '../domain/task.ts';
import { TaskStatus } from '../domain/task-status.ts';
import type { TaskTypeRegistry } from '../domain/task-type-registry.ts';
import type { Clock } from '../ports/clock.ts';
import type { OutgoingMessage, TaskQueue } from '../ports/task-queue.ts';
import type { AtomicEnqueue, CreateResult, NewTask, TaskStore } from '../ports/task-store.ts';
import type { Logger } from '../domain/task-type.ts';
import { taskIdGenerator } from './task-ids.ts';

/** One submission as the API receives it. `payload` is parsed JSON (AppSync parses AWSJSON arguments). */
export interface SubmitTaskRequest {
  type: string;
  payload: unknown;
  idempotencyKey?: string | null;
  delaySeconds?: number | null;
  maxAttempts?: number | null;
  timeoutSeconds?: number | null;
}

export interface SubmitTasksDeps {
  store: TaskStore;
  queue: Pick<TaskQueue, 'send'>;
  /** When the store and the queue can share a transaction: tasks and messages are stored in one. */
  atomic?: AtomicEnqueue;
  registry: TaskTypeRegistry;
  clock: Clock;
  logger: Logger;
  newId?: () => string;
}

function checkRange(
  issues: ValidationIssue[],
  path: string,
  value: number | null | undefined,
  range: { min: number; max: number },
): void {
  if (value === null || value === undefined) return;
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    issues.push({ path, message: `must be an integer from ${range.min} to ${range.max}, got ${value}` });
  }
}

/** AppSync hands AWSJSON arguments over parsed, so the stored text is the canonical re-serialization. */
function payloadText(payload: unknown, path: string): { text: string; value: unknown } {
  if (payload === undefined || payload === null) throw ValidationError.single(path, 'is required');
  return { text: JSON.stringify(payload), value: payload };
}

/**
 * Validates every request first (nothing is stored when any is wrong), stores the tasks durably,
 * then enqueues them: in one transaction when the deps offer `atomic`; otherwise one after the
 * other, and when the enqueue fails the tasks just created are removed again so no half-submitted
 * task stays behind (short of that removal failing too), and the error goes to the caller.
 */
export function makeSubmitTasks(deps: SubmitTasksDeps) {
  // Time-ordered ids (UUID version 7): new tasks sit side by side in the store's primary index,
  // so writing and updating recent tasks touches few pages, and ids sort by submission time.
  const newId = deps.newId ?? taskIdGenerator();

  /** Stores, then sends; when the send fails, removes the tasks just stored and passes the error on. */
  async function createThenEnqueue(
    items: readonly NewTask[],
    messagesFor: (tasks: Task[]) => OutgoingMessage[],
  ): Promise<CreateResult[]> {
    const results = await deps.store.create(items);
    const created = results.filter((r) => r.created).map((r) => r.task);
    if (created.length === 0) return results;
    try {
      await deps.queue.send(messagesFor(created));
    } catch (error) {
      deps.logger.error('enqueue failed; removing the tasks just stored', {
        taskIds: created.map((t) => t.id),
        error: String(error),
      });
      await Promise.allSettled(created.map((task) => deps.store.deleteUnqueued(task.id, task.version)));
      throw error;
    }
    return results;
  }

  /**
   * @param listPath where the list sits in the request, for error paths (e.g. `inputs`)
   * @param itemPath where item `index` sits (e.g. `input` for submitTask, `inputs[2]` for submitTasks)
   */
  return async function submitTasks(
    requests: readonly SubmitTaskRequest[],
    listPath: string,
    itemPath: (index: number) => string,
  ): Promise<Task[]> {
    if (requests.length === 0) throw ValidationError.single(listPath, 'must list at least one task');
    if (requests.length > LIMITS.maxBatchSubmit) {
      throw ValidationError.single(
        listPath,
        `lists ${requests.length} tasks; at most ${LIMITS.maxBatchSubmit} may be submitted in one call`,
      );
    }
    const nowMs = deps.clock.now();
    const now = isoFromMillis(nowMs);
    const issues: ValidationIssue[] = [];
    const items: NewTask[] = [];
    const seenKeys = new Map<string, number>();

    requests.forEach((request, index) => {
      const at = itemPath(index);
      const before = issues.length;
      const definition = deps.registry.get(request.type);
      if (!definition) {
        issues.push({
          path: `${at}.type`,
          message: `unknown task type "${request.type}"; known: ${deps.registry.names().join(', ')}`,
        });
      }
      checkRange(issues, `${at}.delaySeconds`, request.delaySeconds, LIMITS.delaySeconds);
      checkRange(issues, `${at}.maxAttempts`, request.maxAttempts, LIMITS.maxAttempts);
      checkRange(issues, `${at}.timeoutSeconds`, request.timeoutSeconds, LIMITS.timeoutSeconds);
      const key = request.idempotencyKey ?? null;
      if (key !== null) {
        if (key.length === 0 || key.length > LIMITS.idempotencyKey.maxLength) {
          issues.push({
            path: `${at}.idempotencyKey`,
            message: `must be 1 to ${LIMITS.idempotencyKey.maxLength} characters`,
          });
        } else if (seenKeys.has(key)) {
          issues.push({
            path: `${at}.idempotencyKey`,
            message: `repeats the key of item ${seenKeys.get(key)} in the same call`,
          });
        } else {
          seenKeys.set(key, index);
        }
      }
      let text = '';
      try {
        const payload = payloadText(request.payload, `${at}.payload`);
        text = payload.text;
        const bytes = Buffer.byteLength(text);
        if (bytes > LIMITS.maxPayloadBytes) {
          throw new PayloadTooLargeError(`${at}.payload`, bytes, LIMITS.maxPayloadBytes);
        }
        if (definition) deps.registry.parsePayload(request.type, payload.value, `${at}.payload`);
      } catch (error) {
        if (error instanceof ValidationError) issues.push(...error.issues);
        else throw error;
      }
      if (issues.length > before || !definition) return;

      const delay = request.delaySeconds ?? 0;
      items.push({
        task: {
          id: newId(),
          type: request.type,
          status: TaskStatus.QUEUED,
          payload: text,
          result: null,
          resultSize: null,
          error: null,
          progress: null,
          progressMessage: null,
          attempts: 0,
          maxAttempts: request.maxAttempts ?? definition.defaults.maxAttempts,
          timeoutSeconds: request.timeoutSeconds ?? definition.defaults.timeoutSeconds,
          version: 1,
          createdAt: now,
          updatedAt: now,
          startedAt: null,
          finishedAt: null,
          runAt: isoFromMillis(nowMs + delay * 1000),
          idempotencyKey: key,
          cancelRequested: false,
          leaseExpiresAt: null,
          expiresAt: null,
        },
        idempotencyKeyExpiresAt:
          key === null ? null : isoFromMillis(nowMs + LIMITS.idempotencyKey.ttlSeconds * 1000),
      });
    });
    if (issues.length > 0) throw new ValidationError(issues);

    const messagesFor = (tasks: Task[]) =>
      tasks.map((task) => ({
        body: encodeTaskMessage({ taskId: task.id }),
        delaySeconds: Math.max(0, Math.ceil((Date.parse(task.runAt) - nowMs) / 1000)),
      }));
    const results = deps.atomic
      ? await deps.atomic.createQueued(items, messagesFor)
      : await createThenEnqueue(items, messagesFor);
    for (const { task, created } of results)
      if (created) deps.logger.debug('task QUEUED', { taskId: task.id, type: task.type });
    return results.map((r) => r.task);
  };
}
