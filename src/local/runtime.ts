import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { LocalAppSync } from '../appsync/local-appsync.ts';
import { SubscriptionHub } from '../appsync/subscription-hub.ts';
import { makeConsoleLogger } from '../adapters/local/console-logger.ts';
import { FsBlobStore } from '../adapters/local/fs-blob-store.ts';
import { InProcessUpdatePublisher } from '../adapters/local/in-process-update-publisher.ts';
import { lambdaDataSource, tasksTableDataSource } from '../adapters/local/local-data-sources.ts';
import { sqliteAtomicEnqueue } from '../adapters/sqlite/sqlite-atomic-enqueue.ts';
import { SqliteChangeFeed } from '../adapters/sqlite/sqlite-change-feed.ts';
import { SqliteDatabase, StorageError } from '../adapters/sqlite/sqlite-database.ts';
import { SqliteTaskQueue } from '../adapters/sqlite/sqlite-task-queue.ts';
import { SqliteTaskStore } from '../adapters/sqlite/sqlite-task-store.ts';
import type { LocalConfig } from '../config/local-config.ts';
import { ConfigurationError, coerceError } from '../domain/errors.ts';
import { encodeTaskMessage, isoFromMillis } from '../domain/task.ts';
import { TaskTypeRegistry } from '../domain/task-type-registry.ts';
import { apiUseCases, makeApiResolverHandler, type ApiResolverEvent } from '../handlers/api-resolver.ts';
import { makePublishUpdatesHandler } from '../handlers/publish-updates.ts';
import { systemClock } from '../ports/clock.ts';
import { BUILT_IN_TASK_TYPES } from '../task-types/built-in.ts';
import { ChangeFeedPump } from './change-feed-pump.ts';
import { startCheckpointer } from './checkpointer.ts';
import { makeProcessor } from './processor.ts';
import { PublisherThread } from './publisher-thread.ts';
import { startServer } from './server.ts';
import { pidAlive } from './pid-alive.ts';
import { makeRetentionSweep } from './retention-sweep.ts';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');

export interface LocalRuntime {
  url: string;
  wsUrl: string;
  apiKey: string;
  dataDir: string;
  store: SqliteTaskStore;
  queue: SqliteTaskQueue;
  appsync: LocalAppSync;
  stop(): Promise<void>;
}

interface ProcessorHandle {
  wake(): void;
  stop(graceMs: number): Promise<number>;
}

