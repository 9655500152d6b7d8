// RSS of the local runtime with 100k tasks queued, then after they are processed. The runtime is a
// child process started as `npm start` starts it; tasks go in through submitTasks over HTTP while
// a long delay (delaySeconds) keeps them queued. `--delay 0` measures after processing instead.
//   node bench/memory.ts [--tasks 100000] [--delay 900|0]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startBenchRuntime } from './runtime-child.ts';

const { values: args } = parseArgs({
  options: { tasks: { type: 'string', default: '100000' }, delay: { type: 'string', default: '900' } },
});
const TASKS = Number(args.tasks);
/** 900 s (the default) keeps every task queued while RSS is read; then processing is not waited for. */
const DELAY = Number(args.delay);
const { child, gql } = await startBenchRuntime('tq-mem-');

/** Resident memory of the runtime process (all its threads), from /proc. */
const rssMb = () =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
const idle = rssMb();
const input = (delay: number) => ({
  type: 'PROCESS_DATA',
  payload: '{"records":[{"a":1}]}',
  delaySeconds: delay,
});
const inFlight: Promise<unknown>[] = [];
for (let i = 0; i < TASKS; i += 25) {
  inFlight.push(
    gql('mutation ($i: [SubmitTaskInput!]!) { submitTasks(inputs: $i) { id } }', {
      i: Array.from({ length: Math.min(25, TASKS - i) }, () => input(DELAY)),
    }),
  );
  if (inFlight.length >= 8) await Promise.all(inFlight.splice(0));
}
await Promise.all(inFlight);
const queued = rssMb();
const stats = async () =>
  (await gql<{ queueStats: Record<string, number> }>('{ queueStats { queued succeeded total } }')).queueStats;
const queuedCount = (await stats())['queued'];
for (; DELAY <= 60;) {
  if ((await stats())['succeeded']! >= TASKS) break;
  await new Promise((r) => setTimeout(r, 500));
}
const processed = DELAY <= 60 ? rssMb() : NaN;
console.log(`| state | RSS (MB) |\n| --- | ---: |`);
console.log(`| idle, empty store | ${idle.toFixed(0)} |`);
console.log(`| ${TASKS} tasks queued (${queuedCount} still QUEUED when measured) | ${queued.toFixed(0)} |`);
if (DELAY <= 60) console.log(`| after all ${TASKS} SUCCEEDED | ${processed.toFixed(0)} |`);
child.kill('SIGTERM');
