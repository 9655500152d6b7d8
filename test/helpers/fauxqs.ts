import { randomUUID } from 'node:crypto';
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
  type QueueAttributeName,
} from '@aws-sdk/client-sqs';
import { startFauxqs, type FauxqsServer } from 'fauxqs';

/** A task queue and its dead-letter queue on the emulator. */
export interface QueuePair {
  queueName: string;
  queueUrl: string;
  queueArn: string;
  deadLetterQueueName: string;
  deadLetterQueueUrl: string;
  /** Removes both queues from the emulator. */
  remove(): void;
}

/** An in-process SQS emulator (fauxqs) and an SDK client pointed at it. */
export interface SqsEmulator {
  server: FauxqsServer;
  sqs: SQSClient;
  /**
   * A fresh queue with its own dead-letter queue, redriven to it after `maxReceiveCount` receives
   * (as the deployed queue is). `visibilityTimeoutSeconds` is the queue's default lease.
   */
  createQueuePair(options?: { maxReceiveCount?: number; visibilityTimeoutSeconds?: number }): QueuePair;
  /** The dead-letter queue's messages with their `reason` attribute, read without hiding them. */
  deadLetters(deadLetterQueueUrl: string): Promise<Array<{ body: string; reason: string | null }>>;
  /** Visible, in flight and delayed messages of a queue, as GetQueueAttributes reports them. */
  depth(queueUrl: string): Promise<{ visible: number; notVisible: number; delayed: number }>;
  stop(): Promise<void>;
}

export async function startSqsEmulator(): Promise<SqsEmulator> {
  const server = await startFauxqs({ port: 0, logger: false });
  const sqs = new SQSClient({
    region: 'us-east-1',
    endpoint: server.address,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return {
    server,
    sqs,
    createQueuePair(options = {}) {
      const base = `tasks-${randomUUID()}`;
      const dead = server.createQueue(`${base}-dlq`);
      const main = server.createQueue(base, {
        attributes: {
          VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 30),
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: dead.queueArn,
            maxReceiveCount: options.maxReceiveCount ?? 100,
          }),
        },
      });
      return {
        queueName: main.queueName,
        queueUrl: main.queueUrl,
        queueArn: main.queueArn,
        deadLetterQueueName: dead.queueName,
        deadLetterQueueUrl: dead.queueUrl,
        remove: () => {
          server.deleteQueue(main.queueName);
          server.deleteQueue(dead.queueName);
        },
      };
    },
    async deadLetters(deadLetterQueueUrl) {
      const result = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: deadLetterQueueUrl,
          MaxNumberOfMessages: 10,
          // A peek: the messages stay visible for the next look.
          VisibilityTimeout: 0,
          WaitTimeSeconds: 0,
          MessageAttributeNames: ['All'],
        }),
      );
      return (result.Messages ?? []).map((m: Message) => ({
        body: m.Body ?? '',
        reason: m.MessageAttributes?.['reason']?.StringValue ?? null,
      }));
    },
    async depth(queueUrl) {
      const result = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: [
            'ApproximateNumberOfMessages',
            'ApproximateNumberOfMessagesNotVisible',
            'ApproximateNumberOfMessagesDelayed',
          ],
        }),
      );
      const count = (name: QueueAttributeName) => Number(result.Attributes?.[name] ?? NaN);
      return {
        visible: count('ApproximateNumberOfMessages'),
        notVisible: count('ApproximateNumberOfMessagesNotVisible'),
        delayed: count('ApproximateNumberOfMessagesDelayed'),
      };
    },
    async stop() {
      sqs.destroy();
      await server.stop();
    },
  };
}
