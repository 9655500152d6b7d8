import { SqliteTaskStore } from '../../src/adapters/sqlite/sqlite-task-store.ts';
import { tempSqlite } from '../helpers/contract-sqlite.ts';
import { describeSqsProcessing } from './sqs-processor-contract.ts';

// The processor as deployed (SQS event source mapping -> process-tasks handler) on an in-process
// SQS emulator, with the SQLite task store.
describeSqsProcessing('SqliteTaskStore', async () => {
  const sqlite = tempSqlite();
  return { store: new SqliteTaskStore(sqlite.db), teardown: async () => sqlite.cleanup() };
});
