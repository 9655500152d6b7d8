import { FsBlobStore } from '../adapters/local/fs-blob-store.ts';
import { SqliteDatabase } from '../adapters/sqlite/sqlite-database.ts';
import { SqliteTaskQueue } from '../adapters/sqlite/sqlite-task-queue.ts';
import { SqliteTaskStore } from '../adapters/sqlite/sqlite-task-store.ts';
import { makeConsoleLogger } from '../adapters/local/console-logger.ts';
import { TaskTypeRegistry } from '../domain/task-type-registry.ts';
import { makeProcessTasksHandler } from '../handlers/process-tasks.ts';
import { systemClock } from '../ports/clock.ts';
import { builtInTaskTypes } from '../task-types/built-in.ts';
import { makeFileSentLedger } from '../adapters/local/file-sent-ledger.ts';
import { makeOutboxMailer } from '../adapters/local/outbox-mailer.ts';
import { makeSmtpMailer } from '../adapters/local/smtp-mailer.ts';
import { makeProcessDelivery } from '../use-cases/process-delivery.ts';
import type { LocalConfig } from '../config/local-config.ts';
import { Poller } from './poller.ts';

export interface ProcessorOptions {
  config: LocalConfig;
  databasePath: string;
  /** The data folder: blobs live under it. */
  dataDir: string;
  /** Called after each commit of this processor's connection (the change feed wakes on it). */
  onCommit: () => void;
  name: string;
}

/**
 * One task processor: its own database connection, the process-tasks handler (the same factory
 * the SQS-triggered Lambda uses) and a poller in front of it. Runs in a worker thread, or in the API
 * thread when WORKER_THREADS is 0.
 */
export function makeProcessor(options: ProcessorOptions) {
  const { config } = options;
  const logger = makeConsoleLogger(config.LOG_LEVEL, { fields: { component: options.name } });
  // The runtime's checkpointer thread copies the WAL into the file; commits here never stall on it.
  const db = new SqliteDatabase(options.databasePath, {
    durability: config.DURABILITY,
    autoCheckpoint: false,
  });
  db.onCommit(options.onCommit);
  const store = new SqliteTaskStore(db);
  const queue = new SqliteTaskQueue(db, systemClock, { maxReceiveCount: config.MAX_RECEIVE_COUNT });
  const processDelivery = makeProcessDelivery({
    store,
    // Processors read and write blobs but never sign URLs (the API thread does).
    blobs: new FsBlobStore(options.dataDir, {
      baseUrl: () => {
        throw new Error('processor threads do not sign blob URLs');
      },
    }),
    messages: queue,
    registry: new TaskTypeRegistry(
      builtInTaskTypes({
        mailer: config.SMTP_URL
          ? makeSmtpMailer({ url: config.SMTP_URL, logger })
          : makeOutboxMailer({ dataDir: options.dataDir, logger }),
        ledger: makeFileSentLedger({ dataDir: options.dataDir }),
        defaultFrom: config.MAIL_FROM,
      }),
    ),
    clock: systemClock,
    logger,
    config: {
      visibilityTimeoutSeconds: config.VISIBILITY_TIMEOUT_SECONDS,
      retentionSeconds: config.RETENTION_DAYS * 86_400,
      backoff: { baseSeconds: config.RETRY_BASE_SECONDS, maxSeconds: config.RETRY_MAX_SECONDS },
      progressThrottleMs: config.PROGRESS_THROTTLE_MS,
      cancelCheckMs: config.CANCEL_CHECK_MS,
    },
  });
  const poller = new Poller({
    queue,
    handler: makeProcessTasksHandler({ processDelivery, logger }),
    logger,
    batchSize: config.BATCH_SIZE,
    concurrency: config.WORKER_CONCURRENCY,
    visibilityTimeoutSeconds: config.VISIBILITY_TIMEOUT_SECONDS,
  });
  return {
    start: () => poller.start(),
    wake: () => poller.wake(),
    async stop(graceMs: number): Promise<number> {
      const left = await poller.stop(graceMs);
      if (left === 0) db.close();
      return left;
    },
  };
}
