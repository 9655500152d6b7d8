// The API end to end, from a separate load process (this script) against the runtime as `npm start`
// runs it (a child process, its defaults): submitTasks over HTTP, then SUCCEEDED seen on an
// onTaskUpdated(status: SUCCEEDED) WebSocket subscription.
//   1. Throughput: `--tasks` no-op tasks submitted as fast as `--connections` HTTP callers can
//      (25 per submitTasks), timed from the first request to the last SUCCEEDED event.
//   2. Latency at a steady `--rate` tasks/s for `--seconds`: submit → SUCCEEDED event, p50/p99/max.
// Prints a table and adds the figures to bench/results/<date>.json. Not a test.
//   node bench/api.ts [--tasks 30000] [--connections 16] [--rate 500] [--seconds 10]
import { parseArgs } from 'node:util';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { recordResults } from './results-file.ts';
import { BENCH_API_KEY, startBenchRuntime } from './runtime-child.ts';

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '30000' },
    connections: { type: 'string', default: '16' },
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '10' },
  },
});
const TASKS = Number(args.tasks);
const CONNECTIONS = Number(args.connections);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const BATCH = 25;
const SUBMIT = 'mutation ($i: [SubmitTaskInput!]!) { submitTasks(inputs: $i) { id } }';
const NOOP = { type: 'PROCESS_DATA', payload: '{"records":[]}' };

const runtime = await startBenchRuntime('tq-api-');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** When each task id was submitted (the moment its request was sent), and when SUCCEEDED arrived. */
const sentAt = new Map<string, number>();
const doneAt = new Map<string, number>();
let succeeded = 0;

const ws = createClient({
  url: runtime.wsUrl,
  webSocketImpl: WebSocket,
  connectionParams: { 'x-api-key': BENCH_API_KEY },
  retryAttempts: 0,
});
const subscribed = new Promise<void>((resolve, reject) => {
  ws.on('connected', () => setTimeout(resolve, 200));
  ws.subscribe<{ onTaskUpdated: { id: string } }>(
    { query: 'subscription { onTaskUpdated(status: SUCCEEDED) { id } }' },
    {
      next: ({ data }) => {
        const id = data?.onTaskUpdated.id;
        if (id && !doneAt.has(id)) {
          doneAt.set(id, performance.now());
          succeeded += 1;
        }
      },
      error: reject,
      complete: () => undefined,
    },
  );
});
await subscribed;

async function submit(n: number): Promise<void> {
  const started = performance.now();
  const response = await fetch(runtime.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': BENCH_API_KEY },
    body: JSON.stringify({ query: SUBMIT, variables: { i: Array.from({ length: n }, () => NOOP) } }),
  });
  const body = (await response.json()) as { data?: { submitTasks: Array<{ id: string }> }; errors?: unknown };
  if (!body.data) throw new Error(`submitTasks failed: ${JSON.stringify(body.errors)}`);
  for (const { id } of body.data.submitTasks) sentAt.set(id, started);
}

async function waitFor(count: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (succeeded < count) {
    if (performance.now() > deadline) throw new Error(`only ${succeeded}/${count} SUCCEEDED events arrived`);
    await sleep(5);
  }
}

// 1. Throughput.
const cpu0 = { runtime: runtime.cpuMs(), load: process.cpuUsage() };
const t0 = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: CONNECTIONS }, async () => {
    while (next < TASKS) {
      const n = Math.min(BATCH, TASKS - next);
      next += n;
      await submit(n);
    }
  }),
);
const submittedSeconds = (performance.now() - t0) / 1000;
await waitFor(TASKS, 300_000);
const throughputSeconds = (Math.max(...doneAt.values()) - t0) / 1000;
// CPU per task says what limits the rate: the two cores give at most 2 s of CPU a second, shared by the
// runtime and this load generator. Other jobs on the machine still inflate it (a stolen or shared core
// runs slower), but less than they move the rate.
const loadCpu = process.cpuUsage(cpu0.load);
const cpuMicrosPerTask = {
  runtime: ((runtime.cpuMs() - cpu0.runtime) * 1000) / TASKS,
  loadGenerator: (loadCpu.user + loadCpu.system) / TASKS,
};

// 2. Latency at a steady offered rate, in 10 ms ticks.
await sleep(1000);
sentAt.clear();
doneAt.clear();
succeeded = 0;
const total = RATE * SECONDS;
const t1 = performance.now();
let offered = 0;
const pending: Promise<void>[] = [];
while (offered < total) {
  const due = Math.min(total, Math.floor(((performance.now() - t1) / 1000) * RATE));
  while (offered < due) {
    const n = Math.min(BATCH, due - offered);
    pending.push(submit(n));
    offered += n;
  }
  await sleep(10);
}
await Promise.all(pending);
await waitFor(sentAt.size, 120_000);
if (sentAt.size !== total) throw new Error(`offered ${total} tasks but ${sentAt.size} were submitted`);
const latencies = [...doneAt].map(([id, at]) => at - sentAt.get(id)!).sort((a, b) => a - b);
const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;

await ws.dispose();
await runtime.stop();

const result = {
  tasks: TASKS,
  connections: CONNECTIONS,
  submitPerSecond: TASKS / submittedSeconds,
  endToEndPerSecond: TASKS / throughputSeconds,
  cpuMicrosPerTask,
  latency: {
    offeredPerSecond: RATE,
    seconds: SECONDS,
    count: latencies.length,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: latencies.at(-1)!,
  },
};
console.log(`\nAPI end to end (runtime as \`npm start\` runs it; load from a separate process)`);
console.log('| measurement | value | target |');
console.log('| --- | ---: | ---: |');
console.log(
  `| submitTasks over HTTP (tasks/s, ${CONNECTIONS} connections, 25 per call) | ${result.submitPerSecond.toFixed(0)} | |`,
);
console.log(
  `| submitted → SUCCEEDED on the subscription (tasks/s, ${TASKS} tasks) | ${result.endToEndPerSecond.toFixed(0)} | ≥ 3000 |`,
);
console.log(
  `| CPU per task during the throughput run (µs): the runtime, all threads / this load generator | ${result.cpuMicrosPerTask.runtime.toFixed(0)} / ${result.cpuMicrosPerTask.loadGenerator.toFixed(0)} | |`,
);
console.log(`| submit → SUCCEEDED event at ${RATE}/s, p50 (ms) | ${result.latency.p50Ms.toFixed(1)} | |`);
console.log(`| submit → SUCCEEDED event at ${RATE}/s, p99 (ms) | ${result.latency.p99Ms.toFixed(1)} | |`);
console.log(`| submit → SUCCEEDED event at ${RATE}/s, max (ms) | ${result.latency.maxMs.toFixed(1)} | |`);
console.log(`\nadded to ${recordResults('api', result)}`);
process.exit(0);
