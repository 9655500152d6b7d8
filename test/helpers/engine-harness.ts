// The processing engine, wired as the local runtime wires it (SQLite store and queue, the
// process-tasks handler behind a poller, the change feed into the publish-updates handler), with
// the test task types and small timings. No GraphQL, no server. Imports nothing from vitest, so the
// child-process fixture builds the very same stack.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeConsoleLogger, type LogLevel } from '../../src/adapters/local/console-logger.ts';
import { sqliteAtomicEnqueue } from '../../src/adapters/sqlite/sqlite-atomic-enqueue.ts';
import { SqliteChangeFeed } from '../../src/adapters/sqlite/sqlite-change-feed.ts';
import { SqliteDatabase } from '../../src/adapters/sqlite/sqlite-database.ts';
import { SqliteTaskQueue } from '../../src/adapters/sqlite/sqlite-task-queue.ts';
import { SqliteTaskStore } from '../../src/adapters/sqlite/sqlite-task-store.ts';
import type { Task, TaskUpdate } from '../../src/domain/task.ts';
import type { TaskStatus } from '../../src/domain/task-status.ts';
import { TaskTypeRegistry } from '../../src/domain/task-type-registry.ts';
import { makeProcessTasksHandler } from '../../src/handlers/process-tasks.ts';
import { makePublishUpdatesHandler } from '../../src/handlers/publish-updates.ts';
import { ChangeFeedPump } from '../../src/local/change-feed-pump.ts';
import { Poller } from '../../src/local/poller.ts';
import { systemClock } from '../../src/ports/clock.ts';
import type { UpdatePublisher } from '../../src/ports/update-publisher.ts';
import { makeCancelTask } from '../../src/use-cases/cancel-task.ts';
import { makeProcessDelivery, type ProcessDeliveryConfig } from '../../src/use-cases/process-delivery.ts';
import { makeRetryTask } from '../../src/use-cases/retry-task.ts';
import { makeSubmitTasks, type SubmitTaskRequest } from '../../src/use-cases/submit-tasks.ts';
import { EngineProbe, makeEngineTaskTypes } from './engine-task-types.ts';

export const ENGINE_CONFIG: ProcessDeliveryConfig = Object.freeze({
  visibilityTimeoutSeconds: 2,
  retentionSeconds: 3600,
  backoff: Object.freeze({ baseSeconds: 0.05, maxSeconds: 0.2 }),
  progressThrottleMs: 100,
  cancelCheckMs: 50,
});

export interface EngineOptions {
  /** An existing database file (the child fixture opens the test's); a fresh temp dir otherwise. */
  dbPath?: string;
  /** Start the poller at once (default true); otherwise call startPoller(). */
  startPoller?: boolean;
  /** Feed committed changes to the recording publisher (default true). Only one consumer per file. */
  changeFeed?: boolean;
  /** Defaults to ENGINE_LOG_LEVEL from the environment, else silent. */
  logLevel?: LogLevel;
}

/** Records every published update in publish order. */
export class RecordingPublisher implements UpdatePublisher {
  readonly updates: TaskUpdate[] = [];

  publish(update: TaskUpdate): Promise<void> {
    this.updates.push(update);
    return Promise.resolve();
  }
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Describes what was awaited, for the error when the deadline passes. */
  what?: string;
}

/** Polls `condition` until it returns a truthy value, and returns that value. */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeoutMs = 15_000, intervalMs = 20, what = 'condition' }: WaitOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export type Engine = Awaited<ReturnType<typeof openEngine>>;

