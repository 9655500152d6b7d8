// Our queue engine without HTTP, as the engine and growth benchmarks run it: the submit use case over
// the SQLite store and queue (group commit), processor worker threads running the process-tasks
// handler (the defaults of `npm start`: 1 thread, concurrency 64), the change feed in a thread of its
// own (as npm start's publisher thread, reporting SUCCEEDED updates instead of running GraphQL), and
// the WAL checkpointer thread. Tasks are no-op PROCESS_DATA tasks (`records: []`).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance as threadPerformance } from 'node:perf_hooks';
import { Worker as ThreadWorker } from 'node:worker_threads';
import { makeConsoleLogger } from '../src/adapters/local/console-logger.ts';
import { sqliteAtomicEnqueue } from '../src/adapters/sqlite/sqlite-atomic-enqueue.ts';
import { SqliteDatabase } from '../src/adapters/sqlite/sqlite-database.ts';
import { SqliteTaskQueue } from '../src/adapters/sqlite/sqlite-task-queue.ts';
import { SqliteTaskStore } from '../src/adapters/sqlite/sqlite-task-store.ts';
import { loadLocalConfig } from '../src/config/local-config.ts';
import { TaskTypeRegistry } from '../src/domain/task-type-registry.ts';
import { SubscriptionHub, basicFilter } from '../src/appsync/subscription-hub.ts';
import { PublisherThread } from '../src/local/publisher-thread.ts';
import { startCheckpointer } from '../src/local/checkpointer.ts';
import { systemClock } from '../src/ports/clock.ts';
import { BUILT_IN_TASK_TYPES } from '../src/task-types/built-in.ts';
import { makeSubmitTasks } from '../src/use-cases/submit-tasks.ts';

export const BATCH = 25;
const NOOP = { type: 'PROCESS_DATA', payload: { records: [] } };
const silent = makeConsoleLogger('silent');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Measurement {
  enqueuePerSecond: number;
  processPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number; count: number };
  /** While draining: each thread's busy time (event loop utilization) per task processed. Ours only. */
  busyMicrosPerTask?: { api: number; processors: number[] };
  /** While draining: the CPU time of the whole process (every thread) per task processed. Ours only. */
  cpuMicrosPerTask?: number;
}

export function percentiles(values: number[]): Measurement['latencyMs'] {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN, count: sorted.length };
}

/** Offers `rate` tasks per second for `seconds`, in 10 ms ticks, calling `send(n)` each tick. */
export async function offer(
  rate: number,
  seconds: number,
  send: (n: number) => Promise<void>,
): Promise<void> {
  const start = performance.now();
  let sent = 0;
  const total = rate * seconds;
  const pending: Promise<void>[] = [];
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
    if (due > sent) {
      const n = due - sent;
      sent = due;
      pending.push(send(n));
    }
    await sleep(5);
  }
  await Promise.all(pending);
}

/** Callers enqueueing at once in the enqueue measurement, on both sides of the comparison. */
const ENQUEUE_CALLERS = 64;

/** Seconds to enqueue `total` tasks, split between ENQUEUE_CALLERS concurrent callers of `send(n)`. */
export async function timeEnqueue(total: number, send: (n: number) => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: ENQUEUE_CALLERS }, (_, c) =>
      send(Math.floor(total / ENQUEUE_CALLERS) + (c < total % ENQUEUE_CALLERS ? 1 : 0)),
    ),
  );
  return (performance.now() - t0) / 1000;
}

export interface OursOptions {
  tasks: number;
  durability: 'normal' | 'full';
  /** Offered load of the latency measurement, and how long it lasts (0: skip it). */
  rate: number;
  latencySeconds: number;
  /** A data folder to use as it is (one already filled); otherwise a fresh one, removed afterwards. */
  dataDir?: string;
}

