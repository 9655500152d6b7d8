// How the local runtime behaves as its table grows: for each size, a store already holding that many
// finished tasks that retention has not removed yet (SUCCEEDED, expiring in 7 days), then
//   - processing rate: 10,000 no-op tasks enqueued and drained by the engine (bench/our-engine.ts);
//   - submit latency: p50/p99 of 300 submitTask calls over HTTP, one at a time, to the runtime as
//     `npm start` runs it;
//   - queueStats and a first page of `tasks(status: QUEUED)` latency, which must not grow either;
//   - RSS of that runtime, settled.
// Prints a table and adds it to bench/results/<date>.json.
//   node bench/growth.ts [--sizes 1000,10000,100000,1000000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { v7 as uuidv7 } from 'uuid';
import { SqliteDatabase } from '../src/adapters/sqlite/sqlite-database.ts';
import { SqliteTaskStore } from '../src/adapters/sqlite/sqlite-task-store.ts';
import type { Task } from '../src/domain/task.ts';
import { runOurs } from './our-engine.ts';
import { recordResults } from './results-file.ts';
import { startBenchRuntime } from './runtime-child.ts';

const { values: args } = parseArgs({
  options: { sizes: { type: 'string', default: '1000,10000,100000,1000000' } },
});
const SIZES = args.sizes.split(',').map(Number);
const DAY = 86_400_000;

/** Fills a fresh data folder with `n` finished tasks, created over the last 6 days. */
async function filledDataDir(n: number): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tq-growth-'));
  const db = new SqliteDatabase(join(dataDir, 'tasks.db'));
  const store = new SqliteTaskStore(db);
  const now = Date.now();
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < n; i += 1000) {
    const items = Array.from({ length: Math.min(1000, n - i) }, (_, j) => {
      const created = now - 6 * DAY + Math.floor(((i + j) / n) * 6 * DAY);
      const at = (ms: number) => new Date(ms).toISOString();
      const task: Task = {
        id: uuidv7({ msecs: created }),
        type: 'PROCESS_DATA',
        status: 'SUCCEEDED',
        payload: '{"records":[{"a":1}]}',
        result: '{"records":[{"a":1}],"count":1}',
        resultSize: 31,
        error: null,
        progress: 1,
        progressMessage: null,
        attempts: 1,
        maxAttempts: 5,
        timeoutSeconds: 300,
        version: 3,
        createdAt: at(created),
        updatedAt: at(created + 20),
        startedAt: at(created + 10),
        finishedAt: at(created + 20),
        runAt: at(created),
        idempotencyKey: null,
        cancelRequested: false,
        leaseExpiresAt: null,
        expiresAt: at(created + 7 * DAY),
      };
      return { task, idempotencyKeyExpiresAt: null };
    });
    writes.push(store.create(items));
    if (writes.length >= 20) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
  // These tasks were published long ago: nothing of them is left for the change feed.
  await db.write(() => db.statement('DELETE FROM task_changes').run());
  db.close();
  return dataDir;
}

async function timed(count: number, run: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const at = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  return { p50: at(0.5), p99: at(0.99) };
}

interface Row {
  size: number;
  fillSeconds: number;
  processPerSecond: number;
  enqueuePerSecond: number;
  submitMs: { p50: number; p99: number };
  queueStatsMs: { p50: number; p99: number };
  listQueuedMs: { p50: number; p99: number };
  rssMb: number;
}
const rows: Row[] = [];
for (const size of SIZES) {
  process.stderr.write(`${size} tasks: filling… `);
  const t0 = performance.now();
  const dataDir = await filledDataDir(size);
  const fillSeconds = (performance.now() - t0) / 1000;

  process.stderr.write('runtime… ');
  const runtime = await startBenchRuntime('tq-growth-', { dataDir });
  const submitMs = await timed(300, () =>
    runtime.gql(
      'mutation { submitTask(input: { type: PROCESS_DATA, payload: "{\\"records\\":[]}" }) { id } }',
    ),
  );
  const queueStatsMs = await timed(100, () => runtime.gql('{ queueStats { queued succeeded total } }'));
  const listQueuedMs = await timed(100, () =>
    runtime.gql('{ tasks(filter: { status: QUEUED }, limit: 50) { items { id } nextToken } }'),
  );
  const rssMb = await runtime.settledRssMb({ everyMs: 2000, minReads: 10, maxReads: 20 });
  await runtime.stop();

  process.stderr.write('engine… ');
  const engine = await runOurs({ tasks: 10_000, durability: 'normal', rate: 0, latencySeconds: 0, dataDir });
  rmSync(dataDir, { recursive: true, force: true });
  rows.push({
    size,
    fillSeconds,
    processPerSecond: engine.processPerSecond,
    enqueuePerSecond: engine.enqueuePerSecond,
    submitMs,
    queueStatsMs,
    listQueuedMs,
    rssMb,
  });
  process.stderr.write('done\n');
}

const ms = (x: { p50: number; p99: number }) => `${x.p50.toFixed(1)} / ${x.p99.toFixed(1)}`;
console.log(
  '\n| finished tasks in the store | processing (tasks/s) | enqueue (tasks/s) | submitTask p50 / p99 (ms) | queueStats p50 / p99 (ms) | tasks(status: QUEUED) p50 / p99 (ms) | RSS settled (MB) |',
);
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(
    `| ${r.size.toLocaleString('en')} | ${r.processPerSecond.toFixed(0)} | ${r.enqueuePerSecond.toFixed(0)} | ${ms(r.submitMs)} | ${ms(r.queueStatsMs)} | ${ms(r.listQueuedMs)} | ${r.rssMb.toFixed(0)} |`,
  );
}
console.log(`\nadded to ${recordResults('growth', { rows })}`);
process.exit(0);
