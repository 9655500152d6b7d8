import { DynamoDbTaskStore } from '../../src/adapters/dynamodb/dynamodb-task-store.ts';
import { createLocalTasksTable } from '../emulators/tasks-table.ts';
import { describeSqsProcessing } from './sqs-processor-contract.ts';

// The processor as deployed (SQS event source mapping -> process-tasks handler) on an in-process
// SQS emulator, with the DynamoDB task store on a fresh DynamoDB Local table per test: the AWS
// path end to end but for the Lambda runtime itself.
describeSqsProcessing('DynamoDbTaskStore (DynamoDB Local)', async () => {
  const table = await createLocalTasksTable();
  return { store: new DynamoDbTaskStore(table.doc, table.tableName), teardown: () => table.drop() };
});
