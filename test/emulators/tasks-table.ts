import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createTasksTable, localClientConfig } from './dynamodb-local.ts';

export interface LocalTasksTable {
  tableName: string;
  client: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  /** Deletes the table and closes the clients. */
  drop(): Promise<void>;
}

/**
 * A fresh tasks table under a random name in the run's DynamoDB Local, so test files and tests
 * never see each other's items.
 */
export async function createLocalTasksTable(): Promise<LocalTasksTable> {
  const endpoint = inject('dynamodbEndpoint');
  if (!endpoint) {
    // Without it the SDK would aim at AWS itself.
    throw new Error('no DynamoDB Local endpoint: run through vitest with test/emulators/global-setup.ts');
  }
  const client = new DynamoDBClient(localClientConfig(endpoint));
  const tableName = `tasks-${randomUUID()}`;
  await createTasksTable(client, tableName);
  return {
    tableName,
    client,
    doc: DynamoDBDocumentClient.from(client),
    drop: async () => {
      await client.send(new DeleteTableCommand({ TableName: tableName }));
      client.destroy();
    },
  };
}
