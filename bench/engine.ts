// The queue engine against BullMQ, in one run on one machine.
//
// Ours: the local runtime's engine without HTTP — the submit use case over the SQLite store and
// queue (group commit), processor worker threads running the process-tasks handler (the defaults of
// `npm start`: 1 thread, concurrency 64), and the change feed in a thread of its own, as npm start's
// publisher thread (it reports completions instead of running GraphQL). Tasks are
// no-op PROCESS_DATA tasks (`records: []`). Run at DURABILITY=normal (the default) and full.
// BullMQ: a Queue with addBulk, a Worker at concurrency 100 with a no-op processor, QueueEvents for
// completion, on a redis-server this script starts with appendonly yes / appendfsync everysec.
//
// Measured for each, interleaved, 3 times: enqueue rate (batches of 25 / addBulk of 25), processing
// rate (drain of the enqueued backlog by a worker pool started beforehand and idle until then), and
// latency from enqueue to completion at a steady 1,000/s. Prints medians with min–max and the ratio
// ours/BullMQ; adds the figures to bench/results/<date>.json.
//   node bench/engine.ts [--tasks 20000] [--rounds 3] [--latency-seconds 10]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BATCH, offer, percentiles, runOurs, sleep, timeEnqueue, type Measurement } from './our-engine.ts';
import { machine, recordResults } from './results-file.ts';

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    'latency-seconds': { type: 'string', default: '10' },
    'only-ours': { type: 'boolean', default: false },
  },
});
const TASKS = Number(args.tasks);
const ROUNDS = Number(args.rounds);
const RATE = 1000;
const LATENCY_SECONDS = Number(args['latency-seconds']);
// ---- BullMQ ----------------------------------------------------------------------------------------

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

async function startRedis(): Promise<{ port: number; process: ChildProcess; dir: string; version: string }> {
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (found.error || found.status !== 0) {
    throw new Error(
      'redis-server is not installed; install it with `apt-get install redis-server`, then run again.',
    );
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tq-redis-'));
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--save',
      '',
    ],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 100; i++) {
    const ping = spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' });
    if (ping.stdout?.trim() === 'PONG') break;
    await sleep(50);
  }
  return { port, process: child, dir, version: /v=(\S+)/.exec(found.stdout)?.[1] ?? 'unknown' };
}

async function runBull(port: number, round: number): Promise<Measurement> {
  const { Queue, Worker, QueueEvents } = await import('bullmq');
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
  const name = `bench-${round}-${Date.now()}`;
  const q = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  await events.waitUntilReady();
  const addedAt = new Map<string, number>();
  const latencies: number[] = [];
  let completed = 0;
  events.on('completed', ({ jobId }) => {
    completed += 1;
    const at = addedAt.get(jobId);
    if (at !== undefined) latencies.push(performance.now() - at);
  });
  const add = async (n: number, track: boolean) => {
    for (let i = 0; i < n; i += BATCH) {
      const count = Math.min(BATCH, n - i);
      const t0 = performance.now();
      const jobs = await q.addBulk(
        Array.from({ length: count }, () => ({ name: 'noop', data: { records: [] } })),
      );
      if (track) for (const j of jobs) addedAt.set(j.id!, t0);
    }
  };

  const enqueueSeconds = await timeEnqueue(TASKS, (n) => add(n, false));

  const worker = new Worker(name, async () => ({ records: [], count: 0 }), {
    connection,
    concurrency: 100,
    autorun: false,
  });
  await worker.waitUntilReady();
  const t1 = performance.now();
  void worker.run();
  while (completed < TASKS) await sleep(10);
  const processSeconds = (performance.now() - t1) / 1000;

  completed = 0;
  await offer(RATE, LATENCY_SECONDS, (n) => add(n, true));
  while (completed < RATE * LATENCY_SECONDS) await sleep(10);

  await worker.close();
  await events.close();
  await q.obliterate({ force: true });
  await q.close();
  return {
    enqueuePerSecond: TASKS / enqueueSeconds,
    processPerSecond: TASKS / processSeconds,
    latencyMs: percentiles(latencies),
  };
}

