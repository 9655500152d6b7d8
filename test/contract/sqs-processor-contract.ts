import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { z } from 'zod';
import { SqsTaskQueue } from '../../src/adapters/sqs/sqs-task-queue.ts';
import { PermanentTaskError } from '../../src/domain/errors.ts';
import { encodeTaskMessage } from '../../src/domain/task.ts';
import { defineTaskType, type TaskTypeDefinition } from '../../src/domain/task-type.ts';
import { TaskTypeRegistry } from '../../src/domain/task-type-registry.ts';
import { makeProcessTasksHandler } from '../../src/handlers/process-tasks.ts';
import { sqsEventFrom } from '../../src/local/sqs-event.ts';
import { systemClock } from '../../src/ports/clock.ts';
import type { MessageControl, ReceivedMessage } from '../../src/ports/task-queue.ts';
import type { TaskStore } from '../../src/ports/task-store.ts';
import { makeProcessDelivery } from '../../src/use-cases/process-delivery.ts';
import { makeSubmitTasks } from '../../src/use-cases/submit-tasks.ts';
import { recordingLogger } from '../helpers/contract-fixtures.ts';
import { startSqsEmulator, type QueuePair, type SqsEmulator } from '../helpers/fauxqs.ts';

/** The queue's visibility timeout, and so the lease of every delivery, in seconds. */
const VISIBILITY_SECONDS = 2;
/** A first retry waits the whole base with random() = 1; SQS visibility is whole seconds, so 1 s. */
const BACKOFF = { baseSeconds: 0.5, maxSeconds: 1 };
const BACKOFF_VISIBILITY_SECONDS = 1;

const TEST_TASK_TYPES = [
  defineTaskType({
    name: 'OK',
    payloadSchema: z.object({ value: z.number() }),
    defaults: { maxAttempts: 3, timeoutSeconds: 10 },
    handler: (payload) => ({ doubled: payload.value * 2 }),
  }),
  defineTaskType({
    name: 'FLAKY',
    payloadSchema: z.object({}),
    defaults: { maxAttempts: 3, timeoutSeconds: 10 },
    handler: (_payload, ctx) => {
      if (ctx.attempt === 1) throw new Error('first attempts always fail');
      return { attempt: ctx.attempt };
    },
  }),
  defineTaskType({
    name: 'ALWAYS_FAILS',
    payloadSchema: z.object({}),
    defaults: { maxAttempts: 2, timeoutSeconds: 10 },
    handler: (_payload, ctx) => {
      throw new Error(`attempt ${ctx.attempt} failed`);
    },
  }),
  defineTaskType({
    name: 'PERMANENT',
    payloadSchema: z.object({}),
    defaults: { maxAttempts: 3, timeoutSeconds: 10 },
    handler: () => {
      throw new PermanentTaskError('this can never work', { code: 'NEVER' });
    },
  }),
] as TaskTypeDefinition[];

/** One batch as the Lambda event source mapping handles it: the event, the answer, what it deleted. */
interface Delivery {
  event: SQSEvent;
  response: SQSBatchResponse;
  /** Message ids deleted after the handler returned (those it did not report as failures). */
  deleted: string[];
}

/**
 * The processor as deployed, on the emulator: tasks submitted through SqsTaskQueue, batches
 * received from the queue with the system attributes the event source mapping asks for, handed to
 * the real process-tasks handler as an SQSEvent, and the records not in batchItemFailures deleted.
 */
