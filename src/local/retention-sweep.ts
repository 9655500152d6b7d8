import { join } from 'node:path';
import { STALE_TEMP_FILE_MS, removeStaleTempFiles } from '../adapters/local/atomic-file.ts';
import { makeFileSentLedger } from '../adapters/local/file-sent-ledger.ts';
import type { SqliteTaskQueue } from '../adapters/sqlite/sqlite-task-queue.ts';
import type { SqliteTaskStore } from '../adapters/sqlite/sqlite-task-store.ts';
import { LIMITS } from '../domain/limits.ts';

/** Expired tasks removed per sweep, so one sweep never holds the write lock for long. */
const TASKS_PER_SWEEP = 10_000;

export interface SweepCounts {
  tasks: number;
  deadLetters: number;
  /** Sent-email records past their keep time, and crashed writes' temporary files. */
  sentRecords: number;
  outboxTempFiles: number;
}

/**
 * What the local runtime removes on a schedule, as the AWS services do on their own: finished tasks
 * past their expiry (DynamoDB TTL), dead-lettered messages past the queue's retention (SQS), sent-email
 * records past their keep time (DynamoDB TTL), and temporary files that a crash left in the data folder.
 * Emails in the outbox stay: they are what the developer reads.
 */
export function makeRetentionSweep(options: {
  dataDir: string;
  store: Pick<SqliteTaskStore, 'sweepExpired'>;
  queue: Pick<SqliteTaskQueue, 'pruneDeadLetters'>;
}): (nowMs: number) => Promise<SweepCounts> {
  const ledger = makeFileSentLedger({ dataDir: options.dataDir });
  const outbox = join(options.dataDir, 'outbox');
  return async (nowMs) => ({
    tasks: await options.store.sweepExpired(nowMs, TASKS_PER_SWEEP),
    deadLetters: await options.queue.pruneDeadLetters(nowMs - LIMITS.messageRetentionDays * 86_400_000),
    sentRecords: await ledger.prune(nowMs),
    outboxTempFiles: await removeStaleTempFiles(outbox, nowMs - STALE_TEMP_FILE_MS),
  });
}
