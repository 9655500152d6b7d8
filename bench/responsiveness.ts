// How the API answers while CPU-heavy tasks run: p50/p99 of a `task` query, first idle, then while
// four large image resizes run, then while a large CSV pipeline runs. The runtime is a child process
// started from src/local/main.ts with its defaults, as `npm start` runs it. Prints a table and adds it
// to bench/results/<date>.json; not a test.
//   node bench/responsiveness.ts
import sharp from 'sharp';
import { recordResults } from './results-file.ts';
import { startBenchRuntime } from './runtime-child.ts';

const { child, gql } = await startBenchRuntime('tq-bench-');

async function upload(contentType: string, data: Buffer | string): Promise<string> {
  const { createUploadUrl } = await gql<{ createUploadUrl: { key: string; url: string } }>(
    'mutation ($c: String!) { createUploadUrl(contentType: $c) { key url } }',
    { c: contentType },
  );
  const r = await fetch(createUploadUrl.url, {
    method: 'PUT',
    headers: { 'content-type': contentType },
    body: typeof data === 'string' ? data : new Uint8Array(data),
  });
  if (r.status !== 200) throw new Error(`upload failed: ${r.status}`);
  return createUploadUrl.key;
}

async function submit(type: string, payload: unknown): Promise<string> {
  const d = await gql<{ submitTask: { id: string } }>(
    'mutation ($t: TaskType!, $p: AWSJSON!) { submitTask(input: { type: $t, payload: $p }) { id } }',
    { t: type, p: JSON.stringify(payload) },
  );
  return d.submitTask.id;
}

async function status(id: string): Promise<string> {
  return (await gql<{ task: { status: string } }>('query ($id: ID!) { task(id: $id) { status } }', { id }))
    .task.status;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Queries `task(id)` back to back until `done()` says stop; returns the latencies in ms. */
async function probe(id: string, done: () => Promise<boolean> | boolean): Promise<number[]> {
  const latencies: number[] = [];
  let checks = 0;
  for (;;) {
    const t0 = performance.now();
    await status(id);
    latencies.push(performance.now() - t0);
    if (++checks % 20 === 0 && (await done())) return latencies.sort((a, b) => a - b);
  }
}

const row = (label: string, l: number[]) =>
  `| ${label.padEnd(34)} | ${String(l.length).padStart(6)} | ${percentile(l, 50).toFixed(1).padStart(6)} | ${percentile(l, 99).toFixed(1).padStart(6)} | ${l.at(-1)!.toFixed(1).padStart(7)} |`;

const probeTask = await submit('WORD_COUNT', { text: 'probe' });
const started = Date.now();
const idle = await probe(probeTask, () => Date.now() - started > 3000);

const image = await sharp({
  create: {
    width: 6000,
    height: 4000,
    channels: 3,
    background: '#000',
    noise: { type: 'gaussian', mean: 128, sigma: 40 },
  },
})
  .jpeg({ quality: 90 })
  .toBuffer();
const imageKey = await upload('image/jpeg', image);
const resizes = await Promise.all(
  Array.from({ length: 4 }, () =>
    submit('IMAGE_RESIZE', { image: imageKey, sizes: ['3000x2000', '1600x1200', '800x600'], format: 'webp' }),
  ),
);
const resizing = await probe(probeTask, async () => {
  const states = await Promise.all(resizes.map(status));
  return states.every((s) => s === 'SUCCEEDED' || s === 'FAILED');
});

const csv = [
  'id,group,value',
  ...Array.from({ length: 400_000 }, (_, i) => `${i},g${i % 50},${(i * 7) % 1000}`),
].join('\n');
const csvKey = await upload('text/csv', csv);
const pipeline = await submit('PROCESS_DATA', {
  input: { key: csvKey, format: 'csv', csv: { cast: true } },
  operations: [
    { op: 'filter', field: 'value', operator: 'gte', value: 100 },
    {
      op: 'groupBy',
      by: ['group'],
      aggregates: [
        { fn: 'count', as: 'n' },
        { fn: 'avg', field: 'value', as: 'avg' },
      ],
    },
  ],
});
const crunching = await probe(probeTask, async () =>
  ['SUCCEEDED', 'FAILED'].includes(await status(pipeline)),
);

console.log(`\nAPI responsiveness (task query, ms), ${new Date().toISOString()}, node ${process.version}`);
console.log('| while                              | checks |    p50 |    p99 |     max |');
console.log('| ---------------------------------- | -----: | -----: | -----: | ------: |');
console.log(row('idle', idle));
console.log(row('4 resizes of a 6000x4000 JPEG', resizing));
console.log(row('a 400k-row CSV pipeline', crunching));
console.log(
  `resizes: ${(await Promise.all(resizes.map(status))).join(', ')}; pipeline: ${await status(pipeline)}`,
);
const summary = (l: number[]) => ({
  checks: l.length,
  p50Ms: percentile(l, 50),
  p99Ms: percentile(l, 99),
  maxMs: l.at(-1)!,
});
console.log(
  `\nadded to ${recordResults('responsiveness', { idle: summary(idle), resizing: summary(resizing), csvPipeline: summary(crunching) })}`,
);
child.kill('SIGTERM');
