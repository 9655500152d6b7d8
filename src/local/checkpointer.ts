import { Worker } from 'node:worker_threads';
import { coerceError } from '../domain/errors.ts';
import type { Logger } from '../domain/task-type.ts';
import type { Durability, SqliteDatabase } from '../adapters/sqlite/sqlite-database.ts';

/** How often committed WAL frames are copied into the database file. */
export const CHECKPOINT_EVERY_MS = 100;

/** WAL frames (4 KB pages) past which the checkpointer has the next commit start the WAL over. */
export const RESTART_AFTER_FRAMES = 1000;
/** WAL frames past which the WAL is reported as growing: something keeps the checkpoints from finishing. */
export const WAL_WARNING_FRAMES = 65_536;
/** Ticks without a RESTART after one that found the database busy. */
const RESTART_BACKOFF_TICKS = 10;

export interface CheckpointReports {
  onError: (error: Error) => void;
  onWarning: (message: string) => void;
}

/**
 * Checkpoints `db` every `everyMs`. A PASSIVE checkpoint copies committed frames into the database
 * file without making anyone wait. Once the WAL holds more than RESTART_AFTER_FRAMES and all of them
 * are copied, a RESTART checkpoint waits for the transactions of the moment (writers retry on their
 * next turn) so the next commit starts the WAL over instead of growing it. When the PASSIVE checkpoint
 * could not copy everything, a reader still needs old frames and a RESTART would only hold writers
 * up, so none is tried; after one that found the database busy, none for a second. Both end with
 * fsyncs, which is why this runs here and not inside the commits of the threads that serve requests
 * and run tasks.
 */
export function checkpointEvery(
  db: SqliteDatabase,
  everyMs: number,
  reports: CheckpointReports,
): { stop(): void } {
  let failing = false;
  let warned = false;
  let backoff = 0;
  // The WAL's frame count after the last RESTART: until a commit starts it over, it stays the same.
  let restartedAt = -1;
  const timer = setInterval(() => {
    try {
      const { walFrames, checkpointed } = db.checkpoint('PASSIVE');
      if (backoff > 0) backoff -= 1;
      else if (walFrames > RESTART_AFTER_FRAMES && checkpointed === walFrames && walFrames !== restartedAt) {
        const restart = db.checkpoint('RESTART');
        if (restart.busy) backoff = RESTART_BACKOFF_TICKS;
        else restartedAt = restart.walFrames;
      }
      if (walFrames > WAL_WARNING_FRAMES && !warned) {
        reports.onWarning(
          `the WAL of ${db.path} holds ${walFrames} pages and cannot start over: a reader keeps an old snapshot (a long query, another program with the file open)`,
        );
      }
      warned = walFrames > WAL_WARNING_FRAMES;
      failing = false;
    } catch (error) {
      // Reported once per run of failures (a full disk fails every tick); tried again next tick.
      if (!failing) reports.onError(coerceError(error));
      failing = true;
    }
  }, everyMs);
  return { stop: () => clearInterval(timer) };
}

export interface Checkpointer {
  stop(): Promise<void>;
}

/**
 * Starts the WAL checkpointer of a runtime in its own thread, with its own connection. The runtime's
 * other connections are opened with `autoCheckpoint: false`, so their commits never stall on the
 * checkpoint's fsyncs. Should the thread die, `fallback` (the API thread's connection) checkpoints on
 * a timer instead, so the WAL never grows without end.
 */
export async function startCheckpointer(options: {
  databasePath: string;
  durability: Durability;
  logger: Logger;
  fallback: SqliteDatabase;
  everyMs?: number;
}): Promise<Checkpointer> {
  const { logger } = options;
  const everyMs = options.everyMs ?? CHECKPOINT_EVERY_MS;
  const worker = new Worker(new URL('./checkpointer-worker.ts', import.meta.url), {
    workerData: { databasePath: options.databasePath, durability: options.durability, everyMs },
  });
  let stopping = false;
  let fallback: { stop(): void } | undefined;
  let started!: () => void;
  const ready = new Promise<void>((resolve) => (started = resolve));
  // The same reports, whether the thread or the fallback checkpoints.
  const reports: CheckpointReports = {
    onError: (error) => logger.error('checkpoint failed; retrying', { error: error.message }),
    onWarning: (message) => logger.warn(message),
  };
  const takeOver = (why: string) => {
    started();
    if (stopping || fallback) return;
    logger.error('the checkpoint thread stopped; the API thread checkpoints from now on', { error: why });
    fallback = checkpointEvery(options.fallback, everyMs, reports);
  };
  worker.on('message', (message: { type: string; error?: string; message?: string }) => {
    if (message.type === 'ready') started();
    else if (message.type === 'error') reports.onError(new Error(message.error));
    else if (message.type === 'warning') reports.onWarning(message.message ?? '');
  });
  worker.on('error', (error) => takeOver(coerceError(error).message));
  worker.on('exit', (code) => takeOver(`exit code ${code}`));
  // Resolves when the thread runs, or when it could not start and the fallback took over.
  await ready;
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        stopping = true;
        fallback?.stop();
        if (fallback) return;
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        worker.postMessage({ type: 'stop' });
        await exited;
      })();
      return stopped;
    },
  };
}
