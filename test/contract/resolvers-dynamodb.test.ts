import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { DynamoDbTaskStore } from '../../src/adapters/dynamodb/dynamodb-task-store.ts';
import { tasksTableDataSource } from '../../src/adapters/local/local-data-sources.ts';
import { SqliteTaskStore } from '../../src/adapters/sqlite/sqlite-task-store.ts';
import { loadResolver, type LoadedResolver, type RunOutcome } from '../../src/appsync/js-runtime/index.ts';
import type { DataSource } from '../../src/appsync/local-appsync.ts';
import { FIELD_RESOLVERS } from '../../src/appsync/resolver-config.ts';
import type { Task } from '../../src/domain/task.ts';
import { makeTask } from '../helpers/contract-fixtures.ts';
import { tempSqlite } from '../helpers/contract-sqlite.ts';
import { appSyncDynamoDbDataSource } from '../emulators/appsync-dynamodb-data-source.ts';
import { createLocalTasksTable, type LocalTasksTable } from '../emulators/tasks-table.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** One field resolution as AppSync runs a unit resolver: request handler, data source, response handler. */
interface FieldRun {
  request: RunOutcome;
  /** What the data source answered; absent when the request handler ended the resolution. */
  fetched?: Awaited<ReturnType<DataSource>>;
  /** The field's outcome: the response handler's, or the request handler's when it ended the resolution. */
  outcome: RunOutcome;
}

async function resolveQueryTask(
  resolver: LoadedResolver,
  dataSource: DataSource,
  id: string,
): Promise<FieldRun> {
  const ctx = { arguments: { id }, info: { fieldName: 'task', parentTypeName: 'Query' } };
  const meta = { operation: 'query' } as const;
  const request = resolver.run('request', ctx, meta);
  if (request.kind !== 'value') return { request, outcome: request };
  const fetched = await dataSource(request.value);
  const outcome = resolver.run(
    'response',
    {
      ...ctx,
      result: 'result' in fetched ? fetched.result : null,
      error: 'error' in fetched ? fetched.error : null,
    },
    meta,
  );
  return { request, fetched, outcome };
}

describe('resolvers on the tasks table', () => {
  it('are Query.task alone, the one covered below', () => {
    const onTasksTable = FIELD_RESOLVERS.filter((r) => r.dataSource === 'TASKS_TABLE');

    expect(onTasksTable.map((r) => `${r.typeName}.${r.fieldName} ${r.code}`)).toEqual([
      'Query.task resolvers/Query.task.ts',
    ]);
  });
});

describe('Query.task against DynamoDB Local and against the local tasks table', () => {
  let resolver: LoadedResolver;
  let table: LocalTasksTable;
  let sqlite: ReturnType<typeof tempSqlite>;
  let aws: DataSource;
  let local: DataSource;
  // Seeded alike in both stores, except `notATask`, an item only a DynamoDB table can hold.
  let existing: Task;
  let expired: Task;
  let expiringLater: Task;
  const notATaskId = randomUUID();

  beforeAll(async () => {
    resolver = await loadResolver(path.join(REPO, 'resolvers/Query.task.ts'));
    table = await createLocalTasksTable();
    sqlite = tempSqlite();
    existing = makeTask({
      status: 'RETRYING',
      attempts: 1,
      progress: 0.5,
      error: { code: 'HANDLER_ERROR', message: 'boom', retryable: true, attempt: 1 },
    });
    expired = makeTask({ status: 'SUCCEEDED', expiresAt: '2020-01-01T00:00:00.000Z' });
    expiringLater = makeTask({ status: 'SUCCEEDED', expiresAt: '2100-01-01T00:00:00.000Z' });
    const seed = [existing, expired, expiringLater].map((task) => ({ task, idempotencyKeyExpiresAt: null }));
    await new DynamoDbTaskStore(table.doc, table.tableName).create(seed);
    const sqliteStore = new SqliteTaskStore(sqlite.db);
    await sqliteStore.create(seed);
    await table.client.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: marshall({ id: notATaskId, entity: 'IDEMPOTENCY', taskId: existing.id, ttl: 4_102_444_800 }),
      }),
    );
    aws = appSyncDynamoDbDataSource(table.client, table.tableName);
    local = tasksTableDataSource((id) => sqliteStore.get(id));
  });

  afterAll(async () => {
    await table?.drop();
    sqlite?.cleanup();
  });

  it('returns an existing task with its fields from DynamoDB', async () => {
    const run = await resolveQueryTask(resolver, aws, existing.id);

    expect(run.request).toMatchObject({
      kind: 'value',
      value: { operation: 'GetItem', key: { id: { S: existing.id } }, consistentRead: true },
    });
    expect(run.outcome).toMatchObject({ kind: 'value', value: existing, appendedErrors: [] });
  });

  it('returns a task whose ttl is still ahead from DynamoDB', async () => {
    const run = await resolveQueryTask(resolver, aws, expiringLater.id);

    expect(run.outcome).toMatchObject({ kind: 'value', value: expiringLater });
  });

  it('returns null for an id DynamoDB has no item for', async () => {
    const run = await resolveQueryTask(resolver, aws, randomUUID());

    expect(run.fetched).toEqual({ result: null });
    expect(run.outcome).toEqual({ kind: 'value', value: null, appendedErrors: [] });
  });

  it('returns null for a DynamoDB item that is not a task', async () => {
    const run = await resolveQueryTask(resolver, aws, notATaskId);

    expect(run.fetched).toMatchObject({ result: { id: notATaskId, entity: 'IDEMPOTENCY' } });
    expect(run.outcome).toEqual({ kind: 'value', value: null, appendedErrors: [] });
  });

  it('returns null for an expired task that DynamoDB has not deleted yet', async () => {
    const run = await resolveQueryTask(resolver, aws, expired.id);

    expect(run.fetched).toMatchObject({ result: { id: expired.id, ttl: 1_577_836_800 } });
    expect(run.outcome).toEqual({ kind: 'value', value: null, appendedErrors: [] });
  });

  it('fails with a ValidationError outcome, without reading DynamoDB, for an id that is not a task id', async () => {
    const run = await resolveQueryTask(resolver, aws, 'IDEMPOTENCY#key-1');

    expect(run.fetched).toBeUndefined();
    expect(run.outcome).toMatchObject({
      kind: 'error',
      error: {
        type: 'ValidationError',
        errorInfo: { issues: [{ path: 'id', message: 'is not a task id' }] },
      },
    });
  });

  const cases: Array<[string, () => string]> = [
    ['an existing task', () => existing.id],
    ['a task whose ttl is still ahead', () => expiringLater.id],
    ['an unknown id', () => randomUUID()],
    ['an item that is not a task', () => notATaskId],
    ['an expired task', () => expired.id],
    ['a malformed id', () => 'not-a-task-id'],
  ];
  it.each(cases)('gives the same outcome locally as on DynamoDB for %s', async (_label, id) => {
    const taskId = id();

    const onAws = await resolveQueryTask(resolver, aws, taskId);
    const onLocal = await resolveQueryTask(resolver, local, taskId);

    expect(onLocal.outcome).toEqual(onAws.outcome);
  });
});