function makeProcessorRig(emulator: SqsEmulator, store: TaskStore) {
  const pair: QueuePair = emulator.createQueuePair({ visibilityTimeoutSeconds: VISIBILITY_SECONDS });
  const queue = new SqsTaskQueue(emulator.sqs, pair);
  const visibilityChanges: Array<{ receiptHandle: string; seconds: number }> = [];
  const messages: MessageControl = {
    changeVisibility: async (receiptHandle, seconds) => {
      visibilityChanges.push({ receiptHandle, seconds });
      await queue.changeVisibility(receiptHandle, seconds);
    },
    sendToDeadLetter: (body, reason) => queue.sendToDeadLetter(body, reason),
  };
  const registry = new TaskTypeRegistry(TEST_TASK_TYPES);
  const logger = recordingLogger();
  const submitTasks = makeSubmitTasks({ store, queue, registry, clock: systemClock, logger });
  const handler = makeProcessTasksHandler({
    processDelivery: makeProcessDelivery({
      store,
      messages,
      registry,
      clock: systemClock,
      logger,
      random: () => 1,
      config: {
        visibilityTimeoutSeconds: VISIBILITY_SECONDS,
        retentionSeconds: 3600,
        backoff: BACKOFF,
        progressThrottleMs: 100,
        cancelCheckMs: 1000,
      },
    }),
    logger,
  });

  async function submit(type: string, payload: unknown = {}): Promise<string> {
    const [task] = await submitTasks([{ type, payload }], 'inputs', (i) => `inputs[${i}]`);
    return task!.id;
  }

  /** Receives one batch (up to 10, the queue's visibility timeout as lease) and processes it. */
  async function deliverBatch(): Promise<Delivery> {
    const result = await emulator.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: pair.queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: [
          'ApproximateReceiveCount',
          'SentTimestamp',
          'ApproximateFirstReceiveTimestamp',
        ],
      }),
    );
    const received: ReceivedMessage[] = (result.Messages ?? []).map((m) => ({
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body!,
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount),
      sentTimestamp: Number(m.Attributes?.SentTimestamp),
      firstReceiveTimestamp: Number(m.Attributes?.ApproximateFirstReceiveTimestamp),
    }));
    const event = sqsEventFrom(received, pair.queueArn);
    if (event.Records.length === 0) return { event, response: { batchItemFailures: [] }, deleted: [] };
    const response = await handler(event);
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    const done = event.Records.filter((r) => !failed.has(r.messageId));
    if (done.length > 0) {
      const deletion = await emulator.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: pair.queueUrl,
          Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
        }),
      );
      if (deletion.Failed?.length) throw new Error(`delete failed: ${JSON.stringify(deletion.Failed)}`);
    }
    return { event, response, deleted: done.map((r) => r.messageId) };
  }

  return {
    pair,
    queue,
    visibilityChanges,
    submit,
    deliverBatch,
    deadLetters: () => emulator.deadLetters(pair.deadLetterQueueUrl),
    depth: () => emulator.depth(pair.queueUrl),
    remove: () => pair.remove(),
  };
}

/**
 * The SQS processor path (submit, event source mapping, process-tasks handler, delete or leave) on
 * an in-process SQS emulator, against any TaskStore: `makeStore` gives an empty store per test, so a
 * DynamoDB-backed store runs the same suite as the SQLite one.
 */
