import type { Task, TaskError } from '../../domain/task.ts';
import { isTaskStatus } from '../../domain/task-status.ts';

/**
 * The DynamoDB item of a task: the task's own fields under their GraphQL names (so the APPSYNC_JS
 * GetItem resolver can return an item as it is), plus `entity` to tell task items from other items
 * in the table and `ttl` (epoch seconds) for DynamoDB's TTL. The local store emits its changes as
 * stream records of this same item shape, so one publisher handler serves both.
 */
export type TaskItem = Task & IndexAttributes & { entity: 'TASK'; ttl?: number };

export const TASK_ENTITY = 'TASK';

/** The table's secondary indexes: partition key attribute and sort key attribute of each. */
export const TASK_INDEXES = Object.freeze({
  byCreated: { partitionKey: 'listKey', sortKey: 'createdKey' },
  byStatus: { partitionKey: 'statusKey', sortKey: 'createdKey' },
  byType: { partitionKey: 'typeKey', sortKey: 'createdKey' },
  byStatusType: { partitionKey: 'statusTypeKey', sortKey: 'createdKey' },
  /** Sparse: only QUEUED and RETRYING tasks carry waitingKey, sorted by when they may run. */
  waiting: { partitionKey: 'waitingKey', sortKey: 'runAtKey' },
} as const);

export type TaskIndexName = keyof typeof TASK_INDEXES;

/** The attributes the indexes read, derived from the task. */
export interface IndexAttributes {
  listKey: 'TASK';
  statusKey: string;
  typeKey: string;
  statusTypeKey: string;
  createdKey: string;
  waitingKey?: 'WAITING';
  runAtKey?: string;
}

export function indexAttributes(
  task: Pick<Task, 'id' | 'status' | 'type' | 'createdAt' | 'runAt'>,
): IndexAttributes {
  const waiting = task.status === 'QUEUED' || task.status === 'RETRYING';
  return {
    listKey: 'TASK',
    statusKey: task.status,
    typeKey: task.type,
    statusTypeKey: `${task.status}#${task.type}`,
    createdKey: `${task.createdAt}#${task.id}`,
    ...(waiting ? { waitingKey: 'WAITING' as const, runAtKey: `${task.runAt}#${task.id}` } : {}),
  };
}

export function ttlOf(expiresAt: string | null): number | undefined {
  return expiresAt ? Math.ceil(Date.parse(expiresAt) / 1000) : undefined;
}

export function taskToItem(task: Task): TaskItem {
  const item: TaskItem = { ...task, ...indexAttributes(task), entity: TASK_ENTITY };
  const ttl = ttlOf(task.expiresAt);
  if (ttl !== undefined) item.ttl = ttl;
  return item;
}

/** The item that makes an idempotency key unique for its window, beside the task items. */
export function idempotencyItemId(key: string): string {
  return `IDEMPOTENCY#${key}`;
}

function str(item: Record<string, unknown>, key: string): string | null {
  const v = item[key];
  return typeof v === 'string' ? v : null;
}

function num(item: Record<string, unknown>, key: string): number | null {
  const v = item[key];
  return typeof v === 'number' ? v : null;
}

/** Reads a task item back; returns null for items that are not tasks. */
export function taskFromItem(item: Record<string, unknown>): Task | null {
  const status = item['status'];
  const id = str(item, 'id');
  const type = str(item, 'type');
  if (item['entity'] !== TASK_ENTITY || !id || !type || !isTaskStatus(status)) return null;
  const error = item['error'] as TaskError | null | undefined;
  return {
    id,
    type,
    status,
    payload: str(item, 'payload') ?? 'null',
    result: str(item, 'result'),
    resultSize: num(item, 'resultSize'),
    error: error ?? null,
    progress: num(item, 'progress'),
    progressMessage: str(item, 'progressMessage'),
    attempts: num(item, 'attempts') ?? 0,
    maxAttempts: num(item, 'maxAttempts') ?? 1,
    timeoutSeconds: num(item, 'timeoutSeconds') ?? 1,
    version: num(item, 'version') ?? 0,
    createdAt: str(item, 'createdAt') ?? '',
    updatedAt: str(item, 'updatedAt') ?? '',
    startedAt: str(item, 'startedAt'),
    finishedAt: str(item, 'finishedAt'),
    runAt: str(item, 'runAt') ?? '',
    idempotencyKey: str(item, 'idempotencyKey'),
    cancelRequested: item['cancelRequested'] === true,
    leaseExpiresAt: str(item, 'leaseExpiresAt'),
    expiresAt: str(item, 'expiresAt'),
  };
}
