// The runtime as the benchmarks run it: a child process started from the start script's entry as
// `npm start` starts it, on a free port and a fresh data folder, with a GraphQL client for it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BenchRuntime {
  child: ChildProcess;
  url: string;
  /** The graphql-transport-ws endpoint. */
  wsUrl: string;
  dataDir: string;
  /** Resident memory of the runtime process (all its threads), from /proc, in MB. */
  rssMb(): number;
  /**
   * RSS once it stops falling: read every `everyMs`, at least `minReads` times, until a read is no
   * more than 1 MB under the one before, or `maxReads` reads.
   */
  settledRssMb(options: { everyMs: number; minReads: number; maxReads: number }): Promise<number>;
  /** CPU time the runtime process (all its threads) has used so far, user plus system, in ms (from /proc). */
  cpuMs(): number;
  /** SIGTERM, then resolves when the process has exited. */
  stop(): Promise<void>;
  /** Sends one operation with the API key; throws on GraphQL errors, returns `data`. */
  gql<T>(query: string, variables?: Record<string, unknown>): Promise<T>;
}

const KEY = 'bench-key-0123456789abcdef';
/** USER_HZ, the unit of /proc's CPU times: 100 on Linux for every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

export const BENCH_API_KEY = KEY;

/** The Node flags and the entry file of `npm start` (package.json's start script), so the benchmarks run the same. */
const START_WORDS = (
  JSON.parse(readFileSync(join(import.meta.dirname, '../package.json'), 'utf8')) as {
    scripts: { start: string };
  }
).scripts.start.split(/\s+/);
const START_FLAGS = START_WORDS.filter((word) => word.startsWith('--'));
const START_ENTRY = join(import.meta.dirname, '..', START_WORDS.at(-1)!);

/** `dataDir` names a folder to use (one already filled, say); otherwise a fresh one is made. */
export async function startBenchRuntime(
  dataDirPrefix: string,
  options: { dataDir?: string; env?: Record<string, string> } = {},
): Promise<BenchRuntime> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), dataDirPrefix));
  const child = spawn(process.execPath, [...START_FLAGS, START_ENTRY], {
    env: {
      ...process.env,
      PORT: '0',
      DATA_DIR: dataDir,
      API_KEY: KEY,
      LOG_LEVEL: 'warn',
      // Node options for the runtime alone (say --cpu-prof), not for this process.
      ...(process.env['BENCH_RUNTIME_NODE_OPTIONS']
        ? { NODE_OPTIONS: process.env['BENCH_RUNTIME_NODE_OPTIONS'] }
        : {}),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // A benchmark that fails part way must not leave its runtime running.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  const url = await new Promise<string>((resolve) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /GraphQL:\s+(\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
  });
  const rssMb = () =>
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
  const cpuMs = () => {
    // Fields 14 and 15 of /proc/PID/stat (utime, stime) in clock ticks, counted after the command name.
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  };
  return {
    child,
    url,
    cpuMs,
    wsUrl: url.replace(/^http/, 'ws'),
    dataDir,
    rssMb,
    async settledRssMb({ everyMs, minReads, maxReads }) {
      // V8 gives a burst's garbage back 8 to 15 s after the burst, in one step: a plateau before
      // that is not settled. Settled: the last three reads within 1 MB, after minReads reads.
      const reads: number[] = [];
      for (let i = 1; i <= maxReads; i++) {
        await new Promise((r) => setTimeout(r, everyMs));
        reads.push(rssMb());
        const last = reads.slice(-3);
        if (i >= minReads && Math.max(...last) - Math.min(...last) <= 1) return reads.at(-1)!;
      }
      process.stderr.write(
        `RSS did not settle in ${maxReads} reads (${reads.join(', ')} MB); the last one counts\n`,
      );
      return reads.at(-1)!;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
    async gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
      const r = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': KEY },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await r.json()) as { data: T; errors?: unknown };
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data;
    },
  };
}
