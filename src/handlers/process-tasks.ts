import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { coerceError } from '../domain/errors.ts';
import type { Logger } from '../domain/task-type.ts';
import type { ReceivedMessage } from '../ports/task-queue.ts';
import type { DeliveryOutcome } from '../use-cases/process-delivery.ts';

export interface ProcessTasksDeps {
  processDelivery: (message: ReceivedMessage) => Promise<DeliveryOutcome>;
  logger: Logger;
}

export function receivedMessageFromRecord(record: SQSRecord): ReceivedMessage {
  return {
    messageId: record.messageId,
    receiptHandle: record.receiptHandle,
    body: record.body,
    receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1,
    sentTimestamp: Number(record.attributes.SentTimestamp) || 0,
    firstReceiveTimestamp: Number(record.attributes.ApproximateFirstReceiveTimestamp) || 0,
  };
}

/**
 * The SQS processor: runs the records of a batch concurrently and reports the ones to leave in the
 * queue as `batchItemFailures` (the event source mapping has ReportBatchItemFailures on); the rest
 * are deleted by the caller. A record whose processing throws is left for a later delivery.
 */
export function makeProcessTasksHandler(deps: ProcessTasksDeps) {
  return async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
    const outcomes = await Promise.all(
      event.Records.map(async (record) => {
        try {
          return await deps.processDelivery(receivedMessageFromRecord(record));
        } catch (error) {
          deps.logger.error('processing a message failed; it will be delivered again', {
            messageId: record.messageId,
            error: coerceError(error).message,
          });
          return { kind: 'later' } as const;
        }
      }),
    );
    return {
      batchItemFailures: event.Records.filter((_, i) => outcomes[i]?.kind !== 'ack').map((record) => ({
        itemIdentifier: record.messageId,
      })),
    };
  };
}
