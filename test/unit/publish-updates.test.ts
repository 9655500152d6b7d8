import { describe, expect, it } from 'vitest';
import type { DynamoDBRecord } from 'aws-lambda';
import { marshall } from '@aws-sdk/util-dynamodb';
import { makePublishUpdatesHandler, updateFromTask } from '../../src/handlers/publish-updates.ts';
import { taskToItem } from '../../src/adapters/dynamodb/task-item.ts';
import { LIMITS } from '../../src/domain/limits.ts';
import type { TaskUpdate } from '../../src/domain/task.ts';
import { makeTask, recordingLogger } from '../helpers/contract-fixtures.ts';

function record(seq: number, eventName: 'INSERT' | 'MODIFY' | 'REMOVE', item: object): DynamoDBRecord {
  return {
    eventID: String(seq),
    eventName,
    dynamodb: {
      Keys: { id: { S: String((item as { id: unknown }).id) } },
      ...(eventName === 'REMOVE'
        ? { OldImage: marshall(item) as never }
        : { NewImage: marshall(item) as never }),
      SequenceNumber: String(seq),
      StreamViewType: 'NEW_IMAGE',
    },
  };
}

describe('the publish-updates handler', () => {
  it('publishes each task change in stream order, without the payload', async () => {
    const published: TaskUpdate[] = [];
    const handler = makePublishUpdatesHandler({
      publisher: { publish: async (u) => void published.push(u) },
      logger: recordingLogger(),
    });
    const a = makeTask({ id: 'a', version: 1 });
    const b = makeTask({ id: 'a', version: 2, status: 'RUNNING' });

    const response = await handler({
      Records: [record(1, 'INSERT', taskToItem(a)), record(2, 'MODIFY', taskToItem(b))],
    });

    expect(response.batchItemFailures).toEqual([]);
    expect(published.map((u) => [u.id, u.version, u.status])).toEqual([
      ['a', 1, 'QUEUED'],
      ['a', 2, 'RUNNING'],
    ]);
    expect(published[0]).not.toHaveProperty('payload');
  });

  it('skips removals (TTL expiry) and items that are not tasks', async () => {
    const published: TaskUpdate[] = [];
    const handler = makePublishUpdatesHandler({
      publisher: { publish: async (u) => void published.push(u) },
      logger: recordingLogger(),
    });

    await handler({
      Records: [
        record(1, 'REMOVE', taskToItem(makeTask({ id: 'gone' }))),
        record(2, 'INSERT', { id: 'IDEMPOTENCY#k', entity: 'IDEMPOTENCY', taskId: 'x' }),
      ],
    });

    expect(published).toEqual([]);
  });

  it('reports the first failed record and publishes nothing after it, so order per task holds', async () => {
    const published: number[] = [];
    const handler = makePublishUpdatesHandler({
      publisher: {
        publish: async (u) => {
          if (u.version === 2) throw new Error('AppSync unavailable');
          published.push(u.version);
        },
      },
      logger: recordingLogger(),
    });
    const records = [1, 2, 3].map((v) =>
      record(10 + v, 'MODIFY', taskToItem(makeTask({ id: 't', version: v }))),
    );

    const response = await handler({ Records: records });

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: '12' }]);
    expect(published).toEqual([1]);
  });

  it('leaves a result too large for a subscription message out of the event but keeps resultSize', () => {
    const result = JSON.stringify({ blob: 'x'.repeat(LIMITS.maxResultBytesInEvent) });
    const task = makeTask({ status: 'SUCCEEDED', result, resultSize: Buffer.byteLength(result) });

    const update = updateFromTask(task);

    expect(update.result).toBeNull();
    expect(update.resultSize).toBe(Buffer.byteLength(result));
    expect(updateFromTask(makeTask({ result: '{"ok":true}', resultSize: 11 })).result).toBe('{"ok":true}');
  });
});
