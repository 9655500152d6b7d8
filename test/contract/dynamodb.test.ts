import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DynamoDbTaskStore } from '../../src/adapters/dynamodb/dynamodb-task-store.ts';
import { T0, iso, makeTask } from '../helpers/contract-fixtures.ts';
import { createLocalTasksTable, type LocalTasksTable } from '../emulators/tasks-table.ts';
import { describeTaskStoreContract } from './task-store-contract.ts';

describeTaskStoreContract('DynamoDB (DynamoDB Local)', async () => {
  const table = await createLocalTasksTable();
  return {
    store: new DynamoDbTaskStore(table.doc, table.tableName),
    teardown: () => table.drop(),
  };
});

describe('DynamoDbTaskStore.list beyond the contract', () => {
  let table: LocalTasksTable;
  let store: DynamoDbTaskStore;

  beforeEach(async () => {
    table = await createLocalTasksTable();
    store = new DynamoDbTaskStore(table.doc, table.tableName);
  });

  afterEach(async () => {
    await table.drop();
  });

  const plain = (task: ReturnType<typeof makeTask>) => ({ task, idempotencyKeyExpiresAt: null });

  it('hands out no nextToken with an exactly full last page, though DynamoDB reports a LastEvaluatedKey there', async () => {
    const tasks = Array.from({ length: 4 }, (_, i) => makeTask({ createdAt: iso(T0 + i) }));
    await store.create(tasks.map(plain));

    const first = await store.list({ status: 'QUEUED' }, 2, null);
    const second = await store.list({ status: 'QUEUED' }, 2, first.nextToken);

    expect(second.items.map((t) => t.id)).toEqual([tasks[1]!.id, tasks[0]!.id]);
    expect(second.nextToken).toBeNull();
  });

  it('rejects with ValidationError a nextToken handed out for another filter', async () => {
    await store.create([makeTask({ createdAt: iso(T0) }), makeTask({ createdAt: iso(T0 + 1) })].map(plain));
    const { nextToken } = await store.list({ type: 'SEND_EMAIL' }, 1, null);

    const attempt = store.list({ status: 'QUEUED' }, 1, nextToken);

    expect(nextToken).not.toBeNull();
    await expect(attempt).rejects.toMatchObject({ name: 'ValidationError' });
  });
});
