import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { OutgoingMessage, ReceivedMessage, TaskQueue } from '../../ports/task-queue.ts';

/** SQS takes at most 10 entries per batch call. */
const SQS_BATCH = 10;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The task queue on SQS (AWS twin of SqliteTaskQueue): a standard queue and its dead-letter queue.
 * On AWS the Lambda event source mapping receives and deletes; the processor uses only
 * changeVisibility and sendToDeadLetter. receive and delete are here for tools and tests.
 * Where it differs from the local queue: order is best effort, and SQS may accept a stale receipt
 * handle.
 */
export class SqsTaskQueue implements TaskQueue {
  readonly #sqs: SQSClient;
  readonly #queueUrl: string;
  readonly #deadLetterQueueUrl: string;

  constructor(sqs: SQSClient, urls: { queueUrl: string; deadLetterQueueUrl: string }) {
    this.#sqs = sqs;
    this.#queueUrl = urls.queueUrl;
    this.#deadLetterQueueUrl = urls.deadLetterQueueUrl;
  }

  async send(messages: readonly OutgoingMessage[]): Promise<void> {
    for (const batch of chunks(messages, SQS_BATCH)) {
      const result = await this.#sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.#queueUrl,
          Entries: batch.map((m, i) => ({
            Id: String(i),
            MessageBody: m.body,
            DelaySeconds: Math.min(900, Math.max(0, Math.round(m.delaySeconds ?? 0))),
          })),
        }),
      );
      if (result.Failed?.length) {
        throw new Error(
          `SQS refused ${result.Failed.length} of ${batch.length} messages: ${result.Failed.map((f) => `${f.Code}: ${f.Message}`).join('; ')}`,
        );
      }
    }
  }

  async receive(max: number, visibilityTimeoutSeconds: number): Promise<ReceivedMessage[]> {
    const result = await this.#sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.#queueUrl,
        MaxNumberOfMessages: Math.min(SQS_BATCH, Math.max(1, max)),
        VisibilityTimeout: Math.min(43_200, Math.max(0, Math.round(visibilityTimeoutSeconds))),
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: [
          'ApproximateReceiveCount',
          'SentTimestamp',
          'ApproximateFirstReceiveTimestamp',
        ],
      }),
    );
    return (result.Messages ?? []).map((m) => ({
      messageId: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
      sentTimestamp: Number(m.Attributes?.SentTimestamp ?? 0),
      firstReceiveTimestamp: Number(m.Attributes?.ApproximateFirstReceiveTimestamp ?? 0),
    }));
  }

  async delete(receiptHandles: readonly string[]): Promise<void> {
    for (const batch of chunks(receiptHandles, SQS_BATCH)) {
      const result = await this.#sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.#queueUrl,
          Entries: batch.map((handle, i) => ({ Id: String(i), ReceiptHandle: handle })),
        }),
      );
      // An unknown or expired handle is no failure (the port ignores them); anything else is.
      const failed = (result.Failed ?? []).filter((f) => !/ReceiptHandleIsInvalid/.test(f.Code ?? ''));
      if (failed.length > 0) {
        throw new Error(
          `SQS could not delete ${failed.length} messages: ${failed.map((f) => `${f.Code}: ${f.Message}`).join('; ')}`,
        );
      }
    }
  }

  async changeVisibility(receiptHandle: string, seconds: number): Promise<void> {
    await this.#sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.#queueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: Math.min(43_200, Math.max(0, Math.round(seconds))),
      }),
    );
  }

  async sendToDeadLetter(body: string, reason: string): Promise<void> {
    await this.#sqs.send(
      new SendMessageCommand({
        QueueUrl: this.#deadLetterQueueUrl,
        MessageBody: body,
        MessageAttributes: { reason: { DataType: 'String', StringValue: reason.slice(0, 1000) } },
      }),
    );
  }
}