export function describeSqsProcessing(
  storeName: string,
  makeStore: () => Promise<{ store: TaskStore; teardown(): Promise<void> }>,
): void {
  describe(`the SQS processor path on an SQS emulator, with ${storeName}`, () => {
    let emulator: SqsEmulator;
    let store: TaskStore;
    let teardownStore: () => Promise<void>;
    let rig: ReturnType<typeof makeProcessorRig>;
    const empty = { visible: 0, notVisible: 0, delayed: 0 };

    beforeAll(async () => {
      emulator = await startSqsEmulator();
    });

    afterAll(async () => {
      await emulator.stop();
    });

    beforeEach(async () => {
      const made = await makeStore();
      store = made.store;
      teardownStore = () => made.teardown();
      rig = makeProcessorRig(emulator, store);
    });

    afterEach(async () => {
      rig.remove();
      await teardownStore();
    });

    it('runs a good task to SUCCEEDED and deletes its message', async () => {
      const taskId = await rig.submit('OK', { value: 21 });

      const delivery = await rig.deliverBatch();

      expect(delivery.event.Records).toHaveLength(1);
      expect(delivery.response.batchItemFailures).toEqual([]);
      expect(delivery.deleted).toEqual([delivery.event.Records[0]!.messageId]);
      expect(await store.get(taskId)).toMatchObject({
        status: 'SUCCEEDED',
        attempts: 1,
        result: '{"doubled":42}',
      });
      expect(await rig.depth()).toEqual(empty);
      expect(await rig.deadLetters()).toEqual([]);
    });

    it('leaves a failed first attempt of a flaky task in the queue, hidden for the backoff, and SUCCEEDS on the redelivery', async () => {
      const taskId = await rig.submit('FLAKY');

      const first = await rig.deliverBatch();
      const afterFailure = await store.get(taskId);
      const tooSoon = await rig.deliverBatch();
      // Past the backoff, still within the lease a receive would have left in place.
      await sleep(BACKOFF_VISIBILITY_SECONDS * 1000 + 300);
      const second = await rig.deliverBatch();

      const [record] = first.event.Records;
      expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: record!.messageId }]);
      expect(first.deleted).toEqual([]);
      expect(rig.visibilityChanges).toEqual([
        { receiptHandle: record!.receiptHandle, seconds: BACKOFF_VISIBILITY_SECONDS },
      ]);
      expect(afterFailure).toMatchObject({
        status: 'RETRYING',
        attempts: 1,
        error: { code: 'HANDLER_ERROR', retryable: true, attempt: 1 },
      });
      expect(tooSoon.event.Records).toEqual([]);
      expect(second.event.Records.map((r) => [r.messageId, r.attributes.ApproximateReceiveCount])).toEqual([
        [record!.messageId, '2'],
      ]);
      expect(second.response.batchItemFailures).toEqual([]);
      expect(await store.get(taskId)).toMatchObject({ status: 'SUCCEEDED', attempts: 2 });
      expect(await rig.depth()).toEqual(empty);
    });

    it('ends a task whose retries run out FAILED with its last error and parks its message in the dead-letter queue', async () => {
      const taskId = await rig.submit('ALWAYS_FAILS');

      const first = await rig.deliverBatch();
      await sleep(BACKOFF_VISIBILITY_SECONDS * 1000 + 300);
      const second = await rig.deliverBatch();

      expect(first.response.batchItemFailures).toHaveLength(1);
      expect(second.response.batchItemFailures).toEqual([]);
      expect(await store.get(taskId)).toMatchObject({
        status: 'FAILED',
        attempts: 2,
        error: { code: 'HANDLER_ERROR', message: 'attempt 2 failed', retryable: true, attempt: 2 },
      });
      expect(await rig.deadLetters()).toEqual([
        { body: encodeTaskMessage({ taskId }), reason: 'HANDLER_ERROR: attempt 2 failed' },
      ]);
      expect(await rig.depth()).toEqual(empty);
    });

    it('ends a permanent failure FAILED at once and parks its message with the reason in the dead-letter queue', async () => {
      const taskId = await rig.submit('PERMANENT');

      const delivery = await rig.deliverBatch();

      expect(delivery.response.batchItemFailures).toEqual([]);
      expect(await store.get(taskId)).toMatchObject({
        status: 'FAILED',
        attempts: 1,
        error: { code: 'NEVER', message: 'this can never work', retryable: false, attempt: 1 },
      });
      expect(await rig.deadLetters()).toEqual([
        { body: encodeTaskMessage({ taskId }), reason: 'NEVER: this can never work' },
      ]);
      expect(await rig.depth()).toEqual(empty);
    });

    it('dead-letters a poison body as POISON_MESSAGE without holding up a good task in the same batch', async () => {
      await rig.queue.send([{ body: 'not json' }]);
      const taskId = await rig.submit('OK', { value: 1 });

      const delivery = await rig.deliverBatch();

      expect(delivery.event.Records.map((r) => r.body).sort()).toEqual(
        [encodeTaskMessage({ taskId }), 'not json'].sort(),
      );
      expect(delivery.response.batchItemFailures).toEqual([]);
      expect(delivery.deleted).toHaveLength(2);
      expect(await store.get(taskId)).toMatchObject({ status: 'SUCCEEDED' });
      expect(await rig.deadLetters()).toEqual([
        { body: 'not json', reason: expect.stringMatching(/^POISON_MESSAGE: /) },
      ]);
      expect(await rig.depth()).toEqual(empty);
    });
  });
}