export async function runOurs(options: OursOptions): Promise<Measurement> {
  const { tasks: TASKS, durability, rate: RATE, latencySeconds: LATENCY_SECONDS } = options;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'tq-engine-'));
  const config = loadLocalConfig({
    ...process.env,
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env['BENCH_DEBUG'] ? 'warn' : 'silent',
    DURABILITY: durability,
  });
  const databasePath = join(dataDir, 'tasks.db');
  if (process.env['BENCH_DEBUG']) process.stderr.write(`${dataDir} `);
  const db = new SqliteDatabase(databasePath, { durability: config.DURABILITY, autoCheckpoint: false });
  const checkpointer = await startCheckpointer({
    databasePath,
    durability: config.DURABILITY,
    logger: silent,
    fallback: db,
  });
  const store = new SqliteTaskStore(db);
  const queue = new SqliteTaskQueue(db, systemClock, { maxReceiveCount: config.MAX_RECEIVE_COUNT });
  const submit = makeSubmitTasks({
    store,
    queue,
    atomic: sqliteAtomicEnqueue(store, queue),
    registry: new TaskTypeRegistry(BUILT_IN_TASK_TYPES),
    clock: systemClock,
    logger: silent,
  });
  const submittedAt = new Map<string, number>();
  const latencies: number[] = [];
  let succeeded = 0;
  // The change feed in a thread of its own, as npm start runs it; the SUCCEEDED updates come back
  // to this thread's hub, as events do to the runtime's subscriptions.
  const hub = new SubscriptionHub();
  const feed = await PublisherThread.start({
    databasePath,
    durability: config.DURABILITY,
    logLevel: config.LOG_LEVEL,
    repoRoot: join(import.meta.dirname, '..'),
    hub,
    logger: silent,
    workerUrl: new URL('./feed-counter-worker.ts', import.meta.url),
  });
  const completions = await hub.subscribe(['publishTaskUpdate'], basicFilter({ status: 'SUCCEEDED' }));
  void (async () => {
    for await (const event of completions) {
      succeeded += 1;
      const at = submittedAt.get(event['id'] as string);
      if (at !== undefined) latencies.push(performance.now() - at);
    }
  })().catch((error: unknown) => {
    // The run waits for completions that will not come: stop it with the reason.
    process.stderr.write(`completions ended: ${String(error)}\n`);
    process.exit(1);
  });
  db.onCommit(() => feed.poke());

  const workers: ThreadWorker[] = [];
  const startWorkers = async () => {
    for (let i = 0; i < config.WORKER_THREADS; i++) {
      const worker = new ThreadWorker(new URL('../src/local/processor-worker.ts', import.meta.url), {
        workerData: { config, databasePath, dataDir, name: `processor-${i + 1}`, startPaused: true },
      });
      worker.on('message', (m: { type: string }) => m.type === 'committed' && feed.poke());
      await new Promise<void>((resolve) =>
        worker.on('message', (m: { type: string }) => m.type === 'ready' && resolve()),
      );
      workers.push(worker);
    }
    queue.onSent(() => workers.forEach((w) => w.postMessage({ type: 'wake' })));
  };
  const send = async (n: number, track: boolean) => {
    const requests = Array.from({ length: n }, () => NOOP);
    for (let i = 0; i < requests.length; i += BATCH) {
      const chunk = requests.slice(i, i + BATCH);
      const t0 = performance.now();
      const tasks = await submit(chunk, 'inputs', (j) => `inputs[${j}]`);
      if (track) for (const t of tasks) submittedAt.set(t.id, t0);
    }
  };

  // The worker pool starts first and waits, as BullMQ's Worker does with autorun off.
  await startWorkers();

  // Enqueue: the backlog, with no processor running.
  const enqueueSeconds = await timeEnqueue(TASKS, (n) => send(n, false));
  if (process.env['BENCH_DEBUG']) process.stderr.write(`enqueued in ${enqueueSeconds}s; `);

  // Processing: drain the backlog.
  const elu0 = {
    api: threadPerformance.eventLoopUtilization(),
    processors: workers.map((w) => w.performance.eventLoopUtilization()),
  };
  const cpu0 = process.cpuUsage();
  const t1 = performance.now();
  for (const worker of workers) worker.postMessage({ type: 'start' });
  while (succeeded < TASKS) {
    await sleep(10);
    if (process.env['BENCH_DEBUG'] && Math.random() < 0.01) process.stderr.write(`[${succeeded}] `);
  }
  const processSeconds = (performance.now() - t1) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuMicrosPerTask = (cpu.user + cpu.system) / TASKS;
  const busyMicrosPerTask = {
    api: (threadPerformance.eventLoopUtilization(elu0.api).active * 1000) / TASKS,
    processors: workers.map(
      (w, i) => (w.performance.eventLoopUtilization(elu0.processors[i]).active * 1000) / TASKS,
    ),
  };

  // Latency at a steady offered load.
  succeeded = 0;
  if (LATENCY_SECONDS > 0) {
    await offer(RATE, LATENCY_SECONDS, (n) => send(n, true));
    while (succeeded < RATE * LATENCY_SECONDS) await sleep(10);
  }

  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          w.on('message', (m: { type: string }) => {
            if (m.type === 'stopped') void w.terminate().then(() => resolve());
          });
          w.postMessage({ type: 'stop', graceMs: 1000 });
        }),
    ),
  );
  await completions.return?.();
  await feed.stop();
  await checkpointer.stop();
  db.close();
  if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
  return {
    enqueuePerSecond: TASKS / enqueueSeconds,
    processPerSecond: TASKS / processSeconds,
    busyMicrosPerTask,
    cpuMicrosPerTask,
    latencyMs: percentiles(latencies),
  };
}
