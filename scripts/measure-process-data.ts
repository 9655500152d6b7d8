// Measures PROCESS_DATA over a large CSV blob. Generates a CSV of about 200 MB (or `--mb N`) in a temporary data
// folder behind the local FsBlobStore, then runs, each in a fresh child process so that memory figures belong to
// that run alone: csv-parse by itself (the floor), a filter + select pipeline written to a CSV blob, the same with
// `cast` written to NDJSON, and a groupBy pipeline. Prints rows per second (wall clock and per CPU-second) and the
// peak RSS, sampled every 50 ms, next to the process's maxRSS. Not a test: figures depend on the machine.
//
//   node scripts/measure-process-data.ts [--mb 200] [--keep]
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse } from 'csv-parse';
import { FsBlobStore } from '../src/adapters/local/fs-blob-store.ts';
import { runProcessDataTask } from '../src/task-types/process-data/run.ts';
import { processDataTaskPayloadSchema } from '../src/task-types/process-data/schema.ts';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '200' },
    keep: { type: 'boolean', default: false },
    // Internal: run one measurement over an existing data folder and print it as JSON.
    run: { type: 'string' },
    data: { type: 'string' },
  },
});
const MiB = 1024 * 1024;
const INPUT_KEY = 'inputs/people.csv';
const mb = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

const countries = ['DE', 'FR', 'UK', 'US', 'NL', 'ES', 'IT', 'PL', 'SE', 'JP'];
const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];

/** Deterministic rows of about 50 bytes: id, name, country, age, score, joined, note (a seventh quoted). */
function* csvLines(targetBytes: number): Generator<string> {
  yield 'id,name,country,age,score,joined,note\n';
  let written = 0;
  let id = 0;
  let seed = 42;
  const next = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed;
  };
  while (written < targetBytes) {
    const lines: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      id++;
      const r = next();
      const word = words[r % words.length] ?? 'x';
      const note = r % 7 === 0 ? `"${word}, ${words[(r >> 4) % words.length] ?? 'y'}"` : word;
      const month = String(1 + (r % 12)).padStart(2, '0');
      const day = String(1 + (r % 28)).padStart(2, '0');
      lines.push(
        `${String(id)},user-${String(r % 100_000)},${countries[(r >> 3) % countries.length] ?? 'XX'},` +
          `${String(18 + (r % 60))},${((r % 100_000) / 100).toFixed(2)},2024-${month}-${day},${note}\n`,
      );
    }
    const chunk = lines.join('');
    written += Buffer.byteLength(chunk);
    yield chunk;
  }
}

const pipelines: { name: string; payload: unknown }[] = [
  {
    name: 'filter + select → CSV blob (values as text)',
    payload: {
      input: { key: INPUT_KEY, format: 'csv' },
      operations: [
        { op: 'filter', field: 'country', operator: 'in', value: ['DE', 'FR', 'NL'] },
        { op: 'select', fields: ['id', 'name', 'score'] },
      ],
      output: { format: 'csv' },
    },
  },
  {
    name: 'filter + select → NDJSON blob (cast: true)',
    payload: {
      input: { key: INPUT_KEY, format: 'csv', csv: { cast: true } },
      operations: [
        { op: 'filter', field: 'age', operator: 'gte', value: 40 },
        { op: 'select', fields: ['id', 'country', 'score'] },
      ],
      output: { format: 'ndjson' },
    },
  },
  {
    name: 'groupBy country, 3 aggregates (cast: true) → inline',
    payload: {
      input: { key: INPUT_KEY, format: 'csv', csv: { cast: true } },
      operations: [
        {
          op: 'groupBy',
          by: ['country'],
          aggregates: [
            { fn: 'count', as: 'n' },
            { fn: 'avg', field: 'score', as: 'avgScore' },
            { fn: 'max', field: 'age', as: 'maxAge' },
          ],
        },
      ],
    },
  },
];

interface Measurement {
  name: string;
  rows: number;
  seconds: number;
  cpuSeconds: number;
  baseRss: number;
  peakRss: number;
  maxRss: number;
  output: string;
}

/** One measurement in this (child) process. Index -1 is csv-parse alone. */
async function measure(index: number, dataDir: string): Promise<Measurement> {
  const blobs = new FsBlobStore(dataDir, { baseUrl: () => 'http://127.0.0.1' });
  const baseRss = process.memoryUsage().rss;
  let peakRss = baseRss;
  const timer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  let rows = 0;
  let output = '';
  let name = 'csv-parse alone, no records built (the floor)';
  if (index < 0) {
    for await (const _row of (await blobs.read(INPUT_KEY)).pipe(parse({ bom: true }))) rows++;
    rows--; // the header
  } else {
    const pipeline = pipelines[index];
    if (pipeline === undefined) throw new Error(`No pipeline ${String(index)}`);
    name = pipeline.name;
    const result = await runProcessDataTask(processDataTaskPayloadSchema.parse(pipeline.payload), {
      blobs,
      outputPrefix: `outputs/run-${String(index)}/`,
      signal: new AbortController().signal,
      progress: (_fraction, message) => {
        rows = Number.parseInt(message ?? '0', 10);
      },
    });
    output =
      'outputs' in result
        ? result.outputs.map((o) => `${o.key}, ${mb(o.bytes)}, ${String(o.rows)} rows`).join('; ')
        : `${String(result.count)} records inline`;
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  clearInterval(timer);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  const maxRss = process.resourceUsage().maxRSS * 1024;
  return { name, rows, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, baseRss, peakRss, maxRss, output };
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'measure-process-data-'));
  try {
    const blobs = new FsBlobStore(dataDir, { baseUrl: () => 'http://127.0.0.1' });
    const started = performance.now();
    const input = await blobs.write(INPUT_KEY, Readable.from(csvLines(Number(values.mb) * MiB)), {
      contentType: 'text/csv',
    });
    const seconds = (performance.now() - started) / 1000;
    console.log(`node ${process.version}; generated a ${mb(input.bytes)} CSV in ${seconds.toFixed(1)} s`);
    const script = fileURLToPath(import.meta.url);
    for (let index = -1; index < pipelines.length; index++) {
      const text = execFileSync(process.execPath, [script, `--run=${String(index)}`, `--data=${dataDir}`], {
        encoding: 'utf8',
      });
      const m = JSON.parse(text) as Measurement;
      console.log(`\n${m.name}`);
      console.log(
        `  ${String(m.rows)} rows in ${m.seconds.toFixed(2)} s: ${String(Math.round(m.rows / m.seconds))} rows/s, ` +
          `${(input.bytes / MiB / m.seconds).toFixed(1)} MiB/s ` +
          `(CPU ${m.cpuSeconds.toFixed(2)} s: ${String(Math.round(m.rows / m.cpuSeconds))} rows per CPU-second)`,
      );
      console.log(
        `  RSS before ${mb(m.baseRss)}, peak (sampled every 50 ms) ${mb(m.peakRss)}, maxRSS ${mb(m.maxRss)}`,
      );
      if (m.output !== '') console.log(`  output: ${m.output}`);
    }
  } finally {
    if (values.keep) console.log(`\nkept ${dataDir}`);
    else await rm(dataDir, { recursive: true, force: true });
  }
}

if (values.run !== undefined && values.data !== undefined) {
  process.stdout.write(JSON.stringify(await measure(Number(values.run), values.data)));
} else {
  await main();
}
