// The runtime as the benchmarks run it: a child process started from src/local/main.ts as
// `npm start` starts it, on a free port and a fresh data folder, with a GraphQL client for it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BenchRuntime {
  child: ChildProcess;
  url: string;
  /** Sends one operation with the API key; throws on GraphQL errors, returns `data`. */
  gql<T>(query: string, variables?: Record<string, unknown>): Promise<T>;
}

const KEY = 'bench-key-0123456789abcdef';

export async function startBenchRuntime(dataDirPrefix: string): Promise<BenchRuntime> {
  const child = spawn(process.execPath, [join(import.meta.dirname, '../src/local/main.ts')], {
    env: {
      ...process.env,
      PORT: '0',
      DATA_DIR: mkdtempSync(join(tmpdir(), dataDirPrefix)),
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
  return {
    child,
    url,
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
