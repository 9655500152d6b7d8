import type { SQSEvent } from 'aws-lambda';
import type { ReceivedMessage } from '../ports/task-queue.ts';

/** Builds the SQS event a Lambda event source mapping would deliver for these messages. */
export function sqsEventFrom(messages: readonly ReceivedMessage[], queueArn: string): SQSEvent {
  return {
    Records: messages.map((m) => ({
      messageId: m.messageId,
      receiptHandle: m.receiptHandle,
      body: m.body,
      attributes: {
        ApproximateReceiveCount: String(m.receiveCount),
        SentTimestamp: String(m.sentTimestamp),
        SenderId: 'local',
        ApproximateFirstReceiveTimestamp: String(m.firstReceiveTimestamp),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: queueArn,
      awsRegion: 'local',
    })),
  };
}
