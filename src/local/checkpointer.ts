import { Worker } from 'node:worker_threads';
import { coerceError } from '../domain/errors.ts';
import type { Logger } from '../domain/task-type.ts';
import type { Durability, SqliteDatabase } from '../adapters/sqlite/sqlite-database.ts';

/** How often committed WAL frames are copied into the database file. */
export const CHECKPOINT_EVERY_MS = 100;

/** WAL frames (pages) past which the checkpointer makes the next commit start the WAL over. */
export const RESTART_AFTER_FRAMES = 4096;
/** WAL frames past which a quiet moment (everything copied) is used to start the WAL over. */
export const QUIET_RESTART_FRAMES = 1000;

/**
 * Checkpoints `db` every `everyMs`: a PASSIVE checkpoint, which copies committed frames into the
 * database file without making anyone wait, and a RESTART checkpoint once the WAL holds more than
 * RESTART_AFTER_FRAMES (16 MB of 4 KB pages), or more than QUIET_RESTART_FRAMES all copied already.
 * A RESTART waits for the writers of the moment (they retry on their next turn) so the next commit
 * starts the WAL over instead of growing it. Either one ends with fsyncs, which is why this runs
 * here and not inside the commits of the threads that serve requests and run tasks.
 */
export function checkpointEvery(
  db: SqliteDatabase,
  everyMs: number,
  onError: (error: Error) => void,
): { stop(): void } {
  let failing = false;
  // The WAL's frame count at the last RESTART: until a commit starts it over, it stays the same.
  let restartedAt = -1;
  const timer = setInterval(() => {
    try {
      const { walFrames, checkpointed } = db.checkpoint('PASSIVE');
      const quiet = walFrames > QUIET_RESTART_FRAMES && checkpointed === walFrames;
      if ((walFrames > RESTART_AFTER_FRAMES || quiet) && walFrames !== restartedAt) {
        if (!db.checkpoint('RESTART').busy) restartedAt = walFrames;
      }
      failing = false;
    } catch (error) {
      // Reported once per run of failures (a full disk fails every tick); tried again next tick.
      if (!failing) onError(coerceError(error));
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
  const takeOver = (why: string) => {
    started();
    if (stopping || fallback) return;
    logger.error('the checkpoint thread stopped; the API thread checkpoints from now on', { error: why });
    fallback = checkpointEvery(options.fallback, everyMs, (error) =>
      logger.error('checkpoint failed; retrying', { error: error.message }),
    );
  };
  worker.on('message', (message: { type: string; error?: string }) => {
    if (message.type === 'ready') started();
    else if (message.type === 'error') logger.error('checkpoint failed; retrying', { error: message.error });
  });
  worker.on('error', (error) => takeOver(coerceError(error).message));
  worker.on('exit', (code) => takeOver(`exit code ${code}`));
  // Resolves when the thread runs, or when it could not start and the fallback took over.
  await ready;
  return {
    async stop() {
      stopping = true;
      fallback?.stop();
      if (fallback) return;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage({ type: 'stop' });
      await exited;
    },
  };
}
