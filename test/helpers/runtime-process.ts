import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export const TEST_API_KEY = 'test-key-0123456789abcdef';
/** `npm start`'s entry. */
const MAIN = resolve(import.meta.dirname, '../../src/local/start.js');

export interface RuntimeProcess {
  url: string;
  wsUrl: string;
  child: ChildProcess;
  output: () => string;
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    options?: { apiKey?: string | null },
  ): Promise<{ status: number; body: { data?: T; errors?: Array<Record<string, unknown>> } }>;
  ws(apiKey?: string): Client;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'tq-e2e-'));
}

/** Starts `node src/local/start.js` (what `npm start` runs) as a real child process on a free port and waits for its banner. */
export async function startRuntime(
  dataDir: string,
  env: Record<string, string> = {},
): Promise<RuntimeProcess> {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      API_KEY: TEST_API_KEY,
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`runtime did not start:\n${out}`)), 20_000);
    const check = () => {
      const match = /GraphQL:\s+(http:\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`runtime exited with ${code}:\n${out}`));
    });
  });
  const wsUrl = url.replace(/^http/, 'ws');
  return {
    url,
    wsUrl,
    child,
    output: () => out,
    async gql(query, variables = {}, options = {}) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const key = options.apiKey === undefined ? TEST_API_KEY : options.apiKey;
      if (key !== null) headers['x-api-key'] = key;
      const response = await fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ query, variables }),
      });
      return { status: response.status, body: (await response.json()) as never };
    },
    ws(apiKey = TEST_API_KEY) {
      return createClient({
        url: wsUrl,
        webSocketImpl: WebSocket,
        connectionParams: { 'x-api-key': apiKey },
        retryAttempts: 0,
        lazy: true,
      });
    },
    stop(signal = 'SIGTERM') {
      return new Promise((resolveExit) => {
        if (child.exitCode !== null) return resolveExit(child.exitCode);
        child.once('exit', (code) => resolveExit(code));
        child.kill(signal);
      });
    },
  };
}

/** Waits until `check` returns a truthy value; fails with `what` after the deadline. */
export async function waitFor<T>(check: () => Promise<T> | T, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
