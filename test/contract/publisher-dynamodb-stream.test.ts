import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type AttributeValue as StreamAttributeValue,
  type Shard,
  type _Record as StreamRecord,
} from '@aws-sdk/client-dynamodb-streams';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import type { AttributeValue as LambdaAttributeValue, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { AppSyncUpdatePublisher } from '../../src/adapters/appsync/appsync-update-publisher.ts';
import { DynamoDbTaskStore } from '../../src/adapters/dynamodb/dynamodb-task-store.ts';
import { idempotencyItemId } from '../../src/adapters/dynamodb/task-item.ts';
import type { Task, TaskUpdate } from '../../src/domain/task.ts';
import { makePublishUpdatesHandler, updateFromTask } from '../../src/handlers/publish-updates.ts';
import { localClientConfig } from '../emulators/dynamodb-local.ts';
import { createLocalTasksTable, type LocalTasksTable } from '../emulators/tasks-table.ts';
import { CREDENTIALS, FakeAppSync, REGION } from '../helpers/appsync-stand-in.ts';
import { T0, iso, makeTask, recordingLogger } from '../helpers/contract-fixtures.ts';

/** Parents before children, so records come out in the order Lambda would process them. */
function parentsFirst(shards: Shard[]): Shard[] {
  const byId = new Map(shards.map((s) => [s.ShardId, s]));
  const depth = (shard: Shard): number => {
    const parent = shard.ParentShardId ? byId.get(shard.ParentShardId) : undefined;
    return parent ? depth(parent) + 1 : 0;
  };
  return [...shards].sort((a, b) => depth(a) - depth(b));
}

/**
 * Everything the table's stream holds, read as the Lambda event source mapping reads it:
 * DescribeTable for the stream, DescribeStream for its shards, then each shard from TRIM_HORIZON
 * until a GetRecords call comes back empty (an open shard never ends).
 */
async function readStream(
  client: DynamoDBClient,
  streams: DynamoDBStreamsClient,
  tableName: string,
): Promise<{ streamArn: string; records: StreamRecord[] }> {
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const streamArn = Table?.LatestStreamArn;
  if (!streamArn) throw new Error(`table ${tableName} has no stream`);
  const shards: Shard[] = [];
  let startShard: string | undefined;
  do {
    const { StreamDescription } = await streams.send(
      new DescribeStreamCommand({ StreamArn: streamArn, ExclusiveStartShardId: startShard }),
    );
    shards.push(...(StreamDescription?.Shards ?? []));
    startShard = StreamDescription?.LastEvaluatedShardId;
  } while (startShard);
  const records: StreamRecord[] = [];
  for (const shard of parentsFirst(shards)) {
    let { ShardIterator: iterator } = await streams.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (iterator) {
      const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      records.push(...(page.Records ?? []));
      if (!page.Records?.length) break;
      iterator = page.NextShardIterator;
    }
  }
  return { streamArn, records };
}

/** An attribute value as Lambda's JSON carries it: the same shape, binary as base64. */
function lambdaValue(value: StreamAttributeValue): LambdaAttributeValue {
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.BS !== undefined) return { BS: value.BS.map((b) => Buffer.from(b).toString('base64')) };
  if (value.L !== undefined) return { L: value.L.map(lambdaValue) };
  if (value.M !== undefined) return { M: lambdaImage(value.M) };
  return value as LambdaAttributeValue;
}

function lambdaImage(image: Record<string, StreamAttributeValue>): Record<string, LambdaAttributeValue> {
  return Object.fromEntries(Object.entries(image).map(([name, v]) => [name, lambdaValue(v)]));
}

/** The records as the event source mapping hands them to the publisher Lambda. */
function streamEvent(streamArn: string, records: StreamRecord[]): DynamoDBStreamEvent {
  return {
    Records: records.map((r): DynamoDBRecord => ({
      eventID: r.eventID,
      eventName: r.eventName,
      eventVersion: r.eventVersion,
      eventSource: 'aws:dynamodb',
      eventSourceARN: streamArn,
      awsRegion: r.awsRegion,
      dynamodb: {
        Keys: r.dynamodb?.Keys && lambdaImage(r.dynamodb.Keys),
        NewImage: r.dynamodb?.NewImage && lambdaImage(r.dynamodb.NewImage),
        SequenceNumber: r.dynamodb?.SequenceNumber,
        SizeBytes: r.dynamodb?.SizeBytes,
        StreamViewType: r.dynamodb?.StreamViewType,
        ApproximateCreationDateTime:
          r.dynamodb?.ApproximateCreationDateTime &&
          Math.floor(r.dynamodb.ApproximateCreationDateTime.getTime() / 1000),
      },
    })),
  };
}