function apiKeyFor(config: LocalConfig, dataDir: string): string {
  if (config.API_KEY) return config.API_KEY;
  const file = join(dataDir, 'api-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = `local-${randomBytes(18).toString('base64url')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

/** One runtime per data folder: a second one would break the lease rules. */
function claimDataDir(db: SqliteDatabase): void {
  let row: { value: string } | undefined;
  try {
    row = db.statement("SELECT value FROM meta WHERE key = 'owner_pid'").get() as typeof row;
  } catch (error) {
    // Damage where the first read lands: report it as the integrity check does, with what to do.
    db.verifyIntegrity();
    throw error;
  }
  const owner = row ? Number(row.value) : 0;
  if (owner && owner !== process.pid && pidAlive(owner)) {
    throw new ConfigurationError(
      `Another runtime (pid ${owner}) is using ${db.path}. Stop it, or set DATA_DIR to another folder.`,
    );
  }
  // The last runtime did not stop cleanly (a crash, a kill, a power cut): check every page before
  // serving, so a damaged file stops the start instead of failing requests later.
  if (owner) db.verifyIntegrity();
  db.statement(
    "INSERT INTO meta (key, value) VALUES ('owner_pid', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  ).run(String(process.pid));
}

/**
 * After a crash or kill: release the messages and task leases the previous runtime held (its
 * workers are certainly gone), and enqueue any live task whose message was never written (a crash
 * between storing and enqueuing).
 */
async function recover(
  db: SqliteDatabase,
  store: SqliteTaskStore,
  queue: SqliteTaskQueue,
): Promise<{ released: number; requeued: number }> {
  const released = await queue.releaseInFlight();
  const now = isoFromMillis(Date.now());
  const running = db.statement("SELECT doc FROM tasks WHERE status = 'RUNNING'").all() as Array<{
    doc: string;
  }>;
  for (const row of running) {
    const task = JSON.parse(row.doc) as { id: string; version: number; leaseExpiresAt: string | null };
    if (task.leaseExpiresAt && task.leaseExpiresAt > now) {
      await store
        .update(task.id, { leaseExpiresAt: now }, { version: task.version }, now)
        .catch(() => undefined);
    }
  }
  const queued = new Set(
    (db.statement("SELECT body FROM messages WHERE queue = 'main'").all() as Array<{ body: string }>).map(
      (r) => r.body,
    ),
  );
  const live = db
    .statement("SELECT id FROM tasks WHERE status IN ('QUEUED', 'RETRYING', 'RUNNING')")
    .all() as Array<{ id: string }>;
  const missing = live.map((r) => encodeTaskMessage({ taskId: r.id })).filter((body) => !queued.has(body));
  if (missing.length > 0) await queue.send(missing.map((body) => ({ body })));
  return { released, requeued: missing.length };
}

/**
 * Starts the whole local runtime: storage, the local AppSync with its resolvers, the resolver
 * "Lambda", the change feed to the publisher, the processors, and the HTTP/WebSocket server.
 */
export async function startLocalRuntime(config: LocalConfig): Promise<LocalRuntime> {
  const logger = makeConsoleLogger(config.LOG_LEVEL, { fields: { component: 'api' } });
  const dataDir = resolve(config.DATA_DIR);
  const databasePath = join(dataDir, 'tasks.db');
  const db = new SqliteDatabase(databasePath, { durability: config.DURABILITY, autoCheckpoint: false });
  try {
    claimDataDir(db);
  } catch (error) {
    db.close();
    throw error;
  }
  let apiKey: string;
  try {
    apiKey = apiKeyFor(config, dataDir);
  } catch (error) {
    db.close();
    throw new StorageError(`Cannot write the API key into ${dataDir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // What started so far is stopped again if a later step fails (a port in use, say).
  const undo: Array<() => unknown> = [];
  try {
    const checkpointer = await startCheckpointer({
      databasePath,
      durability: config.DURABILITY,
      logger,
      fallback: db,
    });
    undo.push(() => checkpointer.stop());
    const store = new SqliteTaskStore(db);
    const queue = new SqliteTaskQueue(db, systemClock, { maxReceiveCount: config.MAX_RECEIVE_COUNT });
    const registry = new TaskTypeRegistry(BUILT_IN_TASK_TYPES);
    const retentionSeconds = config.RETENTION_DAYS * 86_400;

    let baseUrl = '';
    const blobs = new FsBlobStore(dataDir, { baseUrl: () => baseUrl });
    const recovered = await recover(db, store, queue);
    if (recovered.released || recovered.requeued) logger.info('recovered after restart', recovered);

    const apiHandler = makeApiResolverHandler(
      apiUseCases({
        store,
        queue,
        // One SQLite file holds both: a submit or a retry stores its tasks and their messages in one transaction.
        atomicEnqueue: sqliteAtomicEnqueue(store, queue),
        blobs,
        registry,
        clock: systemClock,
        logger,
        retentionSeconds,
      }),
    );
    const hub = new SubscriptionHub();
    const appsync = await LocalAppSync.create({
      repoRoot: REPO_ROOT,
      logger,
      hub,
      dataSources: {
        API_LAMBDA: lambdaDataSource((payload) => apiHandler(payload as ApiResolverEvent)),
        TASKS_TABLE: tasksTableDataSource((id) => store.get(id)),
      },
    });

    // The change feed and the publisher: a thread of their own beside the processor threads, or
    // this thread when WORKER_THREADS is 0.
    let publisher: { poke(): void; stop(): Promise<void> };
    if (config.WORKER_THREADS === 0) {
      const pump = new ChangeFeedPump({
        feed: new SqliteChangeFeed(db, { written: store }),
        handler: makePublishUpdatesHandler({ publisher: new InProcessUpdatePublisher(appsync), logger }),
        logger,
      });
      pump.poke();
      publisher = pump;
    } else {
      publisher = await PublisherThread.start({
        databasePath,
        durability: config.DURABILITY,
        logLevel: config.LOG_LEVEL,
        repoRoot: REPO_ROOT,
        hub,
        logger,
      });
    }
    db.onCommit(() => publisher.poke());
    undo.push(() => publisher.stop());

    const server = await startServer({
      appsync,
      blobs,
      apiKey,
      host: config.HOST,
      port: config.PORT,
      logger,
    });
    undo.push(() => server.close());
    baseUrl = server.url.replace(/\/graphql$/, '');

    const processors: ProcessorHandle[] = [];
    if (config.WORKER_THREADS === 0) {
      const processor = makeProcessor({
        config,
        databasePath,
        dataDir,
        name: 'processor',
        onCommit: () => publisher.poke(),
      });
      processor.start();
      processors.push(processor);
      undo.push(() => processor.stop(0));
    } else {
      for (let i = 0; i < config.WORKER_THREADS; i++) {
        const worker = new Worker(new URL('./processor-worker.ts', import.meta.url), {
          workerData: { config, databasePath, dataDir, name: `processor-${i + 1}` },
        });
        worker.on('message', (message: { type: string }) => {
          if (message.type === 'committed') publisher.poke();
        });
        worker.on('error', (error) => logger.error('processor thread failed', { error: String(error) }));
        await new Promise<void>((resolveReady, reject) => {
          const onMessage = (message: { type: string }) => {
            if (message.type === 'ready') {
              worker.off('message', onMessage);
              resolveReady();
            }
          };
          worker.on('message', onMessage);
          worker.once('error', reject);
        });
        processors.push({
          wake: () => worker.postMessage({ type: 'wake' }),
          stop: (graceMs) =>
            new Promise<number>((resolveStop) => {
              let left = 0;
              worker.on('message', (message: { type: string; left?: number }) => {
                if (message.type === 'stopped') {
                  left = message.left ?? 0;
                  void worker.terminate();
                }
              });
              // Resolved on exit, with the count the thread reported (0 if it died without one).
              worker.once('exit', () => resolveStop(left));
              worker.postMessage({ type: 'stop', graceMs });
            }),
        });
        const started = processors.at(-1)!;
        undo.push(() => started.stop(0));
      }
    }
    queue.onSent(() => {
      for (const p of processors) p.wake();
    });

    const sweepRetention = makeRetentionSweep({ dataDir, store, queue });
    const sweep = setInterval(() => {
      sweepRetention(Date.now()).then(
        (removed) => {
          if (Object.values(removed).some((n) => n > 0))
            logger.debug('retention sweep removed', { ...removed });
        },
        (error: unknown) => logger.warn('retention sweep failed', { error: String(error) }),
      );
    }, 60_000);
    sweep.unref();

    let stopping: Promise<void> | undefined;
    return {
      url: server.url,
      wsUrl: server.url.replace(/^http/, 'ws'),
      apiKey,
      dataDir,
      store,
      queue,
      appsync,
      stop() {
        stopping ??= (async () => {
          clearInterval(sweep);
          await server.close();
          const graceMs = config.SHUTDOWN_GRACE_SECONDS * 1000;
          const left = (await Promise.all(processors.map((p) => p.stop(graceMs)))).reduce((a, b) => a + b, 0);
          if (left > 0)
            logger.warn('tasks still running at the end of the grace period are released to the queue', {
              count: left,
            });
          await publisher.stop();
          await checkpointer.stop();
          try {
            db.statement("DELETE FROM meta WHERE key = 'owner_pid' AND value = ?").run(String(process.pid));
          } catch (error) {
            // A full disk, say. The next start finds this pid gone and checks the file, as after a crash.
            logger.warn('could not mark the data folder as released', { error: coerceError(error).message });
          }
          db.close();
        })();
        return stopping;
      },
    };
  } catch (error) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch {
        // Keep undoing the rest.
      }
    }
    db.close();
    throw error;
  }
}