// ---- Run -------------------------------------------------------------------------------------------

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (xs: number[], digits = 0) =>
  `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;

// --only-ours profiles our engine alone: no Redis, no comparison, nothing written.
const redis = args['only-ours'] ? undefined : await startRedis();
const ours: Measurement[] = [];
const oursFull: Measurement[] = [];
const bull: Measurement[] = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    process.stderr.write(`round ${round + 1}/${ROUNDS}: ours… `);
    ours.push(
      await runOurs({ tasks: TASKS, durability: 'normal', rate: RATE, latencySeconds: LATENCY_SECONDS }),
    );
    if (!args['only-ours']) {
      process.stderr.write('ours, DURABILITY=full… ');
      oursFull.push(
        await runOurs({ tasks: TASKS, durability: 'full', rate: RATE, latencySeconds: LATENCY_SECONDS }),
      );
      process.stderr.write('BullMQ… ');
      bull.push(await runBull(redis!.port, round));
    }
    process.stderr.write('done\n');
  }
} finally {
  if (redis) {
    redis.process.kill('SIGTERM');
    await sleep(200);
    rmSync(redis.dir, { recursive: true, force: true });
  }
}
if (!redis) {
  for (const m of ours) console.log(JSON.stringify(m));
  process.exit(0);
}

type Pick = (m: Measurement) => number;
const rows: Array<[string, Pick, 'higher' | 'lower', string]> = [
  ['enqueue (tasks/s)', (m) => m.enqueuePerSecond, 'higher', '≥ 1.5'],
  ['processing (tasks/s)', (m) => m.processPerSecond, 'higher', '≥ 2'],
  ['latency p50 at 1,000/s (ms)', (m) => m.latencyMs.p50, 'lower', ''],
  ['latency p99 at 1,000/s (ms)', (m) => m.latencyMs.p99, 'lower', '≤ 1'],
  ['latency max at 1,000/s (ms)', (m) => m.latencyMs.max, 'lower', ''],
];
const bullmqVersion = (await import('bullmq/package.json', { with: { type: 'json' } })).default.version;
const about = machine();
console.log(
  `\nEngine: ${TASKS} no-op tasks per round, ${ROUNDS} rounds interleaved; ${about['cores']} cores, Node ${about['node']}, ` +
    `SQLite ${about['sqlite']}, Redis ${redis.version}, BullMQ ${bullmqVersion}`,
);
console.log(
  '| measurement | ours: median (min–max) | BullMQ: median (min–max) | ours / BullMQ | target | ours at DURABILITY=full | full / normal |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const [label, pick, , target] of rows) {
  const digits = label.startsWith('latency') ? 1 : 0;
  const [a, b, f] = [ours.map(pick), bull.map(pick), oursFull.map(pick)];
  console.log(
    `| ${label} | ${fmt(a, digits)} | ${fmt(b, digits)} | ${(median(a) / median(b)).toFixed(2)} | ${target} | ${fmt(f, digits)} | ${(median(f) / median(a)).toFixed(2)} |`,
  );
}
// Busy time per task says which thread limits the rate (a thread busy all the drain is the limit). Other
// jobs on the machine still inflate it, but less than they move the rate.
const busy = (ms: Measurement[], pick: (b: NonNullable<Measurement['busyMicrosPerTask']>) => number) =>
  fmt(ms.map((m) => pick(m.busyMicrosPerTask!)));
console.log(
  `\nOurs while draining, busy time per task (µs), median (min–max): processor thread ${busy(ours, (b) => b.processors.reduce((x, y) => x + y, 0))}, ` +
    `API thread ${busy(ours, (b) => b.api)}; CPU time of the whole process per task ${fmt(ours.map((m) => m.cpuMicrosPerTask!))}.`,
);
const file = recordResults('engine', {
  tasks: TASKS,
  rounds: ROUNDS,
  latencyOfferedPerSecond: RATE,
  latencySeconds: LATENCY_SECONDS,
  redis: redis.version,
  bullmq: bullmqVersion,
  ours,
  oursDurabilityFull: oursFull,
  bullmqRuns: bull,
});
console.log(`\nadded to ${file}`);
process.exit(0);