const keyOf = (record: DynamoDBRecord) => record.dynamodb?.Keys?.['id']?.S;

describe('the publisher Lambda on the DynamoDB stream of DynamoDbTaskStore writes (DynamoDB Local, AppSync stand-in)', () => {
  const appsync = new FakeAppSync();
  let graphqlUrl: string;
  let table: LocalTasksTable;
  let store: DynamoDbTaskStore;
  let streams: DynamoDBStreamsClient;

  beforeAll(async () => {
    graphqlUrl = await appsync.listen();
  });

  afterAll(async () => {
    await appsync.close();
  });

  beforeEach(async () => {
    appsync.seen.length = 0;
    appsync.answer = 'data';
    table = await createLocalTasksTable();
    store = new DynamoDbTaskStore(table.doc, table.tableName);
    streams = new DynamoDBStreamsClient(localClientConfig(inject('dynamodbEndpoint')));
  });

  afterEach(async () => {
    streams.destroy();
    await table.drop();
  });

  const handler = () =>
    makePublishUpdatesHandler({
      publisher: new AppSyncUpdatePublisher({
        graphqlUrl,
        region: REGION,
        credentials: async () => CREDENTIALS,
      }),
      logger: recordingLogger(),
    });

  async function streamedEvent(): Promise<DynamoDBStreamEvent> {
    const { streamArn, records } = await readStream(table.client, streams, table.tableName);
    return streamEvent(streamArn, records);
  }

  /** What the stand-in was asked to publish, in arrival order. */
  const published = () => appsync.seen.map((s) => s.variables['input'] as TaskUpdate);

  async function create(task: Task, idempotencyKeyExpiresAt: string | null = null): Promise<Task> {
    const [result] = await store.create([{ task, idempotencyKeyExpiresAt }]);
    return result!.task;
  }

  it('publishes every committed change of each task once, in commit order, with versions 1, 2, 3… per task, signed and selecting every Task field but payload and outputs', async () => {
    const at = (s: number) => iso(T0 + s * 1000);
    const a = await create(
      makeTask({ id: 'task-a', type: 'PROCESS_DATA', idempotencyKey: 'key-a', createdAt: at(0) }),
      at(86_400),
    );
    const b = await create(makeTask({ id: 'task-b', type: 'IMAGE_RESIZE', createdAt: at(1) }));
    const a2 = await store.update(
      a.id,
      { status: 'RUNNING', attempts: 1, startedAt: at(2), leaseExpiresAt: at(32) },
      { version: 1 },
      at(2),
    );
    const b2 = await store.update(
      b.id,
      { status: 'RUNNING', attempts: 1, startedAt: at(3), leaseExpiresAt: at(33) },
      { version: 1 },
      at(3),
    );
    const a3 = await store.update(
      a.id,
      { progress: 0.5, progressMessage: 'half way' },
      { version: 2 },
      at(4),
    );
    const b3 = await store.update(
      b.id,
      {
        status: 'RETRYING',
        error: { code: 'HANDLER_ERROR', message: 'first attempts always fail', retryable: true, attempt: 1 },
        runAt: at(10),
        leaseExpiresAt: null,
      },
      { version: 2 },
      at(5),
    );
    const a4 = await store.update(
      a.id,
      {
        status: 'SUCCEEDED',
        result: '{"doubled":42}',
        resultSize: 14,
        finishedAt: at(6),
        leaseExpiresAt: null,
        expiresAt: at(3600),
      },
      { statusIn: ['RUNNING'] },
      at(6),
    );
    // Neither writes: a repeated submit with a live idempotency key, and an update whose condition fails.
    const repeat = await store.create([
      { task: makeTask({ idempotencyKey: 'key-a', createdAt: at(7) }), idempotencyKeyExpiresAt: at(86_400) },
    ]);
    const stale = store.update(b.id, { status: 'CANCELLED' }, { version: 2 }, at(7));
    await expect(stale).rejects.toMatchObject({ name: 'ConditionFailedError' });
    const b4 = await store.update(
      b.id,
      { status: 'RUNNING', attempts: 2, startedAt: at(10), leaseExpiresAt: at(40) },
      { version: 3 },
      at(10),
    );
    const b5 = await store.update(
      b.id,
      {
        status: 'SUCCEEDED',
        result: '{"attempt":2}',
        resultSize: 13,
        finishedAt: at(11),
        leaseExpiresAt: null,
      },
      { version: 4 },
      at(11),
    );
    const commits = [a, b, a2, b2, a3, b3, a4, b4, b5];
    const event = await streamedEvent();

    const response = await handler()(event);

    expect(repeat).toEqual([{ task: a4, created: false }]);
    expect(event.Records.map(keyOf)).toContain(idempotencyItemId('key-a'));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(
      appsync.seen.map((s) => [...s.signatureProblems, ...s.queryProblems, ...s.selectionProblems]),
    ).toEqual(commits.map(() => []));
    expect(published()).toEqual(commits.map(updateFromTask));
    const versions = new Map<string, number[]>();
    for (const { id, version } of published()) versions.set(id, [...(versions.get(id) ?? []), version]);
    expect(Object.fromEntries(versions)).toEqual({ 'task-a': [1, 2, 3, 4], 'task-b': [1, 2, 3, 4, 5] });
  });

  it('skips the REMOVE records of items deleted as TTL deletes them, and publishes the changes around them', async () => {
    const c = await create(makeTask({ id: 'task-c', idempotencyKey: 'key-c' }), iso(T0 + 60_000));
    const c2 = await store.update(c.id, { status: 'CANCELLED', finishedAt: iso(T0 + 1) }, {}, iso(T0 + 1));
    for (const id of [c.id, idempotencyItemId('key-c')]) {
      await table.doc.send(new DeleteCommand({ TableName: table.tableName, Key: { id } }));
    }
    const d = await create(makeTask({ id: 'task-d', createdAt: iso(T0 + 2) }));
    const event = await streamedEvent();

    const response = await handler()(event);

    const removals = event.Records.filter((r) => r.eventName === 'REMOVE');
    expect(removals.map((r) => [keyOf(r), r.dynamodb?.NewImage])).toEqual([
      [c.id, undefined],
      [idempotencyItemId('key-c'), undefined],
    ]);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(published()).toEqual([c, c2, d].map(updateFromTask));
  });

  it('reports the SequenceNumber of a record whose publish AppSync refuses, publishes nothing after it, and publishes the rest when the stream resends from there', async () => {
    const e = await create(makeTask({ id: 'task-e' }));
    const e2 = await store.update(e.id, { status: 'RUNNING', attempts: 1 }, { version: 1 }, iso(T0 + 1));
    const f = await create(makeTask({ id: 'task-f', createdAt: iso(T0 + 2) }));
    const e3 = await store.update(e.id, { status: 'SUCCEEDED', result: 'null' }, { version: 2 }, iso(T0 + 3));
    const event = await streamedEvent();
    const failing = event.Records.findIndex(
      (r) => keyOf(r) === e.id && r.dynamodb?.NewImage?.['version']?.N === '2',
    );
    appsync.answer = (request) => {
      const input = request.variables['input'] as TaskUpdate;
      return input.id === e.id && input.version === 2 ? 'http-500' : 'data';
    };

    const response = await handler()(event);
    const askedBeforeResend = published();
    appsync.seen.length = 0;
    appsync.answer = 'data';
    const resent = await handler()({ Records: event.Records.slice(failing) });

    expect(failing).toBe(1);
    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: event.Records[failing]!.dynamodb!.SequenceNumber }],
    });
    expect(askedBeforeResend).toEqual([e, e2].map(updateFromTask));
    expect(resent).toEqual({ batchItemFailures: [] });
    expect(published()).toEqual([e2, f, e3].map(updateFromTask));
  });
});
