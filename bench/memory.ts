// RSS of the local runtime with 100k tasks queued, then after they are processed. The runtime is a
// child process started as `npm start` starts it; tasks go in through submitTasks over HTTP while
// a long delay (delaySeconds) keeps them queued. `--delay 0` measures after processing instead.
//   node bench/memory.ts [--tasks 100000] [--delay 900|0]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: { tasks: { type: 'string', default: '100000' }, delay: { type: 'string', default: '900' } },
});
const TASKS = Number(args.tasks);
/** 900 s (the default) keeps every task queued while RSS is read; then processing is not waited for. */
const DELAY = Number(args.delay);
const KEY = 'bench-key-0123456789abcdef';
const child = spawn(process.execPath, [join(import.meta.dirname, '../src/local/main.ts')], {
  env: {
    ...process.env,
    PORT: '0',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'tq-mem-')),
    API_KEY: KEY,
    LOG_LEVEL: 'warn',
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise<string>((resolve) => {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /GraphQL:\s+(\S+)/.exec(out);
    if (m) resolve(m[1]!);
  });
});
/** Resident memory of the runtime process (all its threads), from /proc. */
const rssMb = () =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
const gql = async (query: string, variables: Record<string, unknown> = {}) =>
  (await (
    await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': KEY },
      body: JSON.stringify({ query, variables }),
    })
  ).json()) as { data: Record<string, { [k: string]: number }> };

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
const stats = async () => (await gql('{ queueStats { queued succeeded total } }')).data['queueStats']!;
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