export async function openEngine(options: EngineOptions = {}) {
  const dir = options.dbPath ? undefined : mkdtempSync(join(tmpdir(), 'engine-test-'));
  const dbPath = options.dbPath ?? join(dir!, 'tasks.db');
  const level = options.logLevel ?? (process.env['ENGINE_LOG_LEVEL'] as LogLevel | undefined) ?? 'silent';
  const logger = makeConsoleLogger(level, { fields: { component: 'engine-test' } });

  const db = new SqliteDatabase(dbPath);
  const store = new SqliteTaskStore(db);
  const queue = new SqliteTaskQueue(db, systemClock, { maxReceiveCount: 20 });
  const probe = new EngineProbe();
  const registry = new TaskTypeRegistry(makeEngineTaskTypes(probe));
  const config = ENGINE_CONFIG;

  // Wired as the local runtime wires it: tasks and their messages in one transaction.
  const submitTasks = makeSubmitTasks({
    store,
    queue,
    atomic: sqliteAtomicEnqueue(store, queue),
    registry,
    clock: systemClock,
    logger,
  });
  const cancelTask = makeCancelTask({ store, clock: systemClock, retentionSeconds: config.retentionSeconds });
  const retryTask = makeRetryTask({
    store,
    queue,
    atomic: sqliteAtomicEnqueue(store, queue),
    clock: systemClock,
  });
  const processDelivery = makeProcessDelivery({
    store,
    messages: queue,
    registry,
    clock: systemClock,
    logger,
    config,
  });
  const handler = makeProcessTasksHandler({ processDelivery, logger });
  const poller = new Poller({
    queue,
    handler,
    logger,
    batchSize: 10,
    concurrency: 20,
    visibilityTimeoutSeconds: config.visibilityTimeoutSeconds,
    maxIdleMs: 50,
  });
  queue.onSent(() => poller.wake());

  const publisher = new RecordingPublisher();
  let pump: ChangeFeedPump | undefined;
  let pokeTimer: NodeJS.Timeout | undefined;
  if (options.changeFeed ?? true) {
    const feed = new SqliteChangeFeed(db);
    const activePump = new ChangeFeedPump({
      feed,
      handler: makePublishUpdatesHandler({ publisher, logger }),
      logger,
    });
    pump = activePump;
    db.onCommit(() => activePump.poke());
    // Other connections (the child fixture) commit too; this connection hears only its own commits.
    pokeTimer = setInterval(() => activePump.poke(), 25);
  }

  let pollerStarted = false;
  const startPoller = () => {
    pollerStarted = true;
    poller.start();
  };
  if (options.startPoller ?? true) startPoller();

  let closed: Promise<void> | undefined;

  const engine = {
    dir,
    dbPath,
    db,
    store,
    queue,
    registry,
    probe,
    logger,
    config,
    processDelivery,
    handler,
    poller,
    startPoller,
    submitTasks,
    cancelTask,
    retryTask,
    /** Every update the publisher received, in order. */
    updates: publisher.updates,

    /** Submits one task; `request.payload` is the parsed payload. */
    async submit(request: SubmitTaskRequest): Promise<Task> {
      const [task] = await submitTasks([request], 'input', () => 'input');
      return task!;
    },

    async task(id: string): Promise<Task> {
      const task = await store.get(id);
      if (!task) throw new Error(`task ${id} is not in the store`);
      return task;
    },

    updatesFor(id: string): TaskUpdate[] {
      return publisher.updates.filter((u) => u.id === id);
    },

    /** Waits until the stored task has `status` (and `extra` holds) and returns it. */
    waitForTask(
      id: string,
      status: TaskStatus,
      extra: (task: Task) => boolean = () => true,
      timeoutMs = 15_000,
    ) {
      return waitFor(
        async () => {
          const task = await store.get(id);
          return task && task.status === status && extra(task) ? task : null;
        },
        { timeoutMs, what: `task ${id} to be ${status}` },
      );
    },

    /** Waits until the publisher has recorded an update of the task with `status`. */
    waitForUpdate(id: string, status: TaskStatus, timeoutMs = 15_000) {
      return waitFor(() => publisher.updates.find((u) => u.id === id && u.status === status), {
        timeoutMs,
        what: `an update of task ${id} with status ${status}`,
      });
    },

    /** Waits until the main queue holds no message at all (visible, in flight or delayed). */
    waitForEmptyQueue(timeoutMs = 15_000) {
      return waitFor(
        () => {
          const depth = queue.depth();
          return depth.visible === 0 && depth.inFlightOrDelayed === 0;
        },
        { timeoutMs, what: 'the main queue to be empty' },
      );
    },

    /**
     * Stops the poller (waiting for running deliveries), drains and stops the change feed, closes
     * the database and removes the temp dir. Throws when deliveries were still running, rather
     * than closing the database under them.
     */
    close(graceMs = 10_000): Promise<void> {
      closed ??= (async () => {
        const left = pollerStarted ? await poller.stop(graceMs) : 0;
        if (left > 0) {
          clearInterval(pokeTimer);
          throw new Error(
            `${left} deliveries were still running ${graceMs} ms after stop; database left open`,
          );
        }
        clearInterval(pokeTimer);
        await pump?.stop();
        db.close();
        if (dir) rmSync(dir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
  return engine;
}

/** Statuses in life order of a single run, for "never backwards" checks. */
export const RUN_ORDER: Readonly<Record<string, number>> = Object.freeze({
  QUEUED: 0,
  RUNNING: 1,
  RETRYING: 1,
  SUCCEEDED: 2,
  FAILED: 2,
  CANCELLED: 2,
});
