import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { coerceError } from '../domain/errors.ts';
import { LIMITS } from '../domain/limits.ts';
import type { Task, TaskUpdate } from '../domain/task.ts';
import type { Logger } from '../domain/task-type.ts';
import type { UpdatePublisher } from '../ports/update-publisher.ts';
import { taskFromImage } from '../adapters/dynamodb/task-image.ts';

export interface PublishUpdatesDeps {
  publisher: UpdatePublisher;
  logger: Logger;
}

/**
 * What a subscription event carries for a task: everything but the payload, and the result only
 * when it fits the event (AppSync drops messages over 240 KB without a word). `resultSize` stays, so
 * a client that sees it without a result knows to query the task.
 */
export function updateFromTask(task: Task): TaskUpdate {
  const { payload: _payload, ...update } = task;
  if (update.result !== null && (update.resultSize ?? update.result.length) > LIMITS.maxResultBytesInEvent) {
    update.result = null;
  }
  return update;
}

/**
 * The stream consumer: publishes each committed change of a task, in stream order, through the
 * `publishTaskUpdate` mutation. Removals (TTL expiry) and non-task items are skipped. On a failure it
 * reports that record, so the stream resumes from it and order per task holds.
 */
export function makePublishUpdatesHandler(deps: PublishUpdatesDeps) {
  return async function handler(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
    for (const record of event.Records) {
      if (record.eventName === 'REMOVE' || !record.dynamodb?.NewImage) continue;
      const task = taskFromImage(record.dynamodb.NewImage as Record<string, AttributeValue>);
      if (!task) continue;
      try {
        await deps.publisher.publish(updateFromTask(task));
      } catch (error) {
        deps.logger.error('publishing a task update failed; the stream will resend from here', {
          taskId: task.id,
          version: task.version,
          error: coerceError(error).message,
        });
        return {
          batchItemFailures: [{ itemIdentifier: record.dynamodb.SequenceNumber ?? record.eventID ?? '' }],
        };
      }
    }
    return { batchItemFailures: [] };
  };
}
