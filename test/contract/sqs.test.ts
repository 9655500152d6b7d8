import { afterAll, beforeAll } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { SqsTaskQueue } from '../../src/adapters/sqs/sqs-task-queue.ts';
import { startSqsEmulator, type SqsEmulator } from '../helpers/fauxqs.ts';
import { describeTaskQueueContract } from './task-queue-contract.ts';

// The queue contract against SqsTaskQueue on an in-process SQS emulator, which runs on real time:
// advancing the clock is waiting.
let emulator: SqsEmulator;

beforeAll(async () => {
  emulator = await startSqsEmulator();
});

afterAll(async () => {
  await emulator.stop();
});

describeTaskQueueContract('SQS (fauxqs)', async () => {
  const pair = emulator.createQueuePair();
  return {
    queue: new SqsTaskQueue(emulator.sqs, pair),
    clock: { advance: (ms: number) => sleep(ms).then(() => undefined) },
    deadLetters: () => emulator.deadLetters(pair.deadLetterQueueUrl),
    teardown: async () => pair.remove(),
  };
});
