import {
  DeleteCommand,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { ConditionFailedError, ValidationError } from '../../domain/errors.ts';
import type { Task } from '../../domain/task.ts';
import { applyUpdate } from '../apply-update.ts';
import { ALL_STATUSES, type TaskStatus } from '../../domain/task-status.ts';
import type {
  CreateResult,
  NewTask,
  QueueCounts,
  TaskFilter,
  TaskPage,
  TaskPatch,
  TaskStore,
  UpdateCondition,
} from '../../ports/task-store.ts';
import {
  TASK_INDEXES,
  idempotencyItemId,
  indexAttributes,
  taskFromItem,
  taskToItem,
  ttlOf,
  type TaskIndexName,
} from './task-item.ts';

function isConditionFailure(error: unknown): boolean {
  const name = (error as { name?: string })?.name;
  return name === 'ConditionalCheckFailedException';
}

function cancellationCodes(error: unknown): Array<string | undefined> | null {
  if ((error as { name?: string })?.name !== 'TransactionCanceledException') return null;
  return ((error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? []).map(
    (r) => r.Code,
  );
}

function encodeToken(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/**
 * Reads a nextToken back into the ExclusiveStartKey of `index`: the table key `id` plus the index's
 * partition and sort key, all strings, with the partition key of the listing being asked for. A
 * token from another listing (another filter) would make DynamoDB fail the query, so it is a
 * ValidationError here, like any other token this API did not hand out.
 */
function decodeToken(token: string, index: TaskIndexName, partition: string): Record<string, string> {
  const { partitionKey, sortKey } = TASK_INDEXES[index];
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    // reported below
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const key = value as Record<string, unknown>;
    const names = Object.keys(key).sort();
    const expected = [...new Set(['id', partitionKey, sortKey])].sort();
    if (
      names.join() === expected.join() &&
      names.every((name) => typeof key[name] === 'string') &&
      key[partitionKey] === partition
    ) {
      return key as Record<string, string>;
    }
  }
  throw ValidationError.single(
    'nextToken',
    'is not a token this API returned for this filter; pass the nextToken of the previous page',
  );
}

/** How many times an update re-reads after a concurrent write that did not break its condition. */
const MAX_VERSION_RACES = 10;

/**
 * The task store on DynamoDB (AWS twin of SqliteTaskStore). One table: task items keyed by `id`,
 * idempotency items keyed by `IDEMPOTENCY#<key>` with a TTL, and the indexes `tasks(filter)` and
 * queueStats need. Updates read the item, check the condition, then write with `version = :read`
 * as the condition expression, retrying when only the version moved: the same semantics as the
 * local store's in-transaction check. The table's stream (NEW_IMAGE) carries every committed change
 * to the publisher. Where it differs: counts are index queries (they grow with the number of tasks).
 */
export class DynamoDbTaskStore implements TaskStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(doc: DynamoDBDocumentClient, tableName: string) {
    this.#doc = doc;
    this.#table = tableName;
  }

  async #getItem(id: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.#doc.send(
      new GetCommand({ TableName: this.#table, Key: { id }, ConsistentRead: true }),
    );
    return Item;
  }

  async get(id: string): Promise<Task | null> {
    const item = await this.#getItem(id);
    return item ? taskFromItem(item) : null;
  }

  async create(items: readonly NewTask[]): Promise<CreateResult[]> {
    const results: Array<CreateResult | undefined> = new Array(items.length);
    // A key given twice in one call: the later items get what the first one gets. (A transaction may
    // not touch one item twice, so they cannot go in it.)
    const firstWithKey = new Map<string, number>();
    const repeats: Array<{ index: number; first: number }> = [];
    let pending: Array<{ item: NewTask; index: number }> = [];
    items.forEach((item, index) => {
      const key = item.idempotencyKeyExpiresAt === null ? null : item.task.idempotencyKey;
      const first = key === null ? undefined : firstWithKey.get(key);
      if (first !== undefined) {
        repeats.push({ index, first });
        return;
      }
      if (key !== null) firstWithKey.set(key, index);
      pending.push({ item, index });
    });
    for (let round = 0; pending.length > 0; round++) {
      if (round > 3) throw new Error('idempotency keys kept changing under a batch submit; try again');
      const actions = pending.flatMap(({ item }) => {
        const { task, idempotencyKeyExpiresAt } = item;
        const put = {
          Put: {
            TableName: this.#table,
            Item: taskToItem(task),
            ConditionExpression: 'attribute_not_exists(id)',
          },
        };
        if (task.idempotencyKey === null || idempotencyKeyExpiresAt === null) return [put];
        return [
          {
            Put: {
              TableName: this.#table,
              Item: {
                id: idempotencyItemId(task.idempotencyKey),
                entity: 'IDEMPOTENCY',
                taskId: task.id,
                ttl: ttlOf(idempotencyKeyExpiresAt),
              },
              ConditionExpression: 'attribute_not_exists(id) OR #ttl <= :now',
              ExpressionAttributeNames: { '#ttl': 'ttl' },
              ExpressionAttributeValues: { ':now': Math.floor(Date.parse(task.createdAt) / 1000) },
            },
          },
          put,
        ];
      });
      try {
        await this.#doc.send(new TransactWriteCommand({ TransactItems: actions }));
        for (const { item, index } of pending) results[index] = { task: item.task, created: true };
        pending = [];
      } catch (error) {
        const codes = cancellationCodes(error);
        if (!codes) throw error;
        // Find the keys that already belong to a task: those items return that task; retry the rest.
        let at = 0;
        const retry: typeof pending = [];
        for (const entry of pending) {
          const hasKey =
            entry.item.task.idempotencyKey !== null && entry.item.idempotencyKeyExpiresAt !== null;
          const keyCode = hasKey ? codes[at] : undefined;
          at += hasKey ? 2 : 1;
          if (keyCode === 'ConditionalCheckFailed') {
            const keyItem = await this.#getItem(idempotencyItemId(entry.item.task.idempotencyKey!));
            const existing = keyItem ? await this.get(String(keyItem['taskId'])) : null;
            if (existing) {
              results[entry.index] = { task: existing, created: false };
              continue;
            }
          }
          retry.push(entry);
        }
        if (retry.length === pending.length && !codes.includes('ConditionalCheckFailed')) throw error;
        pending = retry;
      }
    }
    for (const { index, first } of repeats) results[index] = { task: results[first]!.task, created: false };
    return results as CreateResult[];
  }

  async update(id: string, patch: TaskPatch, condition: UpdateCondition, now: string): Promise<Task> {
    for (let race = 0; ; race++) {
      const item = await this.#getItem(id);
      const current = item ? taskFromItem(item) : null;
      const { previous, next } = applyUpdate(id, current, patch, condition, now);
      const derived: Record<string, unknown> = { ...indexAttributes(next) };
      const names: Record<string, string> = {};
      const values: Record<string, unknown> = { ':expected': previous.version };
      const sets: string[] = [];
      const removes: string[] = [];
      const assign = (name: string, value: unknown) => {
        const n = `#a${sets.length + removes.length}`;
        names[n] = name;
        if (value === undefined) {
          removes.push(n);
        } else {
          values[`:v${sets.length}`] = value;
          sets.push(`${n} = :v${sets.length}`);
        }
      };
      for (const key of Object.keys(patch) as Array<keyof TaskPatch>) assign(key, next[key]);
      assign('version', next.version);
      assign('updatedAt', now);
      for (const key of ['statusKey', 'statusTypeKey', 'waitingKey', 'runAtKey']) assign(key, derived[key]);
      if ('expiresAt' in patch) assign('ttl', ttlOf(next.expiresAt));
      try {
        await this.#doc.send(
          new UpdateCommand({
            TableName: this.#table,
            Key: { id },
            UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
            ConditionExpression: 'version = :expected',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        );
        return next;
      } catch (error) {
        // Only the version moved: re-read and check the caller's condition again.
        if (isConditionFailure(error) && race < MAX_VERSION_RACES) continue;
        if (isConditionFailure(error)) throw new ConditionFailedError(id, 'it kept changing concurrently');
        throw error;
      }
    }
  }

  async deleteUnqueued(id: string, version: number): Promise<void> {
    const task = await this.get(id);
    try {
      await this.#doc.send(
        new DeleteCommand({
          TableName: this.#table,
          Key: { id },
          ConditionExpression: 'version = :v',
          ExpressionAttributeValues: { ':v': version },
        }),
      );
    } catch (error) {
      if (isConditionFailure(error)) return;
      throw error;
    }
    if (task?.idempotencyKey) {
      await this.#doc
        .send(
          new DeleteCommand({
            TableName: this.#table,
            Key: { id: idempotencyItemId(task.idempotencyKey) },
            ConditionExpression: 'taskId = :id',
            ExpressionAttributeValues: { ':id': id },
          }),
        )
        .catch((error: unknown) => {
          if (!isConditionFailure(error)) throw error;
        });
    }
  }

  async list(filter: TaskFilter, limit: number, nextToken: string | null): Promise<TaskPage> {
    const [index, value]: [TaskIndexName, string] =
      filter.status && filter.type
        ? ['byStatusType', `${filter.status}#${filter.type}`]
        : filter.status
          ? ['byStatus', filter.status]
          : filter.type
            ? ['byType', filter.type]
            : ['byCreated', 'TASK'];
    const { partitionKey, sortKey } = TASK_INDEXES[index];
    let exclusiveStartKey: Record<string, unknown> | undefined = nextToken
      ? decodeToken(nextToken, index, value)
      : undefined;
    // Read one task more than the page holds: DynamoDB hands out a LastEvaluatedKey whenever Limit is
    // reached, even at the very end, so only a task beyond the page proves there is a next one.
    const found: Array<{ task: Task; item: Record<string, unknown> }> = [];
    // A page can also come back short (DynamoDB's 1 MB page limit); keep reading until it is full.
    do {
      const page = await this.#doc.send(
        new QueryCommand({
          TableName: this.#table,
          IndexName: index,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': partitionKey },
          ExpressionAttributeValues: { ':pk': value },
          ScanIndexForward: false,
          Limit: limit + 1 - found.length,
          ExclusiveStartKey: exclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const task = taskFromItem(item);
        if (task) found.push({ task, item });
      }
      exclusiveStartKey = page.LastEvaluatedKey;
    } while (exclusiveStartKey && found.length <= limit);
    const items = found.slice(0, limit);
    const last = items.at(-1)?.item;
    return {
      items: items.map(({ task }) => task),
      nextToken:
        found.length > limit && last
          ? encodeToken({ id: last['id'], [partitionKey]: last[partitionKey], [sortKey]: last[sortKey] })
          : null,
    };
  }

  async counts(now: string): Promise<QueueCounts> {
    const counts = Object.fromEntries(ALL_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
    await Promise.all(
      ALL_STATUSES.map(async (status) => {
        let start: Record<string, unknown> | undefined;
        do {
          const page = await this.#doc.send(
            new QueryCommand({
              TableName: this.#table,
              IndexName: 'byStatus',
              KeyConditionExpression: 'statusKey = :s',
              ExpressionAttributeValues: { ':s': status },
              Select: 'COUNT',
              ExclusiveStartKey: start,
            }),
          );
          counts[status] += page.Count ?? 0;
          start = page.LastEvaluatedKey;
        } while (start);
      }),
    );
    const oldest = await this.#doc.send(
      new QueryCommand({
        TableName: this.#table,
        IndexName: 'waiting',
        KeyConditionExpression: 'waitingKey = :w AND runAtKey <= :now',
        ExpressionAttributeValues: { ':w': 'WAITING', ':now': `${now}#~` },
        ScanIndexForward: true,
        Limit: 1,
      }),
    );
    const first = oldest.Items?.[0];
    return { counts, oldestWaitingRunAt: first ? String(first['runAt']) : null };
  }
}
