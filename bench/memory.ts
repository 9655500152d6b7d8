// RSS of the local runtime (a child process started as `npm start` starts it; all its threads):
// idle; the highest seen while 100k tasks are submitted through submitTasks over HTTP (a long
// delaySeconds keeps them queued); with the 100k queued once the runtime has settled (V8 returns
// the garbage of the burst to the system 8 to 15 s after it ends: read for at least 24 s); and after all of them
// were processed (a second run with no delay). Prints a table and adds it to bench/results/<date>.json.
//   node bench/memory.ts [--tasks 100000]
import { parseArgs } from 'node:util';
import { recordResults } from './results-file.ts';
import { startBenchRuntime, type BenchRuntime } from './runtime-child.ts';

const { values: args } = parseArgs({ options: { tasks: { type: 'string', default: '100000' } } });
const TASKS = Number(args.tasks);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Submits TASKS tasks (25 per call, 8 calls at a time); returns the highest RSS seen meanwhile. */
async function submitAll(runtime: BenchRuntime, delaySeconds: number): Promise<number> {
  let peak = runtime.rssMb();
  const sampler = setInterval(() => (peak = Math.max(peak, runtime.rssMb())), 100);
  const input = { type: 'PROCESS_DATA', payload: '{"records":[{"a":1}]}', delaySeconds };
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < TASKS; i += 25) {
    inFlight.push(
      runtime.gql('mutation ($i: [SubmitTaskInput!]!) { submitTasks(inputs: $i) { id } }', {
        i: Array.from({ length: Math.min(25, TASKS - i) }, () => input),
      }),
    );
    if (inFlight.length >= 8) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
  clearInterval(sampler);
  return Math.max(peak, runtime.rssMb());
}

async function counts(runtime: BenchRuntime): Promise<Record<string, number>> {
  return (
    await runtime.gql<{ queueStats: Record<string, number> }>('{ queueStats { queued succeeded total } }')
  ).queueStats;
}

// Queued: a delay of 900 s keeps every task waiting while RSS is read.
const queuedRun = await startBenchRuntime('tq-mem-');
const idle = await queuedRun.settledRssMb({ everyMs: 2000, minReads: 12, maxReads: 30 });
const submitPeak = await submitAll(queuedRun, 900);
const queued = await queuedRun.settledRssMb({ everyMs: 2000, minReads: 12, maxReads: 30 });
const stillQueued = (await counts(queuedRun))['queued'];
await queuedRun.stop();

// Processed: no delay; wait until all SUCCEEDED.
const processedRun = await startBenchRuntime('tq-mem-');
const processPeak = await submitAll(processedRun, 0);
while ((await counts(processedRun))['succeeded']! < TASKS) await sleep(500);
const processed = await processedRun.settledRssMb({ everyMs: 2000, minReads: 12, maxReads: 30 });
await processedRun.stop();

const rows: Array<[string, number]> = [
  ['idle, empty store', idle],
  [`highest while ${TASKS} tasks are submitted (kept queued)`, submitPeak],
  [`${TASKS} tasks queued, settled (${stillQueued} QUEUED when read)`, queued],
  [`highest while ${TASKS} tasks are submitted and processed`, processPeak],
  [`after all ${TASKS} SUCCEEDED, settled`, processed],
];
console.log('| state | RSS (MB) |\n| --- | ---: |');
for (const [label, mb] of rows) console.log(`| ${label} | ${mb.toFixed(0)} |`);
const file = recordResults('memory', {
  tasks: TASKS,
  rssMb: { idle, submitPeak, queued, processPeak, processed },
  targetQueuedMb: 300,
});
console.log(`\nadded to ${file}`);
process.exit(0);
