import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SENT_RECORD_KEEP_SECONDS, type SentEmailLedger, type SentEmailRecord } from '../../ports/mailer.ts';

/**
 * The sent-email ledger on AWS: one item per task (`SENT#<taskId>`) in the tasks table, written
 * before the handler returns. A put is durable when DynamoDB acknowledges it, which is what the
 * port asks for. TTL removes the items after SENT_RECORD_KEEP_SECONDS (30 days).
 */
export function makeDynamoDbSentLedger(doc: DynamoDBDocumentClient, tableName: string): SentEmailLedger {
  return {
    async wasSent(taskId) {
      const { Item } = await doc.send(
        new GetCommand({ TableName: tableName, Key: { id: `SENT#${taskId}` }, ConsistentRead: true }),
      );
      return Item ? (Item['record'] as SentEmailRecord) : null;
    },
    async recordSent(taskId, record) {
      await doc.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            id: `SENT#${taskId}`,
            entity: 'SENT_EMAIL',
            record,
            ttl: Math.floor(Date.now() / 1000) + SENT_RECORD_KEEP_SECONDS,
          },
        }),
      );
    },
  };
}
