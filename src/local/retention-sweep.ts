import { join } from 'node:path';
import {
  STALE_TEMP_FILE_MS,
  removeFilesWrittenBefore,
  removeStaleTempFiles,
} from '../adapters/local/atomic-file.ts';
import { makeFileSentLedger } from '../adapters/local/file-sent-ledger.ts';
import type { SqliteTaskQueue } from '../adapters/sqlite/sqlite-task-queue.ts';
import type { SqliteTaskStore } from '../adapters/sqlite/sqlite-task-store.ts';
import { LIMITS } from '../domain/limits.ts';

/** Expired tasks, and dead letters, removed per sweep, so one sweep never holds the write lock for long. */
const ROWS_PER_SWEEP = 10_000;
/** The folders are listed at most this often: they hold up to 30 days of files. */
const FILE_SWEEP_EVERY_MS = 60 * 60 * 1000;

export interface SweepCounts {
  tasks: number;
  deadLetters: number;
  /** Sent-email records past their keep time, and crashed writes' temporary files among them. */
  sentRecords: number;
  outboxTempFiles: number;
  /** Unfinished blob writes (uploads, outputs) that a crash cut short. */
  blobTempFiles: number;
}

/** The blob store's unfinished writes: `blobs/.tmp/<uuid>`. */
const BLOB_TEMP_FILE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * What the local runtime removes on a schedule, as the AWS services do on their own: finished tasks
 * past their expiry (DynamoDB TTL), dead-lettered messages past the queue's retention (SQS), sent-email
 * records past their keep time (DynamoDB TTL), and the temporary files that a crash left in the sent
 * records', the outbox's and the blob store's folders. Emails in the outbox stay:
 * they are what the developer reads. Tables are swept on every call; folders at most once an hour.
 */
export function makeRetentionSweep(options: {
  dataDir: string;
  store: Pick<SqliteTaskStore, 'sweepExpired'>;
  queue: Pick<SqliteTaskQueue, 'pruneDeadLetters'>;
}): (nowMs: number) => Promise<SweepCounts> {
  const ledger = makeFileSentLedger({ dataDir: options.dataDir });
  const outbox = join(options.dataDir, 'outbox');
  let filesSweptAt = Number.NEGATIVE_INFINITY;
  return async (nowMs) => {
    const counts: SweepCounts = {
      tasks: await options.store.sweepExpired(nowMs, ROWS_PER_SWEEP),
      deadLetters: await options.queue.pruneDeadLetters(
        nowMs - LIMITS.messageRetentionDays * 86_400_000,
        ROWS_PER_SWEEP,
      ),
      sentRecords: 0,
      outboxTempFiles: 0,
      blobTempFiles: 0,
    };
    if (nowMs - filesSweptAt >= FILE_SWEEP_EVERY_MS) {
      filesSweptAt = nowMs;
      counts.sentRecords = await ledger.prune(nowMs);
      counts.outboxTempFiles = await removeStaleTempFiles(outbox, nowMs - STALE_TEMP_FILE_MS);
      counts.blobTempFiles = await removeFilesWrittenBefore(
        join(options.dataDir, 'blobs', '.tmp'),
        nowMs - STALE_TEMP_FILE_MS,
        BLOB_TEMP_FILE,
      );
    }
    return counts;
  };
}
